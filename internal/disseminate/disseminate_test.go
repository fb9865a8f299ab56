package disseminate_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/disseminate"
	"fusion/internal/geoip"
	"fusion/internal/geoip/geoiptest"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

const (
	hubID     = "11111111-0000-4000-8000-000000000001"
	partnerID = "11111111-0000-4000-8000-000000000002"
	frID      = "11111111-0000-4000-8000-000000000003"
	deID      = "11111111-0000-4000-8000-000000000004"
	gbID      = "11111111-0000-4000-8000-000000000005"
	jpID      = "11111111-0000-4000-8000-000000000006"
	otherID   = "11111111-0000-4000-8000-000000000007" // a second partner
	intelColl = "22222222-0000-4000-8000-000000000001"
	sharColl  = "22222222-0000-4000-8000-000000000002"
)

var testNets = map[string]string{
	"198.51.100.0/24": "FR",
	"203.0.113.0/24":  "DE",
	"192.0.2.0/24":    "GB",
	"2001:db8::/32":   "JP",
	"198.18.0.0/16":   "DE",
	"198.18.5.0/24":   "FR",
	"100.64.0.0/10":   "US", // not a member
}

func testDB(t testing.TB) *geoip.DB {
	db, err := geoip.Parse("test.mmdb", geoiptest.Build(t, testNets, geoiptest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

const (
	green  = policy.TLP2GreenID
	amber  = policy.TLP2AmberID
	strict = policy.TLP2AmberStrictID
	red    = policy.TLP2RedID
	clear  = policy.TLP2ClearID
)

func id(typ string, n int) string { return fmt.Sprintf("%s--00000000-0000-4000-8000-%012d", typ, n) }

func ts(n int) string { return fmt.Sprintf("2026-01-01T00:00:%02d.000Z", n%60) }

func restr(body string) string {
	return `"extensions":{"` + policy.ExtensionID + `":{"extension_type":"property-extension"` + body + `}}`
}

func indicator(n int, pattern, marking string, extra ...string) string {
	s := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":%q,"modified":%q,"pattern":%q,"pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":[%q]`,
		id("indicator", n), ts(n), ts(n), pattern, marking)
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

func sco(typ string, n int, value, marking string) string {
	return fmt.Sprintf(`{"type":%q,"spec_version":"2.1","id":%q,"value":%q,"object_marking_refs":[%q]}`, typ, id(typ, n), value, marking)
}

type fixture struct {
	st   store.Store
	geo  *geoip.DB
	now  time.Time
	objs map[string]string // name → raw
}

func newFixture(t *testing.T, open opener) *fixture {
	ctx := context.Background()
	f := &fixture{st: open(t), geo: testDB(t), now: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}
	for _, o := range []store.Org{
		{ID: hubID, Name: "hub", Kind: store.KindHub},
		{ID: partnerID, Name: "acme", Kind: store.KindPartner},
		{ID: otherID, Name: "globex", Kind: store.KindPartner},
		{ID: frID, Name: "fr-police", Kind: store.KindMember, Country: "FR"},
		{ID: deID, Name: "de-bka", Kind: store.KindMember, Country: "DE"},
		{ID: gbID, Name: "uk-nca", Kind: store.KindMember, Country: "GB"},
		{ID: jpID, Name: "jp-npa", Kind: store.KindMember, Country: "JP"},
	} {
		if err := f.st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []store.Collection{
		{ID: intelColl, APIRoot: store.DefaultAPIRoot, Title: "intel", Alias: "intel"},
		{ID: sharColl, APIRoot: store.DefaultAPIRoot, Title: "sharing", DefaultTLP: "clear"},
	} {
		if err := f.st.CreateCollection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *fixture) put(t *testing.T, coll, source string, raws ...string) {
	t.Helper()
	var objs []*stix.Object
	for _, r := range raws {
		o, err := stix.Parse([]byte(r))
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if err := stix.Validate(o); err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		objs = append(objs, o)
	}
	if _, err := f.st.Put(context.Background(), coll, source, objs); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) run(t *testing.T, since time.Time) disseminate.Result {
	t.Helper()
	res, err := disseminate.Run(context.Background(), f.st, disseminate.Config{Geo: f.geo, Since: since,
		Exclude: []string{sharColl}, Actor: hubID, Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// contents lists the member's report collection as stored: object ids
// (reports apart) and the reports.
func (f *fixture) contents(t *testing.T, orgID string) (ids []string, reports []map[string]any, raw map[string]string) {
	t.Helper()
	raw = map[string]string{}
	page, err := f.st.List(context.Background(), disseminate.ReportCollectionID(orgID), store.Query{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Versions {
		raw[v.ID] = string(v.Raw)
		switch v.Type {
		case "report":
			var m map[string]any
			json.Unmarshal(v.Raw, &m)
			reports = append(reports, m)
		case "identity":
			if v.ID != policy.HubIdentityID {
				t.Errorf("unexpected identity %s", v.ID)
			}
		default:
			ids = append(ids, v.ID)
		}
	}
	sort.Strings(ids)
	return ids, reports, raw
}

func refsOf(reports []map[string]any) []string {
	var out []string
	for _, r := range reports {
		for _, x := range r["object_refs"].([]any) {
			out = append(out, x.(string))
		}
	}
	sort.Strings(out)
	return out
}

func sorted(xs ...string) []string { slices.Sort(xs); return xs }

func TestDisseminate(t *testing.T) {
	forEachBackend(t, testDisseminate)
}

func testDisseminate(t *testing.T, open opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	secret := "granular secret about the operator"
	objs := []string{
		indicator(1, "[ipv4-addr:value = '198.51.100.7']", green),                                                      // FR
		indicator(2, "[ipv4-addr:value ISSUBSET '198.18.0.0/16']", green),                                              // DE and FR (CIDR overlap)
		indicator(3, "[domain-name:value = 'evil.example.co.uk']", green),                                              // GB (.uk)
		indicator(4, "[url:value = 'http://bad.example.de/x'] AND [file:name = 'a.exe']", amber),                       // DE
		sco("ipv6-addr", 5, "2001:db8::5", clear),                                                                      // JP
		indicator(6, "[ipv4-addr:value = '198.51.100.8']", strict),                                                     // FR: AMBER+STRICT, withheld
		indicator(7, "[ipv4-addr:value = '198.51.100.9']", red, restr(`,"recipients":["`+frID+`"]`)),                   // FR named: RED
		indicator(8, "[ipv4-addr:value = '198.51.100.10']", red, restr(`,"recipients":["`+deID+`"]`)),                  // FR not named
		indicator(9, "[ipv4-addr:value IN ('198.51.100.11', '192.0.2.11')]", green, restr(`,"deny_countries":["FR"]`)), // GB only
		indicator(10, "[domain-name:value LIKE '%.fr']", green, restr(`,"allow_countries":["DE"]`)),                    // FR withheld
		indicator(11, "[ipv4-addr:value = '198.51.100.12']", green, restr(`,"recipients":["`+gbID+`"]`)),               // FR withheld
		indicator(14, "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", green),                                 // nobody
		indicator(15, "[ipv4-addr:value NOT = '198.51.100.1']", green),                                                 // nobody
		indicator(16, "[ipv4-addr:value = '100.64.1.1']", green),                                                       // US: not a member
		indicator(17, "[network-traffic:dst_ref.value = '2001:db8::17']", green, // JP, granular RED description
			`"description":"`+secret+`"`, `"granular_markings":[{"marking_ref":"`+red+`","selectors":["description"]}]`),
		// Infrastructure tied to a DE address by a relationship.
		`{"type":"infrastructure","spec_version":"2.1","id":"` + id("infrastructure", 20) + `","created":"` + ts(20) + `","modified":"` + ts(20) + `","name":"C2 server","object_marking_refs":["` + green + `"]}`,
		sco("ipv4-addr", 21, "203.0.113.21", green),
		`{"type":"relationship","spec_version":"2.1","id":"` + id("relationship", 22) + `","created":"` + ts(22) + `","modified":"` + ts(22) + `","relationship_type":"consists-of","source_ref":"` + id("infrastructure", 20) + `","target_ref":"` + id("ipv4-addr", 21) + `","object_marking_refs":["` + green + `"]}`,
		// network-traffic to a FR address.
		sco("ipv4-addr", 23, "198.51.100.23", green),
		`{"type":"network-traffic","spec_version":"2.1","id":"` + id("network-traffic", 24) + `","dst_ref":"` + id("ipv4-addr", 23) + `","protocols":["tcp"],"object_marking_refs":["` + green + `"]}`,
	}
	f.put(t, intelColl, partnerID, objs...)
	// Never read: the sharing collection.
	f.put(t, sharColl, hubID, indicator(30, "[ipv4-addr:value = '198.51.100.30']", clear))

	res := f.run(t, time.Time{})
	want := map[string][]string{
		frID: sorted(id("indicator", 1), id("indicator", 2), id("indicator", 7), id("ipv4-addr", 23), id("network-traffic", 24)),
		deID: sorted(id("indicator", 2), id("indicator", 4), id("ipv4-addr", 21), id("infrastructure", 20), id("relationship", 22)),
		gbID: sorted(id("indicator", 3), id("indicator", 9)),
		jpID: sorted(id("ipv6-addr", 5), id("indicator", 17)),
	}
	wantWithheld := map[string]int{frID: 5} // 6, 8, 9, 10, 11
	for org, w := range want {
		ids, reports, raw := f.contents(t, org)
		if !slices.Equal(ids, w) {
			t.Errorf("%s collection holds %v, want %v", org, ids, w)
		}
		if len(reports) != 1 {
			t.Fatalf("%s: %d reports, want 1", org, len(reports))
		}
		if got := refsOf(reports); !slices.Equal(got, w) {
			t.Errorf("%s report names %v, want %v", org, got, w)
		}
		rep := reports[0]
		if rep["created_by_ref"] != policy.HubIdentityID || rep["published"] == nil ||
			!slices.Equal(toStrings(rep["report_types"]), []string{"threat-report"}) {
			t.Errorf("%s report: %v", org, rep)
		}
		name, _ := rep["name"].(string)
		cname := map[string]string{frID: "France", deID: "Germany", gbID: "United Kingdom", jpID: "Japan"}[org]
		if !strings.HasPrefix(name, "Cyber activity report: "+cname+" (") {
			t.Errorf("%s report name %q", org, name)
		}
		wantTLP := amber
		if org == frID {
			wantTLP = red // it names a RED indicator
		}
		if m := toStrings(rep["object_marking_refs"]); !slices.Equal(m, []string{wantTLP}) {
			t.Errorf("%s report marked %v, want %s", org, m, wantTLP)
		}
		for _, r := range raw {
			if strings.Contains(r, secret) {
				t.Errorf("%s received the granular RED description: %s", org, r)
			}
		}
		// What the member reads over TAXII: everything in its collection,
		// report refs intact.
		c, _ := f.st.GetCollection(ctx, disseminate.ReportCollectionID(org))
		o, _ := f.st.GetOrg(ctx, org)
		flt := policy.NewFilter(f.st, policy.Caller{Org: o, Role: store.RoleRead}, c)
		page, _ := f.st.List(ctx, c.ID, store.Query{Limit: 1000})
		vis, err := flt.Visible(ctx, page.Versions)
		if err != nil {
			t.Fatal(err)
		}
		if len(vis) != len(page.Versions) {
			t.Errorf("%s may read %d of the %d objects of its collection", org, len(vis), len(page.Versions))
		}
		for _, v := range vis {
			if v.Type == "report" {
				var m map[string]any
				json.Unmarshal(v.Raw, &m)
				if got := refsOf([]map[string]any{m}); !slices.Equal(got, w) {
					t.Errorf("%s reads report refs %v, want %v", org, got, w)
				}
			}
		}
		// Grants: the member reads, does not write; nobody else.
		gs, err := f.st.ListGrants(ctx, c.ID)
		if err != nil || len(gs) != 1 || gs[0].OrgID != org || !gs[0].Read || gs[0].Write {
			t.Errorf("%s collection grants %+v (%v)", org, gs, err)
		}
	}
	for _, m := range res.Members {
		if m.Withheld != wantWithheld[m.Org] {
			t.Errorf("%s withheld %d, want %d", m.Name, m.Withheld, wantWithheld[m.Org])
		}
	}
	if res.Reports != 4 {
		t.Errorf("reports %d, want 4", res.Reports)
	}

	// The audit log names what each member received.
	served := servedTo(t, f.st)
	for org, w := range want {
		for _, x := range w {
			if !served[org][x] {
				t.Errorf("no served entry for %s to %s", x, org)
			}
		}
	}

	// Idempotent: nothing new, nothing written (no entries, no records).
	size, _ := f.st.LogSize(ctx)
	recs, _ := f.st.ListRecords(ctx, "", "", 1000)
	res2 := f.run(t, time.Time{})
	if res2.Added != 0 || res2.Reports != 0 || res2.Examined != 0 {
		t.Errorf("second run: %+v", res2)
	}
	res3 := f.run(t, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)) // everything again
	if res3.Added != 0 || res3.Reports != 0 || res3.Examined == 0 {
		t.Errorf("--since run over the same objects: added %d, reports %d, examined %d", res3.Added, res3.Reports, res3.Examined)
	}
	size2, _ := f.st.LogSize(ctx)
	recs2, _ := f.st.ListRecords(ctx, "", "", 1000)
	if size2 != size || len(recs2) != len(recs) {
		t.Errorf("re-runs wrote log entries (%d → %d) or records (%d → %d)", size, size2, len(recs), len(recs2))
	}

	// Something new: only it is reported; --since picks the window.
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	f.put(t, intelColl, otherID, indicator(40, "[ipv4-addr:value = '198.51.100.40']", green))
	f.now = f.now.Add(time.Hour)
	res4 := f.run(t, time.Time{})
	if res4.Reports != 1 || len(res4.Members) != 1 || res4.Members[0].Org != frID || res4.Members[0].Objects != 1 {
		t.Fatalf("run after a new object: %+v", res4)
	}
	_, reports, _ := f.contents(t, frID)
	if len(reports) != 2 {
		t.Fatalf("FR has %d reports, want 2", len(reports))
	}
	for _, r := range reports {
		refs := toStrings(r["object_refs"])
		if slices.Contains(refs, id("indicator", 40)) && len(refs) != 1 {
			t.Errorf("the new report names %v, want only the new indicator", refs)
		}
	}
	// --since the middle: the same one object, already delivered.
	res5 := f.run(t, mid)
	if res5.Added != 0 || res5.Examined != 1 {
		t.Errorf("--since run: %+v", res5)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// servedTo reads the log's served entries of path report: org → ids.
func servedTo(t *testing.T, st store.Store) map[string]map[string]bool {
	_, entries := audittest.Read(t, st.(store.Log))
	out := map[string]map[string]bool{}
	for _, e := range entries {
		if e.Kind != audit.KindServed || e.Path != audit.PathReport {
			continue
		}
		if out[e.Org] == nil {
			out[e.Org] = map[string]bool{}
		}
		for _, o := range e.Objects {
			out[e.Org][o.ID] = true
		}
	}
	return out
}

func TestDisseminateRevocation(t *testing.T) {
	forEachBackend(t, testDisseminateRevocation)
}

// testDisseminateRevocation: a revocation reaches the member holding a
// copy from an earlier run, is not named in a report, and goes to no one
// else; an object revoked before any run is not disseminated at all.
func testDisseminateRevocation(t *testing.T, open opener) {
	ctx := context.Background()
	f := newFixture(t, open)
	revoke := func(n int, pattern string, at int) string {
		s := indicator(n, pattern, green)
		s = strings.Replace(s, `"modified":"`+ts(n)+`"`, `"modified":"`+ts(at)+`"`, 1)
		return strings.TrimSuffix(s, "}") + `,"revoked":true}`
	}
	f.put(t, intelColl, partnerID,
		indicator(1, "[ipv4-addr:value = '198.51.100.7']", green), // FR
		indicator(2, "[ipv4-addr:value = '198.51.100.8']", green)) // FR, stays
	f.run(t, time.Time{})
	if ids, _, _ := f.contents(t, frID); !slices.Contains(ids, id("indicator", 1)) {
		t.Fatalf("FR did not receive indicator 1: %v", ids)
	}
	f.put(t, intelColl, partnerID,
		revoke(1, "[ipv4-addr:value = '198.51.100.7']", 40),
		indicator(3, "[ipv4-addr:value = '203.0.113.3']", green)) // DE
	f.put(t, intelColl, partnerID, revoke(3, "[ipv4-addr:value = '203.0.113.3']", 42))
	f.now = f.now.Add(time.Hour)
	res := f.run(t, time.Time{})
	latest := func(org string, n int) []store.Version {
		page, err := f.st.List(ctx, disseminate.ReportCollectionID(org), store.Query{IDs: []string{id("indicator", n)}, Limit: 10})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return page.Versions
	}
	if v := latest(frID, 1); len(v) != 1 || !v[0].Revoked {
		t.Errorf("FR's latest copy of indicator 1: %+v; want the revoked version", v)
	}
	if v := latest(frID, 2); len(v) != 1 || v[0].Revoked {
		t.Errorf("FR's copy of indicator 2: %+v; want it unrevoked", v)
	}
	if v := latest(deID, 3); len(v) != 0 {
		t.Errorf("DE received indicator 3, revoked before it was ever disseminated: %+v", v)
	}
	for _, m := range res.Members {
		if m.Org == frID && (m.Revoked != 1 || len(m.Reports) != 0) {
			t.Errorf("FR's second run: %+v; want 1 revocation passed on and no new report", m)
		}
		if m.Org != frID && m.Revoked != 0 {
			t.Errorf("%s was passed a revocation: %+v", m.Name, m)
		}
	}
	if _, reports, _ := f.contents(t, frID); len(reports) != 1 {
		t.Errorf("FR holds %d reports after the revocation; want the first run's only", len(reports))
	}
}
