package guard

import (
	"context"
	"fmt"
	"strings"
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
// A blocked object is one blocked in this batch (any version with that id)
// or, for ids not in the batch, one prior reports (prior may be nil).
// Results are in the order of objs; a redacted object counts as not
// blocked. An error from prior is returned as is, with no results.
func (sc *Scanner) ScanBatch(ctx context.Context, objs [][]byte, prior BlockedIDs) ([]Result, error) {
	res := make([]Result, len(objs))
	for i, o := range objs {
		res[i] = sc.Scan(o)
	}
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
	if prior != nil {
		var outside []string
		seen := make(map[string]bool)
		for i := range res {
			for _, r := range res[i].refs {
				if _, ok := inBatch[r.id]; !ok && !seen[r.id] && revealingRef(res[i].Type, r.key) {
					seen[r.id] = true
					outside = append(outside, r.id)
				}
			}
		}
		if len(outside) > 0 {
			ids, err := prior.Blocked(ctx, outside)
			if err != nil {
				return nil, fmt.Errorf("guard: looking up earlier blocked objects: %w", err)
			}
			for _, id := range ids {
				blocked[id] = true
			}
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

func (r ref) path() string {
	if r.idx < 0 {
		return r.key
	}
	return fmt.Sprintf("%s[%d]", r.key, r.idx)
}
