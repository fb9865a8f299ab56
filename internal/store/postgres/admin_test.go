package postgres

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"fusion/internal/store"
)

func TestCollectionsCRUD(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	c := store.Collection{ID: uuidN(1), APIRoot: "root2", Title: "b", Description: "d", Alias: "feed",
		MediaTypes: []string{"application/stix+json;version=2.1"}, DefaultTLP: "amber", Created: t0}
	if err := db.CreateCollection(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetCollection(ctx, c.ID)
	if err != nil || !reflect.DeepEqual(got, c) {
		t.Fatalf("GetCollection = %+v, %v; want %+v", got, err, c)
	}
	for _, dup := range []store.Collection{
		{ID: c.ID, APIRoot: "other", Title: "x"},
		{ID: uuidN(2), APIRoot: "root2", Title: "x", Alias: "feed"},
	} {
		if err := db.CreateCollection(ctx, dup); !errors.Is(err, store.ErrExists) {
			t.Errorf("CreateCollection(%+v) = %v, want ErrExists", dup, err)
		}
	}
	// The same alias in another API root, and empty aliases, are fine.
	for _, ok := range []store.Collection{
		{ID: uuidN(3), APIRoot: "root3", Title: "a", Alias: "feed"},
		{ID: uuidN(4), APIRoot: "root2", Title: "B"},
		{ID: uuidN(5), APIRoot: "root2", Title: "b"},
	} {
		if err := db.CreateCollection(ctx, ok); err != nil {
			t.Errorf("CreateCollection(%+v) = %v", ok, err)
		}
	}
	cs, err := db.ListCollections(ctx, "root2")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	if want := []string{uuidN(4), uuidN(1), uuidN(5)}; !equalStrings(ids, want) { // "B" < "b"; then by id
		t.Errorf("ListCollections(root2) = %v, want %v", ids, want)
	}
	if all, _ := db.ListCollections(ctx, ""); len(all) != 5 {
		t.Errorf("ListCollections(\"\") = %d collections, want 5", len(all))
	}

	c.Title, c.Alias, c.MediaTypes = "renamed", "feed2", nil
	if err := db.UpdateCollection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetCollection(ctx, c.ID); !reflect.DeepEqual(got, c) {
		t.Errorf("after update: %+v, want %+v", got, c)
	}
	c4 := store.Collection{ID: uuidN(4), APIRoot: "root2", Title: "B", Alias: "feed2"}
	if err := db.UpdateCollection(ctx, c4); !errors.Is(err, store.ErrExists) {
		t.Errorf("UpdateCollection to a taken alias = %v", err)
	}
	if err := db.UpdateCollection(ctx, store.Collection{ID: "nope"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCollection(missing) = %v", err)
	}

	mustPut(t, db, c.ID, indicator(t, 1, t0))
	if err := db.CreateOrg(ctx, store.Org{ID: "o", Name: "o", Kind: store.KindPartner}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetGrant(ctx, store.Grant{Collection: c.ID, OrgID: "o", Read: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteCollection(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetCollection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetCollection after delete = %v", err)
	}
	if err := db.DeleteCollection(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteCollection = %v", err)
	}
	// Re-created under the same id, it starts empty and without grants.
	if err := db.CreateCollection(ctx, store.Collection{ID: c.ID, APIRoot: "root2", Title: "again"}); err != nil {
		t.Fatal(err)
	}
	if p := mustList(t, db, c.ID, store.Query{Versions: store.VersionMatch{All: true}, Limit: 10}); len(p.Versions) != 0 {
		t.Errorf("re-created collection lists %d versions", len(p.Versions))
	}
	if _, err := db.GetGrant(ctx, c.ID, "o"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant survived DeleteCollection: %v", err)
	}
	var n int
	db.pool.QueryRow(ctx, `SELECT count(*) FROM versions`).Scan(&n)
	if n != 0 {
		t.Errorf("%d orphan versions after DeleteCollection", n)
	}
}

func TestOrgsTokensGrantsRecords(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	o1 := store.Org{ID: uuidN(1), Name: "zeta", Kind: store.KindPartner, Created: t0}
	o2 := store.Org{ID: uuidN(2), Name: "alpha", Kind: store.KindMember, Country: "FR", Created: t0.Add(time.Second)}
	for _, o := range []store.Org{o1, o2} {
		if err := db.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateOrg(ctx, store.Org{ID: uuidN(3), Name: "zeta"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate name: %v", err)
	}
	if err := db.CreateOrg(ctx, store.Org{ID: uuidN(1), Name: "other"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate id: %v", err)
	}
	if got, err := db.GetOrg(ctx, o2.ID); err != nil || got != o2 {
		t.Errorf("GetOrg = %+v, %v", got, err)
	}
	if got, err := db.GetOrgByName(ctx, "zeta"); err != nil || got != o1 {
		t.Errorf("GetOrgByName = %+v, %v", got, err)
	}
	if _, err := db.GetOrgByName(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetOrgByName(missing) = %v", err)
	}
	if os, _ := db.ListOrgs(ctx); len(os) != 2 || os[0] != o2 || os[1] != o1 {
		t.Errorf("ListOrgs = %+v", os)
	}

	tk1 := store.Token{ID: uuidN(10), OrgID: o1.ID, Role: store.RoleWrite, Hash: bytes.Repeat([]byte{1}, 32), Label: "ci", Created: t0.Add(time.Minute), Expires: t0.Add(time.Hour)}
	tk2 := store.Token{ID: uuidN(11), OrgID: o2.ID, Role: store.RoleRead, Hash: bytes.Repeat([]byte{2}, 32), Created: t0}
	for _, tk := range []store.Token{tk1, tk2} {
		if err := db.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.CreateToken(ctx, store.Token{ID: uuidN(12), OrgID: o1.ID, Hash: tk1.Hash}); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate hash: %v", err)
	}
	if got, err := db.TokenByHash(ctx, tk1.Hash); err != nil || !reflect.DeepEqual(got, tk1) {
		t.Errorf("TokenByHash = %+v, %v; want %+v", got, err, tk1)
	}
	if err := db.RevokeToken(ctx, tk1.ID, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.TokenByHash(ctx, tk1.Hash); !got.Revoked.Equal(t0.Add(2 * time.Hour)) {
		t.Errorf("revoked token: %+v", got)
	}
	if err := db.RevokeToken(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RevokeToken(missing) = %v", err)
	}
	if ts, _ := db.ListTokens(ctx, ""); len(ts) != 2 || ts[0].ID != tk2.ID || ts[1].ID != tk1.ID {
		t.Errorf("ListTokens(all) = %+v", ts)
	}
	if ts, _ := db.ListTokens(ctx, o1.ID); len(ts) != 1 || ts[0].ID != tk1.ID {
		t.Errorf("ListTokens(o1) = %+v", ts)
	}

	coll := store.DefaultCollectionID
	g := store.Grant{Collection: coll, OrgID: o1.ID, Read: true}
	if err := db.SetGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	g.Write = true
	if err := db.SetGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if got, err := db.GetGrant(ctx, coll, o1.ID); err != nil || got != g {
		t.Errorf("GetGrant = %+v, %v", got, err)
	}
	if err := db.SetGrant(ctx, store.Grant{Collection: coll, OrgID: o2.ID, Read: true}); err != nil {
		t.Fatal(err)
	}
	if gs, _ := db.ListGrants(ctx, coll); len(gs) != 2 || gs[0] != g {
		t.Errorf("ListGrants = %+v", gs)
	}
	if err := db.SetGrant(ctx, store.Grant{Collection: coll, OrgID: o1.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetGrant(ctx, coll, o1.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant with neither read nor write still there: %v", err)
	}
	if err := db.SetGrant(ctx, store.Grant{Collection: "nope", OrgID: o1.ID, Read: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetGrant on a missing collection = %v", err)
	}

	if _, err := db.GetRecord(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRecord(missing) = %v", err)
	}
	for _, v := range [][]byte{[]byte("one"), []byte("two"), {}} {
		if err := db.SetRecord(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, err := db.GetRecord(ctx, "k"); err != nil || !bytes.Equal(got, v) || got == nil {
			t.Errorf("GetRecord = %q, %v; want %q", got, err, v)
		}
	}
}
