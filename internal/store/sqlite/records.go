package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

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

// ListRecords returns the records under prefix after the key after, in
// bytewise key order (SQLite's BINARY collation), at most limit of them.
func (db *DB) ListRecords(ctx context.Context, prefix, after string, limit int) ([]store.Record, error) {
	if err := ctxErr(ctx, "list records"); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("sqlite: list records: limit %d must be positive", limit)
	}
	// Keys under prefix are contiguous in key order from prefix on: read
	// from max(prefix, after) and stop at the first key outside it.
	from := max(prefix, after)
	rows, err := db.r.QueryContext(ctx, `SELECT key, value FROM records
		WHERE key >= ? AND key != ? ORDER BY key LIMIT ?`, from, after, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list records %q: %w", prefix, err)
	}
	defer rows.Close()
	var out []store.Record
	for rows.Next() {
		var r store.Record
		if err := rows.Scan(&r.Key, &r.Value); err != nil {
			return nil, fmt.Errorf("sqlite: list records %q: %w", prefix, err)
		}
		if !strings.HasPrefix(r.Key, prefix) {
			break
		}
		if r.Value == nil {
			r.Value = []byte{}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list records %q: %w", prefix, err)
	}
	return out, nil
}

// DeleteRecord removes key; a missing key is not an error.
func (db *DB) DeleteRecord(ctx context.Context, key string) error {
	if err := ctxErr(ctx, "delete record"); err != nil {
		return err
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM records WHERE key = ?`, key); err != nil {
		return fmt.Errorf("sqlite: delete record %q: %w", key, err)
	}
	return nil
}
