package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fusion/internal/store"
)

// Retention is the rule checkpoint thinning keeps to. A checkpoint's time
// is the "t" of the last entry it covers (the size-1'th), so the rule
// needs no clock in the signed text.
//
//   - every checkpoint younger than All is kept;
//   - of those younger than Hourly, the newest of each UTC hour;
//   - of older ones, the newest of each UTC day;
//   - the newest checkpoint is always kept.
//
// Nothing else needs the thinned ones: a witness keeps the checkpoints it
// was shown and asks for consistency proofs, which the stored hashes
// answer between any two sizes; a receipt carries its own checkpoint;
// verify checks every checkpoint that is stored.
type Retention struct {
	All    time.Duration // default 1 hour
	Hourly time.Duration // default 7 days
}

func (r Retention) withDefaults() Retention {
	if r.All <= 0 {
		r.All = time.Hour
	}
	if r.Hourly <= 0 {
		r.Hourly = 7 * 24 * time.Hour
	}
	return r
}

// bucket is the group of a checkpoint made at t as seen at now: "" for
// one kept on its own, else the hour or day it shares with others.
func (r Retention) bucket(t, now time.Time) string {
	age := now.Sub(t)
	switch {
	case age < r.All:
		return ""
	case age < r.Hourly:
		return t.UTC().Format("h2006-01-02T15")
	}
	return t.UTC().Format("d2006-01-02")
}

// Thin removes the stored checkpoints the retention rule r does not keep
// at now, and returns how many. Checkpoint times are read from the log's
// entries (cached, since neither changes).
func (l *Log) Thin(ctx context.Context, r Retention, now time.Time) (int64, error) {
	r = r.withDefaults()
	latest, err := l.st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("audit: thin checkpoints: %w", err)
	}
	cps, err := l.st.Checkpoints(ctx, 0, latest.Size)
	if err != nil {
		return 0, fmt.Errorf("audit: thin checkpoints: %w", err)
	}
	// Ascending size: the last one of a bucket is its newest.
	last := map[string]int64{}
	kept := make(map[int64]bool, len(cps))
	times := make(map[int64]time.Time, len(cps))
	for _, cp := range cps {
		t, err := l.checkpointTime(ctx, cp.Size)
		if err != nil {
			return 0, err
		}
		times[cp.Size] = t
		b := r.bucket(t, now)
		if b == "" {
			kept[cp.Size] = true
			continue
		}
		if prev, ok := last[b]; ok {
			kept[prev] = false
		}
		last[b] = cp.Size
		kept[cp.Size] = true
	}
	kept[latest.Size] = true
	var drop []int64
	for _, cp := range cps {
		if !kept[cp.Size] {
			drop = append(drop, cp.Size)
		}
	}
	if len(drop) == 0 {
		return 0, nil
	}
	n, err := l.st.DeleteCheckpoints(ctx, drop)
	if err != nil {
		return n, fmt.Errorf("audit: thin %d checkpoints: %w", len(drop), err)
	}
	l.timeMu.Lock()
	for _, s := range drop {
		delete(l.cpTimes, s)
	}
	l.timeMu.Unlock()
	return n, nil
}

// checkpointTime is the time of the checkpoint of size entries: the "t"
// of entry size-1; the zero time for the empty tree.
func (l *Log) checkpointTime(ctx context.Context, size int64) (time.Time, error) {
	if size == 0 {
		return time.Time{}, nil
	}
	l.timeMu.Lock()
	t, ok := l.cpTimes[size]
	l.timeMu.Unlock()
	if ok {
		return t, nil
	}
	es, err := l.st.ReadLog(ctx, size-1, size)
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: time of checkpoint %d: %w", size, err)
	}
	e, err := ParseEntry(es[0])
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: time of checkpoint %d: entry %d: %w", size, size-1, err)
	}
	t, err = time.Parse(time.RFC3339Nano, e.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("audit: time of checkpoint %d: entry %d: t %q: %w", size, size-1, e.Time, err)
	}
	l.timeMu.Lock()
	if l.cpTimes == nil {
		l.cpTimes = map[int64]time.Time{}
	}
	l.cpTimes[size] = t
	l.timeMu.Unlock()
	return t, nil
}
