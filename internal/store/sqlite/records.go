package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"fusion/internal/store"
)

// GetRecord returns the value stored under key; ErrNotFound when there is
// none. An empty value comes back as an empty, non-nil slice.
func (db *DB) GetRecord(ctx context.Context, key string) ([]byte, error) {
	if err := ctxErr(ctx, "get record"); err != nil {
		return nil, err
	}
	var v []byte
	err := db.r.QueryRowContext(ctx, `SELECT value FROM records WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get record %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SetRecord stores value under key, replacing any earlier value.
func (db *DB) SetRecord(ctx context.Context, key string, value []byte) error {
	if err := ctxErr(ctx, "set record"); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO records (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("sqlite: set record %q: %w", key, err)
	}
	return nil
}
