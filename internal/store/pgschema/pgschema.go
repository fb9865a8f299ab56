// Package pgschema gives a test a PostgreSQL schema of its own: created
// empty on the server, dropped (with everything in it) when the test
// ends. The PostgreSQL backend's own tests and the shared test stores
// (internal/store/testdb) both use it; it imports only pgx, so that the
// backend's tests can.
package pgschema

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// New creates a fresh schema on the server at url, registers its drop
// with cleanup (tb.Cleanup, or the cleanup of a longer-lived parent), and
// returns its name. It fails tb when the server cannot be reached; env
// names the variable url came from, for that message.
func New(tb testing.TB, url, env string, cleanup func(func())) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatalf("%s is set but PostgreSQL is not reachable: %v", env, err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	rand.Read(b[:])
	schema := "fusion_t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("create schema %s: %v", schema, err)
	}
	cleanup(func() {
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
	return schema
}
