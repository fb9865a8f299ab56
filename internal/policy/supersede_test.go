package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// TestOlderVersionsFollowTheLatest: through a Filter, an older version is
// shown only to readers the latest version admits as well; the source and
// hub admins see every version.
func TestOlderVersionsFollowTheLatest(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const id = "indicator--00000000-0000-4000-8000-0000000000c1"
	version := func(modified string, markings []string, extra ...string) *stix.Object {
		raw := strings.Replace(indicator(id, markings, extra...), `"modified":"2024-01-01T00:00:00.000Z"`, `"modified":"`+modified+`"`, 1)
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		return o
	}
	v1, v2, v3 := "2024-01-01T00:00:00.000Z", "2024-01-02T00:00:00.000Z", "2024-01-03T00:00:00.000Z"
	type put struct {
		source string
		obj    *stix.Object
	}
	for _, tc := range []struct {
		name string
		puts []put
		// versions (by modified) each reader sees with match[version]=all
		want map[string][]string
	}{
		{"narrowed GREEN to AMBER", []put{{orgS, version(v1, []string{TLP2GreenID})}, {orgS, version(v2, []string{TLP2AmberID})}},
			map[string][]string{"source": {v1, v2}, "admin": {v1, v2}, "partner": nil, "member": {v1, v2}}},
		{"narrowed by country", []put{{orgS, version(v1, []string{TLP2GreenID})}, {orgS, version(v2, []string{TLP2GreenID}, ext(`,"deny_countries":["DE"]`))}},
			map[string][]string{"source": {v1, v2}, "admin": {v1, v2}, "partner": {v1, v2}, "member": nil, "memberFR": {v1, v2}}},
		{"narrowed by the hub", []put{{orgS, version(v1, []string{TLP2GreenID})}, {orgH, version(v2, []string{TLP2AmberStrictID})}},
			map[string][]string{"source": {v1}, "admin": {v1, v2}, "partner": nil, "member": nil, "hubReader": {v1, v2}}},
		{"widened AMBER to CLEAR", []put{{orgS, version(v1, []string{TLP2AmberID})}, {orgS, version(v2, []string{TLP2ClearID})}},
			map[string][]string{"source": {v1, v2}, "admin": {v1, v2}, "partner": {v2}, "member": {v1, v2}}},
		{"older version arrives last", []put{{orgS, version(v3, []string{TLP2AmberID})}, {orgS, version(v1, []string{TLP2GreenID})}},
			map[string][]string{"partner": nil, "member": {v1, v3}}},
		{"latest unreadable", []put{{orgS, version(v1, []string{TLP2GreenID})}, {orgS, version(v2, []string{TLP2GreenID}, ext(`,"x_typo":true`))}},
			map[string][]string{"source": {v1, v2}, "admin": {v1, v2}, "partner": nil, "member": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := store.Collection{ID: newTestUUID(t), APIRoot: store.DefaultAPIRoot, Title: tc.name}
			if err := db.CreateCollection(ctx, col); err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.puts {
				if _, err := db.Put(ctx, col.ID, p.source, []*stix.Object{p.obj}); err != nil {
					t.Fatal(err)
				}
			}
			readers := map[string]Caller{
				"source": caller(orgS, store.KindPartner, "", store.RoleRead), "admin": hubAdmin,
				"partner": partnerP, "member": memberM, "memberFR": caller(orgN, store.KindMember, "FR", store.RoleRead),
				"hubReader": caller(orgH, store.KindHub, "", store.RoleRead),
			}
			for who, want := range tc.want {
				for _, meta := range []bool{false, true} {
					if meta && who != "admin" {
						continue // metadata-only reads are for hub admins (NeedsRaw)
					}
					p, err := db.List(ctx, col.ID, store.Query{Limit: 10, MetaOnly: meta, Versions: store.VersionMatch{All: true}})
					if err != nil {
						t.Fatal(err)
					}
					vis, err := NewFilter(db, readers[who], col).Visible(ctx, p.Versions)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, v := range vis {
						got = append(got, stix.FormatTimestamp(v.Modified))
					}
					slices.Sort(got)
					if !slices.Equal(got, want) {
						t.Errorf("%s sees versions %v, want %v", who, got, want)
					}
				}
			}
		})
	}
}

var collCounter int

func newTestUUID(t *testing.T) string {
	t.Helper()
	collCounter++
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", collCounter)
}
