package disseminate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fusion/internal/audit"
	"fusion/internal/store"
	"fusion/internal/store/postgres"
	"fusion/internal/store/sqlite"
)

// The tests run on SQLite always and on PostgreSQL when
// FUSION_TEST_POSTGRES_URL is set; then an unreachable server fails.
const pgEnv = "FUSION_TEST_POSTGRES_URL"

type opener func(tb testing.TB) store.Store

func forEachBackend(t *testing.T, fn func(t *testing.T, open opener)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite) })
	if os.Getenv(pgEnv) != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, openPostgres) })
	}
}

// withRecorder installs the audit recorder, as every command does.
func withRecorder(st store.Store) store.Store {
	st.SetRecorder(audit.Recorder(nil))
	return st
}

func openSQLite(tb testing.TB) store.Store {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "fusion.db"))
	if err != nil {
		tb.Fatalf("sqlite.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return withRecorder(db)
}

func openPostgres(tb testing.TB) store.Store {
	tb.Helper()
	url := os.Getenv(pgEnv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("%s is set but PostgreSQL is not reachable: %v", pgEnv, err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	rand.Read(b[:])
	schema := "fusion_dissem_t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db, err := postgres.Open(context.Background(), url+sep+"search_path="+schema)
	if err != nil {
		tb.Fatalf("postgres.Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return withRecorder(db)
}
