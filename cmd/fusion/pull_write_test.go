package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// TestPullVersionsOfOthersObjects: fusion pull applies the write-side
// decision: pulled on behalf of another partner, a version of a local
// partner's object is rejected; pulled by the operator (the hub), a
// narrowing is stored with the object's source and a widening rejected.
func TestPullVersionsOfOthersObjects(t *testing.T) {
	const x = "indicator--0000000c-0000-4000-8000-00000000000c"
	ind := func(modified, marking string) []byte {
		return []byte(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":%q,"created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"x","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z","object_marking_refs":[%q]}`,
			x, modified, marking))
	}
	remote := rtNewServer(t, server.Config{})
	rtSeed(t, remote, [][]byte{
		ind("2021-02-01T00:00:00.000Z", policy.TLP2GreenID),       // wider than the local AMBER
		ind("2021-03-01T00:00:00.000Z", policy.TLP2AmberStrictID), // narrower
		rtIndicator(7, mustTime(t, "2024-04-01T00:00:00Z")),       // new
	})
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			st := openFromFlags(t, b.flags(t))
			defer st.Close()
			into := "0b5a4b3e-7a1c-4c55-9d0e-1f2a3b4c5d71"
			orgA := store.Org{ID: "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4c1", Name: "alpha", Kind: store.KindPartner}
			orgB := store.Org{ID: "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4c2", Name: "bravo", Kind: store.KindPartner}
			if err := st.CreateCollection(ctx, store.Collection{ID: into, APIRoot: store.DefaultAPIRoot, Title: "Mirror"}); err != nil {
				t.Fatal(err)
			}
			for _, o := range []store.Org{orgA, orgB} {
				if err := st.CreateOrg(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			o, err := stix.Parse(ind("2021-01-01T00:00:00.000Z", policy.TLP2AmberID))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Put(ctx, into, orgA.ID, []*stix.Object{o}); err != nil {
				t.Fatal(err)
			}
			var warn strings.Builder
			p := rtPuller(remote, remote.root, st, into, 100, fastRetry)
			p.source, p.warn = orgB.ID, &warn
			s, err := p.run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Rejected != 2 || s.Added != 1 || strings.Count(warn.String(), "only its source may version it") != 2 {
				t.Fatalf("pull for bravo: %+v: %s", s, warn.String())
			}
			warn.Reset()
			p = rtPuller(remote, remote.root, st, into, 100, fastRetry)
			p.warn, p.reset = &warn, true
			s, err = p.run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Rejected != 1 || s.Added != 1 || s.Unchanged != 1 || !strings.Contains(warn.String(), "the hub may only narrow it") {
				t.Fatalf("operator pull: %+v: %s", s, warn.String())
			}
			pg, err := st.List(ctx, into, store.Query{IDs: []string{x}, Limit: 10, MetaOnly: true, Versions: store.VersionMatch{All: true}})
			if err != nil {
				t.Fatal(err)
			}
			if len(pg.Versions) != 2 || pg.Versions[1].Source != orgA.ID || pg.Versions[1].Modified.Month() != 3 {
				t.Fatalf("versions of %s: %+v", x, pg.Versions)
			}
		})
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := stix.ParseTimestamp(s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
