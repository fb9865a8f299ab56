package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"fusion/internal/store"
)

// The audit log (store.Log) lives in log_entries, log_hash_chunks (the
// stored hashes, hashChunk to a row), log_checkpoints and the one-row
// tables log_head (next entry index) and log_tree (tree size); see
// migrations/0006_log.sql and 0008_log_hash_chunks.sql.
//
// Appending takes the next indexes from log_head in the appending
// transaction's last statement before COMMIT, so the row lock that
// serialises appends on all nodes is held only from there to the end of
// the commit, not while the change itself is made. A transaction holding
// that lock waits for nothing else, so it cannot be part of a deadlock.

var _ store.Log = (*DB)(nil)

// appendSQL takes cardinality($1) indexes from log_head, inserts the
// entries $1 there in order and returns the first index. One statement,
// so a Put can send it with its COMMIT in one round trip.
const appendSQL = `WITH head AS (
		UPDATE log_head SET size = size + cardinality($1::bytea[]) WHERE one
		RETURNING size - cardinality($1::bytea[]) AS first),
	ins AS (
		INSERT INTO log_entries (idx, data)
		SELECT head.first + e.ord - 1, e.data FROM head, unnest($1::bytea[]) WITH ORDINALITY AS e(data, ord))
	SELECT first FROM head`

// SetRecorder installs the recorder every mutating method calls inside its
// transaction (nil: none). Call it before the DB is used concurrently.
func (db *DB) SetRecorder(r store.Recorder) { db.recorder = r }

// recordEntries calls the recorder (if any) with c. nil entries (not an
// error) when there is no recorder or it logs nothing for c.
func (db *DB) recordEntries(ctx context.Context, c store.Change) ([][]byte, error) {
	return recordedEntries(<-store.RecordAsync(ctx, db.recorder, c, false))
}

// recordedEntries returns the entries of a recorder's result, nil ones
// as empty (NOT NULL).
func recordedEntries(r store.Recorded) ([][]byte, error) {
	if r.Err != nil {
		return nil, fmt.Errorf("audit recorder: %w", r.Err)
	}
	return appendNotNull(r.Entries[:0], r.Entries), nil
}

// appendNotNull appends entries to dst, nil ones as empty (log_entries.data
// is NOT NULL). dst may be entries[:0].
func appendNotNull(dst, entries [][]byte) [][]byte {
	for _, e := range entries {
		if e == nil {
			e = []byte{}
		}
		dst = append(dst, e)
	}
	return dst
}

// record calls the recorder with c and appends its entries in tx.
func (db *DB) record(ctx context.Context, tx pgx.Tx, c store.Change) error {
	entries, err := db.recordEntries(ctx, c)
	if err != nil || len(entries) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, appendSQL, entries); err != nil {
		return fmt.Errorf("append %d audit log entries: %w", len(entries), err)
	}
	return nil
}

// execRecorded runs one statement that makes change c. check looks at its
// result before anything is recorded (returning, say, ErrNotFound for no
// row). Without a recorder it is the one autocommitted statement; with
// one, the statement, the recorder's entries and the commit form one
// transaction. The statement's own error comes back unwrapped, so that
// callers can look at its SQLSTATE.
func (db *DB) execRecorded(ctx context.Context, c store.Change, check func(pgconn.CommandTag) error, sql string, args ...any) error {
	if db.recorder == nil {
		tag, err := db.pool.Exec(ctx, sql, args...)
		if err != nil {
			return err
		}
		return check(tag)
	}
	tx, err := db.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if err := check(tag); err != nil {
		return err
	}
	if err := db.record(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// anyRows accepts every result; oneRow wants a row changed.
func anyRows(pgconn.CommandTag) error { return nil }

func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// AppendLog appends entries in a transaction and returns the index of
// the first (the log size, appending nothing, when there are none).
//
// Calls that arrive while another is committing are appended together by
// the next transaction (group commit): every append holds the log's lock
// until its commit is flushed, so one transaction per call would cap the
// whole cluster at one small append per WAL flush. Each call's entries
// stay contiguous and in order, and a call returns only once its entries
// are committed. A call whose context ends before its group starts
// appends nothing; once the group has started, it waits for the commit.
func (db *DB) AppendLog(ctx context.Context, entries [][]byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("postgres: append log: %w", err)
	}
	if len(entries) == 0 {
		n, err := db.LogSize(ctx)
		if err != nil {
			return 0, fmt.Errorf("postgres: append log: %w", err)
		}
		return n, nil
	}
	req := &appendReq{ctx: ctx, entries: entries, wake: make(chan struct{}, 1)}
	g := &db.appends
	g.mu.Lock()
	g.queue = append(g.queue, req)
	if g.busy {
		g.mu.Unlock()
		<-req.wake // our group is done, or we lead the next one
		if !req.lead {
			return req.first, req.err
		}
		g.mu.Lock()
	}
	g.busy = true
	group := g.queue
	g.queue = nil
	g.mu.Unlock()

	db.appendGroup(ctx, req, group)

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.lead = true
		next.wake <- struct{}{}
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return req.first, req.err
}

// appendGroups is AppendLog's queue: calls waiting while one leads a group
// commit.
type appendGroups struct {
	mu    sync.Mutex
	busy  bool // a leader is committing a group
	queue []*appendReq
}

// appendReq is one AppendLog call. first and err are set before wake.
type appendReq struct {
	ctx     context.Context
	entries [][]byte
	wake    chan struct{}
	lead    bool // woken to lead the next group, not with a result
	first   int64
	err     error
}

// appendGroup appends the entries of the calls in group (but those whose
// context has ended) in one transaction, in order, sets each call's
// result and wakes every call but the leader's (leader, whose context is
// ctx).
func (db *DB) appendGroup(ctx context.Context, leader *appendReq, group []*appendReq) {
	var (
		all   [][]byte
		calls []*appendReq
	)
	for _, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("postgres: append log: %w", err)
			continue
		}
		calls = append(calls, r)
		all = appendNotNull(all, r.entries)
	}
	if len(all) > 0 {
		// The group goes on for the others when the leader gives up.
		first, err := db.appendAsync(context.WithoutCancel(ctx), all)
		for _, r := range calls {
			if err != nil {
				r.err = fmt.Errorf("postgres: append %d log entries: %w", len(r.entries), err)
				continue
			}
			r.first = first
			first += int64(len(r.entries))
		}
	}
	for _, r := range group {
		if r != leader {
			r.wake <- struct{}{}
		}
	}
}

// appendAsync appends entries in a transaction of their own that commits
// without waiting for its WAL record to reach the disk
// (synchronous_commit = off, for this transaction only): BEGIN, SET
// LOCAL, the append and COMMIT go in one round trip. What AppendLog
// stores records no store change (served and denied entries): once it
// returns, the entries are committed and visible, and they survive the
// hub process dying at any moment; a crash of the PostgreSQL server or
// its machine may lose the last fraction of a second of them
// (wal_writer_delay), the same guarantee the SQLite backend gives every
// commit (synchronous=NORMAL in WAL mode). Changes of the store and their
// entries keep the server's synchronous_commit.
func (db *DB) appendAsync(ctx context.Context, entries [][]byte) (int64, error) {
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	b.Queue(`SET LOCAL synchronous_commit = off`)
	var first int64
	b.Queue(appendSQL, entries).QueryRow(func(row pgx.Row) error { return row.Scan(&first) })
	b.Queue(`COMMIT`)
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, err
	}
	return first, nil
}

// AppendSpooled appends entries moved from spool and records seq as its
// mark, in one transaction with the server's synchronous_commit (the
// caller empties its spool file after it, so these entries must not be
// lost to a database crash once it returns).
func (db *DB) AppendSpooled(ctx context.Context, spool string, seq int64, entries [][]byte) (int64, error) {
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("postgres: append %d log entries from spool %s up to %d: %w", len(entries), spool, seq, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	all := appendNotNull(make([][]byte, 0, len(entries)), entries)
	tx, err := db.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback(ctx)
	// The upsert takes the spool's row lock, so two moves of one spool
	// (which its file lock should rule out) cannot both store.
	var moved int64
	err = tx.QueryRow(ctx, `INSERT INTO log_spools (name, seq) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq WHERE log_spools.seq < excluded.seq
		RETURNING seq`, spool, seq).Scan(&moved)
	if errors.Is(err, pgx.ErrNoRows) {
		return fail(fmt.Errorf("moved up to %d or further already: %w", seq, store.ErrConflict))
	}
	if err != nil {
		return fail(err)
	}
	var first int64
	if len(all) > 0 {
		if err := tx.QueryRow(ctx, appendSQL, all).Scan(&first); err != nil {
			return fail(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return first, nil
}

// SpoolMark returns how far spool has been moved (0: never).
func (db *DB) SpoolMark(ctx context.Context, spool string) (int64, error) {
	var mark int64
	err := db.pool.QueryRow(ctx, `SELECT seq FROM log_spools WHERE name = $1`, spool).Scan(&mark)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("postgres: spool %s mark: %w", spool, err)
	}
	return mark, nil
}

// LogSize returns the number of committed entries.
func (db *DB) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT size FROM log_head`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: log size: %w", err)
	}
	return n, nil
}

// ReadLog returns entries [start, end) in index order. ErrNotFound if end
// is beyond the log size; an error if start < 0 or start > end, or if an
// entry below the log size is missing from the table.
func (db *DB) ReadLog(ctx context.Context, start, end int64) ([][]byte, error) {
	if start < 0 || start > end {
		return nil, fmt.Errorf("postgres: read log [%d, %d): not a range of indexes", start, end)
	}
	// Entries below a size that is visible are committed, and stay.
	size, err := db.LogSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: read log [%d, %d): %w", start, end, err)
	}
	if end > size {
		return nil, fmt.Errorf("postgres: read log [%d, %d): log size is %d: %w", start, end, size, store.ErrNotFound)
	}
	if start == end {
		return [][]byte{}, nil
	}
	rows, err := db.pool.Query(ctx, `SELECT idx, data FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx`, start, end)
	if err != nil {
		return nil, fmt.Errorf("postgres: read log [%d, %d): %w", start, end, err)
	}
	out := make([][]byte, 0, end-start)
	var (
		idx  int64
		data []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&idx, &data}, func() error {
		if want := start + int64(len(out)); idx != want {
			return fmt.Errorf("entry %d is missing (log size %d)", want, size)
		}
		if data == nil {
			data = []byte{}
		}
		out = append(out, data)
		data = nil // the next row scans into a new slice
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read log [%d, %d): %w", start, end, err)
	}
	if want := start + int64(len(out)); want != end {
		return nil, fmt.Errorf("postgres: read log [%d, %d): entry %d is missing (log size %d)", start, end, want, size)
	}
	return out, nil
}

// TreeSize returns the number of entries the stored hashes cover.
func (db *DB) TreeSize(ctx context.Context) (int64, error) {
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT size FROM log_tree`).Scan(&n); err != nil {
		return 0, fmt.Errorf("postgres: tree size: %w", err)
	}
	return n, nil
}

// hashChunk is how many stored hashes one log_hash_chunks row holds
// (migrations/0008_log_hash_chunks.sql): row c holds storage indexes
// [hashChunk*c, hashChunk*c + hashChunk), 32 bytes each, concatenated.
const hashChunk = 32

// ReadHashes returns the stored hashes at indexes, in the order asked (an
// index may repeat). ErrNotFound if any is missing.
func (db *DB) ReadHashes(ctx context.Context, indexes []int64) ([][32]byte, error) {
	if len(indexes) == 0 {
		return [][32]byte{}, nil
	}
	chunks := make([]int64, 0, len(indexes))
	for _, x := range indexes {
		if x < 0 {
			return nil, fmt.Errorf("postgres: read hashes: stored hash %d: %w", x, store.ErrNotFound)
		}
		chunks = append(chunks, x/hashChunk)
	}
	slices.Sort(chunks)
	chunks = slices.Compact(chunks)
	rows, err := db.pool.Query(ctx, `SELECT chunk, hashes FROM log_hash_chunks WHERE chunk = ANY($1::bigint[])`, chunks)
	if err != nil {
		return nil, fmt.Errorf("postgres: read hashes: %w", err)
	}
	found := make(map[int64][]byte, len(chunks))
	var (
		c  int64
		hs []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&c, &hs}, func() error {
		if len(hs)%32 != 0 {
			return fmt.Errorf("stored hash chunk %d has %d bytes", c, len(hs))
		}
		found[c] = hs
		hs = nil // the next row scans into a new slice
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: read hashes: %w", err)
	}
	out := make([][32]byte, len(indexes))
	for i, x := range indexes {
		b, off := found[x/hashChunk], 32*(x%hashChunk)
		if int64(len(b)) < off+32 {
			return nil, fmt.Errorf("postgres: read hashes: stored hash %d: %w", x, store.ErrNotFound)
		}
		out[i] = [32]byte(b[off : off+32])
	}
	return out, nil
}

// storedHashCount is the number of hashes a tree of n entries stores:
// tlog.StoredHashCount(n), which equals tlog.StoredHashIndex(0, n).
func storedHashCount(n int64) int64 { return 2*n - int64(bits.OnesCount64(uint64(n))) }

// extendSQL advances log_tree from $1 to $2 if it is still $1 and $2 is
// within the log, and then (only then) stores the hash chunks $4 at chunk
// numbers $3 and the checkpoint $5 for $2: one statement, so all or
// nothing. The first chunk continues the last stored one when the tree's
// hashes end inside it ($6: its number, $7: the bytes it keeps, the
// hashes it held before); every other chunk is new, and replaces any row
// left past the tree (whose hashes the tree does not cover). Under READ
// COMMITTED a concurrent extension waits for the row lock and then finds
// the size changed: no row, nothing stored.
const extendSQL = `WITH t AS (
		UPDATE log_tree SET size = $2 WHERE one AND size = $1 AND $2 <= (SELECT size FROM log_head)
		RETURNING size),
	h AS (
		INSERT INTO log_hash_chunks AS c (chunk, hashes)
		SELECT x.chunk, x.hashes FROM t, unnest($3::bigint[], $4::bytea[]) AS x(chunk, hashes)
		ON CONFLICT (chunk) DO UPDATE
		SET hashes = substr(c.hashes, 1, CASE WHEN c.chunk = $6 THEN $7::int ELSE 0 END) || EXCLUDED.hashes),
	cp AS (
		INSERT INTO log_checkpoints (size, note) SELECT $2, $5 FROM t)
	SELECT count(*) FROM t`

// ExtendTree grows the tree from oldSize to newSize entries in one
// statement: it advances the tree size only if it is still oldSize
// (ErrConflict otherwise), stores hashes at storage indexes
// storedHashCount(oldSize) onwards (in chunks of hashChunk: the last,
// partial chunk is extended, then new ones follow), and stores cp. An
// error without writing anything if newSize < oldSize, newSize is beyond
// the log size, cp.Size is not newSize, len(hashes) is not the number of
// hashes the tree gains, or a checkpoint for newSize exists already
// (ErrConflict).
func (db *DB) ExtendTree(ctx context.Context, oldSize, newSize int64, hashes [][32]byte, cp store.Checkpoint) error {
	if err := checkExtend(oldSize, newSize, hashes, cp); err != nil {
		return fmt.Errorf("postgres: extend tree %d to %d: %w", oldSize, newSize, err)
	}
	base := storedHashCount(oldSize)
	var (
		nums   []int64
		chunks [][]byte
	)
	for i := 0; i < len(hashes); {
		x := base + int64(i)
		n := min(int(hashChunk-x%hashChunk), len(hashes)-i)
		b := make([]byte, 0, 32*n)
		for _, h := range hashes[i : i+n] {
			b = append(b, h[:]...)
		}
		nums, chunks = append(nums, x/hashChunk), append(chunks, b)
		i += n
	}
	var n int64
	err := db.pool.QueryRow(ctx, extendSQL, oldSize, newSize, nums, chunks, cp.Note,
		base/hashChunk, 32*(base%hashChunk)).Scan(&n)
	if pgCode(err) == codeUniqueViolation {
		return fmt.Errorf("postgres: extend tree %d to %d: a checkpoint for %d is stored already: %w",
			oldSize, newSize, newSize, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("postgres: extend tree %d to %d: %w", oldSize, newSize, err)
	}
	if n == 1 {
		return nil
	}
	// Nothing changed: say why.
	var treeSize, logSize int64
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT size FROM log_tree), (SELECT size FROM log_head)`).Scan(&treeSize, &logSize); err != nil {
		return fmt.Errorf("postgres: extend tree %d to %d: %w", oldSize, newSize, err)
	}
	if treeSize != oldSize {
		return fmt.Errorf("postgres: extend tree %d to %d: tree size is %d: %w", oldSize, newSize, treeSize, store.ErrConflict)
	}
	return fmt.Errorf("postgres: extend tree %d to %d: log size is only %d", oldSize, newSize, logSize)
}

// checkExtend checks ExtendTree's arguments against each other.
func checkExtend(oldSize, newSize int64, hashes [][32]byte, cp store.Checkpoint) error {
	if oldSize < 0 || newSize < oldSize {
		return errors.New("the tree cannot shrink")
	}
	if cp.Size != newSize {
		return fmt.Errorf("checkpoint is for size %d", cp.Size)
	}
	if len(cp.Note) == 0 {
		return errors.New("checkpoint has no note")
	}
	if want := storedHashCount(newSize) - storedHashCount(oldSize); int64(len(hashes)) != want {
		return fmt.Errorf("%d hashes given, the tree gains %d", len(hashes), want)
	}
	return nil
}

// Checkpoints returns the stored checkpoints with from <= Size <= to in
// ascending size (none is not an error).
func (db *DB) Checkpoints(ctx context.Context, from, to int64) ([]store.Checkpoint, error) {
	rows, err := db.pool.Query(ctx, `SELECT size, note FROM log_checkpoints WHERE size >= $1 AND size <= $2 ORDER BY size`, from, to)
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints [%d, %d]: %w", from, to, err)
	}
	cps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Checkpoint, error) {
		var cp store.Checkpoint
		err := r.Scan(&cp.Size, &cp.Note)
		return cp, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: checkpoints [%d, %d]: %w", from, to, err)
	}
	return cps, nil
}

// LatestCheckpoint returns the checkpoint of the largest size;
// ErrNotFound when none is stored.
func (db *DB) LatestCheckpoint(ctx context.Context) (store.Checkpoint, error) {
	var cp store.Checkpoint
	err := db.pool.QueryRow(ctx, `SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&cp.Size, &cp.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Checkpoint{}, fmt.Errorf("postgres: latest checkpoint: %w", store.ErrNotFound)
	}
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("postgres: latest checkpoint: %w", err)
	}
	return cp, nil
}

// DeleteCheckpoints removes the checkpoints of sizes in one statement,
// unless one of them is the newest stored (then nothing).
func (db *DB) DeleteCheckpoints(ctx context.Context, sizes []int64) (int64, error) {
	if len(sizes) == 0 {
		return 0, nil
	}
	var newest *int64
	var n int64
	err := db.pool.QueryRow(ctx, `WITH newest AS (SELECT max(size) AS size FROM log_checkpoints),
		d AS (DELETE FROM log_checkpoints WHERE size = ANY($1::bigint[])
			AND NOT EXISTS (SELECT 1 FROM newest WHERE newest.size = ANY($1::bigint[]))
			RETURNING 1)
		SELECT (SELECT size FROM newest), (SELECT count(*) FROM d)`, sizes).Scan(&newest, &n)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete checkpoints: %w", err)
	}
	if newest != nil && slices.Contains(sizes, *newest) {
		return 0, fmt.Errorf("postgres: delete checkpoints: %d is the newest checkpoint, which is kept", *newest)
	}
	return n, nil
}
