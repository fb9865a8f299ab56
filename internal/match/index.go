package match

import (
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"math"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Ref names one indicator version in the store: the caller uses it to
// fetch the version and ask the policy whether the reader may see it.
type Ref struct {
	Collection string
	ID         string
	Modified   time.Time // the version key (store.Version.Modified); zero when absent
}

// Item is one indicator version given to the index: its Ref and its STIX
// JSON. Raw is read during the call only.
type Item struct {
	Ref Ref
	Raw []byte
}

// Stats says what Build or Update did with its input.
type Stats struct {
	Indicators int // versions now matching (or matching once valid_from comes)
	Superseded int // versions the new ones replaced
	Stale      int // versions not newer than the one the index has: ignored
	Tombstones int // versions kept to order later input, matching nothing: revoked, pattern_type not stix, a pattern or timestamp that does not parse
	Ignored    int // objects that are not indicators
	Invalid    int // inputs the index cannot read (malformed JSON, an id that is not type--UUID)
	Errors     []error
}

// maxErrors bounds Stats.Errors.
const maxErrors = 20

func (s *Stats) addErr(err error) {
	if len(s.Errors) < maxErrors {
		s.Errors = append(s.Errors, err)
	}
}

func (s *Stats) add(o Stats) {
	s.Indicators += o.Indicators
	s.Superseded += o.Superseded
	s.Stale += o.Stale
	s.Tombstones += o.Tombstones
	s.Ignored += o.Ignored
	s.Invalid += o.Invalid
	for _, e := range o.Errors {
		s.addErr(e)
	}
}

// Options configure an Index. The zero value is the default.
type Options struct {
	// Now is the clock that decides validity (valid_from ≤ now <
	// valid_until); default time.Now.
	Now func() time.Time
	// NoFilter leaves out the binary fuse prefilter of the base segment
	// (for measurements).
	NoFilter bool
	// CompactAt is the size of the delta segments (keys) at which an
	// Update compacts the whole index; default max(65536, base/4).
	CompactAt int
}

// Index is the match index. Lookups are safe for concurrent use with each
// other and with the writers (Build, Update, Remove, Compact), which
// serialise among themselves. A write is visible to every lookup that
// starts after the write returns.
type Index struct {
	opts Options
	seed maphash.Seed
	cur  atomic.Pointer[snapshot]

	mu          sync.Mutex // writers
	ids         idTable
	collIdx     map[string]uint32
	typeIdx     map[string]uint16
	garbage     int // entries superseded or removed since the last compaction
	compactions int

	pats  patternCache
	mpool sync.Pool // *Matcher for the one-call and batch methods
}

// snapshot is one immutable state of the index. Lookups load the current
// snapshot once per call (per chunk in batches) and use nothing else,
// except the entries' dead bits, which writers set atomically.
type snapshot struct {
	ents    entryTable
	pats    stringTable
	colls   []string
	idTypes []string
	base    *segment
	delta   []*segment
}

func (s *snapshot) segments() []*segment {
	if len(s.delta) == 0 {
		return []*segment{s.base}
	}
	return append([]*segment{s.base}, s.delta...)
}

// New returns an empty index.
func New(opts Options) *Index {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	x := &Index{opts: opts, seed: maphash.MakeSeed()}
	x.reset()
	var sb segmentBuilder
	x.cur.Store(&snapshot{base: sb.build(false)})
	return x
}

func (x *Index) reset() {
	x.ids = newIDTable(x.seed, 0)
	x.collIdx = map[string]uint32{}
	x.typeIdx = map[string]uint16{}
	x.garbage = 0
}

func (x *Index) hash(key []byte) uint64 { return maphash.Bytes(x.seed, key) }

// Build replaces the whole index with the indicator versions items
// yields (the start-up rebuild from the store). Versions of one object
// (collection and id) may come in any order: the latest version key wins.
// Lookups go on against the previous contents until Build returns; other
// writers wait. If items yields an error, Build stops, leaves the index as
// it was and returns that error.
func (x *Index) Build(items iter.Seq2[Item, error]) (Stats, error) {
	x.mu.Lock()
	defer x.mu.Unlock()

	type batch struct {
		seq   int
		items []Item
		out   []compiled
		errs  []error
	}
	workers := runtime.GOMAXPROCS(0)
	work := make(chan *batch, workers)
	done := make(chan *batch, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var k keyer
			for b := range work {
				b.out = make([]compiled, len(b.items))
				b.errs = make([]error, len(b.items))
				for i := range b.items {
					b.out[i], b.errs[i] = compile(b.items[i].Ref, b.items[i].Raw, &k)
				}
				b.items = nil
				done <- b
			}
		}()
	}

	// The assembler applies compiled batches in input order, into fresh
	// writer tables; the old ones come back if the input fails.
	saved := struct {
		ids     idTable
		collIdx map[string]uint32
		typeIdx map[string]uint16
		garbage int
	}{x.ids, x.collIdx, x.typeIdx, x.garbage}
	x.reset()
	st := &building{x: x, fresh: true}
	var stats Stats
	assembled := make(chan struct{})
	go func() {
		defer close(assembled)
		pending := map[int]*batch{}
		next := 0
		for b := range done {
			pending[b.seq] = b
			for {
				b, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				for i := range b.out {
					st.apply(&b.out[i], b.errs[i], &stats)
				}
			}
		}
	}()

	const batchSize = 1024
	var (
		cur     = &batch{}
		arena   []byte
		seq     int
		iterErr error
	)
	flush := func() {
		if len(cur.items) == 0 {
			return
		}
		cur.seq = seq
		seq++
		work <- cur
		cur = &batch{}
		arena = nil
	}
	for it, err := range items {
		if err != nil {
			iterErr = err
			break
		}
		if arena == nil {
			arena = make([]byte, 0, 512*batchSize)
		}
		start := len(arena)
		arena = append(arena, it.Raw...)
		it.Raw = arena[start:len(arena):len(arena)]
		cur.items = append(cur.items, it)
		if len(cur.items) == batchSize {
			flush()
		}
	}
	flush()
	close(work)
	wg.Wait()
	close(done)
	<-assembled
	if iterErr != nil {
		x.ids, x.collIdx, x.typeIdx, x.garbage = saved.ids, saved.collIdx, saved.typeIdx, saved.garbage
		return stats, iterErr
	}
	s := st.finish(!x.opts.NoFilter)
	x.cur.Store(s)
	return stats, nil
}

// building is the state of a Build or Update being assembled.
type building struct {
	x     *Index
	s     snapshot // the new snapshot
	sb    segmentBuilder
	kills []uint32 // entries to mark dead once s is published
	fresh bool     // Build: nothing is published yet, kill at once
}

// apply adds one compiled version.
func (b *building) apply(c *compiled, err error, stats *Stats) {
	x := b.x
	switch {
	case errors.Is(err, errNotIndicator):
		stats.Ignored++
		return
	case err != nil:
		stats.Invalid++
		stats.addErr(err)
		return
	}
	coll, ok := x.collIdx[c.ref.Collection]
	if !ok {
		coll = uint32(len(b.s.colls))
		x.collIdx[c.ref.Collection] = coll
		b.s.colls = append(b.s.colls[:len(b.s.colls):len(b.s.colls)], c.ref.Collection)
	}
	typ, ok := x.typeIdx[c.idType]
	if !ok {
		if len(b.s.idTypes) >= math.MaxUint16 {
			stats.Invalid++
			stats.addErr(fmt.Errorf("%s: too many id types", c.ref.ID))
			return
		}
		typ = uint16(len(b.s.idTypes))
		x.typeIdx[c.idType] = typ
		b.s.idTypes = append(b.s.idTypes[:len(b.s.idTypes):len(b.s.idTypes)], c.idType)
	}
	modSec, modNsec := versionKey(c.ref.Modified)
	pos, old, found := x.ids.find(&b.s.ents, coll, typ, &c.uuid)
	if found {
		if b.s.ents.at(old).notOlderThan(modSec, modNsec) {
			stats.Stale++
			return
		}
		stats.Superseded++
		x.garbage++
		if b.fresh {
			b.s.ents.kill(old)
		} else {
			b.kills = append(b.kills, old)
		}
	}
	if int(b.s.ents.n) >= maxSlots {
		stats.Invalid++
		stats.addErr(fmt.Errorf("%s: the index is full (%d entries)", c.ref.ID, maxSlots))
		return
	}
	e := entry{uuid: c.uuid, modSec: modSec, modNsec: modNsec, validFrom: c.validFrom, validUntil: c.validUntil, coll: coll, idType: typ}
	if c.tombstone {
		e.flags |= flagTombstone
		stats.Tombstones++
		if c.err != nil {
			stats.addErr(fmt.Errorf("%s: %w", c.ref.ID, c.err))
		}
	} else {
		stats.Indicators++
	}
	if c.eval {
		e.flags |= flagEval
		if c.single {
			e.flags |= flagSingle
		}
		b.s.pats, e.pat = b.s.pats.appendString(c.pattern)
	}
	var slot uint32
	b.s.ents, slot = b.s.ents.appendEntry(e)
	if c.tombstone {
		b.s.ents.kill(slot) // not yet visible to anyone
	}
	x.ids.set(&b.s.ents, pos, slot, !found)
	if c.tombstone {
		return
	}
	p := posting(slot)
	if c.eval {
		p |= pCandidate
	}
	for _, k := range c.keys {
		q := p
		if k.noParent {
			q |= pNoParent
		}
		b.sb.addKey(x.hash(k.key), k.key, q)
	}
	for _, blk := range c.blocks {
		b.sb.addBlock(blk.pfx, p)
	}
	for _, t := range c.types {
		b.sb.addType(t, p)
	}
}

// finish builds the base segment of a Build, leaving out the keys of
// entries superseded during the build.
func (b *building) finish(filter bool) *snapshot {
	ents := &b.s.ents
	b.sb.tb.pairs = slices.DeleteFunc(b.sb.tb.pairs, func(p pair) bool { return ents.isDead(p.p.slot()) })
	for pfx, l := range b.sb.blocks {
		l = slices.DeleteFunc(l, func(p posting) bool { return ents.isDead(p.slot()) })
		if len(l) == 0 {
			delete(b.sb.blocks, pfx)
		} else {
			b.sb.blocks[pfx] = l
		}
	}
	for t, l := range b.sb.byType {
		l = slices.DeleteFunc(l, func(p posting) bool { return ents.isDead(p.slot()) })
		if len(l) == 0 {
			delete(b.sb.byType, t)
		} else {
			b.sb.byType[t] = l
		}
	}
	b.x.garbage = 0
	s := b.s
	s.base = b.sb.build(filter)
	return &s
}

// Update applies indicator versions as they are stored: a version newer
// than the one the index has for its object (collection and id) replaces
// it; a revoked version, one whose pattern_type is not stix, or whose
// pattern does not parse, replaces it with nothing; a version not newer
// than the index's is ignored (Stats.Stale); objects other than
// indicators are ignored. Expiry needs no update: a lookup never reports
// a version outside valid_from ≤ now < valid_until. The change is
// visible to every lookup that starts after Update returns.
func (x *Index) Update(items ...Item) Stats {
	cs := make([]compiled, len(items))
	errs := make([]error, len(items))
	parallel(len(items), 256, func(lo, hi int) {
		var k keyer
		for i := lo; i < hi; i++ {
			cs[i], errs[i] = compile(items[i].Ref, items[i].Raw, &k)
		}
	})

	x.mu.Lock()
	defer x.mu.Unlock()
	cur := x.cur.Load()
	b := &building{x: x, s: *cur}
	var stats Stats
	for i := range cs {
		b.apply(&cs[i], errs[i], &stats)
	}
	seg := b.sb.build(false)
	if seg.keys > 0 {
		b.s.delta = append(slices.Clip(b.s.delta), seg)
		b.s.delta = x.mergeDeltas(&b.s, b.s.delta)
	}
	x.cur.Store(&b.s)
	for _, slot := range b.kills {
		b.s.ents.kill(slot)
	}
	if x.needCompaction(&b.s) {
		x.compact()
	}
	return stats
}

// maxDeltas bounds the delta segments a lookup probes.
const maxDeltas = 8

// mergeDeltas merges the newest delta segments while the newest is at
// least half the size of the one before it (or there are too many), so
// that delta sizes fall geometrically and each key is copied O(log n)
// times before the next compaction.
func (x *Index) mergeDeltas(s *snapshot, d []*segment) []*segment {
	for len(d) >= 2 && (2*d[len(d)-1].keys >= d[len(d)-2].keys || len(d) > maxDeltas) {
		var sb segmentBuilder
		for _, seg := range d[len(d)-2:] {
			x.copySegment(&sb, s, seg, nil, 0)
		}
		merged := sb.build(false)
		d = append(d[:len(d)-2:len(d)-2], merged)
	}
	return d
}

// copySegment adds the live postings of seg to sb, renumbered by remap
// when it is not nil (remap[old] = new+1, 0 = dropped). Postings of
// entries that expired before now are dropped when now is not 0.
func (x *Index) copySegment(sb *segmentBuilder, s *snapshot, seg *segment, remap []uint32, now int64) {
	keep := func(p posting) (posting, bool) {
		slot := p.slot()
		if s.ents.isDead(slot) {
			return 0, false
		}
		if now != 0 && s.ents.at(slot).validUntil <= now {
			return 0, false
		}
		if remap != nil {
			if remap[slot] == 0 {
				return 0, false
			}
			return p&^slotMask | posting(remap[slot]-1), true
		}
		return p, true
	}
	seg.tab.each(func(key []byte, posts []byte) {
		h := uint64(0)
		for i := 0; i < len(posts)/4; i++ {
			if q, ok := keep(postingAt(posts, i)); ok {
				if h == 0 {
					h = x.hash(key)
				}
				sb.addKey(h, key, q)
			}
		}
	})
	seg.eachBlock(func(blk netip.Prefix, ps []posting) {
		for _, p := range ps {
			if q, ok := keep(p); ok {
				sb.addBlock(blk, q)
			}
		}
	})
	for t, ps := range seg.byType {
		for _, p := range ps {
			if q, ok := keep(p); ok {
				sb.addType(t, q)
			}
		}
	}
}

func (x *Index) needCompaction(s *snapshot) bool {
	dk := 0
	for _, d := range s.delta {
		dk += d.keys
	}
	at := x.opts.CompactAt
	if at <= 0 {
		at = max(1<<16, s.base.keys/4)
	}
	return dk > at || x.garbage > max(1<<16, int(s.ents.n)/4)
}

// Compact rebuilds the index from what it holds: one base segment
// without the keys of removed, superseded or expired versions, and an
// entry table without the versions no object points to any more. Updates
// call it when the delta segments or the garbage grow past their bounds;
// call it now and then (hourly, say) to reclaim the memory of expired
// indicators. Lookups go on meanwhile; writers wait.
func (x *Index) Compact() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.compact()
}

func (x *Index) compact() {
	old := x.cur.Load()
	now := unixNano(x.opts.Now())
	// The entries to keep: the current version of every object.
	keep := make([]uint64, (old.ents.n+63)/64)
	for _, s := range x.ids.slots {
		if s != 0 {
			keep[(s-1)/64] |= 1 << ((s - 1) % 64)
		}
	}
	remap := make([]uint32, old.ents.n)
	s := snapshot{colls: old.colls, idTypes: old.idTypes}
	for slot := uint32(0); slot < old.ents.n; slot++ {
		if keep[slot/64]&(1<<(slot%64)) == 0 {
			continue
		}
		e := *old.ents.at(slot)
		if e.flags&flagEval != 0 {
			s.pats, e.pat = s.pats.appendString(old.pats.at(e.pat))
		}
		var ns uint32
		s.ents, ns = s.ents.appendEntry(e)
		if old.ents.isDead(slot) {
			s.ents.kill(ns)
		}
		remap[slot] = ns + 1
	}
	var sb segmentBuilder
	for _, seg := range old.segments() {
		x.copySegment(&sb, old, seg, remap, now)
	}
	s.base = sb.build(!x.opts.NoFilter)
	x.ids = newIDTable(x.seed, int(s.ents.n))
	for slot := uint32(0); slot < s.ents.n; slot++ {
		x.ids.insert(&s.ents, slot)
		x.ids.n++
	}
	x.garbage = 0
	x.compactions++
	x.cur.Store(&s)
}

// Remove forgets an object: every version of id in collection (the store
// deleted them). It reports whether the index had the object. To follow a
// store Delete that leaves older versions, call Remove and then Update
// with the version that is now the latest.
func (x *Index) Remove(collection, id string) bool {
	typ, uuid, ok := splitID(id)
	if !ok {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	coll, ok1 := x.collIdx[collection]
	it, ok2 := x.typeIdx[typ]
	if !ok1 || !ok2 {
		return false
	}
	s := x.cur.Load()
	pos, slot, found := x.ids.find(&s.ents, coll, it, &uuid)
	if !found {
		return false
	}
	s.ents.kill(slot)
	x.ids.remove(&s.ents, pos)
	x.garbage++
	if x.needCompaction(s) {
		x.compact()
	}
	return true
}

// RemoveCollection forgets every object of a collection (the store
// deleted it) and returns how many objects the index had there.
func (x *Index) RemoveCollection(collection string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	coll, ok := x.collIdx[collection]
	if !ok {
		return 0
	}
	s := x.cur.Load()
	var slots []uint32
	for _, v := range x.ids.slots {
		if v != 0 && s.ents.at(v-1).coll == coll {
			slots = append(slots, v-1)
		}
	}
	for _, slot := range slots {
		e := s.ents.at(slot)
		if pos, found, ok := x.ids.find(&s.ents, e.coll, e.idType, &e.uuid); ok && found == slot {
			s.ents.kill(slot)
			x.ids.remove(&s.ents, pos)
			x.garbage++
		}
	}
	if len(slots) > 0 && x.needCompaction(s) {
		x.compact()
	}
	return len(slots)
}

// Info describes the index's contents.
type Info struct {
	Entries     int // indicator versions held, including tombstones and superseded ones not yet compacted
	Objects     int // objects (collection and id) with a current version
	Keys        int // keys, blocks and keyless postings in all segments
	Deltas      int // delta segments
	Compactions int // compactions since New
}

// Info returns the index's sizes.
func (x *Index) Info() Info {
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.cur.Load()
	in := Info{Entries: int(s.ents.n), Objects: x.ids.n, Deltas: len(s.delta), Compactions: x.compactions}
	for _, seg := range s.segments() {
		in.Keys += seg.keys
	}
	return in
}

// parallel runs fn over [0, n) in up to GOMAXPROCS contiguous parts, or
// in the calling goroutine when n is below min.
func parallel(n, min int, fn func(lo, hi int)) {
	w := runtime.GOMAXPROCS(0)
	if n < min || w == 1 {
		fn(0, n)
		return
	}
	w = int(math.Min(float64(w), float64((n+min-1)/min)))
	var wg sync.WaitGroup
	for i := range w {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
