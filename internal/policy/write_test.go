package policy

import (
	"context"
	"slices"
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

func TestCanWrite(t *testing.T) {
	kinds := map[string]string{orgS: store.KindPartner, orgP: store.KindPartner, orgH: store.KindHub, orgM: store.KindMember, orgN: store.KindMember}
	kindOf := func(id string) string { return kinds[id] }
	const id = "indicator--00000000-0000-4000-8000-0000000000d1"
	facts := func(markings []string, extra ...string) *Facts {
		f := mustFacts(t, indicator(id, markings, extra...))
		return &f
	}
	amber, strict, red := []string{TLP2AmberID}, []string{TLP2AmberStrictID}, []string{TLP2RedID}
	operator := Caller{Role: store.RoleAdmin}
	byS := &store.Version{ID: id, Source: orgS}
	byHub := &store.Version{ID: id, Source: orgH}
	byOperator := &store.Version{ID: id}
	for _, tc := range []struct {
		name      string
		c         Caller
		latest    *store.Version
		cur, next *Facts
		msg       string // "" when allowed, else part of the error
	}{
		{"new object, partner", partnerP, nil, nil, facts(amber), ""},
		{"source versions its own, widening", sourceS, byS, facts(red), facts(amber), ""},
		{"other partner", partnerP, byS, facts(amber), facts(strict), "was shared by another organisation; only its source may version it, the hub may only narrow it"},
		{"member", memberM, byS, facts(amber), facts(strict), "only its source may version it"},
		{"partner on an operator load", partnerP, byOperator, facts(amber), facts(amber), "only its source"},
		{"hub narrows AMBER to AMBER+STRICT", hubAdmin, byS, facts(amber), facts(strict), ""},
		{"hub reader narrows", hubRead, byS, facts(amber), facts(amber, ext(`,"deny_countries":["DE"]`)), ""},
		{"operator narrows", operator, byS, facts(amber), facts(strict), ""},
		{"hub widens RED to AMBER", hubAdmin, byS, facts(red, ext(`,"recipients":["`+orgM+`"]`)), facts(amber), "the hub may only narrow it: narrowing: the new version would widen who may see the object"},
		{"hub removes a deny", hubAdmin, byS, facts(amber, ext(`,"deny_countries":["DE","FR"]`)), facts(amber, ext(`,"deny_countries":["DE"]`)), "of FR"},
		{"operator widens", operator, byS, facts(strict), facts(amber), "may only narrow"},
		{"hub versions a hub object", hubAdmin, byHub, facts(strict), facts(amber), ""},
		{"hub versions an operator load", hubAdmin, byOperator, facts(strict), facts(amber), ""},
		{"operator versions a hub object", operator, byHub, facts(strict), facts(amber), ""},
		{"partner versions a hub object", sourceS, byHub, facts(strict), facts(strict), "only its source"},
	} {
		err := CanWrite(tc.c, tc.latest, tc.cur, tc.next, LevelNone, kindOf)
		if (tc.msg == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (want error with %q)", tc.name, err, tc.msg)
		}
		if err != nil && !strings.Contains(err.Error(), id) {
			t.Errorf("%s: error does not name the object: %v", tc.name, err)
		}
	}
}

// TestCheckWritesStored runs the write-side decision against a real store,
// storing what it allows with the source it says, then reads back
// through a Filter.
func TestCheckWritesStored(t *testing.T) {
	ctx := context.Background()
	const id = "indicator--00000000-0000-4000-8000-0000000000d2"
	const other = "indicator--00000000-0000-4000-8000-0000000000d3"
	obj := func(id, modified string, markings []string, extra ...string) *stix.Object {
		raw := strings.Replace(indicator(id, markings, extra...), `"modified":"2024-01-01T00:00:00.000Z"`, `"modified":"`+modified+`"`, 1)
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return o
	}
	amber, strict := []string{TLP2AmberID}, []string{TLP2AmberStrictID}
	kinds := map[string]string{orgS: store.KindPartner, orgP: store.KindPartner, orgH: store.KindHub, orgM: store.KindMember}
	kindOf := func(id string) string { return kinds[id] }
	testdb.ForEach(t, func(t *testing.T, open testdb.Opener) {
		db := open(t)
		col := store.Collection{ID: newTestUUID(t), APIRoot: store.DefaultAPIRoot, Title: "w"}
		if err := db.CreateCollection(ctx, col); err != nil {
			t.Fatal(err)
		}
		// write checks, then stores what is allowed; returns the errors.
		write := func(c Caller, objs ...*stix.Object) []error {
			t.Helper()
			decs, err := CheckWrites(ctx, db, col.ID, LevelNone, c, objs, kindOf)
			if err != nil {
				t.Fatal(err)
			}
			errs := make([]error, len(objs))
			for i, d := range decs {
				errs[i] = d.Err
				if d.Err == nil {
					if _, err := db.Put(ctx, col.ID, d.Source, []*stix.Object{objs[i]}); err != nil {
						t.Fatal(err)
					}
				}
			}
			return errs
		}
		if errs := write(sourceS, obj(id, "2024-01-01T00:00:00.000Z", amber), obj(other, "2024-01-01T00:00:00.000Z", amber)); errs[0] != nil || errs[1] != nil {
			t.Fatalf("new objects refused: %v", errs)
		}
		// Partner P may not version S's object; in the same batch its
		// new object is allowed.
		errs := write(partnerP, obj(id, "2024-01-02T00:00:00.000Z", strict), obj("indicator--00000000-0000-4000-8000-0000000000d4", "2024-01-01T00:00:00.000Z", amber))
		if errs[0] == nil || !strings.Contains(errs[0].Error(), "only its source may version it") || errs[1] != nil {
			t.Fatalf("partner P versioning S's object: %v", errs)
		}
		// S may version its own.
		if errs := write(sourceS, obj(other, "2024-01-02T00:00:00.000Z", strict)); errs[0] != nil {
			t.Fatalf("source versioning its own: %v", errs[0])
		}
		// The hub may not widen (remove a deny it never had: AMBER to GREEN).
		if errs := write(hubAdmin, obj(id, "2024-01-02T00:00:00.000Z", []string{TLP2GreenID})); errs[0] == nil || !strings.Contains(errs[0].Error(), "may only narrow") {
			t.Fatalf("hub widening: %v", errs[0])
		}
		// The hub narrows: deny DE.
		if errs := write(hubAdmin, obj(id, "2024-01-03T00:00:00.000Z", amber, ext(`,"deny_countries":["DE"]`))); errs[0] != nil {
			t.Fatalf("hub narrowing: %v", errs[0])
		}
		// Then removing the deny again is a widening.
		if errs := write(hubAdmin, obj(id, "2024-01-04T00:00:00.000Z", amber)); errs[0] == nil || !strings.Contains(errs[0].Error(), "of DE") {
			t.Fatalf("hub removing a deny: %v", errs[0])
		}
		p, err := db.List(ctx, col.ID, store.Query{IDs: []string{id}, Limit: 10, Versions: store.VersionMatch{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Versions) != 2 {
			t.Fatalf("%d versions stored, want 2", len(p.Versions))
		}
		for _, v := range p.Versions {
			if v.Source != orgS {
				t.Errorf("version %s recorded with source %q, want the original source", v.Modified, v.Source)
			}
		}
		seen := func(c Caller) []string {
			t.Helper()
			vis, err := NewFilter(db, c, col).Visible(ctx, p.Versions)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range vis {
				got = append(got, stix.FormatTimestamp(v.Modified))
			}
			slices.Sort(got)
			return got
		}
		both := []string{"2024-01-01T00:00:00.000Z", "2024-01-03T00:00:00.000Z"}
		if got := seen(sourceS); !slices.Equal(got, both) {
			t.Errorf("the source sees %v, want %v", got, both)
		}
		if got := seen(memberM); len(got) != 0 {
			t.Errorf("member of DE sees %v after the hub denied DE", got)
		}
		if got := seen(memberN); !slices.Equal(got, both) {
			t.Errorf("member of FR sees %v, want %v", got, both)
		}
		// The source may still version its object after the hub's narrowing.
		if errs := write(sourceS, obj(id, "2024-01-05T00:00:00.000Z", strict)); errs[0] != nil {
			t.Fatalf("source after a hub narrowing: %v", errs[0])
		}
	})
}
