package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"time"

	"fusion/internal/policy" // installs the facts function (stix.SetFactsFunc)
	"fusion/internal/stix"
	"fusion/internal/store"
)

// testFacts checks store.Version.Facts: every version is stored with the
// blob of exactly the Raw stored (o.FactsBlob(), whether computed ahead
// with PrepareFacts or by Put), and List returns it with and without
// MetaOnly, on every listing shape (all, last, ids, one and several types).
func testFacts(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	created := ts("2024-01-01T00:00:00Z")
	id, rel := indicatorID(), "relationship--"+newUUID()
	mal := "malware--" + newUUID()
	marked := func(m string) string { return `,"object_marking_refs":["` + m + `"]` }
	objs := []*stix.Object{
		sdo("indicator", id, "2.1", created, ts("2024-01-02T00:00:00Z"), marked(policy.TLP2AmberID)),
		sdo("malware", mal, "2.1", created, created, `,"is_family":false`+marked(policy.TLP2AmberStrictID)),
		sdo("relationship", rel, "2.1", created, created, fmt.Sprintf(`,"relationship_type":"indicates","source_ref":%q,"target_ref":%q`, id, mal)),
		sco("ipv4-addr", "ipv4-addr--"+newUUID(), "192.0.2.7"),
	}
	// Prepared ahead, then Raw replaced: the stored facts must be those of
	// the Raw stored (TLP:CLEAR), not of the Raw they were prepared for.
	swapped := sdo("indicator", id, "2.1", created, ts("2024-01-03T00:00:00Z"), marked(policy.TLP2RedID))
	swapped.PrepareFacts()
	swapped.Raw = sdo("indicator", id, "2.1", created, ts("2024-01-03T00:00:00Z"), marked(policy.TLP2ClearID)).Raw
	prepared := sdo("indicator", indicatorID(), "2.1", created, created, marked(policy.TLP2GreenID))
	prepared.PrepareFacts()
	objs = append(objs, swapped, prepared)
	put(t, s, coll, objs...)

	want := make(map[string][]byte) // id + modified -> facts
	for _, o := range objs {
		b := o.FactsBlob()
		if len(b) == 0 {
			t.Fatal("FactsBlob is empty: the policy's facts function is not installed")
		}
		want[key(o.ID, o.Version())] = b
		f := policy.VersionFacts(&store.Version{ID: o.ID, Type: o.Type, Facts: b})
		g, _ := policy.FactsOf(o.Raw)
		if !reflect.DeepEqual(f, g) {
			t.Fatalf("%s: stored facts decode to %+v, FactsOf(Raw) is %+v", o.ID, f, g)
		}
	}
	if g, _ := policy.FactsOf(swapped.Raw); !g.TLP.Has(policy.LevelClear) {
		t.Fatalf("test set-up: swapped object's facts %+v", g)
	}
	all := store.VersionMatch{All: true}
	for _, q := range []store.Query{
		{Versions: all},
		{Versions: all, MetaOnly: true},
		{},
		{MetaOnly: true},
		{IDs: []string{id, mal}, Versions: all, MetaOnly: true},
		{Types: []string{"indicator"}, MetaOnly: true},
		{Types: []string{"indicator", "malware", "relationship"}, Versions: all},
	} {
		q.Limit = 100
		p := list(t, s, coll, q)
		if len(p.Versions) == 0 {
			t.Fatalf("List(%+v) is empty", q)
		}
		for _, v := range p.Versions {
			w, ok := want[key(v.ID, v.Modified)]
			if !ok {
				t.Fatalf("List(%+v) returned unknown version %s", q, key(v.ID, v.Modified))
			}
			if !bytes.Equal(v.Facts, w) {
				t.Errorf("List(%+v): %s has facts %x, want %x", q, key(v.ID, v.Modified), v.Facts, w)
			}
			if q.MetaOnly != (v.Raw == nil) {
				t.Errorf("List(%+v): %s Raw nil = %v", q, v.ID, v.Raw == nil)
			}
		}
	}
}

// testLatest checks store.Version.Latest as versions arrive out of order
// and are deleted.
func testLatest(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := indicatorID()
	m1, m2, m3 := ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z"), ts("2024-01-03T00:00:00Z")
	latest := func(meta bool) []string {
		t.Helper()
		var got []string
		for _, v := range list(t, s, coll, store.Query{Limit: 10, MetaOnly: meta, Versions: store.VersionMatch{All: true}}).Versions {
			if v.Latest {
				got = append(got, key(v.ID, v.Modified))
			}
		}
		return got
	}
	check := func(what string, want time.Time) {
		t.Helper()
		for _, meta := range []bool{false, true} {
			if got := latest(meta); len(got) != 1 || got[0] != key(id, want) {
				t.Errorf("%s (MetaOnly %v): latest %v, want %s", what, meta, got, key(id, want))
			}
		}
	}
	put(t, s, coll, indicator(id, m2))
	check("one version", m2)
	put(t, s, coll, indicator(id, m1))
	check("an older version added", m2)
	put(t, s, coll, indicator(id, m3))
	check("a newer version added", m3)
	if _, err := s.Delete(t.Context(), coll, id, store.VersionMatch{}, nil); err != nil {
		t.Fatal(err)
	}
	check("the last deleted", m2)
}
