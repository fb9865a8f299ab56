package postgres

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// benchObjects is how many objects BenchmarkLarge loads:
// FUSION_BENCH_LIST_OBJECTS, else 200,000.
func benchObjects(b *testing.B) int {
	if s := os.Getenv("FUSION_BENCH_LIST_OBJECTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("FUSION_BENCH_LIST_OBJECTS=%q: want a positive number", s)
		}
		return n
	}
	return 200_000
}

// benchGen makes indicators of about 450 bytes like storetest's, with
// deterministic ids.
type benchGen struct {
	n    int
	base time.Time
}

func (g *benchGen) batch(n int) []*stix.Object {
	objs := make([]*stix.Object, n)
	for i := range objs {
		g.n++
		id := fmt.Sprintf("indicator--%08x-%04x-4%03x-8%03x-%012x", g.n*2654435761%(1<<32), g.n&0xffff, g.n%4096, g.n%4093, g.n)
		m := g.base.Add(time.Duration(g.n) * time.Millisecond)
		raw := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":%q,"modified":%q,`+
			`"created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","name":"C2 server %d",`+
			`"indicator_types":["malicious-activity"],"pattern":"[ipv4-addr:value = '198.51.%d.%d']","pattern_type":"stix",`+
			`"valid_from":%q,"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`,
			id, stix.FormatTimestamp(g.base), stix.FormatTimestamp(m), g.n, (g.n>>8)&255, g.n&255, stix.FormatTimestamp(g.base))
		objs[i] = &stix.Object{Type: "indicator", ID: id, SpecVersion: "2.1", Created: g.base, Modified: m, Raw: raw}
	}
	return objs
}

// BenchmarkLarge loads one collection with benchObjects objects through
// Put (1,000 per call, reporting the load rate), then measures
//
//   - PutInto: Put of 1,000 new objects into the loaded collection;
//   - ListLast1000: steady-state paging of last versions, 1,000 per page,
//     wrapping at the end, after one untimed pass has read every page once;
//     reports objects/s and p50/p99 page time.
//
// After the load it runs VACUUM ANALYZE, as autovacuum would soon after
// such a load, so that it does not run during the measurements.
//
// Example: FUSION_BENCH_LIST_OBJECTS=1000000 go test -run '^$' -bench Large -benchtime 1000x
func BenchmarkLarge(b *testing.B) {
	var (
		once sync.Once
		db   *DB
		coll = store.DefaultCollectionID
		gen  = &benchGen{base: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	)
	setup := func(sb *testing.B) {
		once.Do(func() {
			db = openTestCleanup(sb, b.Cleanup)
			n := benchObjects(sb)
			start := time.Now()
			for done := 0; done < n; done += 1000 {
				if _, err := db.Put(context.Background(), coll, "bench", gen.batch(min(1000, n-done))); err != nil {
					sb.Fatal(err)
				}
			}
			el := time.Since(start)
			sb.Logf("loaded %d objects with Put in %v: %.0f objects/s", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
			// What autovacuum would soon do on its own after such a load;
			// done here so that it does not run during the measurements.
			start = time.Now()
			if _, err := db.pool.Exec(context.Background(), "VACUUM ANALYZE versions"); err != nil {
				sb.Fatal(err)
			}
			sb.Logf("VACUUM ANALYZE versions: %v", time.Since(start).Round(time.Millisecond))
		})
		if db == nil {
			sb.Fatal("setup failed in an earlier run")
		}
	}

	b.Run("PutInto", func(b *testing.B) {
		setup(b)
		ctx := context.Background()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			objs := gen.batch(1000)
			b.StartTimer()
			if _, err := db.Put(ctx, coll, "bench", objs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "objects/s")
	})

	var warm sync.Once
	b.Run("ListLast1000", func(b *testing.B) {
		setup(b)
		ctx := context.Background()
		warm.Do(func() {
			q := store.Query{Limit: 1000}
			for {
				p, err := db.List(ctx, coll, q)
				if err != nil {
					b.Fatal(err)
				}
				if !p.More {
					break
				}
				q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
			}
		})
		q := store.Query{Limit: 1000}
		pages := make([]time.Duration, 0, b.N)
		objects := 0
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			p, err := db.List(ctx, coll, q)
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
		b.ReportMetric(float64(pages[len(pages)/2])/1e6, "p50-ms")
		b.ReportMetric(float64(pages[len(pages)*99/100])/1e6, "p99-ms")
	})
}
