package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"fusion/internal/store"
)

// The audit log (store.Log) lives in four tables (migrations/0002_log.sql):
// log_entries, log_hashes, log_checkpoints and the one-row log_state that
// holds the next entry index and the tree size. Every append runs in a
// write transaction on the one writer connection (an immediate
// transaction, so other processes on the file wait too): it reads and
// advances log_state.log_size and inserts the entries at the indexes it
// took, so indexes are dense and in commit order.

var _ store.Log = (*DB)(nil)

// logChunk is how many entries one INSERT statement appends.
const logChunk = 200

// logStmts are the log's statements, prepared once on the writer.
type logStmts struct {
	bump   *sql.Stmt // advance log_size by ?1, return the old value
	insert *sql.Stmt // logChunk entries
	one    *sql.Stmt // one entry: the rest of a batch, entry by entry
}

func (db *DB) prepareLog(ctx context.Context) error {
	var err error
	if db.logStmts.bump, err = db.w.PrepareContext(ctx,
		`UPDATE log_state SET log_size = log_size + ?1 WHERE one = 1 RETURNING log_size - ?1`); err != nil {
		return err
	}
	if db.logStmts.insert, err = db.w.PrepareContext(ctx, logInsertSQL(logChunk)); err != nil {
		return err
	}
	db.logStmts.one, err = db.w.PrepareContext(ctx, logInsertSQL(1))
	return err
}

func (s *logStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.bump, s.insert, s.one} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

func logInsertSQL(n int) string {
	return `INSERT INTO log_entries (idx, data) VALUES ` + strings.TrimSuffix(strings.Repeat("(?,?),", n), ",")
}

// SetRecorder installs the recorder every mutating method calls inside its
// transaction (nil: none). Call it before the store is used concurrently.
// The recorder runs while the writer connection is held: it must not
// write through this DB.
func (db *DB) SetRecorder(r store.Recorder) { db.recorder = r }

// record calls the recorder (if any) with c inside tx and appends the
// entries it returns in tx. An error from the recorder aborts the change.
func (db *DB) record(ctx context.Context, tx *sql.Tx, c store.Change) error {
	if db.recorder == nil {
		return nil
	}
	entries, err := db.recorder(ctx, c)
	if err != nil {
		return fmt.Errorf("audit recorder: %w", err)
	}
	if _, err := db.appendEntries(ctx, tx, entries); err != nil {
		return fmt.Errorf("append %d audit log entries: %w", len(entries), err)
	}
	return nil
}

// asyncRecordMin is the least number of new versions for which Put runs
// the recorder on its own goroutine (store.RecordAsync).
const asyncRecordMin = 256

// appendRecorded appends what store.RecordAsync returned in tx.
func (db *DB) appendRecorded(ctx context.Context, tx *sql.Tx, r store.Recorded) error {
	if db.recorder == nil {
		return nil
	}
	if r.Err != nil {
		return fmt.Errorf("audit recorder: %w", r.Err)
	}
	if _, err := db.appendEntries(ctx, tx, r.Entries); err != nil {
		return fmt.Errorf("append %d audit log entries: %w", len(r.Entries), err)
	}
	return nil
}

// write runs fn and records c in one write transaction.
func (db *DB) write(ctx context.Context, c store.Change, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	if err := fn(tx); err != nil {
		return err
	}
	if err := db.record(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit()
}

// appendEntries takes the next len(entries) indexes and inserts the
// entries there, logChunk per statement. It returns the first index.
func (db *DB) appendEntries(ctx context.Context, tx *sql.Tx, entries [][]byte) (int64, error) {
	if len(entries) == 0 {
		var size int64
		err := tx.QueryRowContext(ctx, `SELECT log_size FROM log_state`).Scan(&size)
		return size, err
	}
	var first int64
	if err := tx.StmtContext(ctx, db.logStmts.bump).QueryRowContext(ctx, len(entries)).Scan(&first); err != nil {
		return 0, err
	}
	full := tx.StmtContext(ctx, db.logStmts.insert)
	args := make([]any, 0, 2*logChunk)
	for i := 0; i < len(entries); i += logChunk {
		chunk := entries[i:min(i+logChunk, len(entries))]
		args = args[:0]
		for j, e := range chunk {
			if e == nil {
				e = []byte{}
			}
			args = append(args, first+int64(i+j), e)
		}
		var err error
		switch {
		case len(chunk) == logChunk:
			_, err = full.ExecContext(ctx, args...)
		case len(chunk) <= logFewRows:
			// A served page's one or two entries: the prepared one-row
			// statement beats preparing a statement for their number.
			one := tx.StmtContext(ctx, db.logStmts.one)
			for j := 0; j < len(args) && err == nil; j += 2 {
				_, err = one.ExecContext(ctx, args[j], args[j+1])
			}
		default:
			_, err = tx.ExecContext(ctx, logInsertSQL(len(chunk)), args...)
		}
		if err != nil {
			return 0, err
		}
	}
	return first, nil
}

// logFewRows is the most entries appendEntries inserts one by one.
const logFewRows = 8

// AppendLog appends entries in a transaction of their own and returns the
// index of the first (the log size, appending nothing, when there are
// none).
func (db *DB) AppendLog(ctx context.Context, entries [][]byte) (int64, error) {
	if err := ctxErr(ctx, "append log"); err != nil {
		return 0, err
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("sqlite: append log: %w", err)
	}
	defer rollback(tx)
	first, err := db.appendEntries(ctx, tx, entries)
	if err != nil {
		return 0, fmt.Errorf("sqlite: append %d log entries: %w", len(entries), err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: append %d log entries: %w", len(entries), err)
	}
	db.wrote()
	return first, nil
}

// AppendSpooled appends entries moved from spool and records seq as its
// mark, in one transaction that commits with synchronous=FULL (the WAL is
// synced before it returns): the caller empties its spool file after it,
// and a crash of the machine must not then lose entries that are in
// neither place.
func (db *DB) AppendSpooled(ctx context.Context, spool string, seq int64, entries [][]byte) (int64, error) {
	if err := ctxErr(ctx, "append spooled log entries"); err != nil {
		return 0, err
	}
	fail := func(err error) (int64, error) {
		return 0, fmt.Errorf("sqlite: append %d log entries from spool %s up to %d: %w", len(entries), spool, seq, err)
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous = FULL"); err != nil {
		return fail(err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous = NORMAL")
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer rollback(tx)
	var mark int64
	if err := tx.QueryRowContext(ctx, `SELECT seq FROM log_spools WHERE name = ?`, spool).Scan(&mark); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fail(err)
	}
	if seq <= mark {
		return fail(fmt.Errorf("moved up to %d already: %w", mark, store.ErrConflict))
	}
	first, err := db.appendEntries(ctx, tx, entries)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO log_spools (name, seq) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq`, spool, seq); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	db.wrote()
	return first, nil
}

// SpoolMark returns how far spool has been moved (0: never).
func (db *DB) SpoolMark(ctx context.Context, spool string) (int64, error) {
	var mark int64
	err := db.r.QueryRowContext(ctx, `SELECT seq FROM log_spools WHERE name = ?`, spool).Scan(&mark)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("sqlite: spool %s mark: %w", spool, err)
	}
	return mark, nil
}

// LogSize returns the number of entries appended.
func (db *DB) LogSize(ctx context.Context) (int64, error) {
	if err := ctxErr(ctx, "log size"); err != nil {
		return 0, err
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT log_size FROM log_state`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: log size: %w", err)
	}
	return n, nil
}

// ReadLog returns entries [start, end) in index order. ErrNotFound if end
// is beyond the log size; an error if start < 0 or start > end, or if an
// entry below the log size is missing from the table.
func (db *DB) ReadLog(ctx context.Context, start, end int64) ([][]byte, error) {
	if err := ctxErr(ctx, "read log"); err != nil {
		return nil, err
	}
	if start < 0 || start > end {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): not a range of indexes", start, end)
	}
	// One read transaction: the size and the rows come from one snapshot.
	tx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): %w", start, end, err)
	}
	defer rollback(tx)
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT log_size FROM log_state`).Scan(&size); err != nil {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): %w", start, end, err)
	}
	if end > size {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): log size is %d: %w", start, end, size, store.ErrNotFound)
	}
	rows, err := tx.QueryContext(ctx, `SELECT idx, data FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx`, start, end)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): %w", start, end, err)
	}
	defer rows.Close()
	out := make([][]byte, 0, end-start)
	for rows.Next() {
		var (
			idx  int64
			data []byte
		)
		if err := rows.Scan(&idx, &data); err != nil {
			return nil, fmt.Errorf("sqlite: read log [%d, %d): %w", start, end, err)
		}
		if want := start + int64(len(out)); idx != want {
			return nil, fmt.Errorf("sqlite: read log [%d, %d): entry %d is missing (log size %d)", start, end, want, size)
		}
		if data == nil {
			data = []byte{}
		}
		out = append(out, data)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): %w", start, end, err)
	}
	if want := start + int64(len(out)); want != end {
		return nil, fmt.Errorf("sqlite: read log [%d, %d): entry %d is missing (log size %d)", start, end, want, size)
	}
	return out, nil
}

// TreeSize returns the number of entries the stored hashes cover.
func (db *DB) TreeSize(ctx context.Context) (int64, error) {
	if err := ctxErr(ctx, "tree size"); err != nil {
		return 0, err
	}
	var n int64
	if err := db.r.QueryRowContext(ctx, `SELECT tree_size FROM log_state`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: tree size: %w", err)
	}
	return n, nil
}

// hashChunk is how many storage indexes one ReadHashes query asks for.
const hashChunk = 500

// ReadHashes returns the stored hashes at indexes, in the order asked
// (an index may repeat). ErrNotFound if any is missing.
func (db *DB) ReadHashes(ctx context.Context, indexes []int64) ([][32]byte, error) {
	if err := ctxErr(ctx, "read hashes"); err != nil {
		return nil, err
	}
	found := make(map[int64][32]byte, len(indexes))
	args := make([]any, 0, hashChunk)
	for i := 0; i < len(indexes); i += hashChunk {
		chunk := indexes[i:min(i+hashChunk, len(indexes))]
		args = args[:0]
		for _, x := range chunk {
			args = append(args, x)
		}
		if err := db.readHashes(ctx, args, found); err != nil {
			return nil, err
		}
	}
	out := make([][32]byte, len(indexes))
	for i, x := range indexes {
		h, ok := found[x]
		if !ok {
			return nil, fmt.Errorf("sqlite: read hashes: stored hash %d: %w", x, store.ErrNotFound)
		}
		out[i] = h
	}
	return out, nil
}

func (db *DB) readHashes(ctx context.Context, args []any, found map[int64][32]byte) error {
	rows, err := db.r.QueryContext(ctx, `SELECT idx, hash FROM log_hashes WHERE idx IN (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return fmt.Errorf("sqlite: read hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			idx int64
			h   sql.RawBytes
		)
		if err := rows.Scan(&idx, &h); err != nil {
			return fmt.Errorf("sqlite: read hashes: %w", err)
		}
		if len(h) != 32 {
			return fmt.Errorf("sqlite: read hashes: stored hash %d has %d bytes", idx, len(h))
		}
		found[idx] = [32]byte(h)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: read hashes: %w", err)
	}
	return nil
}

// storedHashCount is the number of hashes a tree of n entries stores:
// tlog.StoredHashCount(n), which equals tlog.StoredHashIndex(0, n).
func storedHashCount(n int64) int64 { return 2*n - int64(bits.OnesCount64(uint64(n))) }

// hashChunkInsert is how many hashes one ExtendTree INSERT stores.
const hashChunkInsert = 400

// ExtendTree grows the tree from oldSize to newSize entries in one
// transaction: it advances the tree size only if it is still oldSize
// (ErrConflict otherwise), stores hashes at storage indexes
// storedHashCount(oldSize) onwards, and stores cp. An error without
// writing anything if newSize < oldSize, newSize is beyond the log size,
// cp.Size is not newSize, len(hashes) is not the number of hashes the
// tree gains, or a checkpoint for newSize exists already (ErrConflict).
func (db *DB) ExtendTree(ctx context.Context, oldSize, newSize int64, hashes [][32]byte, cp store.Checkpoint) error {
	if err := ctxErr(ctx, "extend tree"); err != nil {
		return err
	}
	if err := checkExtend(oldSize, newSize, hashes, cp); err != nil {
		return fmt.Errorf("sqlite: extend tree %d to %d: %w", oldSize, newSize, err)
	}
	if err := db.extendTree(ctx, oldSize, newSize, hashes, cp); err != nil {
		return fmt.Errorf("sqlite: extend tree %d to %d: %w", oldSize, newSize, err)
	}
	db.wrote()
	return nil
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

func (db *DB) extendTree(ctx context.Context, oldSize, newSize int64, hashes [][32]byte, cp store.Checkpoint) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer rollback(tx)
	var logSize, treeSize int64
	if err := tx.QueryRowContext(ctx, `SELECT log_size, tree_size FROM log_state`).Scan(&logSize, &treeSize); err != nil {
		return err
	}
	if treeSize != oldSize {
		return fmt.Errorf("tree size is %d: %w", treeSize, store.ErrConflict)
	}
	if newSize > logSize {
		return fmt.Errorf("log size is only %d", logSize)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE log_state SET tree_size = ? WHERE one = 1`, newSize); err != nil {
		return err
	}
	base := storedHashCount(oldSize)
	args := make([]any, 0, 2*hashChunkInsert)
	for i := 0; i < len(hashes); i += hashChunkInsert {
		chunk := hashes[i:min(i+hashChunkInsert, len(hashes))]
		args = args[:0]
		for j := range chunk {
			args = append(args, base+int64(i+j), chunk[j][:])
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_hashes (idx, hash) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?,?),", len(chunk)), ","), args...); err != nil {
			return fmt.Errorf("store hashes from %d: %w", base+int64(i), err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO log_checkpoints (size, note) VALUES (?, ?)`, cp.Size, cp.Note); err != nil {
		if errors.Is(constraint(err), store.ErrExists) {
			return fmt.Errorf("a checkpoint for size %d is stored already: %w", cp.Size, store.ErrConflict)
		}
		return err
	}
	return tx.Commit()
}

// Checkpoints returns the stored checkpoints with from <= Size <= to in
// ascending size (none is not an error).
func (db *DB) Checkpoints(ctx context.Context, from, to int64) ([]store.Checkpoint, error) {
	if err := ctxErr(ctx, "checkpoints"); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT size, note FROM log_checkpoints WHERE size >= ? AND size <= ? ORDER BY size`, from, to)
	if err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints [%d, %d]: %w", from, to, err)
	}
	defer rows.Close()
	var cps []store.Checkpoint
	for rows.Next() {
		var cp store.Checkpoint
		if err := rows.Scan(&cp.Size, &cp.Note); err != nil {
			return nil, fmt.Errorf("sqlite: checkpoints [%d, %d]: %w", from, to, err)
		}
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: checkpoints [%d, %d]: %w", from, to, err)
	}
	return cps, nil
}

// LatestCheckpoint returns the checkpoint of the largest size;
// ErrNotFound when none is stored.
func (db *DB) LatestCheckpoint(ctx context.Context) (store.Checkpoint, error) {
	if err := ctxErr(ctx, "latest checkpoint"); err != nil {
		return store.Checkpoint{}, err
	}
	var cp store.Checkpoint
	err := db.r.QueryRowContext(ctx, `SELECT size, note FROM log_checkpoints ORDER BY size DESC LIMIT 1`).Scan(&cp.Size, &cp.Note)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Checkpoint{}, fmt.Errorf("sqlite: latest checkpoint: %w", err)
	}
	return cp, nil
}

// affected returns ErrNotFound when a statement changed no row.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		err = store.ErrNotFound
	}
	return err
}

// asStored returns t at the precision a time column keeps (microseconds,
// UTC), so that a Change shows what was stored; the zero time stays zero.
func asStored(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// DeleteCheckpoints removes the checkpoints of sizes in one write
// transaction, unless one of them is the newest stored (then nothing).
func (db *DB) DeleteCheckpoints(ctx context.Context, sizes []int64) (int64, error) {
	if err := ctxErr(ctx, "delete checkpoints"); err != nil {
		return 0, err
	}
	if len(sizes) == 0 {
		return 0, nil
	}
	var n int64
	err := func() error {
		tx, err := db.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer rollback(tx)
		var newest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(size) FROM log_checkpoints`).Scan(&newest); err != nil {
			return err
		}
		if newest.Valid && slices.Contains(sizes, newest.Int64) {
			return fmt.Errorf("%d is the newest checkpoint, which is kept", newest.Int64)
		}
		for i := 0; i < len(sizes); i += hashChunkInsert {
			chunk := sizes[i:min(i+hashChunkInsert, len(sizes))]
			args := make([]any, len(chunk))
			for j, x := range chunk {
				args[j] = x
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM log_checkpoints WHERE size IN (`+placeholders(len(chunk))+`)`, args...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += k
		}
		return tx.Commit()
	}()
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete checkpoints: %w", err)
	}
	db.wrote()
	return n, nil
}
