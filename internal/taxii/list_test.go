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

// TestListVisibleFiltering hides versions by policy (the real one: TLP
// markings a member country may or may not see) and checks that pages
// stay full, more is true only when a visible version follows, and
// following the cursor neither skips nor repeats a visible version.
func TestListVisibleFiltering(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	coll := store.Collection{ID: "0b6c5b5e-3d5a-4c43-9d9c-6f1d2a9e8c01", APIRoot: store.DefaultAPIRoot, Title: "t"}
	if err := st.CreateCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	const n = 150 // more than one request scans when all is hidden (maxScan pages of 2)
	var objs []*stix.Object
	visible := func(id string) bool {
		var i int
		fmt.Sscanf(id, "malware--%08x", &i)
		return i%3 == 0 || i >= 90 && i < 99 // the last one (149) is hidden
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("malware--%08x-0000-4000-8000-%012x", i, i)
		tlp := policy.TLP2AmberID // members see it
		if !visible(id) {
			tlp = policy.TLP2RedID // no recipients: nobody but the source
		}
		o, err := stix.Parse([]byte(fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"m","is_family":true,"object_marking_refs":[%q]}`, id, tlp)))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o)
	}
	const source = "5d0c7e1a-7a8e-4c1b-9f57-3c2a1d0e9b11"
	if _, err := st.Put(ctx, coll.ID, source, objs); err != nil {
		t.Fatal(err)
	}
	h := New(st, Config{MaxPageSize: 1000})
	member := policy.Caller{Org: store.Org{ID: "6e1d8f2b-8b9f-4d2c-a068-4d3b2e1f0c22", Name: "de", Kind: store.KindMember, Country: "DE"}, Role: store.RoleRead}
	partner := policy.Caller{Org: store.Org{ID: "7f2e9a3c-9ca0-4e3d-b179-5e4c3f2a1d33", Name: "p", Kind: store.KindPartner}, Role: store.RoleRead}

	want := 0
	for _, o := range objs {
		if visible(o.ID) {
			want++
		}
	}
	for _, limit := range []int{1, 2, 7, 38, 39, 40, 1000} {
		q := store.Query{MetaOnly: limit%2 == 0} // metadata-only listings are filtered too
		var seen []string
		for pages := 0; ; pages++ {
			p, err := h.listVisible(ctx, member, coll, q, limit)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range p.versions {
				if !visible(v.ID) {
					t.Fatalf("limit %d: hidden %s returned", limit, v.ID)
				}
				if (v.Raw == nil) != q.MetaOnly {
					t.Fatalf("limit %d, metadata only %v: Raw %q", limit, q.MetaOnly, v.Raw)
				}
				seen = append(seen, v.ID)
			}
			if p.more && len(p.versions) != limit {
				t.Fatalf("limit %d: a page of %d with more", limit, len(p.versions))
			}
			if !p.more {
				break
			}
			c, err := decodeCursor(p.next())
			if err != nil {
				t.Fatal(err)
			}
			q.AddedAfter = c
			if pages > n {
				t.Fatal("no end")
			}
		}
		if len(seen) != want {
			t.Errorf("limit %d: saw %d visible versions, want %d", limit, len(seen), want)
		}
		dup := map[string]bool{}
		for _, id := range seen {
			if dup[id] {
				t.Errorf("limit %d: %s twice", limit, id)
			}
			dup[id] = true
		}
	}

	// When nothing is visible (a partner sees neither AMBER nor RED), one
	// request scans a bounded number of store pages and then answers with
	// an empty page, more and a cursor past what it scanned.
	p, err := h.listVisible(ctx, partner, coll, store.Query{MetaOnly: true}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.versions) != 0 || !p.more || p.resume.ID == "" {
		t.Errorf("all hidden, limit 1: %d versions, more %v, resume %q", len(p.versions), p.more, p.resume.ID)
	}
	p, err = h.listVisible(ctx, partner, coll, store.Query{MetaOnly: true}, 1000)
	if err != nil || len(p.versions) != 0 || p.more {
		t.Errorf("all hidden, limit 1000: %d versions, more %v, %v", len(p.versions), p.more, err)
	}

	// The source and a hub admin see everything.
	for _, c := range []policy.Caller{
		{Org: store.Org{ID: source, Name: "src", Kind: store.KindPartner}, Role: store.RoleRead},
		{Org: store.Org{ID: "8a3f0b4d-0db1-4f4e-8280-6f5d4a3b2e44", Name: "hub", Kind: store.KindHub}, Role: store.RoleAdmin},
	} {
		p, err := h.listVisible(ctx, c, coll, store.Query{MetaOnly: true}, 1000)
		if err != nil || len(p.versions) != n || p.more {
			t.Errorf("%s: %d versions, more %v, %v; want all %d", c.Org.Name, len(p.versions), p.more, err, n)
		}
	}
}
