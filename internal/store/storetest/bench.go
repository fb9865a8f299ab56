package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// BenchListObjects is how many objects ListPage1000 pages through.
var BenchListObjects = 100_000

// Bench runs the store benchmarks. open returns a fresh, empty, migrated
// store and registers its own cleanup with b.Cleanup; it is called once
// per benchmark, not per iteration.
//
//   - PutBatch1000: Put of 1,000 new indicators (about 400 bytes each) per
//     iteration; reports objects/s.
//   - ListPage1000: pages of 1,000 last versions through a collection of
//     BenchListObjects objects, wrapping around at the end; reports
//     objects/s and the 99th percentile page time.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("PutBatch1000", func(b *testing.B) {
		s := open(b)
		coll := newCollection(b, s)
		gen := newObjectGen()
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			objs := gen.batch(1000)
			b.StartTimer()
			if _, err := s.Put(ctx, coll, "bench", objs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "objects/s")
	})

	// The listing store outlives the several runs b.Run makes of the
	// sub-benchmark, so it is opened (and cleaned up) on the parent.
	parent := b
	var (
		once     sync.Once
		listS    store.Store
		listColl string
	)
	b.Run("ListPage1000", func(b *testing.B) {
		once.Do(func() {
			listS = open(parent)
			listColl = newCollection(b, listS)
			gen := newObjectGen()
			for n := 0; n < BenchListObjects; n += 1000 {
				if _, err := listS.Put(context.Background(), listColl, "bench", gen.batch(min(1000, BenchListObjects-n))); err != nil {
					b.Fatal(err)
				}
			}
		})
		if listS == nil {
			b.Fatal("store setup failed in an earlier run")
		}
		ctx := context.Background()
		q := store.Query{Limit: 1000}
		pages := make([]time.Duration, 0, b.N)
		objects := 0
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			p, err := listS.List(ctx, listColl, q)
			if err != nil {
				b.Fatal(err)
			}
			pages = append(pages, time.Since(start))
			objects += len(p.Versions)
			if p.More {
				q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
			} else {
				q.AddedAfter = time.Time{}
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
		slices.Sort(pages)
		b.ReportMetric(float64(pages[len(pages)*99/100])/1e6, "p99-ms")
	})
}

// objectGen makes realistic indicators with fresh ids.
type objectGen struct {
	n    int
	base time.Time
}

func newObjectGen() *objectGen { return &objectGen{base: ts("2024-01-01T00:00:00.000Z")} }

func (g *objectGen) batch(n int) []*stix.Object {
	objs := make([]*stix.Object, n)
	for i := range objs {
		g.n++
		id := indicatorID()
		m := g.base.Add(time.Duration(g.n) * time.Millisecond)
		raw := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":%q,"modified":%q,`+
			`"created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","name":"C2 server %d",`+
			`"indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '198.51.%d.%d']","pattern_type":"stix",`+
			`"valid_from":%q,"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
			id, stix.FormatTimestamp(g.base), stix.FormatTimestamp(m), g.n, (g.n>>8)&255, g.n&255, stix.FormatTimestamp(g.base))
		objs[i] = &stix.Object{
			Type: "indicator", ID: id, SpecVersion: "2.1", Created: g.base, Modified: m,
			CreatedByRef:      "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
			ObjectMarkingRefs: []string{"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"},
			Raw:               raw,
		}
	}
	return objs
}
