package match

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"fusion/internal/stix/pattern"
)

// ObservationsFromBundle reads the observed-data objects of a STIX bundle
// (STIX 2.1 section 8: {"type":"bundle","objects":[…]}) as Observations,
// in bundle order, with their ids. For STIX 2.1 observed-data the SCOs
// named by object_refs (and what they reference) are taken from the same
// bundle; STIX 2.0 observed-data carries its objects. Objects of other
// types are only used through references. It returns an error naming the
// object when the bundle or one of its observed-data objects is
// malformed.
func ObservationsFromBundle(raw []byte) ([]pattern.Observation, []string, error) {
	if !utf8.Valid(raw) {
		return nil, nil, errors.New("bundle: invalid UTF-8")
	}
	typ, elems, err := splitBundle(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle: %w", err)
	}
	if typ != "bundle" {
		return nil, nil, fmt.Errorf("bundle: type is %q, want \"bundle\"", typ)
	}
	// STIX 2.1 observed-data is read property by property
	// (fastObservedData); everything else, and observed-data in any
	// unusual form, is decoded into maps. Observed-data read the fast way
	// is not in byID: references from observed objects name other
	// observables (SCOs), not observed-data.
	objs := make([]map[string]any, len(elems))
	fast := make([]odFields, len(elems))
	isFast := make([]bool, len(elems))
	errs := make([]error, len(elems))
	parallel(len(elems), 512, func(lo, hi int) {
		intern := make(map[string]string)
		for i := lo; i < hi; i++ {
			if bytes.Contains(elems[i], odType) {
				if fast[i], isFast[i] = fastObservedData(elems[i]); isFast[i] {
					continue
				}
			}
			var err error
			if objs[i], err = decodeObject(elems[i], intern); err != nil {
				errs[i] = fmt.Errorf("bundle: objects[%d]: %w", i, err)
			}
		}
	})
	if err := firstErr(errs); err != nil {
		return nil, nil, err
	}
	byID := make(map[string]map[string]any, len(objs))
	var odIdx []int
	for i, o := range objs {
		if isFast[i] {
			odIdx = append(odIdx, i)
			continue
		}
		if id, ok := o["id"].(string); ok {
			byID[id] = o
		}
		if o["type"] == "observed-data" {
			odIdx = append(odIdx, i)
		}
	}
	resolve := func(id string) map[string]any { return byID[id] }
	obs := make([]pattern.Observation, len(odIdx))
	ids := make([]string, len(odIdx))
	errs = errs[:len(odIdx)]
	clear(errs)
	parallel(len(odIdx), 512, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			var err error
			if j := odIdx[k]; isFast[j] {
				f := &fast[j]
				ids[k] = f.id
				obs[k], err = pattern.NewObservationRefs(f.first, f.last, f.number, f.hasNumber, f.refs, resolve)
			} else {
				od := objs[j]
				ids[k], _ = od["id"].(string)
				obs[k], err = pattern.NewObservation(od, resolve)
			}
			if err != nil {
				errs[k] = fmt.Errorf("bundle: objects[%d] (%s): %w", odIdx[k], ids[k], err)
			}
		}
	})
	if err := firstErr(errs); err != nil {
		return nil, nil, err
	}
	return obs, ids, nil
}

// odType is how an observed-data object's type looks in its JSON.
var odType = []byte(`"observed-data"`)

func firstErr(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// candidate is an indicator whose pattern must be evaluated, with the
// observations that made it one.
type candidate struct {
	keyed []int32 // observations holding one of its key values
	typed []int32 // observations holding an object of one of its types (keyless patterns)
}

// MatchObservations matches observations (Observed Data) against every
// active indicator. Indicators decided by their keys are matched against
// the properties of each observation's objects (the objects object_refs
// names, or the embedded objects of STIX 2.0) and reported per
// observation (Hit.Input) with the observable that matched. Every other
// indicator whose necessary values or object types occur is evaluated
// with the full pattern (package pattern): a pattern of one observation
// expression (or an OR of such) is evaluated on each observation holding
// one of its values or object types and reported per observation that
// matches; a pattern joining several (AND, FOLLOWEDBY, qualifiers) is
// evaluated once over all the observations holding its object types and
// reported with Input -1. An evaluated pattern that does not match is
// reported as KindPartial for each observation holding one of its
// values. Hits are ordered by Input, then by kind (strongest first), then
// by indicator id and collection. One snapshot of the
// index serves the whole call.
func (x *Index) MatchObservations(obs []pattern.Observation) []Hit {
	s := x.cur.Load()
	now := unixNano(x.opts.Now())

	type part struct {
		hits  []Hit
		cands map[uint32]*candidate
	}
	var parts [64]part
	np := 0
	parallelParts(len(obs), 64, len(parts), func(pi, lo, hi int) {
		m := x.matcher()
		defer x.release(m)
		m.s, m.now = s, now
		m.segs = append(m.segs[:0], s.segments()...)
		w := obsWorker{x: x, s: s, m: m, cands: map[uint32]*candidate{}, pats: map[uint32]*pattern.Pattern{}}
		m.cands = w.candidate
		var hits []Hit
		for i := lo; i < hi; i++ {
			hits = w.observation(obs, i, hits)
		}
		m.perObservation = false
		parts[pi] = part{hits, w.cands}
	}, &np)

	var hits []Hit
	cands := map[uint32]*candidate{}
	for _, p := range parts[:np] {
		hits = append(hits, p.hits...)
		for slot, c := range p.cands {
			if d, ok := cands[slot]; ok {
				d.keyed = append(d.keyed, c.keyed...)
				d.typed = append(d.typed, c.typed...)
			} else {
				cands[slot] = c
			}
		}
	}
	hits = append(hits, x.evaluate(s, obs, cands)...)
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(a.Input, b.Input); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Ref.ID, b.Ref.ID); c != 0 {
			return c
		}
		return strings.Compare(a.Ref.Collection, b.Ref.Collection)
	})
	return hits
}

// obsWorker is one goroutine's part of MatchObservations.
type obsWorker struct {
	x     *Index
	s     *snapshot
	m     *Matcher
	cands map[uint32]*candidate       // multi-observation patterns, evaluated at the end
	pats  map[uint32]*pattern.Pattern // parsed patterns by slot, without the shared cache's lock
	types []string                    // object types of the observation's objects
	now   []pending                   // single-observation patterns of the current observation
}

type pending struct {
	slot  uint32
	keyed bool
}

// candidate receives a candidate posting found while probing the
// current observation.
func (w *obsWorker) candidate(slot uint32, _ posting) {
	w.note(slot, true, int32(w.m.input))
}

func (w *obsWorker) note(slot uint32, keyed bool, i int32) {
	if w.s.ents.at(slot).flags&flagSingle != 0 {
		for k := range w.now {
			if w.now[k].slot == slot {
				w.now[k].keyed = w.now[k].keyed || keyed
				return
			}
		}
		w.now = append(w.now, pending{slot, keyed})
		return
	}
	c := w.cands[slot]
	if c == nil {
		c = &candidate{}
		w.cands[slot] = c
	}
	l := &c.typed
	if keyed {
		l = &c.keyed
	}
	if n := len(*l); n == 0 || (*l)[n-1] != i {
		*l = append(*l, i)
	}
}

// observation probes the properties of observation i and evaluates the
// single-observation patterns they call for.
func (w *obsWorker) observation(obs []pattern.Observation, i int, hits []Hit) []Hit {
	m, s, o := w.m, w.s, &obs[i]
	m.perObservation = false
	m.reset(i, len(hits))
	m.perObservation = true
	w.types, w.now = w.types[:0], w.now[:0]
	var rootIDs map[string]bool
	extra := len(o.ByRef) > len(o.Objects)
	if extra {
		rootIDs = make(map[string]bool, len(o.Objects))
	}
	for _, obj := range o.Objects {
		typ, _ := obj["type"].(string)
		if typ == "" {
			continue
		}
		if !slices.Contains(w.types, typ) {
			w.types = append(w.types, typ)
		}
		if extra {
			if id, ok := obj["id"].(string); ok {
				rootIDs[id] = true
			}
		}
		walkStrings(obj, nil, 0, func(keys []string, v string) {
			hits = m.lookupKeys(typ, "", keys, v, i, hits, probeAll)
		})
	}
	if extra {
		for id, obj := range o.ByRef {
			if rootIDs[id] {
				continue
			}
			typ, _ := obj["type"].(string)
			walkStrings(obj, nil, 0, func(keys []string, v string) {
				hits = m.lookupKeys(typ, "", keys, v, i, hits, probeCandidates)
			})
		}
	}
	// keyless patterns by object type
	for _, seg := range m.segs {
		if seg.byType == nil {
			continue
		}
		for _, t := range w.types {
			for _, q := range seg.byType[t] {
				slot := q.slot()
				if s.ents.isDead(slot) {
					continue
				}
				if e := s.ents.at(slot); m.now < e.validFrom || m.now >= e.validUntil {
					continue
				}
				w.note(slot, false, int32(i))
			}
		}
	}
	var no *pattern.Observation
	for _, pd := range w.now {
		p := w.pattern(pd.slot)
		if p == nil {
			continue
		}
		if no == nil {
			no = w.m.k2.normObservation(o)
		}
		e := s.ents.at(pd.slot)
		switch {
		case p.MatchObservation(no):
			hits = append(hits, s.hitOf(i, e, KindPattern, ""))
		case pd.keyed:
			hits = append(hits, s.hitOf(i, e, KindPartial, ""))
		}
	}
	return hits
}

func (w *obsWorker) pattern(slot uint32) *pattern.Pattern {
	p, ok := w.pats[slot]
	if !ok {
		p = w.x.pats.get(w.s.pats.at(w.s.ents.at(slot).pat))
		w.pats[slot] = p
	}
	return p
}

// evaluate runs the candidates' patterns over the observations.
func (x *Index) evaluate(s *snapshot, obs []pattern.Observation, cands map[uint32]*candidate) []Hit {
	slots := make([]uint32, 0, len(cands))
	for slot := range cands {
		slots = append(slots, slot)
	}
	slices.Sort(slots)
	var mu sync.Mutex
	var out []Hit
	parallel(len(slots), 16, func(lo, hi int) {
		var local []Hit
		for _, slot := range slots[lo:hi] {
			local = x.evaluateOne(s, obs, slot, cands[slot], local)
		}
		mu.Lock()
		out = append(out, local...)
		mu.Unlock()
	})
	return out
}

// evaluateOne evaluates a multi-observation pattern over the
// observations holding an object of a type it names (no other
// observation can take part in a match).
func (x *Index) evaluateOne(s *snapshot, obs []pattern.Observation, slot uint32, c *candidate, dst []Hit) []Hit {
	e := s.ents.at(slot)
	p := x.pats.get(s.pats.at(e.pat))
	if p == nil {
		return dst
	}
	var types []string
	pattern.EachComparison(p.Root, func(cmp *pattern.Comparison) {
		t := cmp.Path.ObjectType
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	})
	var sub []pattern.Observation
	var k keyer
	for i := range obs {
		for _, o := range obs[i].Objects {
			if t, _ := o["type"].(string); slices.Contains(types, t) {
				sub = append(sub, *k.normObservation(&obs[i]))
				break
			}
		}
	}
	if p.Match(sub) {
		return append(dst, s.hitOf(-1, e, KindPattern, ""))
	}
	for _, i := range sortedUnique(c.keyed) {
		dst = append(dst, s.hitOf(int(i), e, KindPartial, ""))
	}
	return dst
}

func sortedUnique(l []int32) []int32 {
	slices.Sort(l)
	return slices.Compact(l)
}

// singleObservation reports whether a pattern is one observation
// expression or an OR of such, without qualifiers: each match is one
// observation.
func singleObservation(e pattern.ObservationExpr) bool {
	switch x := e.(type) {
	case *pattern.ObsParen:
		return singleObservation(x.Inner)
	case *pattern.ObsBracket:
		return true
	case *pattern.ObsBinary:
		return x.Op == pattern.ObsOr && singleObservation(x.Left) && singleObservation(x.Right)
	}
	return false
}
