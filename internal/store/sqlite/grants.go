package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"fusion/internal/store"
)

// SetGrant creates or replaces a grant, or removes it when it gives
// neither read nor write. ErrNotFound when the collection or organisation
// does not exist.
func (db *DB) SetGrant(ctx context.Context, g store.Grant) error {
	if err := ctxErr(ctx, "set grant"); err != nil {
		return err
	}
	err := db.write(ctx, store.Change{Op: store.OpGrantSet, Collection: g.Collection, Grant: &g}, func(tx *sql.Tx) error {
		var err error
		if !g.Read && !g.Write {
			_, err = tx.ExecContext(ctx, `DELETE FROM grants WHERE collection = ? AND org_id = ?`, g.Collection, g.OrgID)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO grants (collection, org_id, can_read, can_write) VALUES (?, ?, ?, ?)
				ON CONFLICT (collection, org_id) DO UPDATE SET can_read = excluded.can_read, can_write = excluded.can_write`,
				g.Collection, g.OrgID, boolInt(g.Read), boolInt(g.Write))
		}
		return constraint(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: set grant on %s for %s: %w", g.Collection, g.OrgID, err)
	}
	return nil
}

// GetGrant returns an organisation's grant on a collection; ErrNotFound
// when there is none.
func (db *DB) GetGrant(ctx context.Context, collection, orgID string) (store.Grant, error) {
	if err := ctxErr(ctx, "get grant"); err != nil {
		return store.Grant{}, err
	}
	g := store.Grant{Collection: collection, OrgID: orgID}
	err := db.r.QueryRowContext(ctx, `SELECT can_read, can_write FROM grants WHERE collection = ? AND org_id = ?`,
		collection, orgID).Scan(&g.Read, &g.Write)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Grant{}, fmt.Errorf("sqlite: get grant on %s for %s: %w", collection, orgID, err)
	}
	return g, nil
}

// ListGrants returns a collection's grants ordered by organisation id
// (none for an unknown collection).
func (db *DB) ListGrants(ctx context.Context, collection string) ([]store.Grant, error) {
	if err := ctxErr(ctx, "list grants"); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT org_id, can_read, can_write FROM grants WHERE collection = ? ORDER BY org_id`, collection)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list grants on %s: %w", collection, err)
	}
	defer rows.Close()
	var gs []store.Grant
	for rows.Next() {
		g := store.Grant{Collection: collection}
		if err := rows.Scan(&g.OrgID, &g.Read, &g.Write); err != nil {
			return nil, fmt.Errorf("sqlite: list grants on %s: %w", collection, err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list grants on %s: %w", collection, err)
	}
	return gs, nil
}
