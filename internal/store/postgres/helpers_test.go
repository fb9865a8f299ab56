package postgres

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"fusion/internal/stix"
	"fusion/internal/store/pgschema"
)

// The tests run against the PostgreSQL server named by this variable and
// skip when it is unset. When it is set, an unreachable server fails them:
// CI that was promised a database must not pass without one.
const urlEnv = "FUSION_TEST_POSTGRES_URL"

func testURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(urlEnv)
	if u == "" {
		tb.Skip(urlEnv + " is not set; skipping the PostgreSQL backend tests " +
			"(e.g. " + urlEnv + "=postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return u
}

// newSchema creates an empty schema of its own for one test, dropped when
// the test ends, and returns a pool configuration whose connections use it
// (search_path as a runtime parameter), so parallel tests never meet.
func newSchema(tb testing.TB) *pgxpool.Config {
	tb.Helper()
	return newSchemaCleanup(tb, tb.Cleanup)
}

// newSchemaCleanup is newSchema registering the drop with cleanup, for
// stores that outlive the (sub)test or benchmark that opens them.
func newSchemaCleanup(tb testing.TB, cleanup func(func())) *pgxpool.Config {
	tb.Helper()
	url := testURL(tb)
	schema := pgschema.New(tb, url, urlEnv, cleanup)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		tb.Fatalf("parse %s: %v", urlEnv, err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return cfg
}

// openOn opens a DB (one "node") on the schema of cfg, closed when the
// test ends (before the schema is dropped).
func openOn(tb testing.TB, cfg *pgxpool.Config) *DB {
	tb.Helper()
	return openOnCleanup(tb, cfg, tb.Cleanup)
}

func openOnCleanup(tb testing.TB, cfg *pgxpool.Config, cleanup func(func())) *DB {
	tb.Helper()
	db, err := OpenConfig(context.Background(), cfg.Copy())
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	cleanup(func() { db.Close() })
	return db
}

// openTest opens a DB on a fresh schema.
func openTest(tb testing.TB) *DB {
	tb.Helper()
	return openOn(tb, newSchema(tb))
}

// openTestCleanup opens a DB on a fresh schema, closed and dropped by
// cleanup rather than when tb ends.
func openTestCleanup(tb testing.TB, cleanup func(func())) *DB {
	tb.Helper()
	return openOnCleanup(tb, newSchemaCleanup(tb, cleanup), cleanup)
}

// uuidN returns a valid, deterministic UUID for n.
func uuidN(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n>>16, n)
}

// indicator returns a parsed STIX indicator number n with the given
// modified time (created is one day earlier).
func indicator(tb testing.TB, n int, modified time.Time) *stix.Object {
	tb.Helper()
	raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%s",`+
		`"created":"%s","modified":"%s","name":"test indicator %d",`+
		`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"%s"}`,
		uuidN(n), stix.FormatTimestamp(modified.Add(-24*time.Hour)), stix.FormatTimestamp(modified), n,
		n>>16&255, n>>8&255, n&255, stix.FormatTimestamp(modified.Add(-24*time.Hour)))
	o, err := stix.Parse([]byte(raw))
	if err != nil {
		tb.Fatalf("parse test object: %v", err)
	}
	return o
}

// ipv4 returns a parsed SCO without a version key.
func ipv4(tb testing.TB, n int) *stix.Object {
	tb.Helper()
	raw := fmt.Sprintf(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--%s","value":"10.0.%d.%d"}`,
		uuidN(n), n>>8&255, n&255)
	o, err := stix.Parse([]byte(raw))
	if err != nil {
		tb.Fatalf("parse test object: %v", err)
	}
	return o
}
