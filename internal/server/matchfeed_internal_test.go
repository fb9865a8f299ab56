package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// TestFeedDeletions: the feeder's index forgets deleted objects and
// deleted collections at the next tail (checked on the index itself: the
// match handler hides such hits anyway, so only the index shows whether
// the feeder followed), and relationships of a deleted collection leave
// the cache.
func TestFeedDeletions(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SetRecorder(audit.Recorder(nil))
	colls := []string{"3d2c1b0a-0000-4000-8000-00000000c001", "3d2c1b0a-0000-4000-8000-00000000c002"}
	for _, id := range colls {
		if err := st.CreateCollection(ctx, store.Collection{ID: id, APIRoot: store.DefaultAPIRoot, Title: id, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	ind := func(n int) *stix.Object {
		o, err := stix.Parse(fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
			`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[domain-name:value = 'd%d.example']",`+
			`"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`, n, n))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	rel, err := stix.Parse([]byte(`{"type":"relationship","spec_version":"2.1","id":"relationship--00000000-0000-4000-8000-000000000001",` +
		`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","relationship_type":"indicates",` +
		`"source_ref":"indicator--00000000-0000-4000-8000-000000000001","target_ref":"malware--00000000-0000-4000-8000-000000000001"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range colls {
		if _, err := st.Put(ctx, c, "", []*stix.Object{ind(1), ind(2), ind(3), rel}); err != nil {
			t.Fatal(err)
		}
	}
	f := newMatchFeed(st, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err := f.build(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.idx.Info().Objects; n != 6 {
		t.Fatalf("objects after build: %d", n)
	}
	// Deleted after the build: seen by the next tail.
	if _, err := st.Delete(ctx, colls[0], ind(2).ID, store.VersionMatch{All: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteCollection(ctx, colls[1]); err != nil {
		t.Fatal(err)
	}
	if err := f.tail(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.idx.Info().Objects; n != 2 {
		t.Errorf("objects after deleting one indicator and a collection of 3: %d, want 2", n)
	}
	for v, want := range map[string]int{"d1.example": 1, "d2.example": 0, "d3.example": 1} {
		hits, _ := f.idx.LookupString(v)
		if len(hits) != want {
			t.Errorf("%s: %+v, want %d hits", v, hits, want)
		}
		for _, h := range hits {
			if h.Ref.Collection != colls[0] {
				t.Errorf("%s: a hit in the deleted collection: %+v", v, h)
			}
		}
	}
	if got := f.relationsOf(colls[1], ind(1).ID); len(got) != 0 {
		t.Errorf("relationships of the deleted collection: %v", got)
	}
	if got := f.relationsOf(colls[0], ind(1).ID); len(got) != 1 {
		t.Errorf("relationships of the other collection: %v", got)
	}
	// Deleting the relationship clears it from the cache.
	if _, err := st.Delete(ctx, colls[0], rel.ID, store.VersionMatch{All: true}, nil); err != nil {
		t.Fatal(err)
	}
	if err := f.tail(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.relationsOf(colls[0], ind(1).ID); len(got) != 0 {
		t.Errorf("a deleted relationship is still cached: %v", got)
	}
}
