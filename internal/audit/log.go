package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/store"
)

// Config tunes a Log. Zero values take the defaults noted.
type Config struct {
	// Interval is how often Run integrates new entries (default 500 ms).
	// After Kick (Append calls it) Run integrates sooner, but not more
	// often than every Interval/5.
	Interval time.Duration
	// MaxBatch is the most entries one tree extension covers (default
	// 65536); a longer backlog is integrated in several.
	MaxBatch int64
	// ThinEvery is how often Run thins the stored checkpoints by
	// Retention (default 10 minutes; negative: never).
	ThinEvery time.Duration
	Retention Retention
	Logger    *slog.Logger
}

// Log is the audit log over a store: it integrates appended entries into
// the Merkle tree, signs checkpoints and answers proofs. It is safe for
// concurrent use, and several processes (nodes sharing one PostgreSQL)
// may integrate the same store at once.
type Log struct {
	st       store.Log
	key      *Key // nil: read only
	verifier note.Verifier
	cfg      Config
	log      *slog.Logger

	integrateMu sync.Mutex
	kick        chan struct{}

	leafMu sync.Mutex
	leaves map[int64]tlog.Hash // leaf hashes of entries Append stored, not yet integrated

	appendMu sync.Mutex
	pending  *appendBatch
	flushing bool

	spool *spool // nil: Append stores directly (OpenSpool)

	timeMu  sync.Mutex
	cpTimes map[int64]time.Time // checkpoint size → its time (Thin)
}

// New returns the log over st that signs checkpoints with key.
func New(st store.Log, key *Key, cfg Config) *Log {
	l := newLog(st, key.Verifier, cfg)
	l.key = key
	return l
}

// NewReader returns a log over st that only reads and proves: it checks
// checkpoints with v and cannot integrate.
func NewReader(st store.Log, v note.Verifier) *Log { return newLog(st, v, Config{}) }

func newLog(st store.Log, v note.Verifier, cfg Config) *Log {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1 << 16
	}
	if cfg.ThinEvery == 0 {
		cfg.ThinEvery = 10 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Log{st: st, verifier: v, cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1)}
}

// Verifier checks this log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// Store is the storage the log works on.
func (l *Log) Store() store.Log { return l.st }

// hashReader reads stored hashes from the store.
func (l *Log) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs, err := l.st.ReadHashes(ctx, indexes)
		if err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
		if len(hs) != len(indexes) {
			return nil, fmt.Errorf("read stored hashes: asked for %d, got %d", len(indexes), len(hs))
		}
		out := make([]tlog.Hash, len(hs))
		for i := range hs {
			out[i] = tlog.Hash(hs[i])
		}
		return out, nil
	})
}

// ErrLogShrunk: the store holds fewer entries than its tree covers, so
// entries were removed behind the log's back.
var ErrLogShrunk = errors.New("audit log has fewer entries than its tree covers")

// Integrate extends the tree over every entry appended before it started
// and signs a checkpoint for each extension (of at most MaxBatch
// entries); it returns the tree size reached. When another process
// extends the tree first (store.ErrConflict), it starts over from the new
// size, so concurrent integrators never fork the tree. It fails with
// ErrLogShrunk when the store holds fewer entries than the tree covers.
func (l *Log) Integrate(ctx context.Context) (int64, error) {
	if l.key == nil {
		return 0, errors.New("audit: integrate: this log has no signing key")
	}
	l.integrateMu.Lock()
	defer l.integrateMu.Unlock()
	target := int64(-1)
	conflictAt := int64(-1)
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		old, err := l.st.TreeSize(ctx)
		if err != nil {
			return 0, fmt.Errorf("audit: tree size: %w", err)
		}
		if target < 0 {
			if target, err = l.st.LogSize(ctx); err != nil {
				return 0, fmt.Errorf("audit: log size: %w", err)
			}
			if target < old {
				return old, fmt.Errorf("%w: %d entries, tree of %d", ErrLogShrunk, target, old)
			}
		}
		l.forgetLeaves(old) // integrated, perhaps by another node
		if old >= target {
			return old, nil
		}
		end := min(target, old+l.cfg.MaxBatch)
		leaves, err := l.leafHashes(ctx, old, end)
		if err != nil {
			return old, err
		}
		f := frontier{n: old}
		if old > 0 {
			if f.hashes, err = l.hashReader(ctx).ReadHashes(frontierIndexes(old)); err != nil {
				return old, fmt.Errorf("audit: tree of %d: %w", old, err)
			}
		}
		hashes := make([]tlog.Hash, 0, 2*len(leaves)+64)
		for _, h := range leaves {
			hashes = f.push(h, hashes)
		}
		cp, err := signCheckpoint(l.key, end, f.root())
		if err != nil {
			return old, fmt.Errorf("audit: sign checkpoint: %w", err)
		}
		stored := make([][32]byte, len(hashes))
		for i := range hashes {
			stored[i] = hashes[i]
		}
		err = l.st.ExtendTree(ctx, old, end, stored, store.Checkpoint{Size: end, Note: cp})
		if errors.Is(err, store.ErrConflict) {
			// Another node extended it: start from its size. A conflict
			// twice at the same size is no race but a store whose state
			// disagrees with itself (say a checkpoint beyond the tree).
			if conflictAt == old {
				return old, fmt.Errorf("audit: extend tree %d→%d: conflict again without the tree growing: %w", old, end, err)
			}
			conflictAt = old
			continue
		}
		if err != nil {
			return old, fmt.Errorf("audit: extend tree %d→%d: %w", old, end, err)
		}
		l.forgetLeaves(end)
	}
}

// maxCachedLeaves bounds the leaf hashes Append keeps for Integrate.
const maxCachedLeaves = 1 << 20

// leafHashes returns the leaf hashes (RFC 6962 leaf hashes of the entry
// bytes) of entries [start, end): those Append stored from this process
// are known already; the others are read from the store.
func (l *Log) leafHashes(ctx context.Context, start, end int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, end-start)
	lo, hi := end, start // the range of indexes not cached
	l.leafMu.Lock()
	for i := start; i < end; i++ {
		h, ok := l.leaves[i]
		if !ok {
			lo, hi = min(lo, i), max(hi, i+1)
			continue
		}
		out[i-start] = h
	}
	l.leafMu.Unlock()
	if lo >= hi {
		return out, nil
	}
	hs, err := readLeaves(ctx, l.st, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	copy(out[lo-start:], hs)
	return out, nil
}

// leafReadStep is how many entries one ReadLog call of readLeaves asks
// for. Entries range from a few hundred bytes to about 150 KB (an
// accepted entry of 1,000 versions, a served page), so reading a whole
// chunk of the tree at once could hold gigabytes; this bounds what is
// held to a few tens of megabytes.
const leafReadStep = 256

// readLeaves returns the leaf hashes (RFC 6962) of entries [start, end),
// reading them leafReadStep at a time and keeping only their hashes. On
// a failed read it returns the hashes of the entries before the failing
// read with the error.
func readLeaves(ctx context.Context, st store.Log, start, end int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, 0, end-start)
	for pos := start; pos < end; {
		b := min(end, pos+leafReadStep)
		es, err := st.ReadLog(ctx, pos, b)
		if err == nil && int64(len(es)) != b-pos {
			err = fmt.Errorf("got %d", len(es))
		}
		if err != nil {
			return out, fmt.Errorf("read entries [%d,%d): %w", pos, b, err)
		}
		for _, e := range es {
			out = append(out, tlog.RecordHash(e))
		}
		pos = b
	}
	return out, nil
}

// rememberLeaves records the leaf hashes of entries Append stored at
// first onwards.
func (l *Log) rememberLeaves(first int64, hs []tlog.Hash) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leaves)+len(hs) > maxCachedLeaves {
		return // the integrator is far behind: it reads them
	}
	if l.leaves == nil {
		l.leaves = map[int64]tlog.Hash{}
	}
	for i, h := range hs {
		l.leaves[first+int64(i)] = h
	}
}

// forgetLeaves drops cached leaf hashes below size (integrated).
func (l *Log) forgetLeaves(size int64) {
	l.leafMu.Lock()
	defer l.leafMu.Unlock()
	if len(l.leaves) == 0 {
		return
	}
	for i := range l.leaves {
		if i < size {
			delete(l.leaves, i)
		}
	}
}

// Kick asks Run to integrate soon. It does not block.
func (l *Log) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Run integrates every Interval, and soon after Kick, until ctx ends;
// every ThinEvery it thins the stored checkpoints (Thin, by Retention).
// Failures are logged and retried; it returns nil when ctx ends.
func (l *Log) Run(ctx context.Context) error {
	t := time.NewTicker(l.cfg.Interval)
	defer t.Stop()
	minGap := l.cfg.Interval / 5
	var thinned time.Time
	for {
		if _, err := l.Integrate(ctx); err != nil && ctx.Err() == nil {
			l.log.Error("audit log: integrate", "err", err)
		}
		if now := time.Now(); l.cfg.ThinEvery > 0 && now.Sub(thinned) >= l.cfg.ThinEvery {
			thinned = now
			if n, err := l.Thin(ctx, l.cfg.Retention, now); err != nil && ctx.Err() == nil {
				l.log.Error("audit log: thin checkpoints", "err", err)
			} else if n > 0 {
				l.log.Debug("audit log: thinned checkpoints", "removed", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-l.kick:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(minGap):
			}
		}
	}
}

type appendBatch struct {
	entries [][]byte
	done    chan struct{}
	first   int64
	err     error
}

// Append appends entries that record no store change (Served, Denied,
// Guard, AssetsSet) and returns once they are kept: in the store, or,
// with a spool (OpenSpool), in the spool file, from which they reach the
// store within moments (they are kept either way if the process dies
// once Append has returned). Calls made at the same time are stored
// together in one transaction (group commit); each call's entries stay
// contiguous and in order. If ctx ends first, Append returns its error,
// but the entries may still be stored. The log keeps entries: do not
// change them afterwards.
func (l *Log) Append(ctx context.Context, entries [][]byte) error {
	if len(entries) == 0 {
		return nil
	}
	if l.spool != nil {
		return l.spool.write(entries)
	}
	l.appendMu.Lock()
	if l.pending == nil {
		l.pending = &appendBatch{done: make(chan struct{})}
	}
	b := l.pending
	b.entries = append(b.entries, entries...)
	if !l.flushing {
		l.flushing = true
		go l.flush()
	}
	l.appendMu.Unlock()
	select {
	case <-b.done:
		return b.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Log) flush() {
	for {
		l.appendMu.Lock()
		b := l.pending
		l.pending = nil
		if b == nil {
			l.flushing = false
			l.appendMu.Unlock()
			return
		}
		l.appendMu.Unlock()
		var hs []tlog.Hash
		if l.key != nil {
			hs = leafHashesOf(b.entries)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		b.first, b.err = l.st.AppendLog(ctx, b.entries)
		cancel()
		if b.err != nil {
			b.err = fmt.Errorf("audit: append %d entries: %w", len(b.entries), b.err)
		} else if hs != nil {
			l.rememberLeaves(b.first, hs)
		}
		close(b.done)
		l.Kick()
	}
}

// leafHashesOf returns the leaf hashes (RFC 6962) of entries.
func leafHashesOf(entries [][]byte) []tlog.Hash {
	hs := make([]tlog.Hash, len(entries))
	for i, e := range entries {
		hs[i] = tlog.RecordHash(e)
	}
	return hs
}

// ErrNoCheckpoint: the log has no checkpoint yet (nothing integrated).
var ErrNoCheckpoint = errors.New("audit log has no checkpoint yet")

// Latest returns the newest stored checkpoint, verified. ErrNoCheckpoint
// when there is none.
func (l *Log) Latest(ctx context.Context) (Checkpoint, error) {
	cp, err := l.st.LatestCheckpoint(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return Checkpoint{}, ErrNoCheckpoint
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	return l.open(cp)
}

// CheckpointAt returns the stored checkpoint of exactly size entries,
// verified; store.ErrNotFound when none was signed at that size.
func (l *Log) CheckpointAt(ctx context.Context, size int64) (Checkpoint, error) {
	cps, err := l.st.Checkpoints(ctx, size, size)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint %d: %w", size, err)
	}
	if len(cps) == 0 {
		return Checkpoint{}, fmt.Errorf("audit: checkpoint of size %d: %w", size, store.ErrNotFound)
	}
	return l.open(cps[0])
}

func (l *Log) open(cp store.Checkpoint) (Checkpoint, error) {
	c, err := OpenCheckpoint(cp.Note, l.verifier)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: stored checkpoint of size %d: %w", cp.Size, err)
	}
	if c.Size != cp.Size {
		return Checkpoint{}, fmt.Errorf("audit: stored checkpoint of size %d says %d", cp.Size, c.Size)
	}
	return c, nil
}

// ErrRange: proof arguments out of range of the tree.
var ErrRange = errors.New("out of range")

// ProveEntry returns the inclusion proof (RFC 6962 section 2.1.1) of
// entry index in the tree of size entries. ErrRange unless
// 0 <= index < size <= the tree size.
func (l *Log) ProveEntry(ctx context.Context, index, size int64) (tlog.RecordProof, error) {
	if err := l.checkSize(ctx, size); err != nil {
		return nil, err
	}
	if index < 0 || index >= size {
		return nil, fmt.Errorf("audit: entry %d in a tree of %d: %w", index, size, ErrRange)
	}
	return tlog.ProveRecord(size, index, l.hashReader(ctx))
}

// ProveConsistency returns the consistency proof (RFC 6962 section
// 2.1.2) that the tree of size to extends the tree of size from. ErrRange
// unless 1 <= from <= to <= the tree size.
func (l *Log) ProveConsistency(ctx context.Context, from, to int64) (tlog.TreeProof, error) {
	if err := l.checkSize(ctx, to); err != nil {
		return nil, err
	}
	if from < 1 || from > to {
		return nil, fmt.Errorf("audit: consistency %d→%d: %w", from, to, ErrRange)
	}
	return tlog.ProveTree(to, from, l.hashReader(ctx))
}

func (l *Log) checkSize(ctx context.Context, size int64) error {
	tree, err := l.st.TreeSize(ctx)
	if err != nil {
		return fmt.Errorf("audit: tree size: %w", err)
	}
	if size < 1 || size > tree {
		return fmt.Errorf("audit: tree size %d (the tree has %d): %w", size, tree, ErrRange)
	}
	return nil
}

// TreeHash returns the root hash of the tree of size entries, computed
// from the stored hashes.
func (l *Log) TreeHash(ctx context.Context, size int64) (tlog.Hash, error) {
	if size == 0 {
		return emptyRoot, nil
	}
	if err := l.checkSize(ctx, size); err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(size, l.hashReader(ctx))
}
