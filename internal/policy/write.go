package policy

import (
	"context"
	"fmt"
	"sync"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// IsHubWriter reports whether c writes as the hub: an organisation of kind
// hub, or an operator load (no organisation, store.Version.Source empty).
func IsHubWriter(c Caller) bool { return c.Org.ID == "" || c.Org.Kind == store.KindHub }

// CanWrite is the one write-side decision: may c store a new version of
// an object? latest is the object's latest stored version in the
// collection (nil when the object is new there), latestFacts its facts and
// nextFacts those of the version to store; def is the collection's default
// TLP and kindOf tells an organisation's kind (see CheckNarrowing; it may
// be nil).
//
//   - A new object may be stored (the grant checks are done elsewhere).
//   - A new version of an object whose latest version's source is c's own
//     organisation may be stored. Objects of the hub (loaded by an
//     operator, or submitted by a hub organisation) count as c's own when
//     c writes as the hub.
//   - The hub may store a new version of another organisation's object
//     only if it narrows who may see it (CheckNarrowing); the error then
//     names a reader the new version would add.
//   - Anyone else is refused.
func CanWrite(c Caller, latest *store.Version, latestFacts, nextFacts *Facts, def Level, kindOf func(orgID string) string) error {
	if latest == nil {
		return nil
	}
	if latest.Source == c.Org.ID {
		return nil
	}
	hubOwned := latest.Source == "" || kindOf != nil && kindOf(latest.Source) == store.KindHub
	if !IsHubWriter(c) {
		return fmt.Errorf("object %s was shared by another organisation; only its source may version it, the hub may only narrow it", latest.ID)
	}
	if hubOwned {
		return nil
	}
	if err := CheckNarrowing(latestFacts, nextFacts, def, kindOf); err != nil {
		return fmt.Errorf("object %s was shared by another organisation; the hub may only narrow it: %w", latest.ID, err)
	}
	return nil
}

// WriteDecision is what CheckWrites decided for one object.
type WriteDecision struct {
	// Err is nil when the object may be stored; else the reason it may
	// not, for the writer.
	Err error
	// Source is the organisation id to record as the version's source
	// (store.Version.Source): the writer's, except for a hub narrowing of
	// another organisation's object, which keeps that object's source so
	// that the source still sees (and may version) its object.
	Source string
}

// CheckWrites applies CanWrite to a batch of objects c submits to a
// collection whose default TLP is def, looking up the latest stored
// version of every object in one store query (metadata only). The
// decisions are aligned with objs. The error is the store's; nothing may
// be stored then.
//
// Versions stored between this check and the Put that follows it are not
// seen (a concurrent writer); objects earlier in objs are not seen by
// later ones either, each is checked against what is stored.
func CheckWrites(ctx context.Context, st store.Store, collection string, def Level, c Caller, objs []*stix.Object, kindOf func(orgID string) string) ([]WriteDecision, error) {
	out := make([]WriteDecision, len(objs))
	if len(objs) == 0 {
		return out, nil
	}
	seen := make(map[string]struct{}, len(objs))
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		if _, ok := seen[o.ID]; !ok {
			seen[o.ID] = struct{}{}
			ids = append(ids, o.ID)
		}
	}
	// A store that can rule out ids its collection cannot hold without a
	// query (SQLite's known-id filter) spares the look-up of new objects,
	// most of a bulk load.
	if mh, ok := st.(mayHolder); ok {
		if may, ok := mh.MayHold(ctx, collection, ids); ok {
			kept := ids[:0]
			for i, id := range ids {
				if may[i] {
					kept = append(kept, id)
				}
			}
			ids = kept
		}
	}
	latest := make(map[string]store.Version)
	q := store.Query{IDs: ids, Limit: len(ids), MetaOnly: true}
	for len(ids) > 0 {
		p, err := st.List(ctx, collection, q)
		if err != nil {
			return nil, fmt.Errorf("looking up the latest versions of %d objects: %w", len(ids), err)
		}
		for _, v := range p.Versions {
			if old, ok := latest[v.ID]; !ok || v.Modified.After(old.Modified) {
				latest[v.ID] = v
			}
		}
		if !p.More || len(p.Versions) == 0 {
			break
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
	for i, o := range objs {
		out[i].Source = c.Org.ID
		v, ok := latest[o.ID]
		if !ok || v.Source == c.Org.ID {
			continue
		}
		lf := VersionFacts(&v)
		nf, _ := FactsOf(o.Raw)
		if err := CanWrite(c, &v, &lf, &nf, def, kindOf); err != nil {
			out[i].Err = err
			continue
		}
		if v.Source != "" && (kindOf == nil || kindOf(v.Source) != store.KindHub) {
			out[i].Source = v.Source // a hub narrowing
		}
	}
	return out, nil
}

// mayHolder is implemented by stores that can tell, without a query,
// which ids a collection certainly holds no version of.
type mayHolder interface {
	MayHold(ctx context.Context, collection string, ids []string) ([]bool, bool)
}

// OrgKinds returns a kindOf function for CanWrite and CheckNarrowing that
// loads the organisations from st once, on first use. If they cannot be
// loaded every id is unknown (""), which makes the checks stricter, not
// looser.
func OrgKinds(ctx context.Context, st store.Store) func(orgID string) string {
	var (
		once  sync.Once
		kinds map[string]string
	)
	return func(id string) string {
		once.Do(func() {
			orgs, err := st.ListOrgs(ctx)
			if err != nil {
				return
			}
			kinds = make(map[string]string, len(orgs))
			for _, o := range orgs {
				kinds[o.ID] = o.Kind
			}
		})
		return kinds[id]
	}
}
