package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"fusion/internal/store"
)

// versionsV4 is the versions table as migrations 0001 to 0004 left it.
const versionsV4 = `
CREATE TABLE versions_v4 (
	coll INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	date_added INTEGER NOT NULL, id TEXT NOT NULL, idh INTEGER NOT NULL, modified INTEGER NOT NULL,
	type TEXT NOT NULL, spec_version TEXT NOT NULL, source TEXT NOT NULL, revoked INTEGER NOT NULL,
	is_first INTEGER NOT NULL, is_last INTEGER NOT NULL, raw BLOB NOT NULL, facts BLOB,
	PRIMARY KEY (coll, date_added)
) WITHOUT ROWID;
INSERT INTO versions_v4 SELECT coll, date_added, id, idh, modified, type, spec_version, source, revoked, is_first, is_last, raw, facts FROM versions;
DROP TABLE versions;
ALTER TABLE versions_v4 RENAME TO versions;
CREATE INDEX versions_object ON versions (coll, idh, modified);
CREATE INDEX versions_last_type ON versions (coll, type, date_added) WHERE is_last = 1;
DELETE FROM schema_migrations WHERE version = 5;`

// TestMigrateVersionsRowid: a file whose versions table is still the
// WITHOUT ROWID table of migration 0001 keeps every version, flag and
// listing order through migration 0005, and takes new versions after it.
func TestMigrateVersionsRowid(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fusion.db")
	m := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put(ctx, store.DefaultCollectionID, "acme", testObjects(0, 50, m)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Put(ctx, store.DefaultCollectionID, "acme", testObjects(0, 20, m.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	list := func(db *DB, vm store.VersionMatch) []store.Version {
		t.Helper()
		p, err := db.List(ctx, store.DefaultCollectionID, store.Query{Versions: vm, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return p.Versions
	}
	wantAll, wantFirst, wantLast := list(db, store.VersionMatch{All: true}), list(db, store.VersionMatch{First: true}), list(db, store.VersionMatch{Last: true})
	if len(wantAll) != 70 || len(wantFirst) != 50 || len(wantLast) != 50 {
		t.Fatalf("before: %d versions, %d first, %d last", len(wantAll), len(wantFirst), len(wantLast))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(versionsV4); err != nil {
		t.Fatal(err)
	}
	schema := func() string {
		var s string
		if err := raw.QueryRow(`SELECT group_concat(sql, ';') FROM sqlite_schema WHERE tbl_name = 'versions'`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	if !strings.Contains(schema(), "WITHOUT ROWID") {
		t.Fatalf("the old table was not set up: %s", schema())
	}
	raw.Close()

	db = openPath(t, path)
	raw, err = sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if s := schema(); strings.Contains(s, "WITHOUT ROWID") || !strings.Contains(s, "versions_added") {
		t.Fatalf("after migration 0005 the schema is %s", s)
	}
	for _, c := range []struct {
		vm   store.VersionMatch
		want []store.Version
	}{{store.VersionMatch{All: true}, wantAll}, {store.VersionMatch{First: true}, wantFirst}, {store.VersionMatch{Last: true}, wantLast}} {
		if got := list(db, c.vm); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%+v: %d versions after the migration, %d before, or they differ", c.vm, len(got), len(c.want))
		}
	}
	// New versions land after the migrated ones and move the flags.
	if n := putN(t, db, testObjects(40, 20, m.Add(2*time.Hour))); n != 20 {
		t.Fatalf("stored %d after the migration, want 20", n)
	}
	all, last := list(db, store.VersionMatch{All: true}), list(db, store.VersionMatch{Last: true})
	if len(all) != 90 || len(last) != 60 || !all[89].DateAdded.After(wantAll[69].DateAdded) {
		t.Fatalf("after new puts: %d versions, %d last", len(all), len(last))
	}
}
