package audit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/pgschema"
	"fusion/internal/store/postgres"
	"fusion/internal/store/sqlite"
)

// The SQLite backend implements the log's storage.
var _ store.Log = (*sqlite.DB)(nil)

// pgEnv names the PostgreSQL the tests also run against. Unset: SQLite
// only. Set: an unreachable server, or a backend that does not implement
// store.Log, fails the tests.
const pgEnv = "FUSION_TEST_POSTGRES_URL"

// testDB is one store opened for a test, with raw SQL access to tamper
// with the log's tables (log_entries, stored hashes and log_checkpoints in
// both backends; the sizes differ, see setSizes).
type testDB struct {
	store.Store
	lg store.Log
	// URL opens the same data with cmd/fusion's openStore.
	URL string
	// node opens another handle on the same data: a second hub node.
	node func(t testing.TB) (store.Store, store.Log)
	exec func(t testing.TB, query string, args ...any)
	// setSizes sets the stored log and tree sizes (-1: leave it), which
	// the backends keep in tables of their own.
	setSizes func(t testing.TB, logSize, treeSize int64)
	// dropHashes deletes the stored hashes at storage indexes from on;
	// setHash overwrites the one at idx (SQLite keeps a row per hash,
	// PostgreSQL rows of 32).
	dropHashes func(t testing.TB, from int64)
	setHash    func(t testing.TB, idx int64, h []byte)
}

type backend struct {
	name string
	open func(t testing.TB) *testDB
}

func backends(t testing.TB) []backend {
	bs := []backend{{"sqlite", openSQLiteDB}}
	if os.Getenv(pgEnv) != "" {
		bs = append(bs, backend{"postgres", openPostgresDB})
	}
	return bs
}

// eachBackend runs f as a subtest per backend.
func eachBackend(t *testing.T, f func(t *testing.T, open func(t testing.TB) *testDB)) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) { f(t, b.open) })
	}
}

func asLog(t testing.TB, s store.Store) store.Log {
	t.Helper()
	l, ok := s.(store.Log)
	if !ok {
		t.Fatalf("%T does not implement store.Log", s)
	}
	return l
}

func openSQLiteDB(t testing.TB) *testDB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fusion.db")
	open := func(t testing.TB) (store.Store, store.Log) {
		db, err := sqlite.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("sqlite.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db, asLog(t, db)
	}
	st, lg := open(t)
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	db := &testDB{Store: st, lg: lg, URL: "sqlite:" + path, node: open,
		exec: func(t testing.TB, q string, args ...any) {
			t.Helper()
			if _, err := raw.Exec(q, args...); err != nil {
				t.Fatalf("tamper %q: %v", q, err)
			}
		}}
	db.dropHashes = func(t testing.TB, from int64) {
		t.Helper()
		db.exec(t, `DELETE FROM log_hashes WHERE idx >= $1`, from)
	}
	db.setHash = func(t testing.TB, idx int64, h []byte) {
		t.Helper()
		db.exec(t, `UPDATE log_hashes SET hash = $1 WHERE idx = $2`, h, idx)
	}
	db.setSizes = func(t testing.TB, logSize, treeSize int64) {
		t.Helper()
		if treeSize >= 0 {
			db.exec(t, `UPDATE log_state SET tree_size = $1`, treeSize)
		}
		if logSize >= 0 {
			db.exec(t, `UPDATE log_state SET log_size = $1`, logSize)
		}
	}
	return db
}

func openPostgresDB(t testing.TB) *testDB {
	t.Helper()
	url := os.Getenv(pgEnv)
	ctx := context.Background()
	schema := pgschema.New(t, url, pgEnv, t.Cleanup)
	conn, err := pgx.Connect(ctx, url) // for tampering
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	open := func(t testing.TB) (store.Store, store.Log) {
		db, err := postgres.OpenConfig(context.Background(), cfg.Copy())
		if err != nil {
			t.Fatalf("postgres.OpenConfig: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		return db, asLog(t, db)
	}
	st, lg := open(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	db := &testDB{Store: st, lg: lg, URL: url + sep + "search_path=" + schema, node: open,
		exec: func(t testing.TB, q string, args ...any) {
			t.Helper()
			if _, err := conn.Exec(context.Background(), "SET search_path TO "+schema); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(context.Background(), q, args...); err != nil {
				t.Fatalf("tamper %q: %v", q, err)
			}
		}}
	db.dropHashes = func(t testing.TB, from int64) {
		t.Helper()
		db.exec(t, `DELETE FROM log_hash_chunks WHERE chunk > $1`, from/32)
		db.exec(t, `DELETE FROM log_hash_chunks WHERE chunk = $1 AND $2::int = 0`, from/32, from%32)
		db.exec(t, `UPDATE log_hash_chunks SET hashes = substr(hashes, 1, $2::int) WHERE chunk = $1 AND $2::int > 0`, from/32, 32*(from%32))
	}
	db.setHash = func(t testing.TB, idx int64, h []byte) {
		t.Helper()
		db.exec(t, `UPDATE log_hash_chunks SET hashes = overlay(hashes placing $1::bytea from $2::int for 32) WHERE chunk = $3`,
			h, 32*(idx%32)+1, idx/32)
	}
	db.setSizes = func(t testing.TB, logSize, treeSize int64) {
		t.Helper()
		if treeSize >= 0 {
			db.exec(t, `UPDATE log_tree SET size = $1`, treeSize)
		}
		if logSize >= 0 {
			db.exec(t, `UPDATE log_head SET size = $1`, logSize)
		}
	}
	return db
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock returns a fake clock advancing a millisecond per call.
func clock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) }
}

func uuidN(n int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", n>>16, n) }

// indicator is a STIX indicator numbered n with the given modified time.
func indicator(t testing.TB, n int, modified time.Time) *stix.Object {
	t.Helper()
	created := modified.Add(-time.Hour)
	raw := `{"type":"indicator","spec_version":"2.1","id":"indicator--` + uuidN(n) +
		`","created":"` + stix.FormatTimestamp(created) + `","modified":"` + stix.FormatTimestamp(modified) +
		`","name":"audit test ` + strconv.Itoa(n) + `","pattern":"[ipv4-addr:value = '198.51.100.` + strconv.Itoa(n%250) +
		`']","pattern_type":"stix","valid_from":"` + stix.FormatTimestamp(created) + `"}`
	o, err := stix.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("parse test object: %v", err)
	}
	return o
}

// testKey returns a fresh signing key named fusion.hub/test.
func testKey(t testing.TB, name string) *Key {
	t.Helper()
	skey, err := GenerateKey(OriginPrefix + name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// appendN appends n distinct entries in batches of batch, integrating
// after each batch when l is not nil.
func appendN(t testing.TB, lg store.Log, l *Log, from, n, batch int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < from+n; i += batch {
		var es [][]byte
		for j := i; j < min(i+batch, from+n); j++ {
			e := Entry{Kind: KindServed, V: SchemaVersion, Time: FormatTime(t0.Add(time.Duration(j) * time.Second)),
				Actor: "org-" + strconv.Itoa(j%3), Org: "org-" + strconv.Itoa(j%3), Source: "org-" + strconv.Itoa((j+1)%3),
				Path: PathTAXIIObjects, Collection: store.DefaultCollectionID,
				Objects: []Item{{ID: "indicator--" + uuidN(j), Version: "2026-01-01T00:00:00.000Z"}}}
			es = append(es, Encode(&e))
		}
		if _, err := lg.AppendLog(ctx, es); err != nil {
			t.Fatalf("AppendLog: %v", err)
		}
		if l != nil {
			if _, err := l.Integrate(ctx); err != nil {
				t.Fatalf("Integrate: %v", err)
			}
		}
	}
}
