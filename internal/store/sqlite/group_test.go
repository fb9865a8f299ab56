package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

// groupedDB is a DB whose Put goes through PutGrouped, one batch per
// group, so that the conformance suite covers Put inside a group.
type groupedDB struct{ *DB }

func (g groupedDB) Put(ctx context.Context, collection, source string, objs []*stix.Object) (out []store.PutOutcome, err error) {
	if len(objs) == 0 {
		return g.DB.Put(ctx, collection, source, objs)
	}
	err = g.PutGrouped(ctx, collection, source, func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error {
		out, _, err = put(objs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func TestConformanceGrouped(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return groupedDB{openTemp(t)} })
}

// testObjects returns n indicators numbered from first, with version m.
func testObjects(first, n int, m time.Time) []*stix.Object {
	objs := make([]*stix.Object, n)
	for i := range objs {
		objs[i] = indicator(fmt.Sprintf("indicator--%08x-0000-4000-8000-000000000000", first+i), m)
	}
	return objs
}

// added counts the outcomes that stored a version.
func added(t *testing.T, out []store.PutOutcome, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range out {
		if o.Added {
			n++
		}
	}
	return n
}

// count returns how many last versions and how many versions the
// default collection holds.
func count(t *testing.T, db *DB) (last, all int) {
	t.Helper()
	ctx := context.Background()
	for _, vm := range []store.VersionMatch{{Last: true}, {All: true}} {
		p, err := db.List(ctx, store.DefaultCollectionID, store.Query{Versions: vm, Limit: 100000, MetaOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		if vm.Last {
			last = len(p.Versions)
		} else {
			all = len(p.Versions)
		}
	}
	return last, all
}

// TestKnownIDsOtherWriter: a second handle on the file (as another
// process) stores versions behind the first handle's known-id filter; the
// first must still find them.
func TestKnownIDsOtherWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fusion.db")
	db1, db2 := openPath(t, path), openPath(t, path)
	m1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	m2 := m1.Add(time.Hour)
	coll := store.DefaultCollectionID

	if n := putN(t, db1, testObjects(0, 1000, m1)); n != 1000 {
		t.Fatalf("db1 first put stored %d, want 1000", n)
	}
	if db1.ids.m[coll] == nil || db1.ids.m[coll].bits == nil {
		t.Fatal("db1 built no known-id filter")
	}
	// db2 adds new objects and a newer version of an old one.
	if n := putN(t, db2, append(testObjects(5000, 100, m1), testObjects(0, 1, m2)...)); n != 101 {
		t.Fatalf("db2 put stored %d, want 101", n)
	}
	// db1 sees all of them as stored: nothing new.
	if n := putN(t, db1, append(testObjects(5000, 100, m1), testObjects(0, 1, m2)...)); n != 0 {
		t.Fatalf("db1 stored %d versions db2 had stored, want 0", n)
	}
	if last, all := count(t, db1); last != 1100 || all != 1101 {
		t.Fatalf("collection holds %d objects, %d versions; want 1100, 1101", last, all)
	}

	// db2 deletes the collection and makes it again: db1 must not take
	// its old filter for the new collection.
	c, err := db2.GetCollection(ctx, coll)
	if err != nil {
		t.Fatal(err)
	}
	if err := db2.DeleteCollection(ctx, coll); err != nil {
		t.Fatal(err)
	}
	if err := db2.CreateCollection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if n := putN(t, db2, testObjects(0, 10, m1)); n != 10 {
		t.Fatalf("db2 put into the new collection stored %d, want 10", n)
	}
	if n := putN(t, db1, testObjects(0, 20, m1)); n != 10 {
		t.Fatalf("db1 put into the new collection stored %d, want 10 (10 were there)", n)
	}
	if last, all := count(t, db1); last != 20 || all != 20 {
		t.Fatalf("new collection holds %d objects, %d versions; want 20, 20", last, all)
	}
}

// putN puts objs into the default collection and returns how many
// versions were stored.
func putN(t *testing.T, db *DB, objs []*stix.Object) int {
	t.Helper()
	out, err := db.Put(context.Background(), store.DefaultCollectionID, "", objs)
	return added(t, out, err)
}

// TestPutGrouped: groups commit when full, batches after the last commit
// are rolled back with their audit entries when the group fails, and the
// known-id filter forgets what was rolled back while another handle
// writes.
func TestPutGrouped(t *testing.T) {
	defer func(n int) { groupObjects = n }(groupObjects)
	groupObjects = 10
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fusion.db")
	db, other := openPath(t, path), openPath(t, path)
	db.SetRecorder(audit.Recorder(nil))
	coll := store.DefaultCollectionID
	m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

	errStop := errors.New("stop")
	var commits []int
	err := db.PutGrouped(ctx, coll, "", func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error {
		for i := 0; i < 5; i++ {
			out, committed, err := put(testObjects(i*5, 5, m))
			if n := added(t, out, err); n != 5 {
				t.Fatalf("batch %d stored %d, want 5", i, n)
			}
			if committed {
				commits = append(commits, i)
				if last, _ := count(t, other); last != (i+1)*5 {
					t.Fatalf("after the commit with batch %d a reader sees %d objects, want %d", i, last, (i+1)*5)
				}
			} else if last, _ := count(t, other); last != len(commits)*10 {
				t.Fatalf("before a commit, after batch %d, a reader sees %d objects, want %d", i, last, len(commits)*10)
			}
		}
		return errStop // the fifth batch is not committed
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("PutGrouped = %v, want the error fn returned", err)
	}
	if fmt.Sprint(commits) != "[1 3]" {
		t.Fatalf("commits after batches %v, want [1 3]", commits)
	}
	if last, all := count(t, db); last != 20 || all != 20 {
		t.Fatalf("store holds %d objects, %d versions; want 20, 20", last, all)
	}
	if n, err := db.LogSize(ctx); err != nil || n != 4 {
		t.Fatalf("audit log holds %d entries (%v), want one per committed batch: 4", n, err)
	}
	if named := audittest.AcceptedVersions(t, db); named != 20 {
		t.Fatalf("the audit log names %d versions, want the 20 committed", named)
	}
	// The rolled-back objects (20..24) are stored by the other handle;
	// db must see them as stored.
	if n := putN(t, other, testObjects(20, 5, m)); n != 5 {
		t.Fatalf("other stored %d, want 5", n)
	}
	if n := putN(t, db, testObjects(0, 30, m)); n != 5 {
		t.Fatalf("db stored %d of objects 0..29, want 5 (25..29)", n)
	}

	// put(nil) commits; a failing put ends the group with its error and
	// later calls get it too.
	err = db.PutGrouped(ctx, coll, "", func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error {
		out, _, err := put(testObjects(100, 3, m))
		if n := added(t, out, err); n != 3 {
			t.Fatalf("stored %d, want 3", n)
		}
		if _, committed, err := put(nil); err != nil || !committed {
			t.Fatalf("put(nil) = %v, %v; want committed", committed, err)
		}
		bad := testObjects(200, 2, m)
		bad[1] = nil
		if _, _, err := put(bad); err == nil {
			t.Fatal("put with a nil object succeeded")
		}
		_, _, err = put(testObjects(300, 1, m))
		return err
	})
	if err == nil {
		t.Fatal("PutGrouped succeeded after a failed put")
	}
	if last, _ := count(t, db); last != 33 {
		t.Fatalf("store holds %d objects, want 33", last)
	}
	// 20 from the first group, 5 from db's Put, 3 from the second group
	// (other has no recorder).
	if n := audittest.AcceptedVersions(t, db); n != 28 {
		t.Fatalf("the audit log names %d versions, want 28", n)
	}
}

// TestKnownIDsGrowth: the filter outgrows its first size and is rebuilt
// from the index without losing an id, and it still rules out most new
// ids.
func TestKnownIDsGrowth(t *testing.T) {
	db := openTemp(t)
	m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	const total = 3*filterMinCap + 100
	for first := 0; first < total; first += 1000 {
		if n := putN(t, db, testObjects(first, min(1000, total-first), m)); n != min(1000, total-first) {
			t.Fatalf("put from %d stored %d", first, n)
		}
	}
	f := db.ids.m[store.DefaultCollectionID]
	if f == nil || f.bits == nil || f.cap < total {
		t.Fatalf("filter %+v: want one rebuilt for at least %d ids", f, total)
	}
	for first := 0; first < total; first += 1000 {
		if n := putN(t, db, testObjects(first, min(1000, total-first), m)); n != 0 {
			t.Fatalf("put again from %d stored %d, want 0", first, n)
		}
	}
	maybe := 0
	for _, o := range testObjects(1<<24, 10000, m) {
		if f.mayHave(idHash(o.ID)) {
			maybe++
		}
	}
	if maybe > 300 {
		t.Fatalf("filter says maybe of %d of 10000 new ids, want about 1 %%", maybe)
	}
}

// TestMayHold: the known-id filter answers for readers only while it is
// current: never "no" for a stored id, and no answer (ok false) before it
// is built or after another handle wrote to the collection.
func TestMayHold(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fusion.db")
	db1, db2 := openPath(t, path), openPath(t, path)
	coll := store.DefaultCollectionID
	m1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ids := func(objs []*stix.Object) []string {
		var out []string
		for _, o := range objs {
			out = append(out, o.ID)
		}
		return out
	}
	stored, fresh := testObjects(0, 1000, m1), testObjects(100000, 1000, m1)
	if _, ok := db1.MayHold(ctx, coll, ids(stored)); ok {
		t.Fatal("MayHold answered before any filter was built")
	}
	putN(t, db1, stored)
	may, ok := db1.MayHold(ctx, coll, append(ids(stored), ids(fresh)...))
	if !ok {
		t.Fatal("MayHold gave no answer with a current filter")
	}
	no := 0
	for i, m := range may {
		if i < len(stored) && !m {
			t.Fatalf("MayHold says the collection cannot hold stored %s", stored[i].ID)
		}
		if i >= len(stored) && !m {
			no++
		}
	}
	if no < 900 {
		t.Errorf("MayHold ruled out %d of 1000 new ids; want nearly all", no)
	}
	putN(t, db2, testObjects(5000, 10, m1))
	if _, ok := db1.MayHold(ctx, coll, ids(fresh)); ok {
		t.Error("MayHold answered after another handle wrote to the collection")
	}
	if _, ok := db1.MayHold(ctx, newCollectionID(t, db1), ids(fresh)); ok {
		t.Error("MayHold answered for a collection without a filter")
	}
}

// newCollectionID makes an empty collection and returns its id.
func newCollectionID(t *testing.T, db *DB) string {
	t.Helper()
	id := "c0ffee00-0000-4000-8000-000000000001"
	if err := db.CreateCollection(context.Background(), store.Collection{ID: id, APIRoot: store.DefaultAPIRoot, Title: "x"}); err != nil {
		t.Fatal(err)
	}
	return id
}
