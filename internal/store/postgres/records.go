package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"fusion/internal/store"
)

// GetRecord returns the value stored under key; ErrNotFound if none.
func (db *DB) GetRecord(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := db.pool.QueryRow(ctx, `SELECT value FROM records WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: record %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: record %q: %w", key, err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// SetRecord stores value under key, replacing what was there.
func (db *DB) SetRecord(ctx context.Context, key string, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	_, err := db.pool.Exec(ctx, `INSERT INTO records (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("postgres: set record %q: %w", key, err)
	}
	return nil
}
