package audit

import (
	"context"
	"slices"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Thinning keeps every checkpoint of the last hour, the newest of each
// hour for a week, the newest of each day before that, and always the
// newest of all; the log still verifies, and a witness holding a thinned
// checkpoint still gets its consistency proof.
func TestThinCheckpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db := open(t)
		key := testKey(t, "test")
		l := New(db.lg, key, Config{})
		ctx := context.Background()
		now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
		at := []time.Time{
			now.Add(-10*24*time.Hour + 1*time.Hour), // 2026-02-28 13:00: day, dropped
			now.Add(-10*24*time.Hour + 2*time.Hour), // 14:00: day, dropped
			now.Add(-10*24*time.Hour + 3*time.Hour), // 15:00: newest of its day
			now.Add(-9 * 24 * time.Hour),            // 2026-03-01 12:00: dropped
			now.Add(-9*24*time.Hour + 30*time.Minute),
			now.Add(-2*24*time.Hour - 6*time.Hour - 50*time.Minute), // 2026-03-08 05:10: hour, dropped
			now.Add(-2*24*time.Hour - 6*time.Hour - 40*time.Minute), // 05:20: dropped
			now.Add(-2*24*time.Hour - 6*time.Hour - 10*time.Minute), // 05:50: newest of its hour
			now.Add(-2*24*time.Hour - 5*time.Hour - 50*time.Minute), // 06:10: own hour
			now.Add(-50 * time.Minute),                              // last hour: all kept
			now.Add(-30 * time.Minute),
			now.Add(-10 * time.Minute),
		}
		var sizes []int64
		for i, ti := range at {
			e := Entry{Kind: KindDenied, V: SchemaVersion, Time: FormatTime(ti), Reason: "thin test", Count: int64(i + 1)}
			if err := l.Append(ctx, [][]byte{Encode(&e), Encode(&e)}); err != nil {
				t.Fatal(err)
			}
			n, err := l.Integrate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
		removed, err := l.Thin(ctx, Retention{}, now)
		if err != nil {
			t.Fatal(err)
		}
		keep := []int{2, 4, 7, 8, 9, 10, 11}
		var want []int64
		for _, i := range keep {
			want = append(want, sizes[i])
		}
		cps, err := db.lg.Checkpoints(ctx, 0, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, cp := range cps {
			got = append(got, cp.Size)
		}
		if !slices.Equal(got, want) || removed != int64(len(at)-len(keep)) {
			t.Fatalf("after thinning: checkpoints %v (removed %d), want %v", got, removed, want)
		}
		// Again: nothing more to do.
		if n, err := l.Thin(ctx, Retention{}, now); err != nil || n != 0 {
			t.Fatalf("second Thin: %d, %v", n, err)
		}
		// A day later the last hour's checkpoints fold into their hour,
		// and the newest stays.
		if _, err := l.Thin(ctx, Retention{}, now.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		cps, _ = db.lg.Checkpoints(ctx, 0, 1<<40)
		if len(cps) != 5 || cps[len(cps)-1].Size != sizes[len(sizes)-1] {
			t.Fatalf("a day later: %d checkpoints, newest %d", len(cps), cps[len(cps)-1].Size)
		}
		res, err := Verify(ctx, db.lg, key.Verifier, VerifyOptions{})
		if err != nil || res.Checkpoints != 5 {
			t.Fatalf("verify after thinning: %+v, %v", res, err)
		}
		// A witness that saw the first (now removed) checkpoint.
		old := sizes[0]
		oldRoot, err := l.TreeHash(ctx, old)
		if err != nil {
			t.Fatal(err)
		}
		latest, err := l.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.ProveConsistency(ctx, old, latest.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckTree(p, latest.Size, latest.Root, old, oldRoot); err != nil {
			t.Fatalf("consistency from a thinned checkpoint: %v", err)
		}
	})
}
