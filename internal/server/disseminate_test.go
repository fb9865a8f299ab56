package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"fusion/internal/disseminate"
	"fusion/internal/geoip"
	"fusion/internal/geoip/geoiptest"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// taxiiDo sends a TAXII request with the TAXII media type.
func taxiiDo(e *env, method, path, auth, body string) resp {
	e.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, e.srv.URL+path, rd)
	r.Header.Set("Authorization", auth)
	r.Header.Set("Accept", "application/taxii+json;version=2.1")
	if body != "" {
		r.Header.Set("Content-Type", "application/taxii+json;version=2.1")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

func TestDisseminateAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		e := newEnv(t, open, server.Config{})
		var orgs = map[string]server.OrgJSON{}
		for _, spec := range []string{
			`{"name":"acme","kind":"partner"}`,
			`{"name":"fr-police","kind":"member","country":"FR"}`,
			`{"name":"de-bka","kind":"member","country":"DE"}`,
		} {
			var o server.OrgJSON
			e.must("POST", "/api/v1/orgs", spec, 201, &o)
			orgs[o.Name] = o
		}
		frRead, _ := e.token(`{"org":"fr-police","role":"read"}`)
		frAdmin, _ := e.token(`{"org":"fr-police","role":"admin"}`)
		frWrite, _ := e.token(`{"org":"fr-police","role":"write"}`)
		deRead, _ := e.token(`{"org":"de-bka","role":"read"}`)
		acmeAdmin, _ := e.token(`{"org":"acme","role":"admin"}`)

		intel := store.Collection{ID: "33333333-0000-4000-8000-000000000001", APIRoot: store.DefaultAPIRoot, Title: "intel"}
		if err := e.st.CreateCollection(ctx, intel); err != nil {
			t.Fatal(err)
		}
		var objs []*stix.Object
		for i, ip := range []string{"198.51.100.1", "203.0.113.1"} {
			raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-00000000000%d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '%s']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, i+1, ip)
			o, err := stix.Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
		}
		if _, err := e.st.Put(ctx, intel.ID, orgs["acme"].ID, objs); err != nil {
			t.Fatal(err)
		}

		// Only hub admins may run it.
		for name, tok := range map[string]string{"member read": frRead, "member admin": frAdmin, "partner admin": acmeAdmin} {
			if r := e.call("POST", "/api/v1/disseminate", "Bearer "+tok, ""); r.code != 403 {
				t.Errorf("%s: %d %s", name, r.code, r.body)
			}
		}
		// No geolocation database yet.
		if r := e.call("POST", "/api/v1/disseminate", "Bearer "+adminToken, ""); r.code != 409 || !strings.Contains(r.body, "geoip load") {
			t.Errorf("without a database: %d %s", r.code, r.body)
		}
		db := geoiptest.Build(t, map[string]string{"198.51.100.0/24": "FR", "203.0.113.0/24": "DE"}, geoiptest.Options{})
		if _, err := geoip.Save(ctx, e.st, t.TempDir(), "t.mmdb", db, e.now); err != nil {
			t.Fatal(err)
		}
		if r := e.call("POST", "/api/v1/disseminate", "Bearer "+adminToken, `{"since":"yesterday"}`); r.code != 400 {
			t.Errorf("bad since: %d %s", r.code, r.body)
		}
		var res disseminate.Result
		e.must("POST", "/api/v1/disseminate", "", 200, &res)
		if res.Reports != 2 || len(res.Members) != 2 {
			t.Fatalf("result %+v", res)
		}
		e.must("POST", "/api/v1/disseminate", `{"since":"2000-01-01T00:00:00Z"}`, 200, &res)
		if res.Reports != 0 || res.Added != 0 {
			t.Errorf("second run added %d, %d reports", res.Added, res.Reports)
		}

		frColl := disseminate.ReportCollectionID(orgs["fr-police"].ID)
		deColl := disseminate.ReportCollectionID(orgs["de-bka"].ID)
		objPath := func(c string) string { return "/" + store.DefaultAPIRoot + "/collections/" + c + "/objects/" }

		// FR reads its own report and the indicator it names.
		r := taxiiDo(e, "GET", objPath(frColl), "Bearer "+frRead, "")
		if r.code != 200 || !strings.Contains(r.body, `"type":"report"`) || !strings.Contains(r.body, "198.51.100.1") || strings.Contains(r.body, "203.0.113.1") {
			t.Errorf("FR reading its collection: %d %s", r.code, r.body)
		}
		// The collection is listed as readable, not writable.
		r = taxiiDo(e, "GET", "/"+store.DefaultAPIRoot+"/collections/"+frColl+"/", "Bearer "+frRead, "")
		var cj struct {
			CanRead  bool `json:"can_read"`
			CanWrite bool `json:"can_write"`
		}
		json.Unmarshal([]byte(r.body), &cj)
		if r.code != 200 || !cj.CanRead || cj.CanWrite {
			t.Errorf("FR's collection resource: %d %s", r.code, r.body)
		}
		// FR cannot read DE's report.
		if r := taxiiDo(e, "GET", objPath(deColl), "Bearer "+frRead, ""); r.code < 400 || strings.Contains(r.body, "203.0.113.1") {
			t.Errorf("FR reading DE's collection: %d %s", r.code, r.body)
		}
		// FR cannot write to its own collection or DE's, even with a write token.
		env := `{"objects":[{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-0000000000ff","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.99']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}]}`
		for _, c := range []string{frColl, deColl} {
			for _, tok := range []string{frRead, frWrite, frAdmin} {
				if r := taxiiDo(e, "POST", objPath(c), "Bearer "+tok, env); r.code < 400 {
					t.Errorf("FR posting to %s: %d %s", c, r.code, r.body)
				}
			}
			page, err := e.st.List(ctx, c, store.Query{IDs: []string{"indicator--00000000-0000-4000-8000-0000000000ff"}, Limit: 10})
			if err != nil || len(page.Versions) != 0 {
				t.Errorf("a member's post reached %s: %v %v", c, page.Versions, err)
			}
		}
		// Members cannot list organisations.
		for _, tok := range []string{frRead, frAdmin, deRead} {
			if r := e.call("GET", "/api/v1/orgs", "Bearer "+tok, ""); r.code != 403 || strings.Contains(r.body, "de-bka") {
				t.Errorf("member listing organisations: %d %s", r.code, r.body)
			}
		}
	})
}
