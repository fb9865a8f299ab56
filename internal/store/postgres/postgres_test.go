package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fusion/internal/stix"
	"fusion/internal/store"
)

var t0 = time.Date(2024, 3, 1, 12, 0, 0, 123456789, time.UTC)

func mustPut(t *testing.T, db *DB, coll string, objs ...*stix.Object) []store.PutOutcome {
	t.Helper()
	out, err := db.Put(context.Background(), coll, "", objs)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(out) != len(objs) {
		t.Fatalf("Put returned %d outcomes for %d objects", len(out), len(objs))
	}
	return out
}

func mustList(t *testing.T, db *DB, coll string, q store.Query) store.Page {
	t.Helper()
	p, err := db.List(context.Background(), coll, q)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return p
}

// keys renders a page as "id@modified" strings for comparison.
func keys(p store.Page) []string {
	var s []string
	for _, v := range p.Versions {
		s = append(s, fmt.Sprintf("%s@%s", v.ID, stix.FormatTimestamp(v.Modified)))
	}
	return s
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	cfg := newSchema(t)
	const nodes = 4
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	dbs := make([]*DB, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = OpenConfig(context.Background(), cfg.Copy())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: Open: %v", i, err)
		}
		defer dbs[i].Close()
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := dbs[0].pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
	}
	// Opening again applies nothing and keeps the default collection.
	db := openOn(t, cfg)
	c, err := db.GetCollection(context.Background(), store.DefaultCollectionID)
	if err != nil {
		t.Fatalf("default collection: %v", err)
	}
	if c.Title != "Default" || c.APIRoot != store.DefaultAPIRoot {
		t.Errorf("default collection = %+v", c)
	}
	cs, err := db.ListCollections(context.Background(), "")
	if err != nil || len(cs) != 1 {
		t.Errorf("ListCollections = %d collections, %v; want the default only", len(cs), err)
	}
}

func TestOpenRecreatesDeletedDefaultCollection(t *testing.T) {
	cfg := newSchema(t)
	db := openOn(t, cfg)
	if err := db.DeleteCollection(context.Background(), store.DefaultCollectionID); err != nil {
		t.Fatal(err)
	}
	db2 := openOn(t, cfg)
	if _, err := db2.GetCollection(context.Background(), store.DefaultCollectionID); err != nil {
		t.Fatalf("default collection after reopen: %v", err)
	}
}

func TestOpenBadSchema(t *testing.T) {
	cfg := newSchema(t)
	cfg.ConnConfig.RuntimeParams["search_path"] = "fusion_t_does_not_exist"
	if db, err := OpenConfig(context.Background(), cfg); err == nil {
		db.Close()
		t.Fatal("Open with a search_path naming no schema succeeded")
	}
}

func TestPutVersionsAndFlags(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	coll := store.DefaultCollectionID
	a1, a2, a3 := indicator(t, 1, t0), indicator(t, 1, t0.Add(time.Hour)), indicator(t, 1, t0.Add(2*time.Hour))
	b1 := indicator(t, 2, t0)
	sco := ipv4(t, 3)

	// a2 first, then a duplicate of itself in the same batch, then b1 and an SCO.
	out := mustPut(t, db, coll, a2, a2, b1, sco)
	if !out[0].Added || out[1].Added || !out[2].Added || !out[3].Added {
		t.Fatalf("outcomes = %+v, want added, unchanged, added, added", out)
	}
	if out[1].DateAdded != (time.Time{}) {
		t.Errorf("unchanged outcome has DateAdded %v", out[1].DateAdded)
	}
	if !out[0].DateAdded.Before(out[2].DateAdded) || !out[2].DateAdded.Before(out[3].DateAdded) {
		t.Errorf("date_added not increasing in input order: %v %v %v", out[0].DateAdded, out[2].DateAdded, out[3].DateAdded)
	}
	if out[0].DateAdded.Nanosecond()%1000 != 0 {
		t.Errorf("date_added %v has sub-microsecond digits", out[0].DateAdded)
	}
	// An older and a newer version of a arrive later; a2 again is unchanged.
	out = mustPut(t, db, coll, a3, a1, a2)
	if !out[0].Added || !out[1].Added || out[2].Added {
		t.Fatalf("outcomes = %+v, want added, added, unchanged", out)
	}

	aid, bid, sid := a1.ID, b1.ID, sco.ID
	at := func(id string, m time.Time) string { return id + "@" + stix.FormatTimestamp(m) }
	zero := stix.FormatTimestamp(time.Time{})
	for _, tc := range []struct {
		name string
		vm   store.VersionMatch
		want []string // in date_added order
	}{
		{"zero means last", store.VersionMatch{}, []string{at(bid, t0), sid + "@" + zero, at(aid, a3.Modified)}},
		{"last", store.VersionMatch{Last: true}, []string{at(bid, t0), sid + "@" + zero, at(aid, a3.Modified)}},
		{"first", store.VersionMatch{First: true}, []string{at(bid, t0), sid + "@" + zero, at(aid, t0)}},
		{"all", store.VersionMatch{All: true}, []string{at(aid, a2.Modified), at(bid, t0), sid + "@" + zero, at(aid, a3.Modified), at(aid, t0)}},
		{"first or last", store.VersionMatch{First: true, Last: true}, []string{at(bid, t0), sid + "@" + zero, at(aid, a3.Modified), at(aid, t0)}},
		{"at", store.VersionMatch{At: []time.Time{a2.Modified, t0}}, []string{at(aid, a2.Modified), at(bid, t0), at(aid, t0)}},
		{"at zero key", store.VersionMatch{At: []time.Time{{}}}, []string{sid + "@" + zero}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := keys(mustList(t, db, coll, store.Query{Versions: tc.vm, Limit: 100}))
			if !equalStrings(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}

	// Raw comes back byte for byte; MetaOnly leaves it out.
	p := mustList(t, db, coll, store.Query{IDs: []string{aid}, Versions: store.VersionMatch{At: []time.Time{a1.Modified}}, Limit: 10})
	if len(p.Versions) != 1 || !bytes.Equal(p.Versions[0].Raw, a1.Raw) || p.Versions[0].Type != "indicator" || p.Versions[0].SpecVersion != "2.1" {
		t.Fatalf("got %+v", p.Versions)
	}
	p = mustList(t, db, coll, store.Query{MetaOnly: true, Limit: 10})
	for _, v := range p.Versions {
		if v.Raw != nil {
			t.Errorf("MetaOnly returned Raw for %s", v.ID)
		}
		if v.Collection != coll {
			t.Errorf("Collection = %q", v.Collection)
		}
	}
	if _, err := db.Put(ctx, "no-such-collection", "", []*stix.Object{b1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Put to a missing collection: %v, want ErrNotFound", err)
	}
	if _, err := db.Put(ctx, "no-such-collection", "", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("empty Put to a missing collection: %v, want ErrNotFound", err)
	}
	if _, err := db.List(ctx, "no-such-collection", store.Query{Limit: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("List of a missing collection: %v, want ErrNotFound", err)
	}
	if _, err := db.List(ctx, coll, store.Query{}); err == nil {
		t.Error("List with Limit 0 succeeded")
	}
}

func TestPutRejectsUnstorableVersionAtomically(t *testing.T) {
	db := openTest(t)
	old := indicator(t, 2, time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC))
	_, err := db.Put(context.Background(), store.DefaultCollectionID, "", []*stix.Object{indicator(t, 1, t0), old})
	if err == nil {
		t.Fatal("Put of a version key in 1500 succeeded")
	}
	if p := mustList(t, db, store.DefaultCollectionID, store.Query{Versions: store.VersionMatch{All: true}, Limit: 10}); len(p.Versions) != 0 {
		t.Errorf("a failed Put stored %d versions", len(p.Versions))
	}
}

func TestListFiltersAndPaging(t *testing.T) {
	db := openTest(t)
	coll := store.DefaultCollectionID
	var objs []*stix.Object
	for i := range 25 {
		objs = append(objs, indicator(t, i, t0), ipv4(t, i))
	}
	out := mustPut(t, db, coll, objs...)

	// Page through everything with AddedAfter; no repeats, no gaps.
	var got []string
	var after time.Time
	for pages := 0; ; pages++ {
		p := mustList(t, db, coll, store.Query{AddedAfter: after, Limit: 7, MetaOnly: true})
		got = append(got, keys(p)...)
		if len(p.Versions) > 0 {
			after = p.Versions[len(p.Versions)-1].DateAdded
		}
		if !p.More {
			if len(p.Versions) > 7 {
				t.Fatal("page longer than Limit")
			}
			break
		}
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != 50 {
		t.Fatalf("paged %d versions, want 50", len(got))
	}
	for i, o := range objs {
		if want := o.ID + "@" + stix.FormatTimestamp(o.Version()); got[i] != want {
			t.Fatalf("version %d = %s, want %s", i, got[i], want)
		}
	}
	// Exact page boundary: More is false when nothing follows.
	p := mustList(t, db, coll, store.Query{AddedAfter: out[39].DateAdded, Limit: 10})
	if len(p.Versions) != 10 || p.More {
		t.Errorf("last full page: %d versions, More=%v", len(p.Versions), p.More)
	}
	// AddedAfter with sub-microsecond digits is still "strictly after".
	p = mustList(t, db, coll, store.Query{AddedAfter: out[9].DateAdded.Add(500 * time.Nanosecond), Limit: 1})
	if len(p.Versions) != 1 || !p.Versions[0].DateAdded.Equal(out[10].DateAdded) {
		t.Errorf("AddedAfter just past version 9 returned %v", keys(p))
	}
	p = mustList(t, db, coll, store.Query{AddedAfter: out[9].DateAdded.Add(-500 * time.Nanosecond), Limit: 1})
	if len(p.Versions) != 1 || !p.Versions[0].DateAdded.Equal(out[9].DateAdded) {
		t.Errorf("AddedAfter just before version 9 returned %v", keys(p))
	}

	p = mustList(t, db, coll, store.Query{Types: []string{"ipv4-addr"}, Limit: 100})
	if len(p.Versions) != 25 {
		t.Errorf("type filter: %d versions, want 25", len(p.Versions))
	}
	// Several types (one repeated) page like no filter at all.
	var typed []string
	q := store.Query{Types: []string{"ipv4-addr", "indicator", "ipv4-addr", "tool"}, Limit: 6}
	for {
		p := mustList(t, db, coll, q)
		typed = append(typed, keys(p)...)
		if !p.More {
			break
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
	if !equalStrings(typed, got) {
		t.Errorf("paging with several types:\n got  %q\n want %q", typed, got)
	}
	p = mustList(t, db, coll, store.Query{IDs: []string{objs[0].ID, objs[3].ID, "indicator--nope"}, Limit: 100})
	if w := []string{objs[0].ID + "@" + stix.FormatTimestamp(t0), objs[3].ID + "@" + stix.FormatTimestamp(time.Time{})}; !equalStrings(keys(p), w) {
		t.Errorf("id filter: %q, want %q", keys(p), w)
	}
	p = mustList(t, db, coll, store.Query{Types: []string{"indicator"}, IDs: []string{objs[1].ID}, Limit: 100})
	if len(p.Versions) != 0 {
		t.Errorf("filters are not ANDed: %q", keys(p))
	}
	p = mustList(t, db, coll, store.Query{SpecVersions: []string{"2.0"}, Limit: 100})
	if len(p.Versions) != 0 {
		t.Errorf("spec_version 2.0 matched %d", len(p.Versions))
	}
	p = mustList(t, db, coll, store.Query{SpecVersions: []string{"2.0", "2.1"}, Limit: 100})
	if len(p.Versions) != 50 {
		t.Errorf("spec_version 2.0,2.1 matched %d", len(p.Versions))
	}
}

func TestDeleteMovesFlags(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	coll := store.DefaultCollectionID
	v := []*stix.Object{indicator(t, 1, t0), indicator(t, 1, t0.Add(time.Hour)), indicator(t, 1, t0.Add(2*time.Hour))}
	mustPut(t, db, coll, v...)
	id := v[0].ID
	n, err := db.Delete(ctx, coll, id, store.VersionMatch{}, nil) // the last
	if err != nil || n != 1 {
		t.Fatalf("Delete last = %d, %v", n, err)
	}
	p := mustList(t, db, coll, store.Query{Limit: 10})
	if len(p.Versions) != 1 || !p.Versions[0].Modified.Equal(v[1].Modified) {
		t.Fatalf("last after deleting the last: %q", keys(p))
	}
	if n, err := db.Delete(ctx, coll, id, store.VersionMatch{First: true}, []string{"2.0"}); !errors.Is(err, store.ErrNotFound) || n != 0 {
		t.Errorf("Delete with a non-matching spec version = %d, %v", n, err)
	}
	if n, err := db.Delete(ctx, coll, id, store.VersionMatch{First: true}, []string{"2.1"}); err != nil || n != 1 {
		t.Fatalf("Delete first = %d, %v", n, err)
	}
	p = mustList(t, db, coll, store.Query{Versions: store.VersionMatch{First: true}, Limit: 10})
	if len(p.Versions) != 1 || !p.Versions[0].Modified.Equal(v[1].Modified) {
		t.Fatalf("first after deleting the first: %q", keys(p))
	}
	// The remaining version is both first and last; a new older version
	// takes the first flag only.
	mustPut(t, db, coll, v[0])
	if p := mustList(t, db, coll, store.Query{Versions: store.VersionMatch{First: true}, Limit: 10}); len(p.Versions) != 1 || !p.Versions[0].Modified.Equal(v[0].Modified) {
		t.Errorf("first after re-adding the oldest: %q", keys(p))
	}
	if p := mustList(t, db, coll, store.Query{Limit: 10}); len(p.Versions) != 1 || !p.Versions[0].Modified.Equal(v[1].Modified) {
		t.Errorf("last after re-adding the oldest: %q", keys(p))
	}
	if n, err := db.Delete(ctx, coll, id, store.VersionMatch{All: true}, nil); err != nil || n != 2 {
		t.Fatalf("Delete all = %d, %v", n, err)
	}
	if n, err := db.Delete(ctx, coll, id, store.VersionMatch{All: true}, nil); !errors.Is(err, store.ErrNotFound) || n != 0 {
		t.Errorf("Delete of nothing = %d, %v", n, err)
	}
	if _, err := db.Delete(ctx, "no-such-collection", id, store.VersionMatch{All: true}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete in a missing collection: %v", err)
	}
}

// TestTwoNodesWriteOneCollection runs two DB handles (two "nodes", each
// with its own pool) against one schema, both putting overlapping batches
// into one collection while a third pages through it. Every distinct
// version must be added exactly once, date_added must be strictly
// increasing over the whole collection, each object must have exactly one
// first and one last version, and the concurrent reader must see every
// version exactly once.
func TestTwoNodesWriteOneCollection(t *testing.T) {
	cfg := newSchema(t)
	// The second node's server default is REPEATABLE READ: Put must not
	// depend on the default isolation.
	rr := cfg.Copy()
	rr.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	nodes := []*DB{openOn(t, cfg), openOn(t, rr)}
	reader := openOn(t, cfg)
	ctx := context.Background()
	coll := store.DefaultCollectionID

	const (
		objects  = 60
		versions = 5
		batches  = 30
		perBatch = 40
	)
	// Each node walks the same pool of (object, version) pairs in a
	// different order, so the nodes race to add the same versions.
	type added struct {
		key string
		at  time.Time
	}
	results := make([][]added, len(nodes))
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)+1)
	for ni, db := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var objs []*stix.Object
				for k := range perBatch {
					x := (b*perBatch + k*(ni*2+1)) % (objects * versions)
					objs = append(objs, indicator(t, x%objects, t0.Add(time.Duration(x/objects)*time.Minute)))
				}
				out, err := db.Put(ctx, coll, fmt.Sprintf("node%d", ni), objs)
				if err != nil {
					errs <- fmt.Errorf("node %d batch %d: %w", ni, b, err)
					return
				}
				for i, o := range out {
					if o.Added {
						results[ni] = append(results[ni], added{objs[i].ID + "@" + stix.FormatTimestamp(objs[i].Modified), o.DateAdded})
					}
				}
			}
		}()
	}
	// Concurrent reader, paging with AddedAfter until the writers are done
	// and a page comes back empty.
	done := make(chan struct{})
	var seen []store.Version
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		var after time.Time
		finished := false
		for {
			select {
			case <-done:
				finished = true
			default:
			}
			p, err := reader.List(ctx, coll, store.Query{AddedAfter: after, Versions: store.VersionMatch{All: true}, Limit: 17, MetaOnly: true})
			if err != nil {
				errs <- fmt.Errorf("reader: %w", err)
				return
			}
			seen = append(seen, p.Versions...)
			if len(p.Versions) > 0 {
				after = p.Versions[len(p.Versions)-1].DateAdded
			} else if finished {
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	rwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	byKey := map[string]time.Time{}
	for ni, rs := range results {
		for _, r := range rs {
			if prev, dup := byKey[r.key]; dup {
				t.Errorf("version %s added twice (node %d at %v, earlier at %v)", r.key, ni, r.at, prev)
			}
			byKey[r.key] = r.at
		}
	}
	all := mustList(t, reader, coll, store.Query{Versions: store.VersionMatch{All: true}, Limit: objects*versions + 1, MetaOnly: true})
	if len(all.Versions) != len(byKey) || all.More {
		t.Errorf("stored %d versions, Put reported %d added", len(all.Versions), len(byKey))
	}
	for i, v := range all.Versions {
		k := v.ID + "@" + stix.FormatTimestamp(v.Modified)
		if at, ok := byKey[k]; !ok || !at.Equal(v.DateAdded) {
			t.Errorf("stored %s at %v; Put reported %v (%v)", k, v.DateAdded, at, ok)
		}
		if i > 0 && !all.Versions[i-1].DateAdded.Before(v.DateAdded) {
			t.Errorf("date_added not strictly increasing at %d: %v then %v", i, all.Versions[i-1].DateAdded, v.DateAdded)
		}
	}
	if len(seen) != len(all.Versions) {
		t.Errorf("concurrent reader saw %d versions, want %d", len(seen), len(all.Versions))
	}
	for i := range min(len(seen), len(all.Versions)) {
		if seen[i].ID != all.Versions[i].ID || !seen[i].DateAdded.Equal(all.Versions[i].DateAdded) {
			t.Fatalf("concurrent reader's version %d is %s@%v, want %s@%v", i, seen[i].ID, seen[i].DateAdded, all.Versions[i].ID, all.Versions[i].DateAdded)
		}
	}
	checkFlags(t, reader, coll)
}

// checkFlags verifies that exactly the versions with the smallest and
// largest version key of each object carry is_first and is_last.
func checkFlags(t *testing.T, db *DB, coll string) {
	t.Helper()
	var bad int
	err := db.pool.QueryRow(context.Background(), `
		SELECT count(*) FROM versions v
		JOIN (SELECT coll, id, min(modified) mn, max(modified) mx FROM versions GROUP BY coll, id) m USING (coll, id)
		WHERE v.coll = (SELECT seq FROM collections WHERE id = $1)
		  AND (v.is_first <> (v.modified = m.mn) OR v.is_last <> (v.modified = m.mx))`, coll).Scan(&bad)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d versions carry wrong first/last flags", bad)
	}
}

// TestListPlans checks with EXPLAIN that each listing shape is an ordered
// range scan of its index, with no sort of the collection, on a freshly
// loaded table that has never been analysed (where custom plans go wrong).
func TestListPlans(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	// 20,000 versions straight into the table: 10% malware with three
	// versions each, the rest single-version indicators.
	if _, err := db.pool.Exec(ctx, `INSERT INTO versions (coll, date_added, id, modified, type, spec_version, source, revoked, is_first, is_last, raw)
		SELECT 1, 1700000000000000 + g,
			CASE WHEN g % 10 = 0 THEN 'malware--' || md5((g / 30)::text)::uuid ELSE 'indicator--' || md5(g::text)::uuid END,
			CASE WHEN g % 10 = 0 THEN g % 30 ELSE 0 END,
			CASE WHEN g % 10 = 0 THEN 'malware' ELSE 'indicator' END, '2.1', '', false,
			g % 10 <> 0 OR g % 30 = 0, g % 10 <> 0 OR g % 30 = 20, '{}'
		FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	after := time.UnixMicro(1700000000010000)
	cases := []struct {
		name    string
		q       store.Query
		want    []string // substrings of the plan
		notWant []string
	}{
		{"last", store.Query{AddedAfter: after}, []string{"Index Scan using versions_edge"}, []string{"Sort", "Bitmap", "Seq Scan"}},
		{"first", store.Query{AddedAfter: after, Versions: store.VersionMatch{First: true}}, []string{"Index Scan using versions_edge"}, []string{"Sort", "Bitmap", "Seq Scan"}},
		{"all", store.Query{AddedAfter: after, Versions: store.VersionMatch{All: true}}, []string{"Index Scan using versions_pkey"}, []string{"Sort", "Bitmap", "Seq Scan"}},
		{"one type", store.Query{Types: []string{"malware"}}, []string{"Index Scan using versions_type"}, []string{"Sort", "Bitmap", "Seq Scan"}},
		{"two types", store.Query{Types: []string{"malware", "tool"}}, []string{"Index Scan using versions_type", "Append"}, []string{"Bitmap", "Seq Scan"}},
		{"ids", store.Query{IDs: []string{"indicator--x"}, Versions: store.VersionMatch{All: true}}, []string{"versions_key"}, []string{"Seq Scan", "versions_pkey", "versions_edge"}},
		{"ids last", store.Query{IDs: []string{"indicator--x", "malware--y"}, MetaOnly: true}, []string{"versions_key"}, []string{"Seq Scan", "versions_pkey", "versions_edge"}},
		{"ids first", store.Query{IDs: []string{"indicator--x"}, Versions: store.VersionMatch{First: true}}, []string{"versions_key"}, []string{"Seq Scan", "versions_pkey", "versions_edge"}},
		{"ids after", store.Query{IDs: []string{"indicator--x"}, AddedAfter: after}, []string{"versions_key"}, []string{"Seq Scan", "versions_pkey", "versions_edge"}},
		{"ids and types", store.Query{IDs: []string{"indicator--x"}, Types: []string{"malware", "indicator"}}, []string{"versions_key"}, []string{"Seq Scan", "versions_pkey", "versions_edge", "versions_type"}},
	}
	run := func(t *testing.T, tc struct {
		name    string
		q       store.Query
		want    []string
		notWant []string
	}) {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = 1000
			sql, args := listSQL(store.DefaultCollectionID, tc.q)
			plan := explain(t, db, sql, args)
			for _, w := range tc.want {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(plan, w) {
					t.Errorf("plan has %q:\n%s", w, plan)
				}
			}
		})
	}
	for _, tc := range cases {
		run(t, tc)
	}
	// The look-ups by id again once the table has statistics: an ingest's
	// look-ups of the versions it replaces once walked versions_edge for
	// every batch after autovacuum had analysed a large collection.
	if _, err := db.pool.Exec(ctx, `ANALYZE versions`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if len(tc.q.IDs) > 0 {
			tc.name += " analysed"
			run(t, tc)
		}
	}
}

// explain returns the plan PostgreSQL uses for the prepared statement sql
// with args on one of db's connections.
func explain(t *testing.T, db *DB, sql string, args []any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// EXPLAIN EXECUTE needs an SQL-level prepared statement; its plan
	// follows the connection's plan_cache_mode like pgx's do.
	if _, err := conn.Exec(ctx, "PREPARE fusion_explain AS "+sql); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, "DEALLOCATE fusion_explain")
	var ps []string
	for i := range args {
		ps = append(ps, "$"+strconv.Itoa(i+1))
	}
	// EXPLAIN takes no bind parameters: the simple protocol has pgx quote
	// the values into the text.
	rows, err := conn.Query(ctx, "EXPLAIN (COSTS OFF) EXECUTE fusion_explain("+strings.Join(ps, ",")+")",
		append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestConcurrentPutDeleteKeepsFlags has two nodes add versions of a few
// objects while a third deletes first, last or all versions of them; at
// the end every object must still have exactly one first and one last
// version, at its smallest and largest version key.
func TestConcurrentPutDeleteKeepsFlags(t *testing.T) {
	cfg := newSchema(t)
	nodes := []*DB{openOn(t, cfg), openOn(t, cfg), openOn(t, cfg)}
	ctx := context.Background()
	coll := store.DefaultCollectionID
	const objects, rounds = 4, 40
	errs := make(chan error, 3)
	var wg sync.WaitGroup
	for ni := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				var objs []*stix.Object
				for o := range objects {
					m := (r*7 + o*3 + ni*5) % 11
					objs = append(objs, indicator(t, o, t0.Add(time.Duration(m)*time.Minute)))
				}
				if _, err := nodes[ni].Put(ctx, coll, "", objs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := range rounds {
			vm := []store.VersionMatch{{First: true}, {Last: true}, {All: true}, {At: []time.Time{t0.Add(3 * time.Minute)}}}[r%4]
			_, err := nodes[2].Delete(ctx, coll, indicator(t, r%objects, t0).ID, vm, nil)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkFlags(t, nodes[0], coll)
	var firsts, lasts, ids int
	if err := nodes[0].pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE is_first), count(*) FILTER (WHERE is_last), count(DISTINCT id) FROM versions`).Scan(&firsts, &lasts, &ids); err != nil {
		t.Fatal(err)
	}
	if firsts != ids || lasts != ids {
		t.Errorf("%d objects have %d first and %d last versions", ids, firsts, lasts)
	}
}

// TestOpenURLSearchPath opens through the URL, naming the schema there.
func TestOpenURLSearchPath(t *testing.T) {
	schema := newSchema(t).ConnConfig.RuntimeParams["search_path"]
	url := testURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := Open(context.Background(), url+sep+"search_path="+schema)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename IN ('versions', 'collections', 'schema_migrations')`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("schema %s holds %d of the 3 tables looked for", schema, n)
	}
	if _, err := Open(context.Background(), "postgres://%zz"); err == nil {
		t.Error("Open of a malformed URL succeeded")
	}
}
