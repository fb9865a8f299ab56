package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

type actorKey struct{}

// WithActor returns ctx carrying the id of the organisation on whose
// behalf the store calls made with it act. The Recorder writes it as an
// entry's "actor"; without one, entries have no actor (the operator or
// the hub itself acted).
func WithActor(ctx context.Context, orgID string) context.Context {
	return context.WithValue(ctx, actorKey{}, orgID)
}

// ActorFrom returns the acting organisation WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	s, _ := ctx.Value(actorKey{}).(string)
	return s
}

// Recorder returns the store.Recorder that turns each store change into
// entries, timestamped with now (time.Now when nil):
//
//   - put: accepted entries naming the versions stored (inputs left
//     unchanged are not named), in input order within each type, at most
//     maxAcceptedPerEntry per entry;
//   - delete: one object.deleted entry;
//   - collection.*, org.create, token.*, grant.set: one entry each.
//
// It fails on an op it does not know and on a put whose outcomes are not
// aligned with its objects, which aborts the change: a change the log
// cannot describe does not happen.
func Recorder(now func() time.Time) store.Recorder {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, c store.Change) ([][]byte, error) {
		return record(ActorFrom(ctx), FormatTime(now()), c)
	}
}

func record(actor, t string, c store.Change) ([][]byte, error) {
	base := Entry{V: SchemaVersion, Time: t, Actor: actor}
	one := func(e Entry) ([][]byte, error) { return [][]byte{Encode(&e)}, nil }
	switch c.Op {
	case store.OpPut:
		if len(c.Outcomes) != len(c.Objects) {
			return nil, fmt.Errorf("audit: put of %d objects with %d outcomes", len(c.Objects), len(c.Outcomes))
		}
		keys := make([]acceptedKey, 0, len(c.Objects))
		for i, o := range c.Objects {
			if !c.Outcomes[i].Added {
				continue
			}
			if o == nil {
				return nil, fmt.Errorf("audit: put: object %d is nil", i)
			}
			k := acceptedKey{added: timeKey(c.Outcomes[i].DateAdded.UTC(), FormatTime), sum: sha256.Sum256(o.Raw)}
			k.typ, k.rest = splitID(o.ID)
			if v := o.Version(); !v.IsZero() {
				k.version = timeKey(v.UTC(), stix.FormatTimestamp)
			}
			keys = append(keys, k)
		}
		return acceptedEntries(actor, t, c.Collection, c.Source, keys), nil
	case store.OpDelete:
		e := base
		e.Kind, e.Collection, e.ID, e.Count, e.Source = KindObjectDeleted, c.Collection, c.ObjectID, int64(c.Deleted), c.Source
		return one(e)
	case store.OpCollectionCreate, store.OpCollectionUpdate:
		if c.Coll == nil {
			return nil, fmt.Errorf("audit: %s without a collection", c.Op)
		}
		e := base
		e.Kind = KindCollectionCreated
		if c.Op == store.OpCollectionUpdate {
			e.Kind = KindCollectionUpdated
		}
		e.Collection, e.APIRoot, e.Title, e.Alias, e.DefaultTLP = c.Coll.ID, c.Coll.APIRoot, c.Coll.Title, c.Coll.Alias, c.Coll.DefaultTLP
		e.MediaTypes = slices.Clone(c.Coll.MediaTypes)
		return one(e)
	case store.OpCollectionDelete:
		e := base
		e.Kind, e.Collection = KindCollectionDeleted, c.Collection
		return one(e)
	case store.OpOrgCreate:
		if c.Org == nil {
			return nil, fmt.Errorf("audit: %s without an organisation", c.Op)
		}
		e := base
		e.Kind, e.Org, e.Name, e.OrgKind, e.Country = KindOrgCreated, c.Org.ID, c.Org.Name, c.Org.Kind, c.Org.Country
		return one(e)
	case store.OpTokenCreate:
		if c.Token == nil {
			return nil, fmt.Errorf("audit: %s without a token", c.Op)
		}
		e := base
		e.Kind, e.Token, e.Org, e.Role = KindTokenCreated, c.Token.ID, c.Token.OrgID, c.Token.Role
		if !c.Token.Expires.IsZero() {
			e.Expires = FormatTime(c.Token.Expires)
		}
		return one(e)
	case store.OpTokenRevoke:
		if c.Token == nil {
			return nil, fmt.Errorf("audit: %s without a token", c.Op)
		}
		e := base
		e.Kind, e.Token, e.Org = KindTokenRevoked, c.Token.ID, c.Token.OrgID
		if !c.Token.Revoked.IsZero() {
			e.Revoked = FormatTime(c.Token.Revoked)
		}
		return one(e)
	case store.OpGrantSet:
		if c.Grant == nil {
			return nil, fmt.Errorf("audit: %s without a grant", c.Op)
		}
		e := base
		e.Kind, e.Collection, e.Org, e.Read, e.Write = KindGrantSet, c.Grant.Collection, c.Grant.OrgID, c.Grant.Read, c.Grant.Write
		return one(e)
	}
	return nil, fmt.Errorf("audit: no entry kind for store change %q", c.Op)
}
