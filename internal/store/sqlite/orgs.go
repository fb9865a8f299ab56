package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"fusion/internal/store"
)

const orgColumns = `id, name, kind, country, created`

func scanOrg(s scanner) (store.Org, error) {
	var (
		o       store.Org
		created sql.NullInt64
	)
	if err := s.Scan(&o.ID, &o.Name, &o.Kind, &o.Country, &created); err != nil {
		return store.Org{}, err
	}
	o.Created = fromMicros(created)
	return o, nil
}

// CreateOrg inserts o; a zero Created becomes the current time. ErrExists
// on a duplicate id or name.
func (db *DB) CreateOrg(ctx context.Context, o store.Org) error {
	if err := ctxErr(ctx, "create org"); err != nil {
		return err
	}
	o.Created = asStored(orNow(o.Created)) // as stored, for the recorder
	err := db.write(ctx, store.Change{Op: store.OpOrgCreate, Org: &o}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO orgs (`+orgColumns+`) VALUES (?, ?, ?, ?, ?)`,
			o.ID, o.Name, o.Kind, o.Country, o.Created.UnixMicro())
		return constraint(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create org %s (%s): %w", o.Name, o.ID, err)
	}
	return nil
}

func (db *DB) getOrg(ctx context.Context, what, where, arg string) (store.Org, error) {
	if err := ctxErr(ctx, "get org"); err != nil {
		return store.Org{}, err
	}
	o, err := scanOrg(db.r.QueryRowContext(ctx, `SELECT `+orgColumns+` FROM orgs WHERE `+where+` = ?`, arg))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Org{}, fmt.Errorf("sqlite: get org %s %q: %w", what, arg, err)
	}
	return o, nil
}

// GetOrg returns an organisation by id; ErrNotFound when there is none.
func (db *DB) GetOrg(ctx context.Context, id string) (store.Org, error) {
	return db.getOrg(ctx, "id", "id", id)
}

// GetOrgByName returns an organisation by its exact name; ErrNotFound
// when there is none.
func (db *DB) GetOrgByName(ctx context.Context, name string) (store.Org, error) {
	return db.getOrg(ctx, "name", "name", name)
}

// ListOrgs returns every organisation ordered by name.
func (db *DB) ListOrgs(ctx context.Context) ([]store.Org, error) {
	if err := ctxErr(ctx, "list orgs"); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+orgColumns+` FROM orgs ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list orgs: %w", err)
	}
	defer rows.Close()
	var os []store.Org
	for rows.Next() {
		o, err := scanOrg(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list orgs: %w", err)
		}
		os = append(os, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list orgs: %w", err)
	}
	return os, nil
}
