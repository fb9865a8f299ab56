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
// Versions live in one rowid table, each new version appended at its
// end, with a unique index on (collection, date_added): a page of a
// listing is a range scan of that index, reading rows in ascending rowid
// (migration 0005 says why not a table clustered by that key). First/last
// flags on each version make match[version]=first|last a filter on that
// scan, and a partial index serves last versions of one type. An index on a
// 64-bit hash of the object id serves Put's look-ups, id filters and
// Delete. Put reads the batch's existing objects in a few statements and
// inserts 64 rows per statement. A goroutine checkpoints the WAL on its
// own connection so that the writer does not.
//
// Each new object dirties a leaf of the id index at a random place; once
// a collection outgrows a batch's worth of leaves (a few hundred thousand
// objects), writing those pages to the WAL dominates Put. Bulk loads use
// PutGrouped (group.go), which commits several Puts in one transaction so
// that each page is written once per group. A Bloom filter of the id
// hashes each collection holds (idfilter.go) lets Put skip the index
// look-up of ids that are certainly new; it stays correct when other
// processes write to the file. The audit recorder runs on its own
// goroutine while the rows are inserted (log.go).
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
	c    *sql.DB // one connection for background WAL checkpoints

	stmts    putStmts
	logStmts logStmts
	recorder store.Recorder // called inside every change's transaction; see log.go
	ids      idFilters      // known-id filters of Put; see idfilter.go

	kick    chan struct{} // a write committed
	stop    chan struct{} // Close asks the checkpointer to stop
	stopped chan struct{}
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
	db := &DB{path: path}
	if err := db.open(ctx); err != nil {
		db.closeHandles()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.kick = make(chan struct{}, 1)
	db.stop = make(chan struct{})
	db.stopped = make(chan struct{})
	go db.checkpointer()
	return db, nil
}

// open opens the three handles, brings the schema up to date and
// prepares Put's statements.
func (db *DB) open(ctx context.Context) error {
	const common = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)"
	handle := func(dsn string, conns int) (*sql.DB, error) {
		h, err := sql.Open("sqlite", "file:"+db.path+"?"+dsn+"&"+common)
		if err != nil {
			return nil, err
		}
		h.SetMaxOpenConns(conns)
		h.SetMaxIdleConns(conns)
		h.SetConnMaxIdleTime(0)
		h.SetConnMaxLifetime(0)
		return h, h.PingContext(ctx)
	}
	var err error
	// The writer checkpoints only when the background checkpointer falls
	// far behind (autocheckpoint, in pages); normally the checkpointer's
	// own connection does it, off the writer's path. The writer's page
	// cache holds the object index of a few million versions.
	if db.w, err = handle(fmt.Sprintf("_txlock=immediate&_pragma=wal_autocheckpoint(%d)&_pragma=journal_size_limit(%d)&_pragma=cache_size(-%d)",
		writerAutocheckpoint, walSizeLimit, writerCacheKiB), 1); err != nil {
		return err
	}
	if err := db.setup(ctx); err != nil {
		return fmt.Errorf("set up the file: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	if err := db.ensureDefaultCollection(ctx); err != nil {
		return fmt.Errorf("default collection: %w", err)
	}
	if err := db.prepare(ctx); err != nil {
		return err
	}
	if err := db.prepareLog(ctx); err != nil {
		return err
	}
	// Readers open after the writer has put the file in WAL mode. They map
	// the file into memory instead of copying pages into their caches.
	if db.r, err = handle(fmt.Sprintf("_pragma=query_only(1)&_pragma=mmap_size(%d)&_pragma=cache_size(-%d)", readerMmap, readerCacheKiB),
		max(4, runtime.GOMAXPROCS(0))); err != nil {
		return err
	}
	db.c, err = handle("_pragma=cache_size(-2048)", 1)
	return err
}

// closeHandles closes whatever open managed to open.
func (db *DB) closeHandles() error {
	errs := []error{db.stmts.close(), db.logStmts.close()}
	for _, h := range []*sql.DB{db.c, db.r, db.w} {
		if h != nil {
			errs = append(errs, h.Close())
		}
	}
	return errors.Join(errs...)
}

// checkpointInterval is the least time between background checkpoints.
// A page written by many commits in between is copied once; the WAL holds
// up to this much of the write load.
const checkpointInterval = 500 * time.Millisecond

const (
	// writerAutocheckpoint (pages) bounds the WAL when the background
	// checkpointer falls behind: the writer then checkpoints itself.
	writerAutocheckpoint = 65536
	// walSizeLimit (bytes) is what the WAL file is cut back to when it
	// is restarted.
	walSizeLimit = 64 << 20
)

// wrote tells the checkpointer that a write committed.
func (db *DB) wrote() {
	select {
	case db.kick <- struct{}{}:
	default:
	}
}

// checkpointer copies the WAL into the database file after writes, at
// most every checkpointInterval, on its own connection: a PASSIVE
// checkpoint neither waits for nor blocks readers and the writer, and its
// fsyncs stay off the writer's path.
func (db *DB) checkpointer() {
	defer close(db.stopped)
	for {
		select {
		case <-db.stop:
			return
		case <-db.kick:
		}
		// Errors are not fatal: the next write retries, and the writer's
		// autocheckpoint bounds the WAL meanwhile.
		_, _ = db.c.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		select {
		case <-db.stop:
			return
		case <-time.After(checkpointInterval):
		}
	}
}

// Cache sizes of the writer and of each reader connection, and how much
// of the file a reader maps into memory.
const (
	writerCacheKiB = 32 << 10 // 1M-object ingest on a quiet machine: 43k objects/s, 199 MiB peak RSS (64 MiB: 41k/s, 292 MiB)
	readerCacheKiB = 32 << 10
	readerMmap     = 1 << 40
)

// pageSize is the page size of a new file. Larger than SQLite's 4 KiB
// default so that typical objects (up to about 2 KiB of JSON) stay in
// their row instead of spilling to overflow pages.
const pageSize = 8192

// setup sets the page size of a new file (a no-op on an existing one) and
// puts the file in WAL mode.
//
// Switching a new file to WAL mode can fail with SQLITE_BUSY at once,
// without SQLite's busy timeout, while another connection (another
// process, or another Open of the same file) does the same; it is retried
// for up to setupWait.
func (db *DB) setup(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", pageSize)); err != nil {
		return err
	}
	var mode string
	deadline := time.Now().Add(setupWait)
	for pause := time.Millisecond; ; pause = min(2*pause, 100*time.Millisecond) {
		err := db.w.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			break
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, not wal", mode)
	}
	return nil
}

// setupWait bounds how long setup retries switching to WAL mode.
const setupWait = 10 * time.Second

// Close stops the background checkpointer and closes the file. It lets
// SQLite update its query planner statistics first (PRAGMA optimize).
// Close must be called once, after every other call has returned.
func (db *DB) Close() error {
	close(db.stop)
	<-db.stopped
	_, oerr := db.w.Exec("PRAGMA optimize")
	// The writer closes last: the last connection checkpoints and removes
	// the WAL.
	return errors.Join(oerr, db.closeHandles())
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
