package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"fusion/internal/store"
)

const collectionCols = `id, api_root, title, description, alias, media_types, default_tlp, created`

func scanCollection(row pgx.Row) (store.Collection, error) {
	var (
		c       store.Collection
		created *int64
	)
	if err := row.Scan(&c.ID, &c.APIRoot, &c.Title, &c.Description, &c.Alias, &c.MediaTypes, &c.DefaultTLP, &created); err != nil {
		return store.Collection{}, err
	}
	if len(c.MediaTypes) == 0 {
		c.MediaTypes = nil
	}
	c.Created = nanosTime(created)
	return c, nil
}

func mediaTypes(m []string) []string {
	if m == nil {
		return []string{}
	}
	return m
}

// CreateCollection creates c. ErrExists if its id is taken, or its alias
// (when set) is taken within its API root.
func (db *DB) CreateCollection(ctx context.Context, c store.Collection) error {
	created, err := nullNanos(c.Created, "created")
	if err != nil {
		return fmt.Errorf("postgres: create collection %s: %w", c.ID, err)
	}
	err = db.execRecorded(ctx, store.Change{Op: store.OpCollectionCreate, Collection: c.ID, Coll: &c}, anyRows,
		`INSERT INTO collections (`+collectionCols+`, last_added)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`,
		c.ID, c.APIRoot, c.Title, c.Description, c.Alias, mediaTypes(c.MediaTypes), c.DefaultTLP, created)
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("postgres: create collection %s: %w", c.ID, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: create collection %s: %w", c.ID, err)
	}
	return nil
}

// GetCollection returns the collection with id; ErrNotFound if none.
func (db *DB) GetCollection(ctx context.Context, id string) (store.Collection, error) {
	c, err := scanCollection(db.pool.QueryRow(ctx, `SELECT `+collectionCols+` FROM collections WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Collection{}, fmt.Errorf("postgres: collection %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Collection{}, fmt.Errorf("postgres: collection %s: %w", id, err)
	}
	return c, nil
}

// ListCollections returns the collections of apiRoot (all roots when it
// is empty) ordered by title, then id, comparing bytes.
func (db *DB) ListCollections(ctx context.Context, apiRoot string) ([]store.Collection, error) {
	var (
		rows pgx.Rows
		err  error
	)
	if apiRoot == "" {
		rows, err = db.pool.Query(ctx, `SELECT `+collectionCols+` FROM collections ORDER BY title, id`)
	} else {
		rows, err = db.pool.Query(ctx, `SELECT `+collectionCols+` FROM collections WHERE api_root = $1 ORDER BY title, id`, apiRoot)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: list collections: %w", err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Collection, error) { return scanCollection(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: list collections: %w", err)
	}
	return cs, nil
}

// UpdateCollection replaces the API root, title, description, alias,
// media types and default TLP of collection c.ID; its id, created time and
// versions stay. ErrNotFound if it does not exist, ErrExists if the new
// alias is taken in the API root.
func (db *DB) UpdateCollection(ctx context.Context, c store.Collection) error {
	err := db.execRecorded(ctx, store.Change{Op: store.OpCollectionUpdate, Collection: c.ID, Coll: &c}, oneRow,
		`UPDATE collections
		SET api_root = $2, title = $3, description = $4, alias = $5, media_types = $6, default_tlp = $7
		WHERE id = $1`,
		c.ID, c.APIRoot, c.Title, c.Description, c.Alias, mediaTypes(c.MediaTypes), c.DefaultTLP)
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("postgres: update collection %s: alias %q: %w", c.ID, c.Alias, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("postgres: update collection %s: %w", c.ID, err)
	}
	return nil
}

// DeleteCollection removes the collection, its versions and its grants in
// one transaction. ErrNotFound if it does not exist. A Put waiting on the
// collection lock meanwhile finds it gone and returns ErrNotFound.
func (db *DB) DeleteCollection(ctx context.Context, id string) error {
	tx, err := db.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return fmt.Errorf("postgres: delete collection %s: %w", id, err)
	}
	defer tx.Rollback(ctx)
	var seq int64
	err = tx.QueryRow(ctx, `DELETE FROM collections WHERE id = $1 RETURNING seq`, id).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: delete collection %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: delete collection %s: %w", id, err)
	}
	// Grants go by ON DELETE CASCADE; versions have no foreign key.
	if _, err := tx.Exec(ctx, `DELETE FROM versions WHERE coll = $1`, seq); err != nil {
		return fmt.Errorf("postgres: delete collection %s: versions: %w", id, err)
	}
	if err := db.record(ctx, tx, store.Change{Op: store.OpCollectionDelete, Collection: id}); err != nil {
		return fmt.Errorf("postgres: delete collection %s: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: delete collection %s: commit: %w", id, err)
	}
	return nil
}
