package policy

import (
	"context"
	"fmt"
	"time"

	"fusion/internal/store"
)

// Lister is the part of a store a Filter reads referenced objects from
// (store.Store has it).
type Lister interface {
	List(ctx context.Context, collection string, q store.Query) (store.Page, error)
}

// refBatch is how many referenced ids one store.List call asks for.
const refBatch = 500

// Filter applies the policy to the versions one caller reads from one
// collection, a page at a time. Every read path (TAXII objects, object,
// versions and manifest; export; anything else returning stored objects)
// passes what it read from the store through Visible before sending it;
// the decision itself is CanRead, the copy sent is Redact's.
//
// A Filter is not safe for concurrent use; make one per request.
type Filter struct {
	st     Lister
	caller Caller
	coll   string
	def    Level

	facts []Facts
	ids   []string

	// Referenced objects loaded by earlier calls of Visible (a request
	// reads several store pages), reused for at most refCacheTTL and
	// refCacheMax ids: queried holds every id asked of the store, found
	// or not.
	targets  Targets
	queried  map[string]struct{}
	loadedAt time.Time
}

// Bounds of a Filter's cache of referenced objects: a narrowing of a
// referenced object applies to a long export within refCacheTTL.
const (
	refCacheTTL = 5 * time.Second
	refCacheMax = 50000
)

// NewFilter returns the filter for caller reading collection col, whose
// objects are read (and whose referenced objects are looked up) in st.
func NewFilter(st Lister, caller Caller, col store.Collection) *Filter {
	return &Filter{st: st, caller: caller, coll: col.ID, def: CollectionDefault(col.DefaultTLP)}
}

// Caller is the reader the filter decides for.
func (f *Filter) Caller() Caller { return f.caller }

// NeedsRaw reports whether Visible needs the versions' Raw: false only for
// a hub admin, who sees everything as stored, so that metadata-only
// listings (manifest, versions) stay metadata-only for them. For anyone
// else a version without Raw has no readable facts and is hidden (fail
// closed), so read paths must load Raw.
func (f *Filter) NeedsRaw() bool { return !f.caller.IsHubAdmin() }

// Visible keeps the versions of vs (in order, in place: the result shares
// vs's array) that the caller may see, each with Raw replaced by the copy
// Redact makes for the caller (Raw stays nil for metadata-only versions a
// hub admin reads). Versions the caller may not see are dropped; callers
// that page must remember where the store page ended before calling.
//
// For each version not the caller's own, Visible takes its facts from the
// store (VersionFacts: the blob kept at write time, else parsed from Raw;
// unreadable facts fail closed) and looks up, in one batch of
// metadata-only store queries in the filter's collection (Versions zero:
// the latest version of each id; Raw is read only for versions stored
// without facts; ids looked up by earlier calls within refCacheTTL are not
// asked again) the latest version of every object whose version in the
// page is not the latest (CanRead shows an older version only to readers
// the latest admits) and every object the page references, following
// relationship and sighting endpoints of endpoints as far as CanRead
// does. A reference to an object not in the collection counts as one the
// caller may not see. The error is the store's.
func (f *Filter) Visible(ctx context.Context, vs []store.Version) ([]store.Version, error) {
	c := f.caller
	if c.IsHubAdmin() {
		return vs, nil // CanRead allows and Redact returns Raw for every version
	}
	if cap(f.facts) < len(vs) {
		f.facts = make([]Facts, len(vs))
	}
	facts := f.facts[:len(vs)]
	f.ids = f.ids[:0]
	need := make([]bool, len(vs))
	for i := range vs {
		v := &vs[i]
		if c.Org.ID != "" && v.Source == c.Org.ID {
			continue // the source sees its own objects as stored
		}
		need[i] = true
		versionFacts(&facts[i], v) // unreadable facts are Broken: hidden
		f.ids = facts[i].AppendRefs(f.ids)
		if !v.Latest {
			f.ids = append(f.ids, v.ID) // its latest version decides too
		}
	}
	var targets Targets
	if len(f.ids) > 0 {
		var err error
		if targets, err = f.load(ctx, f.ids); err != nil {
			return nil, err
		}
	}
	var lookup Lookup
	if targets != nil {
		lookup = targets.Lookup
	}
	kept := vs[:0]
	for i := range vs {
		v := vs[i]
		var fp *Facts
		if need[i] {
			fp = &facts[i]
		}
		if !CanRead(c, &v, fp, f.def, lookup) {
			continue
		}
		out, ok := Redact(c, &v, fp, lookup)
		if !ok {
			continue
		}
		v.Raw = out
		kept = append(kept, v)
	}
	// Drop references to the page's raw objects so that a long export
	// does not keep one page alive through the scratch facts.
	clear(facts)
	return kept, nil
}

// load reads the latest version of each id (and, for the relationships
// and sightings among them, of their endpoints, to CanRead's depth) into
// the filter's Targets, querying the store only for ids it has not asked
// about within refCacheTTL.
func (f *Filter) load(ctx context.Context, ids []string) (_ Targets, err error) {
	defer func() {
		if err != nil {
			f.targets = nil // ids marked queried may not have been loaded
		}
	}()
	if now := time.Now(); f.targets == nil || len(f.queried) > refCacheMax || now.Sub(f.loadedAt) > refCacheTTL {
		f.targets = make(Targets, len(ids))
		f.queried = make(map[string]struct{}, len(ids))
		f.loadedAt = now
	}
	targets := f.targets
	seen := make(map[string]struct{}, 8)
	next := ids
	for depth := 0; len(next) > 0 && depth < maxRefDepth; depth++ {
		var todo, known []string
		for _, id := range next {
			if _, ok := seen[id]; ok {
				continue
			}
			seen[id] = struct{}{}
			if _, ok := f.queried[id]; ok {
				known = append(known, id)
			} else {
				f.queried[id] = struct{}{}
				todo = append(todo, id)
			}
		}
		next = nil
		for _, id := range known {
			if t, ok := targets[id]; ok {
				next = t.Facts.AppendRequired(next)
			}
		}
		for len(todo) > 0 {
			n := min(len(todo), refBatch)
			batch := todo[:n]
			todo = todo[n:]
			loaded, err := f.list(ctx, store.Query{IDs: batch, Limit: n, MetaOnly: true})
			if err != nil {
				return nil, err
			}
			// Versions stored without facts: read again with Raw.
			var old []string
			for i := range loaded {
				if !hasStoredFacts(&loaded[i]) {
					old = append(old, loaded[i].ID)
				}
			}
			if len(old) > 0 {
				withRaw, err := f.list(ctx, store.Query{IDs: old, Limit: len(old)})
				if err != nil {
					return nil, err
				}
				loaded = append(loaded, withRaw...)
			}
			targets.Add(loaded, f.def)
			for _, id := range batch {
				if t, ok := targets[id]; ok {
					next = t.Facts.AppendRequired(next)
				}
			}
		}
	}
	return targets, nil
}

// list reads every version q selects in the filter's collection.
func (f *Filter) list(ctx context.Context, q store.Query) ([]store.Version, error) {
	var out []store.Version
	for {
		page, err := f.st.List(ctx, f.coll, q)
		if err != nil {
			return nil, fmt.Errorf("loading referenced objects: %w", err)
		}
		out = append(out, page.Versions...)
		if !page.More || len(page.Versions) == 0 {
			return out, nil
		}
		q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
	}
}
