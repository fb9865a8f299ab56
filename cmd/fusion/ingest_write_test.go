package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"fusion/internal/policy"
	"fusion/internal/store"
)

// TestIngestVersionsOfOthersObjects: fusion ingest applies the write-side
// decision: another partner's version of an object is rejected (the rest
// of the file is stored), --strict rejects the whole file for it, an
// operator load (the hub) may narrow and keeps the object's source, and
// may not widen.
func TestIngestVersionsOfOthersObjects(t *testing.T) {
	const x = "indicator--0000000b-0000-4000-8000-00000000000b"
	ind := func(id, modified, marking string) string {
		return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"x","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","object_marking_refs":[%q]}`,
			id, modified, marking)
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			ctx := context.Background()
			st := openFromFlags(t, db)
			coll := store.Collection{ID: "0b5a4b3e-7a1c-4c55-9d0e-1f2a3b4c5d70", APIRoot: store.DefaultAPIRoot, Title: "Feed", Alias: "feed"}
			orgA := store.Org{ID: "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4a1", Name: "alpha", Kind: store.KindPartner}
			orgB := store.Org{ID: "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4b2", Name: "bravo", Kind: store.KindPartner}
			if err := st.CreateCollection(ctx, coll); err != nil {
				t.Fatal(err)
			}
			for _, o := range []store.Org{orgA, orgB} {
				if err := st.CreateOrg(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			ingest := func(args []string, objs ...string) (int, counts, string) {
				t.Helper()
				p := writeFile(t, "f.json", bundleOf(objs...))
				code, out, errs := fusion(t, append(append(append([]string{"ingest", "--collection", "feed"}, args...), db...), p)...)
				return code, summary(t, out), errs
			}
			if code, c, errs := ingest([]string{"--source", "alpha"}, ind(x, "2021-01-01T00:00:00.000Z", policy.TLP2AmberID)); code != 0 || c.stored != 1 {
				t.Fatalf("alpha: exit %d %+v: %s", code, c, errs)
			}
			// bravo: its version of alpha's object is rejected, its new one stored.
			code, c, errs := ingest([]string{"--source", "bravo"}, ind(x, "2021-02-01T00:00:00.000Z", policy.TLP2ClearID), indicatorN(41))
			if code != 1 || c.stored != 1 || c.rejected != 1 || !strings.Contains(errs, x+": object "+x+" was shared by another organisation; only its source may version it") {
				t.Fatalf("bravo: exit %d %+v: %s", code, c, errs)
			}
			// --strict: the whole file is rejected.
			code, c, errs = ingest([]string{"--source", "bravo", "--strict"}, ind(x, "2021-02-01T00:00:00.000Z", policy.TLP2ClearID), indicatorN(42))
			if code != 1 || c.stored != 0 || c.rejected != 2 || !strings.Contains(errs, "only its source may version it") {
				t.Fatalf("bravo --strict: exit %d %+v: %s", code, c, errs)
			}
			// An operator load (the hub) narrows, in one file with a new object.
			code, c, errs = ingest(nil, ind(x, "2021-03-01T00:00:00.000Z", policy.TLP2AmberStrictID), indicatorN(43))
			if code != 0 || c.stored != 2 {
				t.Fatalf("operator narrowing: exit %d %+v: %s", code, c, errs)
			}
			// ... and may not widen.
			code, c, errs = ingest(nil, ind(x, "2021-04-01T00:00:00.000Z", policy.TLP2GreenID))
			if code != 1 || c.rejected != 1 || !strings.Contains(errs, "the hub may only narrow it") {
				t.Fatalf("operator widening: exit %d %+v: %s", code, c, errs)
			}
			// alpha may version its object after the narrowing.
			if code, c, errs := ingest([]string{"--source", "alpha"}, ind(x, "2021-05-01T00:00:00.000Z", policy.TLP2RedID)); code != 0 || c.stored != 1 {
				t.Fatalf("alpha after the narrowing: exit %d %+v: %s", code, c, errs)
			}
			st = openFromFlags(t, db)
			defer st.Close()
			page, err := st.List(ctx, coll.ID, store.Query{Limit: 20, MetaOnly: true, Versions: store.VersionMatch{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, v := range page.Versions {
				got[v.ID+"@"+v.Modified.UTC().Format("2006-01")] = v.Source
			}
			want := map[string]string{
				x + "@2021-01": orgA.ID, x + "@2021-03": orgA.ID, x + "@2021-05": orgA.ID,
				"indicator--00000041-0000-4000-8000-000000000000@2024-01": orgB.ID,
				"indicator--00000043-0000-4000-8000-000000000000@2024-01": "",
			}
			if len(got) != len(want) {
				t.Errorf("stored %v, want %v", got, want)
			}
			for k, v := range want {
				if s, ok := got[k]; !ok || s != v {
					t.Errorf("%s: source %q (stored: %v), want %q", k, s, ok, v)
				}
			}
		})
	}
}
