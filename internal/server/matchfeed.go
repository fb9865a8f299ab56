package server

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/match"
	"fusion/internal/store"
)

// The match feeder keeps a match.Index current from the store. It is the
// only writer of the index: at start it builds it from the latest
// version of every indicator in every collection, then tails each
// collection by date_added (added_after cursors, TAXII 2.1 section
// 3.4.1), a few times a second, and applies what changed. Because it
// reads only the store, several nodes sharing one PostgreSQL each keep
// their own index current from the shared store.
//
// Deletions are not seen by tailing versions: the feeder also tails the
// audit log (store.Log), where the store's Recorder writes an
// object.deleted entry in the transaction of every Delete and a
// collection.deleted entry for every DeleteCollection. For a deleted
// object it forgets the object and indexes the version that is now the
// latest, if any (an older version becomes the latest again); for a
// deleted collection it forgets all of it. So deletions change what
// matches at the next tail, like new versions. A store without a Recorder
// installed (fusion serve always installs one) has an empty log: then
// deletions are seen only at the periodic rebuild (resyncEvery). Either
// way the match handler never trusts the index alone: it reads the latest
// stored version of every hit before reporting it.

const (
	tailEvery    = 300 * time.Millisecond
	compactEvery = 10 * time.Minute
	resyncEvery  = 30 * time.Minute
	feedPage     = 1000 // versions per store.List call
	logPage      = 256  // audit log entries per ReadLog call (up to about 150 KB each)
)

// relatedTypes are the object types a match reports as related to an
// indicator through a relationship.
var relatedTypes = map[string]bool{"malware": true, "intrusion-set": true, "threat-actor": true, "campaign": true}

// objKey names an object in a collection.
type objKey struct{ coll, id string }

// relEdge is what the feeder remembers of a relationship between an
// indicator and one of relatedTypes.
type relEdge struct {
	modified  time.Time
	indicator string // the indicator end
}

// matchFeed owns the index and the relationship cache.
type matchFeed struct {
	st  store.Store
	log *slog.Logger
	idx *match.Index

	startOnce sync.Once
	ready     chan struct{} // closed when the first build is done

	mu      sync.RWMutex
	rels    map[objKey]relEdge   // relationship → its indicator end
	byInd   map[objKey][]string  // indicator → relationship ids
	cursors map[string]time.Time // collection → last date_added seen (feeder goroutine only)
	logPos  int64                // audit log entries read (feeder goroutine only)

	orgMu    sync.Mutex
	orgNames map[string]string // organisation id → name (names do not change)

	sightLocks *sightingLocks // serialise sighting updates (match_sightings.go)
}

func newMatchFeed(st store.Store, log *slog.Logger, now func() time.Time) *matchFeed {
	return &matchFeed{
		st: st, log: log,
		idx:      match.New(match.Options{Now: now}),
		ready:    make(chan struct{}),
		rels:     map[objKey]relEdge{},
		byInd:    map[objKey][]string{},
		cursors:  map[string]time.Time{},
		orgNames: map[string]string{},

		sightLocks: newSightingLocks(),
	}
}

// start builds the index and keeps it current until ctx is done; only
// the first call does anything. It returns at once.
func (f *matchFeed) start(ctx context.Context) {
	f.startOnce.Do(func() { go f.run(ctx) })
}

// wait blocks until the first build is done or ctx ends.
func (f *matchFeed) wait(ctx context.Context) error {
	select {
	case <-f.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (f *matchFeed) run(ctx context.Context) {
	for {
		err := f.build(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		f.log.Error("match index: build from the store failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	close(f.ready)
	tick := time.NewTicker(tailEvery)
	defer tick.Stop()
	lastCompact, lastSync := time.Now(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := f.tail(ctx); err != nil && ctx.Err() == nil {
			f.log.Warn("match index: reading new versions failed", "err", err)
		}
		switch {
		case time.Since(lastSync) > resyncEvery:
			if err := f.build(ctx); err != nil && ctx.Err() == nil {
				f.log.Warn("match index: periodic rebuild failed", "err", err)
			}
			lastSync, lastCompact = time.Now(), time.Now()
		case time.Since(lastCompact) > compactEvery:
			f.idx.Compact()
			lastCompact = time.Now()
		}
	}
}

// build replaces the index and the relationship cache with the latest
// version of every indicator and relationship in every collection, and
// sets the cursors to where it stopped reading.
func (f *matchFeed) build(ctx context.Context) error {
	start := time.Now()
	// Deletions logged from here on are applied by the next tail.
	logPos, err := f.st.LogSize(ctx)
	if err != nil {
		return err
	}
	cols, err := f.st.ListCollections(ctx, "")
	if err != nil {
		return err
	}
	cursors := map[string]time.Time{}
	rels := map[objKey]relEdge{}
	var listErr error
	items := func(yield func(match.Item, error) bool) {
		for _, col := range cols {
			for v, err := range f.versions(ctx, col.ID, time.Time{}, cursors) {
				if err != nil {
					if errors.Is(err, store.ErrNotFound) {
						break // deleted meanwhile
					}
					listErr = err
					yield(match.Item{}, err)
					return
				}
				if v.Type == "relationship" {
					noteRel(rels, col.ID, v)
					continue
				}
				if !yield(match.Item{Ref: match.Ref{Collection: col.ID, ID: v.ID, Modified: v.Modified}, Raw: v.Raw}, nil) {
					return
				}
			}
		}
	}
	stats, err := f.idx.Build(iter.Seq2[match.Item, error](items))
	if listErr != nil {
		return listErr
	}
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.rels, f.byInd = rels, indexRels(rels)
	f.cursors = cursors
	f.mu.Unlock()
	f.logPos = logPos
	f.log.Info("match index built", "indicators", stats.Indicators, "tombstones", stats.Tombstones,
		"invalid", stats.Invalid, "relationships", len(rels), "collections", len(cols), "duration", time.Since(start))
	return nil
}

// tail applies the versions added to every collection since its cursor.
func (f *matchFeed) tail(ctx context.Context) error {
	cols, err := f.st.ListCollections(ctx, "")
	if err != nil {
		return err
	}
	f.mu.RLock()
	cursors := make(map[string]time.Time, len(cols))
	for _, col := range cols {
		cursors[col.ID] = f.cursors[col.ID] // a new collection starts at zero
	}
	f.mu.RUnlock()
	var items []match.Item
	var relVs []objKeyVersion
	var firstErr error
	for _, col := range cols {
		for v, err := range f.versions(ctx, col.ID, cursors[col.ID], cursors) {
			if err != nil {
				if !errors.Is(err, store.ErrNotFound) && firstErr == nil {
					firstErr = err
				}
				break
			}
			if v.Type == "relationship" {
				relVs = append(relVs, objKeyVersion{col.ID, v})
				continue
			}
			items = append(items, match.Item{Ref: match.Ref{Collection: col.ID, ID: v.ID, Modified: v.Modified}, Raw: v.Raw})
		}
	}
	if len(items) > 0 {
		st := f.idx.Update(items...)
		if st.Invalid > 0 {
			f.log.Warn("match index: unreadable indicator versions", "count", st.Invalid, "first", firstOf(st.Errors))
		}
	}
	f.mu.Lock()
	for _, rv := range relVs {
		f.applyRel(rv.coll, rv.v)
	}
	f.cursors = cursors // collections no longer listed are dropped
	f.mu.Unlock()
	if err := f.tailDeletions(ctx); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// Markers of the audit entries tailDeletions acts on, as they appear in
// an entry's canonical encoding (audit.Encode).
var (
	objectDeletedMark     = []byte(`"kind":"` + audit.KindObjectDeleted + `"`)
	collectionDeletedMark = []byte(`"kind":"` + audit.KindCollectionDeleted + `"`)
)

// tailDeletions reads the audit log entries appended since the last call
// and applies the deletions they record.
func (f *matchFeed) tailDeletions(ctx context.Context) error {
	size, err := f.st.LogSize(ctx)
	if err != nil {
		return err
	}
	for f.logPos < size {
		end := min(size, f.logPos+logPage)
		es, err := f.st.ReadLog(ctx, f.logPos, end)
		if err != nil {
			return err
		}
		for _, b := range es {
			obj, col := bytes.Contains(b, objectDeletedMark), bytes.Contains(b, collectionDeletedMark)
			if !obj && !col {
				continue
			}
			e, err := audit.ParseEntry(b)
			if err != nil {
				f.log.Warn("match index: unreadable audit entry", "err", err)
				continue
			}
			switch {
			case e.Kind == audit.KindObjectDeleted && e.Collection != "" && e.ID != "":
				if err := f.deleted(ctx, e.Collection, e.ID); err != nil {
					return err // read again at the next tail
				}
			case e.Kind == audit.KindCollectionDeleted && e.Collection != "":
				f.collectionDeleted(e.Collection)
			}
		}
		f.logPos = end
	}
	return nil
}

// deleted follows a store Delete of some versions of an object: the index
// and the relationship cache forget it and take the version that is now
// the latest, if any.
func (f *matchFeed) deleted(ctx context.Context, coll, id string) error {
	var latest []store.Version
	page, err := f.st.List(ctx, coll, store.Query{IDs: []string{id}, Limit: 1})
	switch {
	case errors.Is(err, store.ErrNotFound): // the collection went too
	case err != nil:
		return err
	default:
		latest = page.Versions
	}
	switch idType(id) {
	case "indicator":
		f.idx.Remove(coll, id)
		for _, v := range latest {
			f.idx.Update(match.Item{Ref: match.Ref{Collection: coll, ID: v.ID, Modified: v.Modified}, Raw: v.Raw})
		}
	case "relationship":
		f.mu.Lock()
		f.forgetRel(coll, id)
		for _, v := range latest {
			f.applyRel(coll, v)
		}
		f.mu.Unlock()
	}
	return nil
}

// collectionDeleted forgets a deleted collection's indicators and
// relationships.
func (f *matchFeed) collectionDeleted(coll string) {
	f.idx.RemoveCollection(coll)
	f.mu.Lock()
	for k := range f.rels {
		if k.coll == coll {
			f.forgetRel(coll, k.id)
		}
	}
	delete(f.cursors, coll)
	f.mu.Unlock()
}

// forgetRel drops a relationship from the cache; f.mu must be held.
func (f *matchFeed) forgetRel(coll, id string) {
	k := objKey{coll, id}
	old, had := f.rels[k]
	if !had {
		return
	}
	delete(f.rels, k)
	ik := objKey{coll, old.indicator}
	ids := slices.DeleteFunc(f.byInd[ik], func(x string) bool { return x == id })
	if len(ids) == 0 {
		delete(f.byInd, ik)
	} else {
		f.byInd[ik] = ids
	}
}

type objKeyVersion struct {
	coll string
	v    store.Version
}

func firstOf(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	return errs[0]
}

// versions yields the latest version of every indicator and
// relationship of a collection listed after after, in date_added order,
// and records the last date_added in cursors.
func (f *matchFeed) versions(ctx context.Context, coll string, after time.Time, cursors map[string]time.Time) iter.Seq2[store.Version, error] {
	return func(yield func(store.Version, error) bool) {
		q := store.Query{AddedAfter: after, Types: []string{"indicator", "relationship"}, Limit: feedPage}
		cursors[coll] = after
		for {
			page, err := f.st.List(ctx, coll, q)
			if err != nil {
				yield(store.Version{}, err)
				return
			}
			for _, v := range page.Versions {
				if !yield(v, nil) {
					return
				}
				cursors[coll] = v.DateAdded
			}
			if !page.More || len(page.Versions) == 0 {
				return
			}
			q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
		}
	}
}

// relJSON is the part of a relationship the cache needs.
type relJSON struct {
	SourceRef string `json:"source_ref"`
	TargetRef string `json:"target_ref"`
}

// relIndicator returns the indicator end of a relationship between an
// indicator and one of relatedTypes, or "".
func relIndicator(raw []byte) string {
	var r relJSON
	if json.Unmarshal(raw, &r, json.RejectUnknownMembers(false)) != nil {
		return ""
	}
	st, tt := idType(r.SourceRef), idType(r.TargetRef)
	switch {
	case st == "indicator" && relatedTypes[tt]:
		return r.SourceRef
	case tt == "indicator" && relatedTypes[st]:
		return r.TargetRef
	}
	return ""
}

func idType(id string) string {
	t, _, _ := strings.Cut(id, "--")
	return t
}

// noteRel records the latest version of a relationship in rels.
func noteRel(rels map[objKey]relEdge, coll string, v store.Version) {
	k := objKey{coll, v.ID}
	if old, ok := rels[k]; ok && old.modified.After(v.Modified) {
		return
	}
	ind := ""
	if !v.Revoked {
		ind = relIndicator(v.Raw)
	}
	if ind == "" {
		delete(rels, k)
		return
	}
	rels[k] = relEdge{modified: v.Modified, indicator: ind}
}

func indexRels(rels map[objKey]relEdge) map[objKey][]string {
	by := make(map[objKey][]string)
	for k, e := range rels {
		ik := objKey{k.coll, e.indicator}
		by[ik] = append(by[ik], k.id)
	}
	return by
}

// applyRel updates the cache with a newly listed relationship version;
// f.mu must be held.
func (f *matchFeed) applyRel(coll string, v store.Version) {
	k := objKey{coll, v.ID}
	old, had := f.rels[k]
	if had && old.modified.After(v.Modified) {
		return
	}
	if had {
		ik := objKey{coll, old.indicator}
		ids := f.byInd[ik]
		for i, id := range ids {
			if id == v.ID {
				ids = append(ids[:i:i], ids[i+1:]...)
				break
			}
		}
		if len(ids) == 0 {
			delete(f.byInd, ik)
		} else {
			f.byInd[ik] = ids
		}
	}
	noteRel(f.rels, coll, v)
	if e, ok := f.rels[k]; ok {
		ik := objKey{coll, e.indicator}
		f.byInd[ik] = append(f.byInd[ik], v.ID)
	}
}

// relationsOf returns the ids of the relationships the cache links to an
// indicator (candidates only: the handler reads them from the store and
// applies the policy before reporting any).
func (f *matchFeed) relationsOf(coll, indicator string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return append([]string(nil), f.byInd[objKey{coll, indicator}]...)
}

// orgName returns an organisation's name, or "" when it is unknown.
func (f *matchFeed) orgName(ctx context.Context, id string) string {
	if id == "" {
		return ""
	}
	f.orgMu.Lock()
	n, ok := f.orgNames[id]
	f.orgMu.Unlock()
	if ok {
		return n
	}
	o, err := f.st.GetOrg(ctx, id)
	if err != nil {
		return ""
	}
	f.orgMu.Lock()
	f.orgNames[id] = o.Name
	f.orgMu.Unlock()
	return o.Name
}
