package guard

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// BlockedIDs answers for objects outside a batch: was the object with this
// id blocked before (it is in the partner's quarantine)? A store-backed
// implementation queries the quarantine; BlockedSet is an in-memory one.
type BlockedIDs interface {
	// Blocked returns the subset of ids that were blocked, in any order.
	// An error fails the whole batch closed: ScanBatch returns it and the
	// caller must store nothing of the batch.
	Blocked(ctx context.Context, ids []string) ([]string, error)
}

// BlockedSet is a BlockedIDs held in memory: the ids it contains.
type BlockedSet map[string]bool

// Blocked implements BlockedIDs.
func (s BlockedSet) Blocked(_ context.Context, ids []string) ([]string, error) {
	var out []string
	for _, id := range ids {
		if s[id] {
			out = append(out, id)
		}
	}
	return out, nil
}

// Which reference properties make an object reveal what it refers to.
// A sighting says where (an identity: possibly a customer) and what was
// observed; a relationship ties its two ends; observed-data lists the
// observables it saw.
func revealingRef(typ, key string) bool {
	switch typ {
	case "sighting":
		return key == "where_sighted_refs" || key == "observed_data_refs" || key == "sighting_of_ref"
	case "relationship":
		return key == "source_ref" || key == "target_ref"
	case "observed-data":
		return key == "object_refs"
	}
	return false
}

// tiedTypes are the types that a blocked relationship drags along: a
// vulnerability or observed-data related to a customer's asset is about
// that customer.
func tied(id string) bool {
	return strings.HasPrefix(id, "vulnerability--") || strings.HasPrefix(id, "observed-data--")
}

// TiedIDs may be implemented by a BlockedIDs as well: it remembers the
// vulnerability and observed-data objects at the ends of relationships
// blocked before (Result.Tied), so that ScanBatch blocks such an object
// when it comes in a later batch, as it would have in the same batch.
type TiedIDs interface {
	// Tied returns, for the ids among ids that a relationship blocked
	// before ties, that relationship's id. An error fails the batch
	// closed, like Blocked.
	Tied(ctx context.Context, ids []string) (map[string]string, error)
}

// parallelMin is the batch size from which ScanBatch scans on several
// goroutines; scanChunk is how many objects one goroutine takes at a time.
const (
	parallelMin = 256
	scanChunk   = 64
)

// scanAll is Scan over every object, spread over the CPUs for large
// batches.
func (sc *Scanner) scanAll(objs [][]byte) []Result {
	res := make([]Result, len(objs))
	workers := min(runtime.GOMAXPROCS(0), len(objs)/(parallelMin/2))
	if workers < 2 || len(objs) < parallelMin {
		for i, o := range objs {
			res[i] = sc.Scan(o)
		}
		return res
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(scanChunk)) - scanChunk
				if lo >= len(objs) {
					return
				}
				for i := lo; i < min(lo+scanChunk, len(objs)); i++ {
					res[i] = sc.Scan(objs[i])
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// ScanBatch scans objs like Scan and then blocks what reveals a customer by
// reference, repeating until nothing changes:
//
//   - a sighting whose where_sighted_refs, observed_data_refs or
//     sighting_of_ref name a blocked object;
//   - a relationship whose source_ref or target_ref is a blocked object;
//   - an observed-data whose object_refs name a blocked object;
//   - a vulnerability or observed-data in the batch at either end of a
//     blocked relationship.
//
// A blocked object is one blocked in this batch (any version with that
// id) or one prior reports (prior may be nil). prior is asked about every
// id these references name, in the batch or not: a version of an object
// blocked in an earlier batch makes references to that object reveal a
// customer even when this batch carries a clean version of it, as it
// would if both versions came in one batch. When prior also implements
// TiedIDs, the vulnerability and observed-data of the batch are looked up
// there too. (What a later batch blocks cannot change what an earlier one
// allowed: a caller that needs the decisions one batch holding all the
// input would make reads the input again, as fusion guard check does.)
//
// Results are in the order of objs; a redacted object counts as not
// blocked. Large batches are scanned on several goroutines. An error
// from prior is returned as is, with no results.
func (sc *Scanner) ScanBatch(ctx context.Context, objs [][]byte, prior BlockedIDs) ([]Result, error) {
	res := sc.scanAll(objs)
	blocked := make(map[string]bool)
	inBatch := make(map[string][]int)
	for i := range res {
		if res[i].ID == "" {
			continue
		}
		inBatch[res[i].ID] = append(inBatch[res[i].ID], i)
		if res[i].Action == Block {
			blocked[res[i].ID] = true
		}
	}
	block := func(i int, f Finding) {
		r := &res[i]
		r.Action, r.Redacted = Block, nil
		for k := range r.Findings {
			r.Findings[k].Action = Block
		}
		r.Findings = append(r.Findings, f)
		if r.ID != "" {
			blocked[r.ID] = true
		}
	}
	if prior != nil {
		var ask []string
		seen := make(map[string]bool)
		for i := range res {
			for _, r := range res[i].refs {
				if !blocked[r.id] && !seen[r.id] && revealingRef(res[i].Type, r.key) {
					seen[r.id] = true
					ask = append(ask, r.id)
				}
			}
		}
		if len(ask) > 0 {
			ids, err := prior.Blocked(ctx, ask)
			if err != nil {
				return nil, fmt.Errorf("guard: looking up earlier blocked objects: %w", err)
			}
			for _, id := range ids {
				blocked[id] = true
			}
		}
		if tp, ok := prior.(TiedIDs); ok {
			var ends []string
			for id := range inBatch {
				if tied(id) {
					ends = append(ends, id)
				}
			}
			if len(ends) > 0 {
				slices.Sort(ends)
				rels, err := tp.Tied(ctx, ends)
				if err != nil {
					return nil, fmt.Errorf("guard: looking up earlier blocked relationships: %w", err)
				}
				for _, id := range ends {
					rel, ok := rels[id]
					if !ok {
						continue
					}
					for _, j := range inBatch[id] {
						if res[j].Action != Block {
							block(j, Finding{Rule: KindReference, Asset: -1, Action: Block, Ref: rel})
						}
					}
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for i := range res {
			r := &res[i]
			if r.Action == Block {
				continue
			}
			for _, rf := range r.refs {
				if revealingRef(r.Type, rf.key) && blocked[rf.id] {
					block(i, Finding{Rule: KindReference, Path: rf.path(), Asset: -1, Action: Block, Ref: rf.id})
					changed = true
					break
				}
			}
		}
		// drag along the vulnerability or observed-data at the other end
		for i := range res {
			r := &res[i]
			if r.Action != Block || r.Type != "relationship" {
				continue
			}
			for _, rf := range r.refs {
				if rf.key != "source_ref" && rf.key != "target_ref" || !tied(rf.id) {
					continue
				}
				for _, j := range inBatch[rf.id] {
					if res[j].Action != Block {
						block(j, Finding{Rule: KindReference, Asset: -1, Action: Block, Ref: r.ID})
						changed = true
					}
				}
			}
		}
	}
	return res, nil
}

// Tied returns, for a blocked relationship, the ids of the vulnerability
// or observed-data objects at its ends (which ScanBatch blocks along with
// it within a batch); nil for anything else. Callers that remember blocks
// across batches remember these too and answer for them through TiedIDs.
func (r *Result) Tied() []string {
	if r.Action != Block || r.Type != "relationship" {
		return nil
	}
	var out []string
	for _, rf := range r.refs {
		if (rf.key == "source_ref" || rf.key == "target_ref") && tied(rf.id) && !slices.Contains(out, rf.id) {
			out = append(out, rf.id)
		}
	}
	return out
}

// Run remembers what the batches of one run (an ingest, a pull, a push)
// blocked, so that splitting the input into batches changes as little as
// it can: a reference to an object blocked in an earlier batch blocks,
// even when this batch has a clean version of it, and the vulnerability
// or observed-data tied to a relationship blocked earlier is blocked when
// it comes. It implements BlockedIDs and TiedIDs over its memory and an
// optional prior (the partner's quarantine). It is safe for concurrent
// use; batches are remembered in the order ScanBatch returns them.
type Run struct {
	sc    *Scanner
	prior BlockedIDs

	mu      sync.Mutex
	blocked map[string]bool
	tied    map[string]string // vulnerability or observed-data → the blocked relationship
}

// NewRun starts a run of sc; prior (may be nil) answers for what was
// blocked before the run.
func (sc *Scanner) NewRun(prior BlockedIDs) *Run {
	return &Run{sc: sc, prior: prior, blocked: map[string]bool{}, tied: map[string]string{}}
}

// ScanBatch is Scanner.ScanBatch with the run's memory as prior; it
// remembers what the batch blocked. A caller that blocks more of the
// results afterwards (e.g. a redacted object that then fails validation)
// tells the run with Note.
func (r *Run) ScanBatch(ctx context.Context, objs [][]byte) ([]Result, error) {
	res, err := r.sc.ScanBatch(ctx, objs, r)
	if err != nil {
		return nil, err
	}
	r.Note(res...)
	return res, nil
}

// Note remembers the blocked results among res.
func (r *Run) Note(res ...Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range res {
		x := &res[i]
		if x.Action != Block {
			continue
		}
		if x.ID != "" {
			r.blocked[x.ID] = true
		}
		for _, id := range x.Tied() {
			if _, ok := r.tied[id]; !ok {
				r.tied[id] = x.ID
			}
		}
	}
}

// Blocked implements BlockedIDs: the run's memory, then prior.
func (r *Run) Blocked(ctx context.Context, ids []string) ([]string, error) {
	var out, rest []string
	r.mu.Lock()
	for _, id := range ids {
		if r.blocked[id] {
			out = append(out, id)
		} else {
			rest = append(rest, id)
		}
	}
	r.mu.Unlock()
	if r.prior == nil || len(rest) == 0 {
		return out, nil
	}
	got, err := r.prior.Blocked(ctx, rest)
	if err != nil {
		return nil, err
	}
	return append(out, got...), nil
}

// Tied implements TiedIDs: the run's memory, then prior if it is a
// TiedIDs.
func (r *Run) Tied(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	var rest []string
	r.mu.Lock()
	for _, id := range ids {
		if rel, ok := r.tied[id]; ok {
			out[id] = rel
		} else {
			rest = append(rest, id)
		}
	}
	r.mu.Unlock()
	tp, ok := r.prior.(TiedIDs)
	if !ok || len(rest) == 0 {
		return out, nil
	}
	got, err := tp.Tied(ctx, rest)
	if err != nil {
		return nil, err
	}
	for id, rel := range got {
		out[id] = rel
	}
	return out, nil
}

func (r ref) path() string {
	if r.idx < 0 {
		return r.key
	}
	return fmt.Sprintf("%s[%d]", r.key, r.idx)
}
