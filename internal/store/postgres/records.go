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

// ListRecords returns the records under prefix after the key after, in
// bytewise key order (COLLATE "C", whatever the database's locale), at
// most limit of them.
func (db *DB) ListRecords(ctx context.Context, prefix, after string, limit int) ([]store.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("postgres: list records: limit %d must be positive", limit)
	}
	rows, err := db.pool.Query(ctx, `SELECT key, value FROM records
		WHERE starts_with(key, $1) AND key COLLATE "C" > $2
		ORDER BY key COLLATE "C" LIMIT $3`, prefix, after, limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list records %q: %w", prefix, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		var r store.Record
		if err := rows.Scan(&r.Key, &r.Value); err != nil {
			return nil, fmt.Errorf("postgres: list records %q: %w", prefix, err)
		}
		if r.Value == nil {
			r.Value = []byte{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: list records %q: %w", prefix, err)
	}
	return out, nil
}

// DeleteRecord removes key; a missing key is not an error.
func (db *DB) DeleteRecord(ctx context.Context, key string) error {
	if _, err := db.pool.Exec(ctx, `DELETE FROM records WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: delete record %q: %w", key, err)
	}
	return nil
}
