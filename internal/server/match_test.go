package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
)

const (
	sha256Hex = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	md5Hex    = "098f6bcd4621d373cade4e832627b4f6"
	extID     = "extension-definition--36dda94d-4b3d-4ec6-9ec4-858a76ef95a4"
)

// matchEnv is a running server with the match feeder started, a partner
// that shares indicators, two member countries and a partner reader.
type matchEnv struct {
	*env
	tok map[string]string // org name → token
	ids map[string]string // org name → id
}

func newMatchEnv(t *testing.T, open opener) *matchEnv {
	t.Helper()
	return newMatchEnvLog(t, open(t), nil)
}

// newMatchEnvLog is newMatchEnv over st, with lg (when not nil) as the
// server's audit log.
func newMatchEnvLog(t *testing.T, st store.Store, lg *audit.Log) *matchEnv {
	t.Helper()
	e := &env{tb: t, st: st, now: time.Now().UTC()}
	if _, err := server.Bootstrap(t.Context(), e.st, t.TempDir(), adminToken, e.now); err != nil {
		t.Fatal(err)
	}
	// The clock moves with real time: the test posts versions with
	// modified timestamps after the start.
	srv := server.New(e.st, server.Config{Logger: quietLogger(), Rate: -1, Audit: lg})
	e.srv = httptest.NewServer(srv.Handler())
	t.Cleanup(e.srv.Close)
	m := &matchEnv{env: e, tok: map[string]string{}, ids: map[string]string{}}
	for _, o := range []struct{ name, kind, country, role string }{
		{"acme", "partner", "", "write"},
		{"beta", "partner", "", "read"},
		{"de-police", "member", "DE", "read"},
		{"fr-police", "member", "FR", "read"},
		{"nl-police", "member", "NL", "read"}, // no grant on the collection
	} {
		body := fmt.Sprintf(`{"name":%q,"kind":%q`, o.name, o.kind)
		if o.country != "" {
			body += fmt.Sprintf(`,"country":%q`, o.country)
		}
		var org server.OrgJSON
		e.must("POST", "/api/v1/orgs", body+"}", 201, &org)
		m.ids[o.name] = org.ID
		m.tok[o.name], _ = e.token(fmt.Sprintf(`{"org":%q,"role":%q}`, o.name, o.role))
		if o.name != "nl-police" {
			e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/"+o.name,
				fmt.Sprintf(`{"read":true,"write":%v}`, o.role == "write"), 200, nil)
		}
	}
	m.post(m.baseObjects()...)
	srv.StartMatching(t.Context())
	return m
}

// indicator returns an indicator's JSON; extra holds more properties.
func indicator(n int, modified, pattern, marking, extra string) string {
	s := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
		`"created":"2024-01-01T00:00:00.000Z","modified":%q,"name":"indicator %d","pattern":%q,"pattern_type":"stix",`+
		`"valid_from":"2024-01-01T00:00:00Z"`, n, modified, n, pattern)
	if marking != "" {
		s += `,"object_marking_refs":["` + marking + `"]`
	}
	return s + extra + "}"
}

func indID(n int) string { return fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n) }

const v1 = "2024-01-01T00:00:00.000Z"

func (m *matchEnv) baseObjects() []string {
	green := policy.TLP2GreenID
	red := `,"extensions":{"` + extID + `":{"extension_type":"property-extension","recipients":["` + m.ids["fr-police"] + `"]}}`
	return []string{
		indicator(1, v1, "[ipv4-addr:value = '198.51.100.7']", green, `,"confidence":80`),
		indicator(2, v1, "[ipv4-addr:value ISSUBSET '203.0.113.0/24']", green, ""),
		indicator(3, v1, "[domain-name:value = 'evil.example']", green, ""),
		indicator(4, v1, "[url:value = 'http://bad.example/x/payload.exe']", green, ""),
		indicator(5, v1, "[email-addr:value = 'phish@mail.example']", green, ""),
		indicator(6, v1, "[file:hashes.'SHA-256' = '"+sha256Hex+"']", green, ""),
		indicator(7, v1, "[file:hashes.MD5 = '"+md5Hex+"']", green, ""),
		indicator(8, v1, "[ipv4-addr:value = '192.0.2.66']", policy.TLP2RedID, red),
		indicator(9, v1, "[domain-name:value = 'amber.example']", policy.TLP2AmberID, ""),
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000001","created":"` + v1 + `","modified":"` + v1 +
			`","name":"Loader","is_family":true,"object_marking_refs":["` + green + `"]}`,
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000002","created":"` + v1 + `","modified":"` + v1 +
			`","name":"Secret","is_family":true,"object_marking_refs":["` + policy.TLP2RedID + `"]` + red + `}`,
		`{"type":"relationship","spec_version":"2.1","id":"relationship--00000000-0000-4000-8000-000000000001","created":"` + v1 + `","modified":"` + v1 +
			`","relationship_type":"indicates","source_ref":"` + indID(1) + `","target_ref":"malware--00000000-0000-4000-8000-000000000001","object_marking_refs":["` + green + `"]}`,
		`{"type":"relationship","spec_version":"2.1","id":"relationship--00000000-0000-4000-8000-000000000002","created":"` + v1 + `","modified":"` + v1 +
			`","relationship_type":"indicates","source_ref":"` + indID(1) + `","target_ref":"malware--00000000-0000-4000-8000-000000000002","object_marking_refs":["` + green + `"]}`,
	}
}

// post sends objects to the default collection as acme over TAXII.
func (m *matchEnv) post(objs ...string) {
	m.tb.Helper()
	body := `{"objects":[` + strings.Join(objs, ",") + `]}`
	req, _ := http.NewRequest("POST", m.srv.URL+"/api1/collections/"+store.DefaultCollectionID+"/objects/", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.tok["acme"])
	req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.tb.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 202 || !strings.Contains(string(b), `"failure_count":0`) {
		m.tb.Fatalf("TAXII POST: %d %s", res.StatusCode, b)
	}
}

type matchResp struct {
	code   int
	header http.Header
	body   []byte
}

func (m *matchEnv) match(org, ctype, body string) matchResp {
	m.tb.Helper()
	req, _ := http.NewRequest("POST", m.srv.URL+"/api/v1/match", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+m.tok[org])
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		m.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	res.Header.Del("Date")
	return matchResp{res.StatusCode, res.Header, b}
}

func lines(t testing.TB, r matchResp) []server.MatchJSON {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("match: %d %s", r.code, r.body)
	}
	var out []server.MatchJSON
	for _, l := range bytes.Split(bytes.TrimSpace(r.body), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var mj server.MatchJSON
		if err := json.Unmarshal(l, &mj); err != nil {
			t.Fatalf("line %s: %v", l, err)
		}
		out = append(out, mj)
	}
	return out
}

// summary renders matches as "input kind indicator-number value".
func summary(ms []server.MatchJSON) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d %s %s %s", m.Input, m.Kind, strings.TrimLeft(m.Indicator[len(m.Indicator)-12:], "0"), m.Value))
	}
	return out
}

func TestMatchAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		m := newMatchEnv(t, open)

		t.Run("kinds", func(t *testing.T) {
			body := strings.Join([]string{
				"198.51.100.7", "203.0.113.9", "evil.example", "WWW.Evil.Example.", "http://bad.example:80/x/payload.exe",
				"Phish@mail.example", strings.ToUpper(sha256Hex), md5Hex, "8.8.8.8", "not a value", "",
			}, "\n")
			got := lines(t, m.match("de-police", "text/plain", body))
			want := []string{
				"0 exact 1 198.51.100.7", "1 cidr 2 203.0.113.9", "2 exact 3 evil.example", "3 subdomain 3 www.evil.example",
				"4 exact 4 http://bad.example/x/payload.exe", "5 exact 5 phish@mail.example", "6 exact 6 " + sha256Hex, "7 exact 7 " + md5Hex,
			}
			if s := summary(got); !slices.Equal(s, want) {
				t.Fatalf("matches\n%s\nwant\n%s", strings.Join(s, "\n"), strings.Join(want, "\n"))
			}
			first := got[0]
			if first.Name != "indicator 1" || first.Source != "acme" || first.Confidence == nil || *first.Confidence != 80 ||
				first.ValidFrom != "2024-01-01T00:00:00.000Z" || first.Version != v1 || first.Collection != store.DefaultCollectionID {
				t.Errorf("details: %+v", first)
			}
			// The GREEN malware is related; the RED one (fr-police only)
			// is not shown to de-police, nor its relationship.
			if len(first.Related) != 1 || first.Related[0].ID != "malware--00000000-0000-4000-8000-000000000001" ||
				first.Related[0].Type != "indicates" {
				t.Errorf("related for de-police: %+v", first.Related)
			}
			if got[1].Matched != "203.0.113.0/24" || got[3].Matched != "evil.example" {
				t.Errorf("matched: %q %q", got[1].Matched, got[3].Matched)
			}
			fr := lines(t, m.match("fr-police", "", "198.51.100.7\n"))
			if len(fr) != 1 || len(fr[0].Related) != 2 {
				t.Errorf("fr-police sees both related malware: %+v", fr)
			}
		})

		t.Run("hidden hits leave no trace", func(t *testing.T) {
			miss := m.match("de-police", "", "192.0.2.99\n")
			cases := []struct{ org, value string }{
				{"de-police", "192.0.2.66"},   // TLP:RED for fr-police
				{"beta", "192.0.2.66"},        // RED, a partner
				{"beta", "amber.example"},     // AMBER: not for partners
				{"beta", "x.amber.example"},   // nor its subdomains
				{"nl-police", "198.51.100.7"}, // no grant on the collection
			}
			for _, c := range cases {
				r := m.match(c.org, "", c.value+"\n")
				if r.code != miss.code || !bytes.Equal(r.body, miss.body) || fmt.Sprint(r.header) != fmt.Sprint(miss.header) {
					t.Errorf("%s screening %s: %d %v %q; a miss is %d %v %q", c.org, c.value, r.code, r.header, r.body, miss.code, miss.header, miss.body)
				}
			}
			if len(miss.body) != 0 {
				t.Errorf("a miss has a body: %q", miss.body)
			}
			// The readers who may see them do get them.
			if s := summary(lines(t, m.match("fr-police", "", "192.0.2.66\n"))); !slices.Equal(s, []string{"0 exact 8 192.0.2.66"}) {
				t.Errorf("fr-police: %v", s)
			}
			if s := summary(lines(t, m.match("de-police", "", "amber.example\n"))); !slices.Equal(s, []string{"0 exact 9 amber.example"}) {
				t.Errorf("de-police, AMBER: %v", s)
			}
			// Several values: only the visible match is reported, at its line.
			r := m.match("beta", "", "192.0.2.66\namber.example\nevil.example\n")
			if s := summary(lines(t, r)); !slices.Equal(s, []string{"2 exact 3 evil.example"}) {
				t.Errorf("beta, mixed: %v", s)
			}
		})

		t.Run("json lines and bundles", func(t *testing.T) {
			body := `{"type":"domain-name","value":"evil.example"}` + "\n\n" + `{"type":"file","hashes":{"SHA-256":"` + sha256Hex + `"}}` + "\n"
			if s := summary(lines(t, m.match("de-police", "", body))); !slices.Equal(s, []string{"0 exact 3 evil.example", "2 exact 6 " + sha256Hex}) {
				t.Errorf("json lines: %v", s)
			}
			if r := m.match("de-police", "application/x-ndjson", "{\"type\":\"domain-name\"}\nnot json\n"); r.code != 400 || !strings.Contains(string(r.body), "line 2") {
				t.Errorf("bad json line: %d %s", r.code, r.body)
			}
			bundle := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[
			  {"type":"observed-data","spec_version":"2.1","id":"observed-data--00000000-0000-4000-8000-000000000001","created":"` + v1 + `","modified":"` + v1 + `",
			   "first_observed":"` + v1 + `","last_observed":"` + v1 + `","number_observed":1,"object_refs":["ipv4-addr--00000000-0000-4000-8000-000000000001"]},
			  {"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-000000000001","value":"198.51.100.7"}]}`
			got := lines(t, m.match("de-police", "", bundle))
			if len(got) != 1 || got[0].Indicator != indID(1) || got[0].ObservedData != "observed-data--00000000-0000-4000-8000-000000000001" {
				t.Errorf("bundle: %+v", got)
			}
			if r := m.match("beta", "application/stix+json", strings.ReplaceAll(bundle, "198.51.100.7", "192.0.2.66")); r.code != 200 || len(r.body) != 0 {
				t.Errorf("bundle, hidden: %d %q", r.code, r.body)
			}
		})

		t.Run("limits", func(t *testing.T) {
			r := m.match("de-police", "", strings.Repeat("\n", server.MaxMatchLines+1))
			if r.code != 413 {
				t.Errorf("too many lines: %d %s", r.code, r.body)
			}
			req, _ := http.NewRequest("POST", m.srv.URL+"/api/v1/match", strings.NewReader("1.2.3.4\n"))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 401 {
				t.Errorf("no token: %d", res.StatusCode)
			}
		})

		t.Run("updates within 1 s", func(t *testing.T) {
			// poll screens value until want(matches) holds, for up to 1 s,
			// and returns how long it took.
			pollAs := func(org, value string, want func([]server.MatchJSON) bool) time.Duration {
				start := time.Now()
				for {
					if want(lines(t, m.match(org, "", value+"\n"))) {
						return time.Since(start)
					}
					if time.Since(start) > time.Second {
						t.Fatalf("%s: not changed after 1 s", value)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			poll := func(value string, want func([]server.MatchJSON) bool) time.Duration {
				return pollAs("de-police", value, want)
			}
			if got := lines(t, m.match("de-police", "", "198.51.100.200\n")); len(got) != 0 {
				t.Fatalf("before: %v", got)
			}
			m.post(indicator(20, "2024-02-01T00:00:00.000Z", "[ipv4-addr:value = '198.51.100.200']", policy.TLP2GreenID, ""))
			d := poll("198.51.100.200", func(ms []server.MatchJSON) bool { return len(ms) == 1 && ms[0].Indicator == indID(20) })
			t.Logf("new indicator matched after %v", d)

			// A new version with another value replaces the old one.
			m.post(indicator(20, "2024-02-02T00:00:00.000Z", "[ipv4-addr:value = '198.51.100.201']", policy.TLP2GreenID, ""))
			poll("198.51.100.201", func(ms []server.MatchJSON) bool { return len(ms) == 1 && ms[0].Version == "2024-02-02T00:00:00.000Z" })
			if got := lines(t, m.match("de-police", "", "198.51.100.200\n")); len(got) != 0 {
				t.Errorf("the old version still matches: %v", got)
			}

			// Revoked: stops matching.
			m.post(indicator(20, "2024-02-03T00:00:00.000Z", "[ipv4-addr:value = '198.51.100.201']", policy.TLP2GreenID, `,"revoked":true`))
			d = poll("198.51.100.201", func(ms []server.MatchJSON) bool { return len(ms) == 0 })
			t.Logf("revoked indicator stopped matching after %v", d)

			// A newer version marked RED for fr-police: de-police no
			// longer sees evil.example.
			red := `,"extensions":{"` + extID + `":{"extension_type":"property-extension","recipients":["` + m.ids["fr-police"] + `"]}}`
			m.post(indicator(3, "2024-03-01T00:00:00.000Z", "[domain-name:value = 'evil.example']", policy.TLP2RedID, red))
			// (Until the feeder has the new version, nobody is told of
			// the old one: it is no longer the latest stored version.)
			poll("evil.example", func(ms []server.MatchJSON) bool { return len(ms) == 0 })
			pollAs("fr-police", "evil.example", func(ms []server.MatchJSON) bool {
				return slices.Equal(summary(ms), []string{"0 exact 3 evil.example"}) && ms[0].Version == "2024-03-01T00:00:00.000Z"
			})
			if got := lines(t, m.match("de-police", "", "evil.example\n")); len(got) != 0 {
				t.Errorf("de-police still told of the RED version: %v", got)
			}
		})
	})
}
