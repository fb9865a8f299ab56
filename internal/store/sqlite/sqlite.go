// Package sqlite is Fusion's embedded store.Store backend: one SQLite file
// (modernc.org/sqlite, pure Go) holding the object versions of every
// collection with their server-assigned date_added (TAXII 2.1 section
// 3.4.1), collections, organisations, tokens, grants and records.
//
// The file is in WAL mode. All writes go through one connection, so
// transactions commit in the order they assign date_added and a reader
// paging with added_after never sees a later date_added before an earlier
// one; reads use a separate pool of read-only connections. One process
// owns the file: several processes opening the same file work (SQLite
// locks it) but serialise their writes.
//
// Schema changes are the embedded migrations/*.sql files, applied in order
// by Open and recorded in schema_migrations.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fusion/internal/store"
)

// DB is a store.Store kept in one SQLite file. It is safe for concurrent
// use.
type DB struct {
	path string
	w    *sql.DB // exactly one connection: every write
	r    *sql.DB // read-only pool
}

var _ store.Store = (*DB)(nil)

// Open opens (creating when missing) the SQLite store at path, creating
// its parent directory, and brings its schema up to date. The default
// collection is created when absent.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: open %q: need a file path without '?' or '#'", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
	}
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)" +
		"&_pragma=cache_size(-65536)&_pragma=temp_store(MEMORY)"
	w, err := sql.Open("sqlite", "file:"+path+"?_txlock=immediate&_pragma=journal_mode(WAL)&"+common)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	db := &DB{path: path, w: w}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.ensureDefaultCollection(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Readers open after the writer has put the file in WAL mode.
	r, err := sql.Open("sqlite", "file:"+path+"?_pragma=query_only(1)&"+common)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(0)
	r.SetConnMaxLifetime(0)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.r = r
	return db, nil
}

// Close closes the file. It lets SQLite update its query planner
// statistics first (PRAGMA optimize).
func (db *DB) Close() error {
	_, oerr := db.w.Exec("PRAGMA optimize")
	rerr := db.r.Close()
	werr := db.w.Close()
	return errors.Join(werr, rerr, oerr)
}

// ---- encoding ----

// noVersion is the modified value of a version without a version key:
// time.Time{}.UnixNano() is out of int64's range, and this sorts first.
const noVersion = math.MinInt64

var (
	minVersionKey = time.Unix(0, math.MinInt64+1)
	maxVersionKey = time.Unix(0, math.MaxInt64)
)

// versionKey encodes a version key as Unix nanoseconds.
func versionKey(t time.Time) (int64, error) {
	if t.IsZero() {
		return noVersion, nil
	}
	if t.Before(minVersionKey) || t.After(maxVersionKey) {
		return 0, fmt.Errorf("version key %s is outside the years 1678 to 2262 this store can keep", t.UTC().Format(time.RFC3339Nano))
	}
	return t.UnixNano(), nil
}

func decodeVersionKey(n int64) time.Time {
	if n == noVersion {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// micros encodes an instant as Unix microseconds; the zero time as NULL.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// orNow returns t, or the current time when t is zero.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- errors ----

// constraint maps SQLite constraint failures to the store's errors:
// unique and primary keys to ErrExists, foreign keys to ErrNotFound.
func constraint(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w (%s)", store.ErrExists, se.Error())
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w (%s)", store.ErrNotFound, se.Error())
	}
	return err
}

// ctxErr returns ctx's error before any work is started, so that a
// cancelled context fails every method the same way.
func ctxErr(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlite: %s: %w", what, err)
	}
	return nil
}

// rollback ends tx when a method returns early; after Commit it is a no-op.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
