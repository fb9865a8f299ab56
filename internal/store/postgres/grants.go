package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"fusion/internal/store"
)

// SetGrant creates or replaces the grant of g.OrgID on g.Collection; a
// grant with neither Read nor Write is removed. ErrNotFound if the
// collection or the organisation does not exist.
func (db *DB) SetGrant(ctx context.Context, g store.Grant) error {
	change := store.Change{Op: store.OpGrantSet, Collection: g.Collection, Grant: &g}
	if !g.Read && !g.Write {
		if err := db.execRecorded(ctx, change, anyRows, `DELETE FROM grants WHERE collection = $1 AND org_id = $2`, g.Collection, g.OrgID); err != nil {
			return fmt.Errorf("postgres: set grant %s/%s: %w", g.Collection, g.OrgID, err)
		}
		return nil
	}
	err := db.execRecorded(ctx, change, anyRows, `INSERT INTO grants (collection, org_id, can_read, can_write) VALUES ($1, $2, $3, $4)
		ON CONFLICT (collection, org_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write`,
		g.Collection, g.OrgID, g.Read, g.Write)
	if pgCode(err) == codeForeignKeyViolation {
		return fmt.Errorf("postgres: set grant %s/%s: the collection or organisation does not exist: %w", g.Collection, g.OrgID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: set grant %s/%s: %w", g.Collection, g.OrgID, err)
	}
	return nil
}

// GetGrant returns orgID's grant on collection; ErrNotFound if none.
func (db *DB) GetGrant(ctx context.Context, collection, orgID string) (store.Grant, error) {
	g := store.Grant{Collection: collection, OrgID: orgID}
	err := db.pool.QueryRow(ctx, `SELECT can_read, can_write FROM grants WHERE collection = $1 AND org_id = $2`,
		collection, orgID).Scan(&g.Read, &g.Write)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Grant{}, fmt.Errorf("postgres: grant %s/%s: %w", collection, orgID, store.ErrNotFound)
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("postgres: grant %s/%s: %w", collection, orgID, err)
	}
	return g, nil
}

// ListGrants returns the grants on collection ordered by organisation id;
// empty (not an error) when there are none.
func (db *DB) ListGrants(ctx context.Context, collection string) ([]store.Grant, error) {
	rows, err := db.pool.Query(ctx, `SELECT collection, org_id, can_read, can_write FROM grants
		WHERE collection = $1 ORDER BY org_id`, collection)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants of %s: %w", collection, err)
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Grant, error) {
		var g store.Grant
		err := r.Scan(&g.Collection, &g.OrgID, &g.Read, &g.Write)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants of %s: %w", collection, err)
	}
	return gs, nil
}
