package taxii

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// scanCounter counts the store's listing queries (those without IDs: the
// page scans, not the policy's reference lookups).
type scanCounter struct {
	store.Store
	scans  int
	limits []int
}

func (s *scanCounter) List(ctx context.Context, coll string, q store.Query) (store.Page, error) {
	if len(q.IDs) == 0 {
		s.scans++
		s.limits = append(s.limits, q.Limit)
	}
	return s.Store.List(ctx, coll, q)
}

// TestListVisibleScanSize: with half of a collection hidden from a
// member, a page of 500 takes at most three store queries (asking for
// what is missing alone took about ten), and the pages are still exactly
// full with more correct until the end.
func TestListVisibleScanSize(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	coll := store.Collection{ID: "0b6c5b5e-3d5a-4c43-9d9c-6f1d2a9e8c02", APIRoot: store.DefaultAPIRoot, Title: "t"}
	if err := db.CreateCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	const n = 3000
	var objs []*stix.Object
	for i := range n {
		tlp := policy.TLP2AmberID
		if i%2 == 1 {
			tlp = policy.TLP2AmberStrictID // hidden from members
		}
		o, err := stix.Parse([]byte(fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--%08x-0000-4000-8000-%012x","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"m","is_family":true,"object_marking_refs":[%q]}`, i, i, tlp)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	if _, err := db.Put(ctx, coll.ID, "5d0c7e1a-7a8e-4c1b-9f57-3c2a1d0e9b11", objs); err != nil {
		t.Fatal(err)
	}
	sc := &scanCounter{Store: db}
	h := New(sc, Config{MaxPageSize: 1000})
	member := policy.Caller{Org: store.Org{ID: "6e1d8f2b-8b9f-4d2c-a068-4d3b2e1f0c22", Name: "de", Kind: store.KindMember, Country: "DE"}, Role: store.RoleRead}
	const limit = 500
	q := store.Query{}
	seen := 0
	for page := 0; ; page++ {
		sc.scans, sc.limits = 0, nil
		p, err := h.listVisible(ctx, member, coll, q, limit)
		if err != nil {
			t.Fatal(err)
		}
		if sc.scans > 3 {
			t.Errorf("page %d: %d store queries (limits %v), want at most 3", page, sc.scans, sc.limits)
		}
		for _, l := range sc.limits {
			if l > 4*limit+1 {
				t.Errorf("page %d: asked the store for %d versions, over 4*limit+1", page, l)
			}
		}
		seen += len(p.versions)
		if p.more != (seen < n/2) {
			t.Fatalf("page %d: more %v after %d of %d visible", page, p.more, seen, n/2)
		}
		if !p.more {
			break
		}
		if len(p.versions) != limit {
			t.Fatalf("page %d: %d versions with more", page, len(p.versions))
		}
		q.AddedAfter = p.resume.DateAdded
	}
	if seen != n/2 {
		t.Errorf("saw %d visible versions, want %d", seen, n/2)
	}
}
