package taxii_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
)

// markedIndicator is indicator n with one TLP marking.
func markedIndicator(n int, marking string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"secret name %d","pattern":"[ipv4-addr:value = '10.1.0.%d']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","object_marking_refs":[%q]}`,
		uuidN(n), n, n, marking)
}

// logSince returns the audit entries appended at or after index from.
func logSince(t *testing.T, st store.Store, from int64) ([]audit.Entry, [][]byte, int64) {
	t.Helper()
	ctx := context.Background()
	n, err := st.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.ReadLog(ctx, from, n)
	if err != nil {
		t.Fatal(err)
	}
	var es []audit.Entry
	for _, b := range raw {
		e, err := audit.ParseEntry(b)
		if err != nil {
			t.Fatalf("entry %s: %v", b, err)
		}
		es = append(es, e)
	}
	return es, raw, n
}

func ofKind(es []audit.Entry, kind string) []audit.Entry {
	var out []audit.Entry
	for _, e := range es {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func itemIDs(es []audit.Entry) []string {
	var out []string
	for _, e := range es {
		for _, it := range e.Objects {
			out = append(out, it.ID)
		}
	}
	slices.Sort(out)
	return out
}

// What the policy hides from a reader is logged as denied entries, one
// per source and response, naming the hidden versions once (also across
// pages, though each page looks one version ahead), never their content;
// a hidden object asked for by id is a 404 and a denied entry; refusals
// at the collection (no grant: 404, no read access: 403) are denied
// entries without objects. The refused organisation does not see any of
// them over the audit API's rule (Entry.Concerns); the source sees the
// ones that name its objects.
func TestDeniedEntries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		ctx := context.Background()
		st := open(t)
		st.SetRecorder(audit.Recorder(nil))
		key, _, err := audit.LoadOrCreateKey(filepath.Join(t.TempDir(), "audit.key"), audit.OriginPrefix+"test-hub")
		if err != nil {
			t.Fatal(err)
		}
		lg := audit.New(st, key, audit.Config{})
		f := newFixture(t, func(testing.TB) store.Store { return st }, server.Config{Audit: lg})
		acme, err := st.GetOrgByName(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		fr, err := st.GetOrgByName(ctx, "fr-police")
		if err != nil {
			t.Fatal(err)
		}
		// 1, 3, 5 are for everyone; 2, 4 for named recipients only.
		for n := 1; n <= 5; n++ {
			m := policy.TLP2ClearID
			if n%2 == 0 {
				m = policy.TLP2RedID
			}
			f.post(markedIndicator(n, m))
		}
		id := func(n int) string { return "indicator--" + uuidN(n) }
		_, _, start := logSince(t, st, 0)

		// Page by page, one visible object a page.
		var got []string
		path := f.objectsPath() + "?limit=1"
		for pages := 0; ; pages++ {
			if pages > 10 {
				t.Fatal("paging does not end")
			}
			var env envelopeResource
			f.get(f.tokens["member"], path, 200).json(t, &env)
			got = append(got, env.ids()...)
			if !env.More {
				break
			}
			path = f.objectsPath() + "?limit=1&next=" + env.Next
		}
		if want := []string{id(1), id(3), id(5)}; !slices.Equal(got, want) {
			t.Fatalf("member read %v, want %v", got, want)
		}
		es, raw, end := logSince(t, st, start)
		denied := ofKind(es, audit.KindDenied)
		if ids, want := itemIDs(denied), []string{id(2), id(4)}; !slices.Equal(ids, want) {
			t.Fatalf("denied entries name %v, want %v (each once)", ids, want)
		}
		if ids, want := itemIDs(ofKind(es, audit.KindServed)), []string{id(1), id(3), id(5)}; !slices.Equal(ids, want) {
			t.Fatalf("served entries name %v, want %v", ids, want)
		}
		for _, e := range denied {
			if e.Actor != fr.ID || e.Org != fr.ID || e.Source != acme.ID || e.Path != audit.PathTAXIIObjects ||
				e.Reason != audit.ReasonPolicy || e.Collection != f.coll || e.Objects[0].Version == "" {
				t.Errorf("denied entry %+v", e)
			}
			if e.Concerns(fr.ID) || !e.Concerns(acme.ID) {
				t.Errorf("denied entry %+v: shown to the refused member or not to the source", e)
			}
		}
		for _, b := range raw {
			if strings.Contains(string(b), "secret name") || strings.Contains(string(b), "10.1.0.") {
				t.Fatalf("an entry holds object content: %s", b)
			}
		}

		// The manifest hides the same and says so, in one response.
		f.get(f.tokens["member"], f.collPath()+"manifest/", 200)
		es, _, end = logSince(t, st, end)
		if len(es) != 2 || es[0].Kind != audit.KindServed || es[1].Kind != audit.KindDenied ||
			es[1].Path != audit.PathTAXIIManifest || !slices.Equal(itemIDs(es[1:]), []string{id(2), id(4)}) {
			t.Fatalf("manifest entries %+v", es)
		}

		// A hidden object by id: 404, as for one that does not exist, but
		// logged; the one that does not exist is not.
		for _, sub := range []string{"", "versions/"} {
			r := f.do(req{path: f.objectsPath() + id(2) + "/" + sub, token: f.tokens["member"]})
			checkError(t, r, 404)
			es, _, end = logSince(t, st, end)
			want := audit.PathTAXIIObject
			if sub != "" {
				want = audit.PathTAXIIVersions
			}
			if len(es) != 1 || es[0].Kind != audit.KindDenied || es[0].Path != want || es[0].Source != acme.ID ||
				!slices.Equal(itemIDs(es), []string{id(2)}) || es[0].Concerns(fr.ID) {
				t.Fatalf("GET hidden object %s: entries %+v", sub, es)
			}
			checkError(t, f.do(req{path: f.objectsPath() + id(99) + "/" + sub, token: f.tokens["member"]}), 404)
			if es, _, _ := logSince(t, st, end); len(es) != 0 {
				t.Fatalf("GET of a missing object logged %+v", es)
			}
		}
		// The source reads its own object: served, nothing denied.
		f.get(f.tokens["partner-read"], f.objectsPath()+id(2)+"/", 200)
		es, _, end = logSince(t, st, end)
		if len(es) != 1 || es[0].Kind != audit.KindServed {
			t.Fatalf("source reads its object: entries %+v", es)
		}

		// No grant: 404 and a denied entry for hub admins only.
		checkError(t, f.do(req{path: f.objectsPath(), token: f.tokens["stranger"]}), 404)
		es, _, end = logSince(t, st, end)
		stranger, _ := st.GetOrgByName(ctx, "stranger")
		if len(es) != 1 || es[0].Kind != audit.KindDenied || es[0].Reason != audit.ReasonNoGrant ||
			es[0].Actor != stranger.ID || es[0].Collection != f.coll || len(es[0].Objects) != 0 || es[0].Source != "" ||
			es[0].Concerns(stranger.ID) || es[0].Concerns(acme.ID) {
			t.Fatalf("no grant: entries %+v", es)
		}
		// A grant to write only: 403 on reading, a denied entry.
		f.adminDo("PUT", "/api/v1/collections/"+f.coll+"/grants/stranger", `{"write":true}`, 200, nil)
		_, _, end = logSince(t, st, 0)
		checkError(t, f.do(req{path: f.collPath() + "manifest/", token: f.tokens["stranger"]}), 403)
		es, _, _ = logSince(t, st, end)
		if len(es) != 1 || es[0].Reason != audit.ReasonNoRead || es[0].Path != audit.PathTAXIIManifest {
			t.Fatalf("no read access: entries %+v", es)
		}
	})
}
