// Package testdb opens real stores for the tests of packages built on the
// store: SQLite in a temporary directory always, and PostgreSQL on a
// fresh schema of its own when FUSION_TEST_POSTGRES_URL is set. A set but
// unreachable URL fails the test rather than skipping it, so CI cannot
// pass without the database it was promised.
//
// The backends' own tests do not use it (it imports both backends).
package testdb

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fusion/internal/store"
	"fusion/internal/store/pgschema"
	"fusion/internal/store/postgres"
	"fusion/internal/store/sqlite"
)

// PostgresEnv names the variable holding the PostgreSQL test URL.
const PostgresEnv = "FUSION_TEST_POSTGRES_URL"

// Opener opens a fresh, empty store closed when the test ends.
type Opener func(tb testing.TB) store.Store

// Backend is one store backend tests run on.
type Backend struct {
	Name string // "sqlite" or "postgres"
	Open Opener
}

// Backends returns SQLite, and PostgreSQL when PostgresEnv is set.
func Backends() []Backend {
	bs := []Backend{{"sqlite", SQLite}}
	if HavePostgres() {
		bs = append(bs, Backend{"postgres", Postgres})
	}
	return bs
}

// ForEach runs fn as a subtest per backend of Backends.
func ForEach(t *testing.T, fn func(t *testing.T, open Opener)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open) })
	}
}

// HavePostgres reports whether PostgresEnv is set.
func HavePostgres() bool { return os.Getenv(PostgresEnv) != "" }

// SQLitePath returns the path of a database file in a fresh temporary
// directory (not created yet: sqlite.Open creates it).
func SQLitePath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "fusion.db") }

// SQLite opens a fresh SQLite store.
func SQLite(tb testing.TB) store.Store { return OpenSQLite(tb, SQLitePath(tb)) }

// OpenSQLite opens (another handle on) the SQLite store at path.
func OpenSQLite(tb testing.TB, path string) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Postgres opens a store on a fresh PostgreSQL schema.
func Postgres(tb testing.TB) store.Store { return OpenPostgres(tb, PostgresURL(tb)) }

// PostgresURL creates a fresh schema, dropped when the test ends, and
// returns the database URL that selects it (the backend's convention:
// search_path). Several OpenPostgres calls on it share one database, as
// hub nodes do. It fails the test if PostgresEnv is unset or the server
// is unreachable.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(PostgresEnv)
	if url == "" {
		tb.Fatalf("%s is not set", PostgresEnv)
	}
	schema := pgschema.New(tb, url, PostgresEnv, tb.Cleanup)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	return url + sep + "search_path=" + schema
}

// OpenPostgres opens (another handle on) the PostgreSQL store at url.
func OpenPostgres(tb testing.TB, url string) store.Store {
	tb.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}
