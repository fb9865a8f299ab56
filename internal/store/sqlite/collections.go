package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"fusion/internal/store"
)

const collectionColumns = `id, api_root, title, description, alias, media_types, default_tlp, created`

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func encodeMediaTypes(m []string) string {
	if len(m) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(m) // a []string always marshals
	return string(b)
}

type scanner interface{ Scan(...any) error }

func scanCollection(s scanner) (store.Collection, error) {
	var (
		c       store.Collection
		alias   sql.NullString
		media   string
		created sql.NullInt64
	)
	if err := s.Scan(&c.ID, &c.APIRoot, &c.Title, &c.Description, &alias, &media, &c.DefaultTLP, &created); err != nil {
		return store.Collection{}, err
	}
	c.Alias = alias.String
	c.Created = fromMicros(created)
	if err := json.Unmarshal([]byte(media), &c.MediaTypes); err != nil {
		return store.Collection{}, fmt.Errorf("collection %s: media_types column: %w", c.ID, err)
	}
	if len(c.MediaTypes) == 0 {
		c.MediaTypes = nil
	}
	return c, nil
}

// CreateCollection inserts c; a zero Created becomes the current time.
// ErrExists on a duplicate id or on an alias taken in the API root.
func (db *DB) CreateCollection(ctx context.Context, c store.Collection) error {
	if err := ctxErr(ctx, "create collection"); err != nil {
		return err
	}
	c.Created = asStored(orNow(c.Created)) // as stored, for the recorder
	err := db.write(ctx, store.Change{Op: store.OpCollectionCreate, Collection: c.ID, Coll: &c}, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO collections (`+collectionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.APIRoot, c.Title, c.Description, nullString(c.Alias), encodeMediaTypes(c.MediaTypes), c.DefaultTLP,
			c.Created.UnixMicro())
		return constraint(err)
	})
	if err != nil {
		return fmt.Errorf("sqlite: create collection %s: %w", c.ID, err)
	}
	return nil
}

// GetCollection returns a collection; ErrNotFound when there is none.
func (db *DB) GetCollection(ctx context.Context, id string) (store.Collection, error) {
	if err := ctxErr(ctx, "get collection"); err != nil {
		return store.Collection{}, err
	}
	c, err := scanCollection(db.r.QueryRowContext(ctx, `SELECT `+collectionColumns+` FROM collections WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Collection{}, fmt.Errorf("sqlite: get collection %s: %w", id, err)
	}
	return c, nil
}

// ListCollections returns an API root's collections (all when apiRoot is
// empty) ordered by title then id.
func (db *DB) ListCollections(ctx context.Context, apiRoot string) ([]store.Collection, error) {
	if err := ctxErr(ctx, "list collections"); err != nil {
		return nil, err
	}
	query := `SELECT ` + collectionColumns + ` FROM collections ORDER BY title, id`
	var args []any
	if apiRoot != "" {
		query = `SELECT ` + collectionColumns + ` FROM collections WHERE api_root = ? ORDER BY title, id`
		args = append(args, apiRoot)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list collections: %w", err)
	}
	defer rows.Close()
	var cs []store.Collection
	for rows.Next() {
		c, err := scanCollection(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list collections: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list collections: %w", err)
	}
	return cs, nil
}

// UpdateCollection replaces every field of the collection c.ID but its
// Created time. ErrNotFound when there is none; ErrExists when the new
// alias is taken in its API root.
func (db *DB) UpdateCollection(ctx context.Context, c store.Collection) error {
	if err := ctxErr(ctx, "update collection"); err != nil {
		return err
	}
	err := db.write(ctx, store.Change{Op: store.OpCollectionUpdate, Collection: c.ID, Coll: &c}, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE collections SET
			api_root = ?, title = ?, description = ?, alias = ?, media_types = ?, default_tlp = ?
			WHERE id = ?`,
			c.APIRoot, c.Title, c.Description, nullString(c.Alias), encodeMediaTypes(c.MediaTypes), c.DefaultTLP, c.ID)
		if err != nil {
			return constraint(err)
		}
		return affected(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: update collection %s: %w", c.ID, err)
	}
	return nil
}

// DeleteCollection removes a collection with its versions and grants.
// ErrNotFound when there is none. The default collection comes back the
// next time the file is opened.
func (db *DB) DeleteCollection(ctx context.Context, id string) error {
	if err := ctxErr(ctx, "delete collection"); err != nil {
		return err
	}
	err := db.write(ctx, store.Change{Op: store.OpCollectionDelete, Collection: id}, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM collections WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return affected(res)
	})
	if err != nil {
		return fmt.Errorf("sqlite: delete collection %s: %w", id, err)
	}
	db.wrote()
	return nil
}
