package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// now returns the current time at the microsecond precision every backend
// keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func sameCollection(a, b store.Collection) bool {
	return a.ID == b.ID && a.APIRoot == b.APIRoot && a.Title == b.Title && a.Description == b.Description &&
		a.Alias == b.Alias && slices.Equal(a.MediaTypes, b.MediaTypes) && a.DefaultTLP == b.DefaultTLP &&
		a.Created.Equal(b.Created)
}

func collectionIDs(cs []store.Collection) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func testDefaultCollection(t *testing.T, s store.Store) {
	ctx := context.Background()
	c, err := s.GetCollection(ctx, store.DefaultCollectionID)
	if err != nil {
		t.Fatalf("default collection in a fresh store: %v", err)
	}
	if c.ID != store.DefaultCollectionID || c.APIRoot != store.DefaultAPIRoot {
		t.Errorf("default collection: id %q root %q", c.ID, c.APIRoot)
	}
	if c.Title == "" {
		t.Errorf("default collection has no title")
	}
	cs, err := s.ListCollections(ctx, store.DefaultAPIRoot)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(collectionIDs(cs), store.DefaultCollectionID) {
		t.Errorf("ListCollections(%q) lacks the default collection: %v", store.DefaultAPIRoot, collectionIDs(cs))
	}
	if out := put(t, s, store.DefaultCollectionID, indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))); !out[0].Added {
		t.Errorf("Put into the default collection: not added")
	}
	err = s.CreateCollection(ctx, store.Collection{ID: store.DefaultCollectionID, APIRoot: store.DefaultAPIRoot, Title: "again"})
	wantErr(t, "creating the default collection again", err, store.ErrExists)
}

func testCollections(t *testing.T, s store.Store) {
	ctx := context.Background()
	mk := func(root, title, alias string) store.Collection {
		return store.Collection{
			ID: newUUID(), APIRoot: root, Title: title, Description: "about " + title, Alias: alias,
			MediaTypes: []string{"application/stix+json;version=2.1"}, DefaultTLP: "amber", Created: now(),
		}
	}
	c1 := mk("api1", "Bravo", "bravo")
	c2 := mk("api1", "Alpha", "")
	c3 := mk("api1", "Bravo", "")
	c4 := mk("api2", "Charlie", "bravo") // same alias, other root: fine
	c5 := mk("api2", "Delta", "")
	c5.MediaTypes = nil
	c5.DefaultTLP = ""
	for _, c := range []store.Collection{c1, c2, c3, c4, c5} {
		if err := s.CreateCollection(ctx, c); err != nil {
			t.Fatalf("CreateCollection(%s %q): %v", c.APIRoot, c.Title, err)
		}
	}
	for _, c := range []store.Collection{c1, c2, c3, c4, c5} {
		got, err := s.GetCollection(ctx, c.ID)
		if err != nil {
			t.Fatalf("GetCollection(%s): %v", c.ID, err)
		}
		if !sameCollection(got, c) {
			t.Errorf("GetCollection:\n got %+v\nwant %+v", got, c)
		}
	}

	dup := c2
	dup.Title = "dup"
	wantErr(t, "duplicate id", s.CreateCollection(ctx, dup), store.ErrExists)
	dupAlias := mk("api1", "Echo", "bravo")
	wantErr(t, "duplicate alias in the same root", s.CreateCollection(ctx, dupAlias), store.ErrExists)
	_, err := s.GetCollection(ctx, dupAlias.ID)
	wantErr(t, "the collection refused for its alias", err, store.ErrNotFound)
	_, err = s.GetCollection(ctx, newUUID())
	wantErr(t, "GetCollection of an unknown id", err, store.ErrNotFound)

	// Ordered by title then id.
	ordered := func(cs ...store.Collection) []string {
		slices.SortFunc(cs, func(a, b store.Collection) int {
			if a.Title != b.Title {
				return compare(a.Title, b.Title)
			}
			return compare(a.ID, b.ID)
		})
		return collectionIDs(cs)
	}
	def, err := s.GetCollection(ctx, store.DefaultCollectionID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		root string
		want []string
	}{
		{"api1", ordered(c1, c2, c3, def)},
		{"api2", ordered(c4, c5)},
		{"", ordered(c1, c2, c3, c4, c5, def)},
		{"nope", nil},
	} {
		cs, err := s.ListCollections(ctx, tc.root)
		if err != nil {
			t.Fatalf("ListCollections(%q): %v", tc.root, err)
		}
		if got := collectionIDs(cs); !slices.Equal(got, tc.want) {
			t.Errorf("ListCollections(%q) = %v, want %v", tc.root, got, tc.want)
		}
		for _, c := range cs {
			if c.ID == c1.ID && !sameCollection(c, c1) {
				t.Errorf("ListCollections returned %+v, want %+v", c, c1)
			}
		}
	}

	// Update.
	u := c2
	u.Title, u.Description, u.Alias, u.DefaultTLP = "Zulu", "new", "zulu", "green"
	u.MediaTypes = []string{"application/stix+json;version=2.1", "application/stix+json;version=2.0"}
	if err := s.UpdateCollection(ctx, u); err != nil {
		t.Fatalf("UpdateCollection: %v", err)
	}
	got, err := s.GetCollection(ctx, u.ID)
	if err != nil || !sameCollection(got, u) {
		t.Errorf("after UpdateCollection: %+v, %v; want %+v", got, err, u)
	}
	taken := u
	taken.Alias = "bravo"
	wantErr(t, "UpdateCollection to a taken alias", s.UpdateCollection(ctx, taken), store.ErrExists)
	if got, _ := s.GetCollection(ctx, u.ID); got.Alias != "zulu" {
		t.Errorf("failed update changed the alias to %q", got.Alias)
	}
	// The old alias is free again; an empty alias is never a conflict.
	if err := s.CreateCollection(ctx, mk("api1", "Foxtrot", "")); err != nil {
		t.Errorf("second empty alias: %v", err)
	}
	missing := mk("api1", "Missing", "")
	wantErr(t, "UpdateCollection of an unknown id", s.UpdateCollection(ctx, missing), store.ErrNotFound)
	wantErr(t, "DeleteCollection of an unknown id", s.DeleteCollection(ctx, missing.ID), store.ErrNotFound)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testDeleteCollection(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	c, err := s.GetCollection(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	c.Alias = "to-go"
	if err := s.UpdateCollection(ctx, c); err != nil {
		t.Fatal(err)
	}
	keep := newCollection(t, s)
	org := store.Org{ID: newUUID(), Name: "org-" + newUUID(), Kind: store.KindMember, Country: "FR", Created: now()}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatal(err)
	}
	obj := indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))
	put(t, s, coll, obj)
	put(t, s, keep, obj)
	for _, id := range []string{coll, keep} {
		if err := s.SetGrant(ctx, store.Grant{Collection: id, OrgID: org.ID, Read: true}); err != nil {
			t.Fatal(err)
		}
	}

	if err := s.DeleteCollection(ctx, coll); err != nil {
		t.Fatalf("DeleteCollection: %v", err)
	}
	_, err = s.GetCollection(ctx, coll)
	wantErr(t, "GetCollection after delete", err, store.ErrNotFound)
	_, err = s.List(ctx, coll, store.Query{Limit: 10})
	wantErr(t, "List after delete", err, store.ErrNotFound)
	_, err = s.GetGrant(ctx, coll, org.ID)
	wantErr(t, "GetGrant after delete", err, store.ErrNotFound)
	wantErr(t, "DeleteCollection twice", s.DeleteCollection(ctx, coll), store.ErrNotFound)

	// The other collection keeps its versions and grants.
	if got := listAll(t, s, keep, store.Query{}); len(got) != 1 {
		t.Errorf("other collection holds %d versions, want 1", len(got))
	}
	if _, err := s.GetGrant(ctx, keep, org.ID); err != nil {
		t.Errorf("other collection's grant: %v", err)
	}

	// Re-creating the id gives an empty collection; the alias is free.
	c.Title = "again"
	if err := s.CreateCollection(ctx, c); err != nil {
		t.Fatalf("re-creating a deleted collection: %v", err)
	}
	if got := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}}); len(got) != 0 {
		t.Errorf("re-created collection holds %d versions of the deleted one", len(got))
	}
	if out := put(t, s, coll, obj); !out[0].Added {
		t.Errorf("object of the deleted collection reported unchanged in the re-created one")
	}
	if gs, err := s.ListGrants(ctx, coll); err != nil || len(gs) != 0 {
		t.Errorf("re-created collection's grants: %v, %v; want none", gs, err)
	}
}

func testOrgs(t *testing.T, s store.Store) {
	ctx := context.Background()
	orgs := []store.Org{
		{ID: newUUID(), Name: "vendor-research", Kind: store.KindPartner, Created: now()},
		{ID: newUUID(), Name: "cybercrime-centre", Kind: store.KindHub, Created: now()},
		{ID: newUUID(), Name: "police-de", Kind: store.KindMember, Country: "DE", Created: now()},
	}
	for _, o := range orgs {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatalf("CreateOrg(%s): %v", o.Name, err)
		}
	}
	for _, o := range orgs {
		got, err := s.GetOrg(ctx, o.ID)
		if err != nil || !sameOrg(got, o) {
			t.Errorf("GetOrg(%s) = %+v, %v; want %+v", o.Name, got, err, o)
		}
		got, err = s.GetOrgByName(ctx, o.Name)
		if err != nil || !sameOrg(got, o) {
			t.Errorf("GetOrgByName(%s) = %+v, %v; want %+v", o.Name, got, err, o)
		}
	}
	dupName := store.Org{ID: newUUID(), Name: "police-de", Kind: store.KindMember, Country: "AT", Created: now()}
	wantErr(t, "duplicate name", s.CreateOrg(ctx, dupName), store.ErrExists)
	dupID := orgs[0]
	dupID.Name = "other-name"
	wantErr(t, "duplicate id", s.CreateOrg(ctx, dupID), store.ErrExists)
	_, err := s.GetOrg(ctx, newUUID())
	wantErr(t, "GetOrg unknown", err, store.ErrNotFound)
	_, err = s.GetOrgByName(ctx, "nobody")
	wantErr(t, "GetOrgByName unknown", err, store.ErrNotFound)
	_, err = s.GetOrgByName(ctx, "POLICE-DE")
	wantErr(t, "GetOrgByName is exact", err, store.ErrNotFound)

	list, err := s.ListOrgs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range list {
		names = append(names, o.Name)
	}
	if want := []string{"cybercrime-centre", "police-de", "vendor-research"}; !slices.Equal(names, want) {
		t.Errorf("ListOrgs names %v, want %v", names, want)
	}
}

func sameOrg(a, b store.Org) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Kind == b.Kind && a.Country == b.Country && a.Created.Equal(b.Created)
}

func sameToken(a, b store.Token) bool {
	return a.ID == b.ID && a.OrgID == b.OrgID && a.Role == b.Role && bytes.Equal(a.Hash, b.Hash) && a.Label == b.Label &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires) && a.Revoked.Equal(b.Revoked)
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	o1 := store.Org{ID: newUUID(), Name: "one", Kind: store.KindPartner, Created: now()}
	o2 := store.Org{ID: newUUID(), Name: "two", Kind: store.KindMember, Country: "NL", Created: now()}
	for _, o := range []store.Org{o1, o2} {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	hash := func(secret string) []byte { h := sha256.Sum256([]byte(secret)); return h[:] }
	base := now()
	toks := []store.Token{
		{ID: newUUID(), OrgID: o1.ID, Role: store.RoleWrite, Hash: hash("s1"), Label: "ingest", Created: base.Add(-3 * time.Hour)},
		{ID: newUUID(), OrgID: o2.ID, Role: store.RoleRead, Hash: hash("s2"), Label: "", Created: base.Add(-2 * time.Hour)},
		{ID: newUUID(), OrgID: o1.ID, Role: store.RoleAdmin, Hash: hash("s3"), Label: "admin", Created: base.Add(-time.Hour), Expires: base.Add(24 * time.Hour)},
	}
	// Created out of order: listings are by created, not insertion.
	for _, i := range []int{2, 0, 1} {
		if err := s.CreateToken(ctx, toks[i]); err != nil {
			t.Fatalf("CreateToken %d: %v", i, err)
		}
	}
	for i, tok := range toks {
		got, err := s.TokenByHash(ctx, hash("s"+string(rune('1'+i))))
		if err != nil || !sameToken(got, tok) {
			t.Errorf("TokenByHash %d = %+v, %v; want %+v", i, got, err, tok)
		}
	}
	_, err := s.TokenByHash(ctx, hash("unknown"))
	wantErr(t, "TokenByHash unknown", err, store.ErrNotFound)

	dupID := toks[0]
	dupID.Hash = hash("other")
	wantErr(t, "CreateToken duplicate id", s.CreateToken(ctx, dupID), store.ErrExists)
	dupHash := toks[0]
	dupHash.ID = newUUID()
	wantErr(t, "CreateToken duplicate hash", s.CreateToken(ctx, dupHash), store.ErrExists)
	ghost := store.Token{ID: newUUID(), OrgID: newUUID(), Role: store.RoleRead, Hash: hash("ghost"), Created: now()}
	wantErr(t, "CreateToken for an unknown org", s.CreateToken(ctx, ghost), store.ErrNotFound)

	tokenIDs := func(ts []store.Token) []string {
		var ids []string
		for _, t := range ts {
			ids = append(ids, t.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		org  string
		want []string
	}{
		{o1.ID, []string{toks[0].ID, toks[2].ID}},
		{o2.ID, []string{toks[1].ID}},
		{"", []string{toks[0].ID, toks[1].ID, toks[2].ID}},
		{newUUID(), nil},
	} {
		got, err := s.ListTokens(ctx, tc.org)
		if err != nil {
			t.Fatalf("ListTokens(%q): %v", tc.org, err)
		}
		if !slices.Equal(tokenIDs(got), tc.want) {
			t.Errorf("ListTokens(%q) = %v, want %v", tc.org, tokenIDs(got), tc.want)
		}
		for _, g := range got {
			if g.ID == toks[2].ID && !sameToken(g, toks[2]) {
				t.Errorf("ListTokens returned %+v, want %+v", g, toks[2])
			}
		}
	}

	at := now().Add(-time.Minute)
	if err := s.RevokeToken(ctx, toks[0].ID, at); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	got, err := s.TokenByHash(ctx, hash("s1"))
	if err != nil {
		t.Fatalf("TokenByHash of a revoked token: %v (it must still be found)", err)
	}
	if !got.Revoked.Equal(at) {
		t.Errorf("Revoked = %s, want %s", got.Revoked, at)
	}
	if got, _ := s.TokenByHash(ctx, hash("s2")); !got.Revoked.IsZero() {
		t.Errorf("revoking one token revoked another")
	}
	wantErr(t, "RevokeToken unknown", s.RevokeToken(ctx, newUUID(), at), store.ErrNotFound)
}

func testGrants(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	other := newCollection(t, s)
	o1 := store.Org{ID: newUUID(), Name: "g1", Kind: store.KindPartner, Created: now()}
	o2 := store.Org{ID: newUUID(), Name: "g2", Kind: store.KindMember, Country: "IT", Created: now()}
	for _, o := range []store.Org{o1, o2} {
		if err := s.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.GetGrant(ctx, coll, o1.ID)
	wantErr(t, "GetGrant before any", err, store.ErrNotFound)

	g := func(org string, read, write bool) store.Grant {
		return store.Grant{Collection: coll, OrgID: org, Read: read, Write: write}
	}
	steps := []struct {
		set  store.Grant
		want map[string]store.Grant // org -> grant on coll
	}{
		{store.Grant{Collection: coll, OrgID: o1.ID, Read: true}, map[string]store.Grant{o1.ID: g(o1.ID, true, false)}},
		{store.Grant{Collection: coll, OrgID: o1.ID, Read: true, Write: true}, map[string]store.Grant{o1.ID: g(o1.ID, true, true)}},
		{store.Grant{Collection: coll, OrgID: o2.ID, Write: true}, map[string]store.Grant{o1.ID: g(o1.ID, true, true), o2.ID: g(o2.ID, false, true)}},
		{store.Grant{Collection: other, OrgID: o2.ID, Read: true}, map[string]store.Grant{o1.ID: g(o1.ID, true, true), o2.ID: g(o2.ID, false, true)}},
		{store.Grant{Collection: coll, OrgID: o1.ID, Read: true}, map[string]store.Grant{o1.ID: g(o1.ID, true, false), o2.ID: g(o2.ID, false, true)}},
		{store.Grant{Collection: coll, OrgID: o1.ID}, map[string]store.Grant{o2.ID: g(o2.ID, false, true)}},
		{store.Grant{Collection: coll, OrgID: o1.ID}, map[string]store.Grant{o2.ID: g(o2.ID, false, true)}},
	}
	for i, st := range steps {
		if err := s.SetGrant(ctx, st.set); err != nil {
			t.Fatalf("step %d: SetGrant(%+v): %v", i, st.set, err)
		}
		for _, o := range []string{o1.ID, o2.ID} {
			got, err := s.GetGrant(ctx, coll, o)
			want, ok := st.want[o]
			if !ok {
				wantErr(t, "GetGrant of a removed grant", err, store.ErrNotFound)
				continue
			}
			if err != nil || got != want {
				t.Errorf("step %d: GetGrant(%s) = %+v, %v; want %+v", i, o, got, err, want)
			}
		}
		gs, err := s.ListGrants(ctx, coll)
		if err != nil {
			t.Fatalf("ListGrants: %v", err)
		}
		if len(gs) != len(st.want) {
			t.Errorf("step %d: ListGrants = %+v, want %d grants", i, gs, len(st.want))
		}
		for _, g := range gs {
			if g != st.want[g.OrgID] {
				t.Errorf("step %d: ListGrants has %+v, want %+v", i, g, st.want[g.OrgID])
			}
		}
	}
	if g, err := s.GetGrant(ctx, other, o2.ID); err != nil || !g.Read || g.Write {
		t.Errorf("grant on the other collection: %+v, %v", g, err)
	}
	wantErr(t, "SetGrant on an unknown collection", s.SetGrant(ctx, store.Grant{Collection: newUUID(), OrgID: o1.ID, Read: true}), store.ErrNotFound)
	wantErr(t, "SetGrant for an unknown org", s.SetGrant(ctx, store.Grant{Collection: coll, OrgID: newUUID(), Read: true}), store.ErrNotFound)
}

func testRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, err := s.GetRecord(ctx, "status/missing")
	wantErr(t, "GetRecord missing", err, store.ErrNotFound)
	for _, tc := range []struct {
		key   string
		value []byte
	}{
		{"status/1", []byte(`{"status":"pending"}`)},
		{"status/1", []byte(`{"status":"complete"}`)},
		{"pull/feed-a", []byte{0, 1, 2, 0xff, 0}},
		{"empty", []byte{}},
		{"settings/ünïcode key", []byte("v")},
	} {
		value := bytes.Clone(tc.value)
		if err := s.SetRecord(ctx, tc.key, value); err != nil {
			t.Fatalf("SetRecord(%q): %v", tc.key, err)
		}
		if len(value) > 0 {
			value[0] ^= 0xff // the store must have kept its own copy
		}
		got, err := s.GetRecord(ctx, tc.key)
		if err != nil || !bytes.Equal(got, tc.value) {
			t.Errorf("GetRecord(%q) = %q, %v; want %q", tc.key, got, err, tc.value)
		}
	}
	if got, _ := s.GetRecord(ctx, "pull/feed-a"); len(got) != 5 {
		t.Errorf("a later SetRecord of another key changed this one: %q", got)
	}
	testListRecords(t, s)
}

// testListRecords: prefix listing in bytewise key order with paging,
// and DeleteRecord.
func testListRecords(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Bytewise order: 'Z' < 'a' < 'é' (0xc3 0xa9); a locale collation
	// would put them differently. Keys outside the prefix on both sides.
	keys := []string{"q/org1/Zeta", "q/org1/a", "q/org1/a/b", "q/org1/b", "q/org1/é", "q/org10/x", "q/org1", "q/org0/z"}
	for i, k := range keys {
		if err := s.SetRecord(ctx, k, []byte{byte(i)}); err != nil {
			t.Fatalf("SetRecord(%q): %v", k, err)
		}
	}
	want := []string{"q/org1/Zeta", "q/org1/a", "q/org1/a/b", "q/org1/b", "q/org1/é"}
	var got []string
	after := ""
	for range 10 {
		rs, err := s.ListRecords(ctx, "q/org1/", after, 2)
		if err != nil {
			t.Fatalf("ListRecords after %q: %v", after, err)
		}
		if len(rs) > 2 {
			t.Fatalf("ListRecords returned %d records over the limit 2", len(rs))
		}
		if len(rs) == 0 {
			break
		}
		for _, r := range rs {
			got = append(got, r.Key)
			if i := slices.Index(keys, r.Key); len(r.Value) != 1 || int(r.Value[0]) != i {
				t.Errorf("record %q has value %v, want [%d]", r.Key, r.Value, i)
			}
		}
		after = rs[len(rs)-1].Key
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListRecords pages = %q, want %q", got, want)
	}
	if rs, err := s.ListRecords(ctx, "q/none/", "", 5); err != nil || len(rs) != 0 {
		t.Errorf("ListRecords of an empty prefix = %v, %v; want none", rs, err)
	}
	if _, err := s.ListRecords(ctx, "q/", "", 0); err == nil {
		t.Error("ListRecords with limit 0: no error")
	}
	if err := s.DeleteRecord(ctx, "q/org1/a"); err != nil {
		t.Fatalf("DeleteRecord: %v", err)
	}
	if err := s.DeleteRecord(ctx, "q/org1/a"); err != nil {
		t.Errorf("DeleteRecord of a missing key: %v", err)
	}
	_, err := s.GetRecord(ctx, "q/org1/a")
	wantErr(t, "GetRecord after DeleteRecord", err, store.ErrNotFound)
	rs, err := s.ListRecords(ctx, "q/org1/", "", 10)
	if err != nil || len(rs) != 4 || rs[1].Key != "q/org1/a/b" {
		t.Errorf("ListRecords after DeleteRecord = %v, %v", rs, err)
	}
}

// testContextCancelled: every method returns an error wrapping
// context.Canceled for a cancelled context, and changes nothing.
func testContextCancelled(t *testing.T, s store.Store) {
	bg := context.Background()
	coll := newCollection(t, s)
	org := store.Org{ID: newUUID(), Name: "ctx-org", Kind: store.KindPartner, Created: now()}
	if err := s.CreateOrg(bg, org); err != nil {
		t.Fatal(err)
	}
	obj := indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))
	put(t, s, coll, obj)
	tok := store.Token{ID: newUUID(), OrgID: org.ID, Role: store.RoleRead, Hash: bytes.Repeat([]byte{7}, 32), Created: now()}
	if err := s.CreateToken(bg, tok); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(bg)
	cancel()
	newColl := store.Collection{ID: newUUID(), APIRoot: store.DefaultAPIRoot, Title: "never", Created: now()}
	newOrg := store.Org{ID: newUUID(), Name: "never", Kind: store.KindPartner, Created: now()}
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error {
			_, err := s.Put(ctx, coll, "", []*stix.Object{indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))})
			return err
		}},
		{"List", func() error { _, err := s.List(ctx, coll, store.Query{Limit: 10}); return err }},
		{"Delete", func() error {
			_, err := s.Delete(ctx, coll, obj.ID, store.VersionMatch{All: true}, nil)
			return err
		}},
		{"CreateCollection", func() error { return s.CreateCollection(ctx, newColl) }},
		{"GetCollection", func() error { _, err := s.GetCollection(ctx, coll); return err }},
		{"ListCollections", func() error { _, err := s.ListCollections(ctx, ""); return err }},
		{"UpdateCollection", func() error {
			return s.UpdateCollection(ctx, store.Collection{ID: coll, APIRoot: store.DefaultAPIRoot, Title: "changed"})
		}},
		{"DeleteCollection", func() error { return s.DeleteCollection(ctx, coll) }},
		{"CreateOrg", func() error { return s.CreateOrg(ctx, newOrg) }},
		{"GetOrg", func() error { _, err := s.GetOrg(ctx, org.ID); return err }},
		{"GetOrgByName", func() error { _, err := s.GetOrgByName(ctx, org.Name); return err }},
		{"ListOrgs", func() error { _, err := s.ListOrgs(ctx); return err }},
		{"CreateToken", func() error {
			return s.CreateToken(ctx, store.Token{ID: newUUID(), OrgID: org.ID, Role: store.RoleRead, Hash: bytes.Repeat([]byte{8}, 32), Created: now()})
		}},
		{"TokenByHash", func() error { _, err := s.TokenByHash(ctx, tok.Hash); return err }},
		{"ListTokens", func() error { _, err := s.ListTokens(ctx, ""); return err }},
		{"RevokeToken", func() error { return s.RevokeToken(ctx, tok.ID, now()) }},
		{"SetGrant", func() error { return s.SetGrant(ctx, store.Grant{Collection: coll, OrgID: org.ID, Read: true}) }},
		{"GetGrant", func() error { _, err := s.GetGrant(ctx, coll, org.ID); return err }},
		{"ListGrants", func() error { _, err := s.ListGrants(ctx, coll); return err }},
		{"GetRecord", func() error { _, err := s.GetRecord(ctx, "k"); return err }},
		{"SetRecord", func() error { return s.SetRecord(ctx, "k", []byte("v")) }},
	}
	for _, c := range calls {
		wantErr(t, c.name+" with a cancelled context", c.call(), context.Canceled)
	}

	// Nothing changed.
	if got := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}}); len(got) != 1 {
		t.Errorf("collection holds %d versions after cancelled calls, want 1", len(got))
	}
	if c, err := s.GetCollection(bg, coll); err != nil || c.Title == "changed" {
		t.Errorf("collection after cancelled calls: %+v, %v", c, err)
	}
	if _, err := s.GetCollection(bg, newColl.ID); err == nil {
		t.Errorf("cancelled CreateCollection created it")
	}
	if _, err := s.GetOrgByName(bg, "never"); err == nil {
		t.Errorf("cancelled CreateOrg created it")
	}
	if got, err := s.TokenByHash(bg, tok.Hash); err != nil || !got.Revoked.IsZero() {
		t.Errorf("token after a cancelled revoke: %+v, %v", got, err)
	}
	if _, err := s.GetGrant(bg, coll, org.ID); err == nil {
		t.Errorf("cancelled SetGrant created a grant")
	}
	if _, err := s.GetRecord(bg, "k"); err == nil {
		t.Errorf("cancelled SetRecord stored a record")
	}
}
