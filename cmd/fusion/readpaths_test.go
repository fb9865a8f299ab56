package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// The read paths: every way stored objects leave Fusion. TestReadPaths
// reads through each of them as each kind of caller and checks the exact
// result against a table written by hand from the rules in
// docs/sharing.md. A new read path must be added here (and go through
// policy.Filter); readPathRoutes fails the test when the TAXII route
// table grows a GET route this test does not know.
var readPaths = []string{"objects", "objects-all", "manifest", "manifest-all", "object", "object-all", "versions", "export", "export-all"}

// taxiiGETRoutes are the TAXII GET routes and whether they return stored
// objects (or their ids); those that do are read paths above.
var taxiiGETRoutes = map[string]bool{
	"/taxii2/":                                              false, // discovery
	"/{root}/":                                              false, // API root
	"/{root}/status/{status}/":                              false, // the poster's own status (owner only)
	"/{root}/collections/":                                  false,
	"/{root}/collections/{coll}/":                           false,
	"/{root}/collections/{coll}/manifest/":                  true,
	"/{root}/collections/{coll}/objects/":                   true,
	"/{root}/collections/{coll}/objects/{object}/":          true,
	"/{root}/collections/{coll}/objects/{object}/versions/": true,
}

// Organisations of the matrix. A is the source of almost everything.
const (
	orgA  = "aaaaaaaa-0000-4000-8000-00000000000a" // partner, the source
	orgB  = "bbbbbbbb-0000-4000-8000-00000000000b" // another partner
	orgFR = "cccccccc-0000-4000-8000-0000000000f1" // member FR
	orgDE = "dddddddd-0000-4000-8000-0000000000d1" // member DE
)

// Callers: A, B, F (member FR), D (member DE), H (hub, read token), X
// (hub admin).
var rpCallers = []string{"A", "B", "F", "D", "H", "X"}

type rpObject struct {
	name     string
	id       string
	modified string
	source   string // org id
	raw      string
	vis      string // callers who may see this version
}

func rpID(typ string, n int) string { return fmt.Sprintf("%s--00000000-0000-4000-8000-%012d", typ, n) }

func rpExt(body string) string {
	return `,"extensions":{"` + policy.ExtensionID + `":{"extension_type":"property-extension",` + body + `}}`
}

func rpIndicator(n int, modified, marking, extra string) string {
	m := ""
	if marking != "" {
		m = `,"object_marking_refs":["` + marking + `"]`
	}
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"ind %d","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"%s%s}`,
		rpID("indicator", n), modified, n, n, m, extra)
}

const rpT1, rpT2 = "2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z"

func rpObjects() []rpObject {
	green := `,"object_marking_refs":["` + policy.TLP2GreenID + `"]`
	rel := func(n int, from, to string) string {
		return fmt.Sprintf(`{"type":"relationship","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"relationship_type":"indicates","source_ref":%q,"target_ref":%q%s}`,
			rpID("relationship", n), rpT1, rpT1, from, to, green)
	}
	i := func(n int) string { return rpID("indicator", n) }
	return []rpObject{
		{name: "clear", raw: rpIndicator(1, rpT1, policy.TLP2ClearID, ""), vis: "ABFDHX"},
		{name: "white (TLP 1.0)", raw: rpIndicator(2, rpT1, policy.TLP1WhiteID, ""), vis: "ABFDHX"},
		{name: "green", raw: rpIndicator(3, rpT1, policy.TLP2GreenID, ""), vis: "ABFDHX"},
		{name: "amber, created by a strict identity", raw: rpIndicator(4, rpT1, policy.TLP2AmberID, `,"created_by_ref":"`+rpID("identity", 18)+`"`), vis: "AFDHX"},
		{name: "amber+strict", raw: rpIndicator(5, rpT1, policy.TLP2AmberStrictID, ""), vis: "AHX"},
		{name: "red for FR", raw: rpIndicator(6, rpT1, policy.TLP2RedID, rpExt(`"recipients":["`+orgFR+`"]`)), vis: "AFX"},
		{name: "unmarked (collection default green)", raw: rpIndicator(7, rpT1, "", ""), vis: "ABFDHX"},
		{name: "amber, deny DE", raw: rpIndicator(8, rpT1, policy.TLP2AmberID, rpExt(`"deny_countries":["DE"]`)), vis: "AFHX"},
		{name: "green, allow FR", raw: rpIndicator(9, rpT1, policy.TLP2GreenID, rpExt(`"allow_countries":["FR"]`)), vis: "ABFHX"},
		{name: "green, recipients B", raw: rpIndicator(10, rpT1, policy.TLP2GreenID, rpExt(`"recipients":["`+orgB+`"]`)), vis: "ABX"},
		{name: "relationship clear→green", raw: rel(11, i(1), i(3)), vis: "ABFDHX"},
		{name: "relationship clear→amber", raw: rel(12, i(1), i(4)), vis: "AFDHX"},
		{name: "sighting of red", raw: fmt.Sprintf(`{"type":"sighting","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"sighting_of_ref":%q%s}`,
			rpID("sighting", 13), rpT1, rpT1, i(6), green), vis: "AFX"},
		{name: "report", raw: fmt.Sprintf(`{"type":"report","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"name":"r","published":"2020-01-01T00:00:00Z","report_types":["threat-report"],"object_refs":[%q,%q,%q]%s}`,
			rpID("report", 14), rpT1, rpT1, i(1), i(4), i(6), green), vis: "ABFDHX"},
		{name: "granular red description", raw: rpIndicator(15, rpT1, policy.TLP2GreenID,
			`,"description":"SECRET-DESC","granular_markings":[{"marking_ref":"`+policy.TLP2RedID+`","selectors":["description"]}]`), vis: "ABFDHX"},
		{name: "versioned v1 green", raw: rpIndicator(16, rpT1, policy.TLP2GreenID, ""), vis: "AFDHX"}, // v2 narrowed it: B no longer sees v1
		{name: "versioned v2 amber", raw: rpIndicator(16, rpT2, policy.TLP2AmberID, ""), vis: "AFDHX"},
		{name: "B's own red", source: orgB, raw: rpIndicator(17, rpT1, policy.TLP2RedID, ""), vis: "BX"},
		{name: "strict identity", raw: fmt.Sprintf(`{"type":"identity","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"name":"acme analysts","identity_class":"organization","object_marking_refs":[%q]}`,
			rpID("identity", 18), rpT1, rpT1, policy.TLP2AmberStrictID), vis: "AHX"},
	}
}

// rpReportRefs are the report's object_refs each caller receives.
var rpReportRefs = map[string][]int{"A": {1, 4, 6}, "B": {1}, "F": {1, 4, 6}, "D": {1, 4}, "H": {1, 4}, "X": {1, 4, 6}}

func TestReadPaths(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { testReadPaths(t, b.flags(t)) })
	}
}

// rpEnv is the server and store of one backend's run.
type rpEnv struct {
	t      *testing.T
	flags  []string
	st     store.Store
	srv    *httptest.Server
	coll   string
	tokens map[string]string // caller → token
	orgs   map[string]string // caller → organisation name for export --as ("" = hub admin)
}

func testReadPaths(t *testing.T, flags []string) {
	ctx := context.Background()
	st := openFromFlags(t, flags)
	t.Cleanup(func() { st.Close() })
	const admin = "read-paths-admin-token-0123456789"
	now := time.Now().UTC()
	if _, err := server.Bootstrap(ctx, st, t.TempDir(), admin, now); err != nil {
		t.Fatal(err)
	}
	hub, err := st.GetOrgByName(ctx, server.HubOrgName)
	if err != nil {
		t.Fatal(err)
	}
	e := &rpEnv{t: t, flags: flags, st: st, coll: "eeeeeeee-0000-4000-8000-00000000c011",
		tokens: map[string]string{"X": admin}, orgs: map[string]string{"X": ""}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCollection(ctx, store.Collection{ID: e.coll, APIRoot: store.DefaultAPIRoot, Title: "matrix", DefaultTLP: "green", Created: now}))
	for _, o := range []struct {
		caller string
		org    store.Org
	}{
		{"A", store.Org{ID: orgA, Name: "acme", Kind: store.KindPartner}},
		{"B", store.Org{ID: orgB, Name: "beta", Kind: store.KindPartner}},
		{"F", store.Org{ID: orgFR, Name: "fr-police", Kind: store.KindMember, Country: "FR"}},
		{"D", store.Org{ID: orgDE, Name: "de-police", Kind: store.KindMember, Country: "DE"}},
		{"H", hub},
	} {
		if o.caller != "H" {
			o.org.Created = now
			must(st.CreateOrg(ctx, o.org))
		}
		must(st.SetGrant(ctx, store.Grant{Collection: e.coll, OrgID: o.org.ID, Read: true}))
		secret, hash := server.NewToken()
		must(st.CreateToken(ctx, store.Token{ID: o.org.ID[:8] + "-1111-4000-8000-000000000001", OrgID: o.org.ID, Role: store.RoleRead, Hash: hash, Created: now}))
		e.tokens[o.caller], e.orgs[o.caller] = secret, o.org.Name
	}
	objs := rpObjects()
	for i := range objs {
		o, err := stix.Parse([]byte(objs[i].raw))
		if err == nil {
			err = policy.ValidateObject(o)
		}
		if err != nil {
			t.Fatalf("%s: %v", objs[i].name, err)
		}
		objs[i].id, objs[i].modified = o.ID, stix.FormatTimestamp(o.Version())
		if objs[i].source == "" {
			objs[i].source = orgA
		}
		if _, err := st.Put(ctx, e.coll, objs[i].source, []*stix.Object{o}); err != nil {
			t.Fatal(err)
		}
	}
	e.srv = httptest.NewServer(server.New(st, server.Config{Rate: -1, Validate: policy.ValidateObject,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(e.srv.Close)

	// What each caller must get, from the table.
	latest := map[string]rpObject{} // id → latest version
	var ids []string
	for _, o := range objs {
		if old, ok := latest[o.id]; !ok || old.modified < o.modified {
			if !ok {
				ids = append(ids, o.id)
			}
			latest[o.id] = o
		}
	}
	for _, c := range rpCallers {
		t.Run(c, func(t *testing.T) {
			wantLatest, wantAll := []string{}, []string{}
			seesSome := map[string]bool{}
			for _, o := range objs {
				if strings.Contains(o.vis, c) {
					wantAll = append(wantAll, o.id+"@"+o.modified)
					seesSome[o.id] = true
					if latest[o.id].modified == o.modified {
						wantLatest = append(wantLatest, o.id)
					}
				}
			}
			var hidden []string // ids the caller may not see in any version
			for _, id := range ids {
				if !seesSome[id] {
					hidden = append(hidden, id)
				}
			}
			var bodies []string
			check := func(path string, got, want []string, body ...string) {
				t.Helper()
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Errorf("%s: got %v\nwant %v", path, got, want)
				}
				bodies = append(bodies, body...)
			}

			objsLatest, b1 := e.walkObjects(c, "")
			check("objects", idsOf(objsLatest), wantLatest, b1...)
			objsAll, b2 := e.walkObjects(c, "&match[version]=all")
			check("objects-all", versionsOf(objsAll), wantAll, b2...)
			man, b3 := e.walkManifest(c, "")
			check("manifest", stripVersions(man), wantLatest, b3...)
			manAll, b4 := e.walkManifest(c, "&match[version]=all")
			check("manifest-all", manAll, wantAll, b4...)
			for _, id := range ids {
				base := "/api1/collections/" + e.coll + "/objects/" + id + "/"
				var wantObj, wantVers []string
				if seesSome[id] {
					l := latest[id]
					if strings.Contains(l.vis, c) {
						wantObj = []string{id}
					}
					for _, w := range wantAll {
						if strings.HasPrefix(w, id+"@") {
							wantVers = append(wantVers, w)
						}
					}
				}
				code, body := e.get(c, base)
				if !seesSome[id] {
					if code != 404 {
						t.Errorf("object %s: %d, want 404 (no version visible): %s", id, code, body)
					}
				} else {
					check("object "+id, idsOf(envObjects(t, body)), wantObj, body)
				}
				code, body = e.get(c, base+"?match[version]=all")
				if seesSome[id] {
					check("object-all "+id, versionsOf(envObjects(t, body)), wantVers, body)
				} else if code != 404 {
					t.Errorf("object-all %s: %d, want 404", id, code)
				}
				code, body = e.get(c, base+"versions/")
				if seesSome[id] {
					var vr struct {
						Versions []string `json:"versions"`
					}
					if err := json.Unmarshal([]byte(body), &vr); err != nil || code != 200 {
						t.Fatalf("versions %s: %d %v %s", id, code, err, body)
					}
					var got []string
					for _, v := range vr.Versions {
						got = append(got, id+"@"+v)
					}
					check("versions "+id, got, wantVers, body)
				} else if code != 404 {
					t.Errorf("versions %s: %d, want 404", id, code)
				}
			}
			exp, out := e.export(c, false)
			check("export", idsOf(exp), wantLatest, out)
			expAll, out := e.export(c, true)
			check("export-all", versionsOf(expAll), wantAll, out)

			// The report's refs are filtered, the same way on every path
			// that returns it; the granular-marked description only goes
			// to the source and the hub admin.
			for path, list := range map[string][]map[string]any{"objects": objsLatest, "objects-all": objsAll, "export": exp, "export-all": expAll} {
				for _, o := range list {
					if o["id"] == rpID("report", 14) {
						var got []string
						for _, r := range o["object_refs"].([]any) {
							got = append(got, r.(string))
						}
						var want []string
						for _, n := range rpReportRefs[c] {
							want = append(want, rpID("indicator", n))
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s: report object_refs %v, want %v", path, got, want)
						}
					}
					if o["id"] == rpID("indicator", 15) {
						_, has := o["description"]
						if has != (c == "A" || c == "X") {
							t.Errorf("%s: granular-marked description present: %v", path, has)
						}
					}
					if o["id"] == rpID("indicator", 4) {
						_, has := o["created_by_ref"]
						if has != strings.Contains("AHX", c) {
							t.Errorf("%s: created_by_ref to the strict identity present: %v", path, has)
						}
					}
				}
			}
			// No response reveals the id of an object the caller may not
			// see (references included), nor marked content.
			for _, body := range bodies {
				for _, id := range hidden {
					if strings.Contains(body, id) {
						t.Errorf("a response names hidden %s: %.300s", id, body)
					}
				}
				if c != "A" && c != "X" && strings.Contains(body, "SECRET-DESC") {
					t.Errorf("a response holds granular-marked content: %.300s", body)
				}
			}
		})
	}
}

// get sends an authenticated TAXII GET.
func (e *rpEnv) get(c, path string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.tokens[c])
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, string(b)
}

// walkObjects follows next through the objects endpoint with small pages,
// checking that every page with more is full.
func (e *rpEnv) walkObjects(c, extra string) ([]map[string]any, []string) {
	e.t.Helper()
	const limit = 3
	var all []map[string]any
	var bodies []string
	next := ""
	for pages := 0; ; pages++ {
		path := fmt.Sprintf("/api1/collections/%s/objects/?limit=%d%s", e.coll, limit, extra)
		if next != "" {
			path += "&next=" + url.QueryEscape(next)
		}
		code, body := e.get(c, path)
		if code != 200 {
			e.t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var env struct {
			More    bool             `json:"more"`
			Next    string           `json:"next"`
			Objects []map[string]any `json:"objects"`
		}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			e.t.Fatal(err)
		}
		if env.More && len(env.Objects) != limit {
			e.t.Errorf("objects%s: a page of %d with more", extra, len(env.Objects))
		}
		all = append(all, env.Objects...)
		bodies = append(bodies, body)
		if !env.More || pages > 50 {
			return all, bodies
		}
		next = env.Next
	}
}

// walkManifest pages through the manifest and returns id@version.
func (e *rpEnv) walkManifest(c, extra string) ([]string, []string) {
	e.t.Helper()
	const limit = 4
	var out, bodies []string
	next := ""
	for pages := 0; ; pages++ {
		path := fmt.Sprintf("/api1/collections/%s/manifest/?limit=%d%s", e.coll, limit, extra)
		if next != "" {
			path += "&next=" + url.QueryEscape(next)
		}
		code, body := e.get(c, path)
		if code != 200 {
			e.t.Fatalf("GET %s: %d %s", path, code, body)
		}
		var m struct {
			More    bool   `json:"more"`
			Next    string `json:"next"`
			Objects []struct {
				ID      string `json:"id"`
				Version string `json:"version"`
			} `json:"objects"`
		}
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			e.t.Fatal(err)
		}
		if m.More && len(m.Objects) != limit {
			e.t.Errorf("manifest%s: a page of %d with more", extra, len(m.Objects))
		}
		for _, r := range m.Objects {
			out = append(out, r.ID+"@"+r.Version)
		}
		bodies = append(bodies, body)
		if !m.More || pages > 50 {
			return out, bodies
		}
		next = m.Next
	}
}

// export runs fusion export as the caller (--as, or as the hub admin).
func (e *rpEnv) export(c string, all bool) ([]map[string]any, string) {
	e.t.Helper()
	args := append([]string{"export", "--collection", e.coll}, e.flags...)
	if e.orgs[c] != "" {
		args = append(args, "--as", e.orgs[c])
	}
	if all {
		args = append(args, "--all-versions")
	}
	code, out, errs := fusion(e.t, args...)
	if code != 0 {
		e.t.Fatalf("fusion %v: exit %d: %s", args, code, errs)
	}
	var b struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		e.t.Fatalf("export output: %v: %.300s", err, out)
	}
	return b.Objects, out
}

func envObjects(t *testing.T, body string) []map[string]any {
	t.Helper()
	var env struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return env.Objects
}

func idsOf(objs []map[string]any) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o["id"].(string))
	}
	return out
}

func versionsOf(objs []map[string]any) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o["id"].(string)+"@"+o["modified"].(string))
	}
	return out
}

func stripVersions(vs []string) []string {
	out := []string{}
	for _, v := range vs {
		id, _, _ := strings.Cut(v, "@")
		out = append(out, id)
	}
	return out
}

// TestReadPathRoutes fails when the TAXII route table has a GET route
// this file does not know, so that a new read path cannot appear without
// being added to TestReadPaths.
func TestReadPathRoutes(t *testing.T) {
	src := mustReadTaxiiRoutes(t)
	var found []string
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		rest, ok := strings.CutPrefix(line, `mux.Handle("GET `)
		if !ok {
			continue
		}
		pattern, _, _ := strings.Cut(rest, `"`)
		pattern = strings.TrimSuffix(pattern, "{$}")
		found = append(found, pattern)
		if _, known := taxiiGETRoutes[pattern]; !known {
			t.Errorf("TAXII GET route %s is not in taxiiGETRoutes: if it returns stored objects, read them through policy.Filter and add it to TestReadPaths", pattern)
		}
	}
	for p := range taxiiGETRoutes {
		if !slices.Contains(found, p) {
			t.Errorf("taxiiGETRoutes lists %s, which the route table no longer has", p)
		}
	}
	if len(readPaths) == 0 {
		t.Fatal("no read paths")
	}
}

// mustReadTaxiiRoutes reads the source of the TAXII route table.
func mustReadTaxiiRoutes(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../internal/taxii/taxii.go")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestExportAsErrors: --as names an organisation that exists and may read
// the collection; otherwise export says why and writes nothing.
func TestExportAsErrors(t *testing.T) {
	data := t.TempDir()
	st, err := openStore(context.Background(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	err = st.CreateOrg(context.Background(), store.Org{ID: orgB, Name: "beta", Kind: store.KindPartner, Created: time.Now()})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ as, want string }{
		{"nobody", `--as nobody: no organisation has this name or id`},
		{"beta", `organisation beta may not read collection ` + store.DefaultCollectionID + ` (no read grant)`},
		{orgB, `organisation beta may not read collection`},
	} {
		code, out, errs := fusion(t, "export", "--data", data, "--as", tc.as)
		if code != 1 || out != "" || !strings.Contains(errs, tc.want) {
			t.Errorf("export --as %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.as, code, out, errs, tc.want)
		}
	}
}
