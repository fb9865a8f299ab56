package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

func openPath(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openTemp opens a new store in a directory Open has to create.
func openTemp(t testing.TB) *DB {
	t.Helper()
	return openPath(t, filepath.Join(t.TempDir(), "sub", "fusion.db"))
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

// TestConformanceHashCollisions runs the suite with an object-id hash
// that is the same for every id: every query must tell ids apart by the
// id itself.
func TestConformanceHashCollisions(t *testing.T) {
	idHash = func(id string) int64 { return 42 }
	defer func() { idHash = fnv64 }()
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) })
}

func indicator(id string, m time.Time) *stix.Object {
	raw := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00Z","modified":%q}`,
		id, stix.FormatTimestamp(m))
	return &stix.Object{Type: "indicator", ID: id, SpecVersion: "2.1", Created: m, Modified: m, Raw: raw}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fusion.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	coll := store.Collection{ID: "0b9a4e4c-6a55-4c43-8e69-2f6c1a7d3b21", APIRoot: store.DefaultAPIRoot, Title: "kept", Alias: "kept"}
	if err := db.CreateCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	out, err := db.Put(ctx, coll.ID, "org", []*stix.Object{indicator("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", m)})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL file left after Close: %v", err)
	}

	// Open twice at once on the existing file: migrations are skipped,
	// the default collection is not duplicated, the data is there.
	a := openPath(t, path)
	b := openPath(t, path)
	for _, db := range []*DB{a, b} {
		var n int
		if err := db.r.QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := loadMigrations()
		if n != len(ms) {
			t.Errorf("schema_migrations holds %d rows, want %d", n, len(ms))
		}
		cs, err := db.ListCollections(ctx, store.DefaultAPIRoot)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, c := range cs {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		if want := []string{coll.ID, store.DefaultCollectionID}; !slices.Equal(ids, want) {
			t.Errorf("collections after reopening: %v, want %v", ids, want)
		}
		p, err := db.List(ctx, coll.ID, store.Query{Limit: 10})
		if err != nil || len(p.Versions) != 1 || !p.Versions[0].DateAdded.Equal(out[0].DateAdded) {
			t.Errorf("versions after reopening: %+v, %v", p.Versions, err)
		}
	}
	// date_added keeps growing across reopening.
	out2, err := b.Put(ctx, coll.ID, "org", []*stix.Object{indicator("indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", m.Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if !out2[0].DateAdded.After(out[0].DateAdded) {
		t.Errorf("date_added after reopening %s, not after %s", out2[0].DateAdded, out[0].DateAdded)
	}
	// The other handle sees it.
	p, err := a.List(ctx, coll.ID, store.Query{Limit: 10})
	if err != nil || len(p.Versions) != 1 || !p.Versions[0].Modified.Equal(m.Add(time.Hour)) {
		t.Errorf("second handle's last version: %+v, %v", p.Versions, err)
	}
}

// TestOpenConcurrently opens a new file from several goroutines at once:
// each migration is applied once.
func TestOpenConcurrently(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fusion.db")
	var wg sync.WaitGroup
	dbs := make([]*DB, 4)
	errs := make([]error, len(dbs))
	for i := range dbs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dbs[i], errs[i] = Open(context.Background(), path)
		}(i)
	}
	wg.Wait()
	for i, db := range dbs {
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
			continue
		}
		defer db.Close()
	}
	if dbs[0] == nil {
		return
	}
	var n int
	if err := dbs[0].r.QueryRow(`SELECT count(*) FROM collections`).Scan(&n); err != nil || n != 1 {
		t.Errorf("collections: %d, %v; want only the default", n, err)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(dir, "notdb")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("this is not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", ":memory:", filepath.Join(dir, "a?b"), filepath.Join(file, "under-a-file.db"), notDB} {
		db, err := Open(context.Background(), path)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		if !strings.Contains(err.Error(), "sqlite: open") {
			t.Errorf("Open(%q) error does not say what failed: %v", path, err)
		}
	}
}

// TestVersionKeyRange: a version key outside the years int64 nanoseconds
// can hold fails the whole batch.
func TestVersionKeyRange(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	good := indicator("indicator--1b4b0c5e-04a3-4d6b-9c0f-3d7c0c1d2e3f", time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, year := range []int{1500, 2300, 9999} {
		bad := indicator("indicator--5d0e1c1f-2b3a-4c5d-8e6f-7a8b9c0d1e2f", time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC))
		_, err := db.Put(ctx, store.DefaultCollectionID, "", []*stix.Object{good, bad})
		if err == nil || !strings.Contains(err.Error(), "outside the years") {
			t.Errorf("year %d: Put error %v, want one about the range", year, err)
		}
		_, err = db.List(ctx, store.DefaultCollectionID, store.Query{Limit: 1, Versions: store.VersionMatch{At: []time.Time{bad.Modified}}})
		if err == nil {
			t.Errorf("year %d: List with that version key: no error", year)
		}
	}
	p, err := db.List(ctx, store.DefaultCollectionID, store.Query{Limit: 10, Versions: store.VersionMatch{All: true}})
	if err != nil || len(p.Versions) != 0 {
		t.Errorf("after failed Puts: %d versions, %v", len(p.Versions), err)
	}
}

// queryPlan returns SQLite's plan for a statement, one detail per line.
func queryPlan(t *testing.T, db *DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN %s: %v", query, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestQueryPlans checks that listings are range scans that need no sort,
// so that a page costs the same at any depth of a large collection, and
// that Put's and Delete's lookups go through the object index.
func TestQueryPlans(t *testing.T) {
	db := openTemp(t)
	after := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := []string{"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "malware--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061"}
	cases := []struct {
		name string
		q    store.Query
		want string // a line of the plan
	}{
		{"last", store.Query{AddedAfter: after}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"last meta", store.Query{AddedAfter: after, MetaOnly: true}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"all", store.Query{Versions: store.VersionMatch{All: true}}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"first", store.Query{Versions: store.VersionMatch{First: true}}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"last of one type", store.Query{AddedAfter: after, Types: []string{"indicator"}}, "SEARCH versions USING INDEX versions_last_type (coll=? AND type=? AND date_added>?)"},
		{"last of one type, meta", store.Query{Types: []string{"indicator"}, MetaOnly: true}, "SEARCH versions USING INDEX versions_last_type (coll=? AND type=? AND date_added>?)"},
		{"two types", store.Query{Types: []string{"indicator", "malware"}}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"all of one type", store.Query{Types: []string{"indicator"}, Versions: store.VersionMatch{All: true}}, "SEARCH versions USING INDEX versions_added (coll=? AND date_added>?)"},
		{"ids", store.Query{IDs: ids}, "SEARCH versions USING INDEX versions_object (coll=? AND idh=?)"},
	}
	for _, tc := range cases {
		tc.q.Limit = 1000
		query, args, err := listQuery(1, tc.q)
		if err != nil {
			t.Fatal(err)
		}
		plan := queryPlan(t, db, query, args...)
		if !strings.Contains(plan, tc.want) {
			t.Errorf("%s: plan\n%s\nlacks %q", tc.name, plan, tc.want)
		}
		if len(tc.q.IDs) == 0 && strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan sorts:\n%s", tc.name, plan)
		}
	}
	load := queryPlan(t, db, `SELECT id, date_added, modified, is_first, is_last FROM versions INDEXED BY versions_object
		WHERE coll = ? AND idh IN (`+placeholders(lookupChunk)+`) AND (is_first != 0 OR is_last != 0)`, make([]any, 1+lookupChunk)...)
	if !strings.Contains(load, "USING INDEX versions_object (coll=? AND idh=?)") {
		t.Errorf("Put's lookup plan:\n%s", load)
	}
	del := queryPlan(t, db, `DELETE FROM versions INDEXED BY versions_object WHERE coll = ? AND idh = ? AND id = ? AND is_last = 1`, 1, 2, "x")
	if !strings.Contains(del, "USING INDEX versions_object (coll=? AND idh=?)") {
		t.Errorf("Delete's plan:\n%s", del)
	}
}

// TestCheckpointer: the background checkpointer copies committed pages
// into the database file while the store is open.
func TestCheckpointer(t *testing.T) {
	db := openTemp(t)
	ctx := context.Background()
	var objs []*stix.Object
	for i := 0; i < 2000; i++ {
		objs = append(objs, indicator(fmt.Sprintf("indicator--%08x-0000-4000-8000-000000000000", i), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))
	}
	if _, err := db.Put(ctx, store.DefaultCollectionID, "", objs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var busy, log, done int
		// A no-op PASSIVE checkpoint reports how much of the WAL is still
		// to copy.
		if err := db.c.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
			t.Fatal(err)
		}
		if log > 0 && done == log {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL not checkpointed: %d of %d frames", done, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Reads still work through the reader pool during and after.
	p, err := db.List(ctx, store.DefaultCollectionID, store.Query{Limit: 10, MetaOnly: true})
	if err != nil || len(p.Versions) != 10 || !p.More {
		t.Errorf("List after checkpoint: %d versions more=%v, %v", len(p.Versions), p.More, err)
	}
	_ = sql.ErrNoRows
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTemp(b) })
}

var benchObjects = flag.Int("objects", 1_000_000, "objects in the collection BenchmarkPageLarge pages through")

// BenchmarkPageLarge pages with limit 1000 through a collection of
// -objects indicators (one million by default; building it takes a
// while), reporting objects/s and the 99th percentile page time, then
// puts batches of 1,000 new objects into it.
func BenchmarkPageLarge(b *testing.B) {
	db := openTemp(b)
	ctx := context.Background()
	start := time.Now()
	const batch = 5000
	for n := 0; n < *benchObjects; n += batch {
		if _, err := db.Put(ctx, store.DefaultCollectionID, "bench", benchIndicators(n, min(batch, *benchObjects-n))); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d objects in %s (%.0f objects/s in batches of %d)", *benchObjects, time.Since(start).Round(time.Millisecond),
		float64(*benchObjects)/time.Since(start).Seconds(), batch)
	// Page in the steady state: the build's WAL copied into the file.
	if _, err := db.c.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}

	for _, bc := range []struct {
		name string
		q    store.Query
	}{
		{"Last", store.Query{Limit: 1000}},
		{"LastMeta", store.Query{Limit: 1000, MetaOnly: true}},
		{"LastOfType", store.Query{Limit: 1000, Types: []string{"indicator"}}},
		{"All", store.Query{Limit: 1000, Versions: store.VersionMatch{All: true}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := bc.q
			pages := make([]time.Duration, 0, b.N)
			objects := 0
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				p, err := db.List(ctx, store.DefaultCollectionID, q)
				if err != nil {
					b.Fatal(err)
				}
				pages = append(pages, time.Since(t0))
				objects += len(p.Versions)
				if p.More {
					q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
				} else {
					q.AddedAfter = time.Time{}
				}
			}
			b.StopTimer()
			slices.Sort(pages)
			b.ReportMetric(float64(objects)/b.Elapsed().Seconds(), "objects/s")
			b.ReportMetric(float64(pages[len(pages)*99/100])/1e6, "p99-ms")
		})
	}

	// Put into the large collection: the object index no longer fits a
	// batch's worth of leaves, so each new object dirties a page of it.
	next := *benchObjects
	b.Run("PutBatch1000", func(b *testing.B) {
		cpu0 := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			objs := benchIndicators(next, 1000)
			next += 1000
			b.StartTimer()
			if _, err := db.Put(ctx, store.DefaultCollectionID, "bench", objs); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "objects/s")
		// The process's CPU time (this store's checkpointer included, the
		// object generation too): a figure that other load on the machine
		// disturbs less than wall time.
		b.ReportMetric(float64(b.N)*1000/(cpuTime()-cpu0).Seconds(), "objects/cpu-s")
	})
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchIndicators makes n indicators of about 560 bytes, numbered from
// first, with ids spread like random UUIDs.
func benchIndicators(first, n int) []*stix.Object {
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := make([]*stix.Object, n)
	for i := range objs {
		k := first + i
		h := uint64(k) * 0x9E3779B97F4A7C15
		id := fmt.Sprintf("indicator--%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), k&0xfff, (k>>12)&0xfff, h&0xffffffffffff)
		raw := fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",`+
			`"created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff","name":"C2 server %d","indicator_types":["malicious-activity"],`+
			`"pattern":"[ipv4-addr:value = '198.51.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z",`+
			`"object_marking_refs":["marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"]}`, id, k, (k>>8)&255, k&255)
		objs[i] = &stix.Object{Type: "indicator", ID: id, SpecVersion: "2.1", Created: base, Modified: base, Raw: raw}
	}
	return objs
}
