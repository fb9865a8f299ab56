package taxii_test

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
)

// BenchmarkPagingPolicy measures what the policy costs TAXII paging: a
// member country walks a collection of FUSION_BENCH_POLICY_OBJECTS
// indicators (default 20,000) with limit=1000, one page per iteration,
// in these cases:
//
//	admin        a hub admin: no facts are read (the unfiltered baseline)
//	visible      the member may see every object (TLP:AMBER)
//	half         every other object is TLP:AMBER+STRICT, hidden from it
//	half-refs    as half, each object also has a created_by_ref to an
//	             identity in the collection (one reference lookup per page)
//
// It reports objects/s returned, scanned/s (versions read from the
// store, returned or hidden) and the p50 page latency:
//
//	go test -run '^$' -bench PagingPolicy -benchtime 100x ./internal/taxii
func BenchmarkPagingPolicy(b *testing.B) {
	n := 20000
	if s := os.Getenv("FUSION_BENCH_POLICY_OBJECTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("FUSION_BENCH_POLICY_OBJECTS=%q: want a number >= 1000", s)
		}
		n = v
	}
	const identity = "identity--0b5d6c7e-8f90-4a1b-8c2d-3e4f5a6b7c8d"
	for _, be := range backends() {
		for _, tc := range []struct {
			name   string
			admin  bool
			hidden func(i int) bool
			refs   bool
		}{
			{"admin", true, func(int) bool { return false }, false},
			{"visible", false, func(int) bool { return false }, false},
			{"half", false, func(i int) bool { return i%2 == 1 }, false},
			{"half-refs", false, func(i int) bool { return i%2 == 1 }, true},
		} {
			b.Run(be.name+"/"+tc.name, func(b *testing.B) {
				f := newFixture(b, be.open, server.Config{})
				ctx := context.Background()
				visible := 0
				var objs []*stix.Object
				if tc.refs {
					o, err := stix.Parse([]byte(`{"type":"identity","spec_version":"2.1","id":"` + identity + `","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"acme","identity_class":"organization","object_marking_refs":["` + policy.TLP2GreenID + `"]}`))
					if err != nil {
						b.Fatal(err)
					}
					objs = append(objs, o)
					visible++
				}
				for i := 0; i < n; i++ {
					marking := policy.TLP2AmberID
					if tc.hidden(i) && !tc.admin {
						marking = policy.TLP2AmberStrictID
					}
					extra := `,"object_marking_refs":["` + marking + `"]`
					if tc.refs {
						extra += `,"created_by_ref":"` + identity + `"`
					}
					raw := indicator(i, "2024-01-01T00:00:00.000Z")
					raw = raw[:len(raw)-1] + extra + "}"
					o, err := stix.Parse([]byte(raw))
					if err != nil {
						b.Fatal(err)
					}
					objs = append(objs, o)
					if !tc.hidden(i) || tc.admin {
						visible++
					}
					if len(objs) == 5000 || i == n-1 {
						if _, err := f.st.Put(ctx, f.coll, "", objs); err != nil {
							b.Fatal(err)
						}
						objs = objs[:0]
					}
				}
				token := f.tokens["member"]
				if tc.admin {
					token = f.admin
				}
				total := n
				if tc.refs {
					total++
				}
				client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
				first := f.srv.URL + f.objectsPath() + "?limit=1000"
				next := first
				var lat []time.Duration
				returned, scanned, walked, walkedRet := 0, 0, 0, 0
				start := time.Now()
				for i := 0; b.Loop(); i++ {
					t0 := time.Now()
					env, err := getSkimmed(client, next, token)
					if err != nil {
						b.Fatalf("page %d: %v", i, err)
					}
					lat = append(lat, time.Since(t0))
					returned += env.n
					walkedRet += env.n
					if !env.more {
						if walkedRet != visible {
							b.Fatalf("a walk returned %d objects, want the %d visible", walkedRet, visible)
						}
						walked++
						walkedRet = 0
					}
					next = f.nextPage(env, first)
				}
				elapsed := time.Since(start)
				// Versions scanned: whole walks plus the part of the last.
				scanned = walked * total
				if walkedRet > 0 {
					scanned += walkedRet * total / visible
				}
				slices.Sort(lat)
				b.ReportMetric(float64(returned)/elapsed.Seconds(), "objects/s")
				b.ReportMetric(float64(scanned)/elapsed.Seconds(), "scanned/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			})
		}
	}
}
