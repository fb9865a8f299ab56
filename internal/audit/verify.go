package audit

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/store"
)

// VerifyOptions tune Verify. Zero values take the defaults noted.
type VerifyOptions struct {
	// ChunkBits: entries are read and hashed in aligned chunks of
	// 1<<ChunkBits (default 16: 65536 entries).
	ChunkBits int
	// Workers hash chunks in parallel (default GOMAXPROCS).
	Workers int
	// HashBatch is how many stored hashes one ReadHashes call asks for
	// (default 8192).
	HashBatch int
	// Extra are checkpoints from outside the store (a witness's), already
	// opened with the same verifier: each must match the recomputed tree
	// too, so a store rolled back behind them is caught.
	Extra []Checkpoint
	// Progress, when set, is called from one goroutine with the number of
	// entries verified so far and the total, after each chunk.
	Progress func(done, total int64)
}

// VerifyResult says what Verify covered.
type VerifyResult struct {
	Entries     int64     // entries in the store (LogSize)
	Tree        int64     // entries the tree covers (TreeSize); all verified
	Checkpoints int64     // stored checkpoints verified
	Extra       int       // outside checkpoints verified
	Root        tlog.Hash // the recomputed root of the tree of Tree entries
}

// Mismatch is evidence that the stored log is not what was signed: the
// first problem Verify found, in entry order.
type Mismatch struct {
	// Index is the first entry that is or may be bad. When the evidence
	// only bounds the change (a root that differs), the bad entry lies
	// in [Index, End); otherwise End is Index+1.
	Index, End int64
	What       string // in words, naming indexes, sizes and hashes
}

func (m *Mismatch) Error() string {
	if m.End > m.Index+1 {
		return fmt.Sprintf("entries [%d, %d): %s", m.Index, m.End, m.What)
	}
	return fmt.Sprintf("entry %d: %s", m.Index, m.What)
}

// Verify recomputes the whole Merkle tree from the stored entries and
// checks it against the stored hashes (every one of them) and every
// stored checkpoint (signature with v, origin, size and root), and
// against opts.Extra. It returns a *Mismatch for the first problem in
// entry order, any other error when the store cannot be read, and nil
// when all agree. Entries beyond the tree (appended but not yet
// integrated) are counted but cannot be checked.
//
// Entries are read a few hundred at a time (readLeaves), keeping only
// their leaf hashes, and hashed in chunks by several workers; the
// subtree of each chunk is computed independently and only the chunk
// roots are combined in order.
func Verify(ctx context.Context, st store.Log, v note.Verifier, opts VerifyOptions) (VerifyResult, error) {
	if opts.ChunkBits <= 0 || opts.ChunkBits > 24 {
		opts.ChunkBits = 16
	}
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.HashBatch <= 0 {
		opts.HashBatch = 8192
	}
	var res VerifyResult
	var err error
	if res.Entries, err = st.LogSize(ctx); err != nil {
		return res, fmt.Errorf("log size: %w", err)
	}
	if res.Tree, err = st.TreeSize(ctx); err != nil {
		return res, fmt.Errorf("tree size: %w", err)
	}
	for _, cp := range opts.Extra {
		if cp.Origin != v.Name() {
			return res, fmt.Errorf("outside checkpoint of size %d is from %q, not %q", cp.Size, cp.Origin, v.Name())
		}
	}
	n := min(res.Tree, res.Entries)
	vr := &verifier{st: st, v: v, opts: opts, n: n, chunk: 1 << opts.ChunkBits}
	if err := vr.run(ctx); err != nil {
		return res, err
	}
	res.Checkpoints, res.Extra, res.Root = vr.checkpoints, vr.extra, vr.global.root()
	// What the walk over [0, n) could not see.
	if res.Entries < res.Tree {
		return res, &Mismatch{Index: res.Entries, End: res.Entries + 1,
			What: fmt.Sprintf("missing: the store holds %d entries but its tree covers %d", res.Entries, res.Tree)}
	}
	if res.Tree > 0 && vr.lastGood != res.Tree {
		return res, &Mismatch{Index: vr.lastGood, End: res.Tree,
			What: fmt.Sprintf("not covered by a checkpoint: the tree has %d entries, the newest checkpoint %d", res.Tree, vr.lastGood)}
	}
	return res, nil
}

type verifier struct {
	st    store.Log
	v     note.Verifier
	opts  VerifyOptions
	n     int64 // entries to verify: [0, n)
	chunk int64

	// Sequencer state, in chunk order.
	global      frontier // of the chunks verified so far
	lastGood    int64    // size of the last stored checkpoint that verified
	lastExtra   int64    // size of the last outside checkpoint that matched
	checkpoints int64
	extra       int
}

// cpCheck is a checkpoint to check inside a chunk: a stored one (note to
// open) or an outside one (already opened).
type cpCheck struct {
	size    int64
	stored  []byte // the stored note; nil for an outside checkpoint
	outside *Checkpoint
	opened  Checkpoint
	openErr error
	local   frontier // the chunk's frontier after size entries
}

type chunkResult struct {
	c     int64
	start int64
	end   int64
	local frontier
	tail  []tlog.Hash // stored hashes beyond the chunk's own (subtrees it completes)
	cps   []cpCheck
	bad   *Mismatch // the first problem inside the chunk
	err   error     // the store could not be read
}

func (vr *verifier) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	nchunks := (vr.n + vr.chunk - 1) / vr.chunk
	// Checkpoints beyond the tree are evidence of entries gone.
	if err := vr.checkBeyond(ctx); err != nil {
		return err
	}
	jobs := make(chan int64)
	results := make(chan *chunkResult, vr.opts.Workers)
	var wg sync.WaitGroup
	for range vr.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range jobs {
				r := vr.doChunk(ctx, c)
				select {
				case results <- r:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	// Hand out chunks no further than a window ahead of the sequencer,
	// which bounds memory to about 2*Workers chunks.
	window := int64(2 * vr.opts.Workers)
	credit := make(chan struct{}, window)
	for range window {
		credit <- struct{}{}
	}
	go func() {
		defer close(jobs)
		for c := int64(0); c < nchunks; c++ {
			select {
			case <-credit:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	defer wg.Wait()
	defer cancel()
	pending := map[int64]*chunkResult{}
	for next := int64(0); next < nchunks; {
		var r *chunkResult
		select {
		case r = <-results:
		case <-ctx.Done():
			return ctx.Err()
		}
		pending[r.c] = r
		for pending[next] != nil {
			r := pending[next]
			delete(pending, next)
			if err := vr.sequence(r); err != nil {
				return err
			}
			next++
			credit <- struct{}{}
			if vr.opts.Progress != nil {
				vr.opts.Progress(r.end, vr.n)
			}
		}
	}
	// Outside checkpoints of size 0 (empty trees) need no entries.
	for _, cp := range vr.opts.Extra {
		if cp.Size == 0 {
			if cp.Root != emptyRoot {
				return &Mismatch{Index: 0, End: 1, What: "an outside checkpoint of size 0 has a root other than the empty tree's"}
			}
			vr.extra++
		}
	}
	return nil
}

// checkBeyond reports stored or outside checkpoints larger than the tree.
func (vr *verifier) checkBeyond(ctx context.Context) error {
	cps, err := vr.st.Checkpoints(ctx, vr.n+1, 1<<62)
	if err != nil {
		return fmt.Errorf("checkpoints beyond %d: %w", vr.n, err)
	}
	max := int64(-1)
	for _, cp := range cps {
		max = cp.Size
	}
	what := "a stored checkpoint"
	for _, cp := range vr.opts.Extra {
		if cp.Size > vr.n && cp.Size > max {
			max, what = cp.Size, "an outside checkpoint"
		}
	}
	if max > vr.n {
		return &Mismatch{Index: vr.n, End: vr.n + 1,
			What: fmt.Sprintf("missing: %s covers %d entries but only %d can be verified (store has the tree at %d)", what, max, vr.n, vr.n)}
	}
	return nil
}

// sequence folds a chunk's result into the global tree, in chunk order.
func (vr *verifier) sequence(r *chunkResult) error {
	if r.err != nil {
		return r.err
	}
	// Checkpoints inside the chunk, in size order, before any later
	// problem of the chunk.
	for i := range r.cps {
		cc := &r.cps[i]
		if r.bad != nil && r.bad.Index < cc.size {
			return r.bad
		}
		if cc.openErr != nil {
			return &Mismatch{Index: vr.lastGood, End: cc.size,
				What: fmt.Sprintf("not attested: the stored checkpoint of size %d does not verify (%v); the last one that does has size %d", cc.size, cc.openErr, vr.lastGood)}
		}
		all := append(append([]tlog.Hash(nil), vr.global.hashes...), cc.local.hashes...)
		root := rootOf(all)
		if cc.opened.Root != root {
			src, good := "stored", vr.lastGood
			if cc.outside != nil {
				src, good = "outside", vr.lastExtra
			}
			return &Mismatch{Index: good, End: cc.size,
				What: fmt.Sprintf("changed: the %s checkpoint of size %d signs root %x but the entries give %x (the last matching %s checkpoint has size %d)",
					src, cc.size, cc.opened.Root[:], root[:], src, good)}
		}
		if cc.outside != nil {
			vr.extra++
			vr.lastExtra = cc.size
		} else {
			vr.checkpoints++
			vr.lastGood = cc.size
		}
	}
	if r.bad != nil {
		return r.bad
	}
	full := r.end-r.start == vr.chunk
	if !full {
		// The last chunk: it completes no subtree beyond itself.
		vr.global.hashes = append(vr.global.hashes, r.local.hashes...)
		vr.global.n += r.local.n
		return nil
	}
	level := bits.TrailingZeros64(uint64(vr.chunk))
	got := vr.global.pushSubtree(level, r.local.hashes[0], nil)
	if len(got) != len(r.tail) {
		return fmt.Errorf("internal: chunk %d completes %d subtrees, %d stored hashes read", r.c, len(got), len(r.tail))
	}
	for i := range got {
		if got[i] != r.tail[i] {
			lo := r.end - vr.chunk<<(i+1)
			return &Mismatch{Index: lo, End: r.end,
				What: fmt.Sprintf("stored hash %d (the subtree of entries [%d, %d)) is not the hash of those entries", tlog.StoredHashIndex(level+i+1, lo>>(level+i+1)), lo, r.end)}
		}
	}
	return nil
}

// doChunk reads, hashes and checks one chunk of entries against its
// stored hashes, and opens the checkpoints inside it.
func (vr *verifier) doChunk(ctx context.Context, c int64) *chunkResult {
	r := &chunkResult{c: c, start: c * vr.chunk, end: min((c+1)*vr.chunk, vr.n)}
	leaves, err := readLeaves(ctx, vr.st, r.start, r.end)
	if err != nil {
		if ctx.Err() != nil {
			r.err = ctx.Err()
			return r
		}
		// The read of [from, from+leafReadStep) failed: find the entry.
		from := r.start + int64(len(leaves))
		r.bad = vr.findUnreadable(ctx, from, min(r.end, from+leafReadStep), err)
		if r.bad == nil {
			r.err = err
			return r
		}
		// Check the readable prefix: a changed entry before the missing
		// one is the first problem.
		more, err := readLeaves(ctx, vr.st, from, r.bad.Index)
		if err != nil {
			r.err = err
			return r
		}
		leaves = append(leaves, more...)
	}
	// Stored hashes: everything stored for leaves [start, end), i.e.
	// storage indexes [StoredHashIndex(0, start), StoredHashIndex(0, end)).
	lo, hi := tlog.StoredHashIndex(0, r.start), tlog.StoredHashIndex(0, r.end)
	stored, bad, err := vr.readStored(ctx, lo, hi)
	if err != nil {
		r.err = err
		return r
	}
	if bad != nil && (r.bad == nil || bad.Index < r.bad.Index) {
		// Still check the entries before the missing hash: an earlier
		// changed entry is the first problem.
		r.bad = bad
	}
	// Checkpoints whose size falls in (start, end].
	var cps []cpCheck
	scps, err := vr.st.Checkpoints(ctx, r.start+1, r.end)
	if err != nil {
		r.err = fmt.Errorf("checkpoints (%d, %d]: %w", r.start, r.end, err)
		return r
	}
	for _, sc := range scps {
		cps = append(cps, cpCheck{size: sc.Size, stored: sc.Note})
	}
	for i := range vr.opts.Extra {
		if x := &vr.opts.Extra[i]; x.Size > r.start && x.Size <= r.end {
			cps = append(cps, cpCheck{size: x.Size, outside: x, opened: *x})
		}
	}
	sortChecks(cps)
	for i := range cps {
		cc := &cps[i]
		if cc.outside != nil {
			continue
		}
		cc.opened, cc.openErr = OpenCheckpoint(cc.stored, vr.v)
		if cc.openErr == nil && cc.opened.Size != cc.size {
			cc.openErr = fmt.Errorf("stored under size %d, signs size %d", cc.size, cc.opened.Size)
		}
	}
	// Hash: local frontier from 0 over the chunk; the chunk's stored
	// hashes are in the same order relative to lo.
	buf := make([]tlog.Hash, 0, hi-lo)
	next := 0
	for i, leaf := range leaves {
		idx := r.start + int64(i)
		pos := len(buf)
		buf = r.local.push(leaf, buf)
		for j := pos; j < len(buf); j++ {
			k := int64(j) + lo
			if int64(j) >= int64(len(stored)) {
				break // beyond what could be read: r.bad says why
			}
			if buf[j] != stored[j] {
				level, sn := tlog.SplitStoredHashIndex(k)
				r.cps = cps[:next]
				if r.bad != nil && r.bad.Index <= idx {
					return r
				}
				if level == 0 {
					r.bad = &Mismatch{Index: sn, End: sn + 1,
						What: fmt.Sprintf("changed: its hash %x is not the stored hash %x", buf[j][:], stored[j][:])}
				} else {
					a, b := sn<<level, (sn+1)<<level
					r.bad = &Mismatch{Index: a, End: b,
						What: fmt.Sprintf("stored hash %d (the subtree of entries [%d, %d)) is not the hash of those entries", k, a, b)}
				}
				return r
			}
		}
		for next < len(cps) && cps[next].size == idx+1 {
			cps[next].local = r.local.clone()
			next++
		}
	}
	r.cps = cps[:next]
	if r.bad == nil && r.end-r.start == vr.chunk {
		r.tail = stored[min(len(buf), len(stored)):]
	}
	return r
}

func sortChecks(cps []cpCheck) {
	// Insertion sort: few, mostly sorted.
	for i := 1; i < len(cps); i++ {
		for j := i; j > 0 && cps[j].size < cps[j-1].size; j-- {
			cps[j], cps[j-1] = cps[j-1], cps[j]
		}
	}
}

// readStored reads stored hashes [lo, hi) in batches. A missing hash is a
// Mismatch naming the entry it belongs to.
func (vr *verifier) readStored(ctx context.Context, lo, hi int64) ([]tlog.Hash, *Mismatch, error) {
	out := make([]tlog.Hash, 0, hi-lo)
	idx := make([]int64, 0, vr.opts.HashBatch)
	for a := lo; a < hi; a += int64(vr.opts.HashBatch) {
		b := min(hi, a+int64(vr.opts.HashBatch))
		idx = idx[:0]
		for k := a; k < b; k++ {
			idx = append(idx, k)
		}
		hs, err := vr.st.ReadHashes(ctx, idx)
		if err == nil && len(hs) != len(idx) {
			err = fmt.Errorf("asked for %d, got %d", len(idx), len(hs))
		}
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				return nil, nil, fmt.Errorf("read stored hashes [%d, %d): %w", a, b, err)
			}
			// Find the first missing one.
			for k := a; k < b; k++ {
				h, err := vr.st.ReadHashes(ctx, []int64{k})
				if err != nil {
					level, sn := tlog.SplitStoredHashIndex(k)
					return out, &Mismatch{Index: sn << level, End: (sn + 1) << level,
						What: fmt.Sprintf("stored hash %d is missing (%v)", k, err)}, nil
				}
				out = append(out, h[0])
			}
			continue
		}
		for i := range hs {
			out = append(out, hs[i])
		}
	}
	return out, nil, nil
}

// findUnreadable bisects [lo, hi), which could not be read as a whole,
// for the first entry that cannot be read: the smallest m such that
// [lo, m) cannot be read ends with it. nil when the range reads now (the
// failure was not about an entry).
func (vr *verifier) findUnreadable(ctx context.Context, lo, hi int64, cause error) *Mismatch {
	reads := func(m int64) bool {
		es, err := vr.st.ReadLog(ctx, lo, m)
		return err == nil && int64(len(es)) == m-lo
	}
	if reads(hi) {
		return nil
	}
	ok, bad := lo, hi // [lo, ok) reads, [lo, bad) does not
	for bad-ok > 1 {
		m := ok + (bad-ok)/2
		if reads(m) {
			ok = m
		} else {
			bad = m
		}
	}
	_, err := vr.st.ReadLog(ctx, bad-1, bad)
	if err == nil {
		err = cause
	}
	return &Mismatch{Index: bad - 1, End: bad, What: fmt.Sprintf("missing or unreadable: %v", err)}
}
