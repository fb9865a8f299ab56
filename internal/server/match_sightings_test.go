package server_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
)

// matchReport screens body as org with report_sightings=true.
func (m *matchEnv) matchReport(org, body string) matchResp {
	m.tb.Helper()
	req, _ := http.NewRequest("POST", m.srv.URL+"/api/v1/match?report_sightings=true", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.tok[org])
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return matchResp{res.StatusCode, res.Header, b}
}

type storedSighting struct {
	Type             string   `json:"type"`
	ID               string   `json:"id"`
	Created          string   `json:"created"`
	Modified         string   `json:"modified"`
	CreatedByRef     string   `json:"created_by_ref"`
	SightingOfRef    string   `json:"sighting_of_ref"`
	WhereSightedRefs []string `json:"where_sighted_refs"`
	Count            int64    `json:"count"`
	FirstSeen        string   `json:"first_seen"`
	LastSeen         string   `json:"last_seen"`
	Markings         []string `json:"object_marking_refs"`
}

// sightingVersions returns every stored version of a sighting, oldest
// first, with the source of each.
func sightingVersions(t *testing.T, st store.Store, id string) ([]storedSighting, []string) {
	t.Helper()
	p, err := st.List(context.Background(), server.SightingsCollectionID,
		store.Query{IDs: []string{id}, Versions: store.VersionMatch{All: true}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []storedSighting
	var sources []string
	for _, v := range p.Versions {
		var s storedSighting
		if err := json.Unmarshal(v.Raw, &s, json.RejectUnknownMembers(false)); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
		sources = append(sources, v.Source)
	}
	return out, sources
}

// taxiiIDs lists the ids a caller reads from a collection over TAXII.
func (m *matchEnv) taxiiIDs(auth, coll string) (int, []string) {
	m.tb.Helper()
	r := m.call("GET", "/api1/collections/"+coll+"/objects/", auth, "")
	if r.code != 200 {
		return r.code, nil
	}
	var env struct {
		Objects []struct {
			ID string `json:"id"`
		} `json:"objects"`
	}
	if err := json.Unmarshal([]byte(r.body), &env, json.RejectUnknownMembers(false)); err != nil {
		m.tb.Fatalf("TAXII objects: %v: %s", err, r.body)
	}
	var ids []string
	for _, o := range env.Objects {
		ids = append(ids, o.ID)
	}
	return r.code, ids
}

func TestMatchSightings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		st := open(t)
		st.SetRecorder(audit.Recorder(nil))
		m := newMatchEnvLog(t, st, nil)
		de, fr := m.ids["de-police"], m.ids["fr-police"]

		before := time.Now().UTC().Add(-time.Second)
		// indicator 1 (exact), 3 (exact, and a subdomain that does not
		// count), 2 (cidr), a miss, and indicator 8 (TLP:RED for
		// fr-police only: hidden from de-police).
		r := m.matchReport("de-police", "198.51.100.7\nevil.example\nwww.evil.example\n203.0.113.9\n8.8.8.8\n192.0.2.66\n")
		got := lines(t, r)
		sid1, sid2, sid3 := server.SightingID(de, indID(1)), server.SightingID(de, indID(2)), server.SightingID(de, indID(3))
		want := map[string]string{indID(1): sid1, indID(2): sid2, indID(3): sid3}
		for _, l := range got {
			w := want[l.Indicator]
			if l.Kind == "subdomain" {
				w = ""
			}
			if l.Sighting != w {
				t.Errorf("line %+v: sighting %q, want %q", l, l.Sighting, w)
			}
		}
		if len(got) != 4 {
			t.Fatalf("matches: %v", summary(got))
		}
		ident := server.OrgIdentityID(de)
		vs, srcs := sightingVersions(t, st, sid1)
		if len(vs) != 1 {
			t.Fatalf("sighting versions after one report: %d", len(vs))
		}
		s := vs[0]
		if s.Type != "sighting" || s.ID != sid1 || s.SightingOfRef != indID(1) || s.CreatedByRef != ident ||
			len(s.WhereSightedRefs) != 1 || s.WhereSightedRefs[0] != ident || s.Count != 1 ||
			len(s.Markings) != 1 || s.Markings[0] != policy.TLP2AmberID || srcs[0] != de {
			t.Errorf("sighting: %+v (source %s)", s, srcs[0])
		}
		first, err := time.Parse(time.RFC3339Nano, s.FirstSeen)
		if err != nil || first.Before(before) || first.After(time.Now().Add(time.Second)) || s.LastSeen != s.FirstSeen {
			t.Errorf("first_seen %s last_seen %s (report at about %s)", s.FirstSeen, s.LastSeen, before)
		}
		if vs, _ := sightingVersions(t, st, sid3); len(vs) != 1 || vs[0].Count != 1 {
			t.Errorf("domain sighting (exact and subdomain line): %+v", vs)
		}
		// No sighting of a hidden indicator, nor of a miss.
		if vs, _ := sightingVersions(t, st, server.SightingID(de, indID(8))); len(vs) != 0 {
			t.Errorf("a sighting of an indicator de-police may not see: %+v", vs)
		}
		p, err := st.List(t.Context(), server.SightingsCollectionID, store.Query{Types: []string{"sighting"}, Limit: 100})
		if err != nil || len(p.Versions) != 3 {
			t.Fatalf("sightings stored: %d, %v", len(p.Versions), err)
		}
		// The identity the sightings name is stored with them.
		if p, err := st.List(t.Context(), server.SightingsCollectionID, store.Query{IDs: []string{ident}, Limit: 10}); err != nil || len(p.Versions) != 1 || p.Versions[0].Source != de {
			t.Fatalf("identity %s: %+v %v", ident, p.Versions, err)
		}

		// A second report aggregates: same id, count summed, new version.
		time.Sleep(5 * time.Millisecond)
		r = m.matchReport("de-police", "198.51.100.7\n198.51.100.7\n")
		if got := lines(t, r); len(got) != 2 || got[0].Sighting != sid1 || got[1].Sighting != sid1 {
			t.Fatalf("second report: %+v", got)
		}
		vs, _ = sightingVersions(t, st, sid1)
		if len(vs) != 2 {
			t.Fatalf("versions after two reports: %d", len(vs))
		}
		n := vs[1]
		if n.Count != 3 || n.FirstSeen != s.FirstSeen || n.LastSeen <= s.LastSeen || n.Created != s.Created || n.Modified <= s.Modified {
			t.Errorf("aggregated: %+v, first %+v", n, s)
		}

		// Without the parameter (or with false) nothing is reported.
		if got := lines(t, m.match("de-police", "text/plain", "198.51.100.7\n")); len(got) != 1 || got[0].Sighting != "" {
			t.Errorf("plain match: %+v", got)
		}
		if vs, _ := sightingVersions(t, st, sid1); len(vs) != 2 {
			t.Errorf("a match without report_sightings stored a version: %d", len(vs))
		}
		for _, q := range []string{"report_sightings=maybe", "report_sightings=true&report_sightings=false"} {
			req, _ := http.NewRequest("POST", m.srv.URL+"/api/v1/match?"+q, strings.NewReader("198.51.100.7\n"))
			req.Header.Set("Authorization", "Bearer "+m.tok["de-police"])
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 400 {
				t.Errorf("%s: %d, want 400", q, res.StatusCode)
			}
		}

		// A bundle: count is number_observed, first_seen and last_seen
		// the observed data's times (here before the earlier reports, so
		// first_seen moves back and last_seen stays).
		bundle := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[
		  {"type":"observed-data","spec_version":"2.1","id":"observed-data--00000000-0000-4000-8000-000000000001","created":"` + v1 + `","modified":"` + v1 + `",
		   "first_observed":"2024-05-01T10:00:00Z","last_observed":"2024-05-02T10:00:00Z","number_observed":5,"object_refs":["ipv4-addr--00000000-0000-4000-8000-000000000001"]},
		  {"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-000000000001","value":"198.51.100.7"}]}`
		req, _ := http.NewRequest("POST", m.srv.URL+"/api/v1/match?report_sightings=1", strings.NewReader(bundle))
		req.Header.Set("Authorization", "Bearer "+m.tok["de-police"])
		req.Header.Set("Content-Type", "application/stix+json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := lines(t, matchResp{res.StatusCode, res.Header, b}); len(got) != 1 || got[0].Sighting != sid1 {
			t.Fatalf("bundle report: %+v", got)
		}
		vs, _ = sightingVersions(t, st, sid1)
		if l := vs[len(vs)-1]; len(vs) != 3 || l.Count != 8 || l.FirstSeen != "2024-05-01T10:00:00.000Z" || l.LastSeen != n.LastSeen {
			t.Errorf("after a bundle report: %d versions, last %+v", len(vs), l)
		}

		// Concurrent reports lose no count.
		const par = 8
		var wg sync.WaitGroup
		for range par {
			wg.Go(func() {
				if r := m.matchReport("fr-police", "203.0.113.9\n192.0.2.66\n"); r.code != 200 {
					t.Errorf("concurrent report: %d %s", r.code, r.body)
				}
			})
		}
		wg.Wait()
		for _, ind := range []int{2, 8} { // fr-police may see the RED one
			vs, _ := sightingVersions(t, st, server.SightingID(fr, indID(ind)))
			if len(vs) != par || vs[len(vs)-1].Count != par {
				t.Errorf("indicator %d after %d concurrent reports: %d versions, last %+v", ind, par, len(vs), vs[len(vs)-1])
			}
		}

		// Who reads the sightings (TAXII): the reporter its own, hub
		// admins all; another member and the indicator's source partner,
		// even with a read grant on the collection, none (the sighting's
		// indicator is in another collection: see docs/screening.md).
		for _, org := range []string{"acme", "nl-police"} {
			m.must("PUT", "/api/v1/collections/"+server.SightingsCollectionID+"/grants/"+org, `{"read":true}`, 200, nil)
		}
		has := func(ids []string, id string) bool {
			for _, x := range ids {
				if x == id {
					return true
				}
			}
			return false
		}
		code, ids := m.taxiiIDs("Bearer "+m.tok["de-police"], server.SightingsCollectionID)
		if code != 200 || !has(ids, sid1) || !has(ids, sid2) || !has(ids, sid3) || has(ids, server.SightingID(fr, indID(2))) {
			t.Errorf("de-police reads its sightings: %d %v", code, ids)
		}
		code, ids = m.taxiiIDs("Bearer "+adminToken, server.SightingsCollectionID)
		if code != 200 || !has(ids, sid1) || !has(ids, server.SightingID(fr, indID(8))) {
			t.Errorf("hub admin reads: %d %v", code, ids)
		}
		for _, org := range []string{"acme", "nl-police"} {
			code, ids = m.taxiiIDs("Bearer "+m.tok[org], server.SightingsCollectionID)
			if code != 200 || len(ids) != 0 {
				t.Errorf("%s reads: %d %v", org, code, ids)
			}
		}
		// beta has no grant at all.
		if code, _ := m.taxiiIDs("Bearer "+m.tok["beta"], server.SightingsCollectionID); code != 403 && code != 404 {
			t.Errorf("beta without a grant: %d", code)
		}

		// The audit log has an accepted entry for each sighting version.
		_, entries := audittest.Read(t, st.(store.Log))
		accepted := 0
		for _, e := range entries {
			for _, a := range e.AcceptedVersions() {
				if a.ID != sid1 {
					continue
				}
				accepted++
				if e.Source != de || e.Collection != server.SightingsCollectionID {
					t.Errorf("audit entry of a sighting: %+v", e)
				}
			}
		}
		if accepted != 3 {
			t.Errorf("audit entries for %s: %d, want 3 (one per report)", sid1, accepted)
		}
	})
}
