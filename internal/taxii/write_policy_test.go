package taxii_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
)

// TestPostVersionsOfOthersObjects: over TAXII POST, a partner cannot post
// a new version of another partner's object (that object fails in the
// status resource, the rest of the batch is stored); the source can; the
// hub can narrow, not widen; after a hub narrowing the source still sees
// its object and a member gets only the narrowed latest.
func TestPostVersionsOfOthersObjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		f.adminDo("PUT", "/api/v1/collections/"+f.coll+"/grants/stranger", `{"read":true,"write":true}`, 200, nil)
		const x = "indicator--0000000a-0000-4000-8000-00000000000a"
		ind := func(id, modified, marking, extra string) string {
			return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"x","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","object_marking_refs":[%q]%s}`,
				id, modified, marking, extra)
		}
		deny := func(cc string) string {
			return `,"extensions":{"` + policy.ExtensionID + `":{"extension_type":"property-extension","deny_countries":["` + cc + `"]}}`
		}
		postAs := func(token string, objs ...string) statusResource {
			t.Helper()
			r := f.do(req{method: "POST", path: f.objectsPath(), token: token, body: strings.NewReader(envelope(objs...))})
			if r.code != http.StatusAccepted {
				t.Fatalf("POST: status %d: %s", r.code, r.body)
			}
			var st statusResource
			r.json(t, &st)
			return st
		}
		v1, v2, v3, v4, v5 := "2021-01-01T00:00:00.000Z", "2021-02-01T00:00:00.000Z", "2021-03-01T00:00:00.000Z", "2021-04-01T00:00:00.000Z", "2021-05-01T00:00:00.000Z"

		if st := postAs(f.tokens["partner-write"], ind(x, v1, policy.TLP2AmberID, "")); st.SuccessCount != 1 {
			t.Fatalf("acme's first version: %+v", st)
		}
		// Another partner: X refused, its own new object stored.
		st := postAs(f.tokens["stranger"], ind(x, v2, policy.TLP2ClearID, ""), indicator(77, v1))
		if st.SuccessCount != 1 || st.FailureCount != 1 || st.Failures[0].ID != x ||
			!strings.Contains(st.Failures[0].Message, "only its source may version it, the hub may only narrow it") ||
			st.Successes[0].ID != "indicator--"+fmt.Sprint(uuidN(77)) {
			t.Fatalf("stranger versioning acme's object: %+v", st)
		}
		// The hub widens: refused, naming who would be added.
		st = postAs(f.admin, ind(x, v2, policy.TLP2GreenID, ""))
		if st.FailureCount != 1 || !strings.Contains(st.Failures[0].Message, "may only narrow it") || !strings.Contains(st.Failures[0].Message, "partner") {
			t.Fatalf("hub widening: %+v", st)
		}
		// The hub narrows AMBER to AMBER + deny FR, in one batch with a new
		// object of its own and a refused one (stored in two Puts, one per
		// source; the status keeps the envelope's order).
		st = postAs(f.admin, indicator(88, v1), ind(x, v3, policy.TLP2AmberID, deny("FR")), ind(x, v4, policy.TLP2ClearID, ""))
		if st.SuccessCount != 2 || st.FailureCount != 1 || st.Successes[0].ID != "indicator--"+uuidN(88) || st.Successes[1].ID != x || st.Successes[1].Version != v3 ||
			st.Failures[0].Version != v4 {
			t.Fatalf("hub narrowing: %+v", st)
		}
		// Then removing the deny is a widening.
		if st = postAs(f.admin, ind(x, v4, policy.TLP2AmberID, "")); st.FailureCount != 1 || !strings.Contains(st.Failures[0].Message, "of FR") {
			t.Fatalf("hub removing a deny: %+v", st)
		}
		versions := func(token string) []string {
			t.Helper()
			var env envelopeResource
			f.get(token, f.objectsPath()+"?match[id]="+x+"&match[version]=all", 200).json(t, &env)
			var got []string
			for _, o := range env.Objects {
				got = append(got, o["modified"].(string))
			}
			slices.Sort(got)
			return got
		}
		if got := versions(f.tokens["partner-read"]); !slices.Equal(got, []string{v1, v3}) {
			t.Errorf("acme sees versions %v after the hub narrowing, want [%s %s]", got, v1, v3)
		}
		if got := versions(f.tokens["member"]); len(got) != 0 {
			t.Errorf("the FR member sees versions %v after the hub denied FR", got)
		}
		if got := versions(f.tokens["stranger"]); len(got) != 0 {
			t.Errorf("another partner sees AMBER versions %v", got)
		}
		// The source may still version its object (here: narrowing to
		// AMBER+STRICT).
		if st = postAs(f.tokens["partner-write"], ind(x, v5, policy.TLP2AmberStrictID, "")); st.SuccessCount != 1 {
			t.Fatalf("acme after the hub narrowing: %+v", st)
		}
		// The hub narrowing was recorded with acme as its source.
		p, err := f.st.List(t.Context(), f.coll, store.Query{IDs: []string{x}, Limit: 10, Versions: store.VersionMatch{All: true}, MetaOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Versions) != 3 || p.Versions[0].Source != p.Versions[1].Source || p.Versions[1].Source != p.Versions[2].Source || p.Versions[0].Source == "" {
			t.Errorf("stored versions: %+v", p.Versions)
		}
		acme := p.Versions[0].Source
		p, err = f.st.List(t.Context(), f.coll, store.Query{IDs: []string{"indicator--" + uuidN(88)}, Limit: 10, MetaOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Versions) != 1 || p.Versions[0].Source == "" || p.Versions[0].Source == acme {
			t.Errorf("the hub's new object should have the hub's source: %+v", p.Versions)
		}
	})
}
