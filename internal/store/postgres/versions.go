package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// lockSQL locks the collection row for the rest of the transaction and
// returns its surrogate key, the last date_added handed out in it and the
// database clock in Unix microseconds. Every writer of a collection's
// versions takes this lock first, so writers of one collection are
// serialised (on all nodes) and commit in date_added order; readers
// therefore only ever see a prefix of the date_added order. The database
// clock, not the node's, keeps date_added close to real time when nodes'
// clocks disagree.
const lockSQL = `SELECT seq, last_added, floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint
	FROM collections WHERE id = $1 FOR NO KEY UPDATE`

func lockCollection(ctx context.Context, tx pgx.Tx, collection string) (seq int64, err error) {
	var last, now int64
	err = tx.QueryRow(ctx, lockSQL, collection).Scan(&seq, &last, &now)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("collection %s: %w", collection, store.ErrNotFound)
	}
	return seq, err
}

// existingSQL returns, for each id in $2 that has versions in collection
// $1, all its version keys and the row ids (ctid) of its first and last
// version. The aggregate in the LATERAL subquery keeps it a per-id probe
// of versions_key whatever the planner's statistics say (a semi- or hash
// join here would read the whole collection). The ctids stay valid until
// commit because every writer of the collection holds its lock.
const existingSQL = `SELECT u.id, x.mods, x.first_tid, x.last_tid
	FROM unnest($2::text[]) AS u(id)
	CROSS JOIN LATERAL (
		SELECT array_agg(v.modified) AS mods,
			(array_agg(v.ctid) FILTER (WHERE v.is_first))[1] AS first_tid,
			(array_agg(v.ctid) FILTER (WHERE v.is_last))[1] AS last_tid
		FROM versions v
		WHERE v.coll = (SELECT seq FROM collections WHERE id = $1) AND v.id = u.id) AS x
	WHERE x.mods IS NOT NULL`

// newRow is one version Put is about to insert.
type newRow struct {
	obj         *stix.Object
	facts       []byte
	key         int64
	dateAdded   int64
	first, last bool
}

// objState is what Put knows about one object while it walks the batch:
// its smallest and largest version key so far and which row carries the
// first/last flag: an index into the new rows, or -1 for the stored row
// firstTID/lastTID.
type objState struct {
	keys              map[int64]struct{} // stored version keys
	min, max          int64
	firstRow, lastRow int
	firstTID, lastTID pgtype.TID
}

// Put stores the versions of objs that are not yet in the collection, in
// one transaction: it locks the collection row, reads the stored version
// keys of the batch's objects, assigns date_added = max(database clock,
// previous + 1µs) in input order, moves the first/last flags, inserts the
// new rows and commits. All new versions are stored or none is. The
// result is aligned with objs. ErrNotFound if the collection does not
// exist.
func (db *DB) Put(ctx context.Context, collection, source string, objs []*stix.Object) ([]store.PutOutcome, error) {
	out := make([]store.PutOutcome, len(objs))

	// Everything that needs no database happens before the lock is taken.
	keys := make([]int64, len(objs))
	facts := make([][]byte, len(objs)) // before the lock: see FactsBlob
	ids := make([]string, 0, len(objs))
	idSeen := make(map[string]struct{}, len(objs))
	for i, o := range objs {
		if o == nil {
			return nil, fmt.Errorf("postgres: put: objs[%d] is nil", i)
		}
		if o.ID == "" {
			return nil, fmt.Errorf("postgres: put: objs[%d] has no id", i)
		}
		k, err := versionKey(o.Version())
		if err != nil {
			return nil, fmt.Errorf("postgres: put: objs[%d] (%s): %w", i, o.ID, err)
		}
		keys[i] = k
		facts[i] = o.FactsBlob()
		if _, ok := idSeen[o.ID]; !ok {
			idSeen[o.ID] = struct{}{}
			ids = append(ids, o.ID)
		}
	}

	// Three round trips: BEGIN + lock + look-up, COPY, then the updates +
	// COMMIT. Under load every round trip costs milliseconds, and all but
	// the first happen while the collection is locked for every node.
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: put: %w", err)
	}
	defer conn.Release()
	c := conn.Conn()
	defer func() {
		// On any failure the transaction is still open (or aborted): end
		// it so that the connection goes back to the pool clean. Should
		// that fail too, Release closes a connection left in a transaction.
		if c.PgConn().TxStatus() != 'I' && !c.IsClosed() {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			c.Exec(rctx, "ROLLBACK")
			cancel()
		}
	}()

	var (
		b              pgx.Batch
		found          bool
		seq, last, now int64
	)
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	b.Queue(lockSQL, collection).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&seq, &last, &now)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	state := make(map[string]*objState, len(ids))
	if len(ids) > 0 {
		b.Queue(existingSQL, collection, ids).Query(func(rows pgx.Rows) error {
			var (
				id     string
				mods   []int64
				ft, lt pgtype.TID
			)
			_, err := pgx.ForEachRow(rows, []any{&id, &mods, &ft, &lt}, func() error {
				st := &objState{keys: make(map[int64]struct{}, len(mods)), min: math.MaxInt64, max: math.MinInt64,
					firstRow: -1, lastRow: -1, firstTID: ft, lastTID: lt}
				for _, m := range mods {
					st.keys[m] = struct{}{}
					st.min, st.max = min(st.min, m), max(st.max, m)
				}
				state[id] = st
				return nil
			})
			return err
		})
	}
	if err := c.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: put: look up existing versions: %w", err)
	}
	if !found {
		return nil, fmt.Errorf("postgres: put: collection %s: %w", collection, store.ErrNotFound)
	}

	// Assign date_added in input order and move the flags.
	rowsNew := make([]newRow, 0, len(objs))
	// Non-nil, so that an empty list is an empty array and not NULL.
	clearFirst, clearLast := []pgtype.TID{}, []pgtype.TID{}
	type vkey struct {
		id  string
		key int64
	}
	inBatch := make(map[vkey]struct{}, len(objs))
	for i, o := range objs {
		k := keys[i]
		st := state[o.ID]
		if st != nil {
			if _, ok := st.keys[k]; ok {
				continue // stored already
			}
		}
		vk := vkey{o.ID, k}
		if _, ok := inBatch[vk]; ok {
			continue // earlier in this batch
		}
		inBatch[vk] = struct{}{}
		last = max(now, last+1)
		r := len(rowsNew)
		rowsNew = append(rowsNew, newRow{obj: o, facts: facts[i], key: k, dateAdded: last})
		out[i] = store.PutOutcome{Added: true, DateAdded: microsTime(last)}
		if st == nil {
			state[o.ID] = &objState{min: k, max: k, firstRow: r, lastRow: r}
			rowsNew[r].first, rowsNew[r].last = true, true
			continue
		}
		if k < st.min {
			if st.firstRow >= 0 {
				rowsNew[st.firstRow].first = false
			} else if st.firstTID.Valid {
				clearFirst = append(clearFirst, st.firstTID)
				st.firstTID.Valid = false
			}
			st.min, st.firstRow = k, r
			rowsNew[r].first = true
		}
		if k > st.max {
			if st.lastRow >= 0 {
				rowsNew[st.lastRow].last = false
			} else if st.lastTID.Valid {
				clearLast = append(clearLast, st.lastTID)
				st.lastTID.Valid = false
			}
			st.max, st.lastRow = k, r
			rowsNew[r].last = true
		}
	}
	change := store.Change{Op: store.OpPut, Collection: collection, Source: source, Objects: objs, Outcomes: out}
	if len(rowsNew) == 0 {
		// Nothing to store; the recorder may still log the attempt.
		entries, err := db.recordEntries(ctx, change)
		if err != nil {
			return nil, fmt.Errorf("postgres: put: %w", err)
		}
		if len(entries) > 0 {
			b = pgx.Batch{}
			b.Queue(appendSQL, entries)
			b.Queue("COMMIT")
			if err := c.SendBatch(ctx, &b).Close(); err != nil {
				return nil, fmt.Errorf("postgres: put: append %d audit log entries and commit: %w", len(entries), err)
			}
		}
		return out, nil
	}

	// The recorder (hashing every new version) runs on another goroutine
	// while the rows are copied; its entries go with the COMMIT.
	recorded := store.RecordAsync(ctx, db.recorder, change, len(rowsNew) >= asyncRecordMin)

	// COPY the new rows (faster on the server than a multi-row INSERT of
	// arrays, measured 10-30% per 1,000-object batch), then clear the
	// flags they took over, record last_added and commit in one round trip.
	n := 0
	vals := make([]any, 12)
	if _, err := c.CopyFrom(ctx, pgx.Identifier{"versions"},
		[]string{"coll", "date_added", "id", "modified", "type", "spec_version", "source", "revoked", "is_first", "is_last", "raw", "facts"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if n == len(rowsNew) {
				return nil, nil
			}
			r := &rowsNew[n]
			n++
			vals[0], vals[1], vals[2], vals[3] = seq, r.dateAdded, r.obj.ID, r.key
			vals[4], vals[5], vals[6], vals[7] = r.obj.Type, r.obj.SpecVersion, source, r.obj.Revoked
			vals[8], vals[9], vals[10], vals[11] = r.first, r.last, r.obj.Raw, r.facts
			return vals, nil
		})); err != nil {
		return nil, fmt.Errorf("postgres: put: copy %d versions: %w", len(rowsNew), err)
	}
	// The audit log's entries go with the COMMIT: the log's lock is held
	// for that last round trip only.
	entries, err := recordedEntries(<-recorded)
	if err != nil {
		return nil, fmt.Errorf("postgres: put: %w", err)
	}
	b = pgx.Batch{}
	if len(clearFirst)+len(clearLast) > 0 {
		clearAny := append(append([]pgtype.TID{}, clearFirst...), clearLast...)
		// A TID scan: no plan can wander over the collection.
		b.Queue(`UPDATE versions SET is_first = is_first AND NOT ctid = ANY($2), is_last = is_last AND NOT ctid = ANY($3)
			WHERE ctid = ANY($4) AND coll = $1`, seq, clearFirst, clearLast, clearAny)
	}
	b.Queue(`UPDATE collections SET last_added = $2 WHERE seq = $1`, seq, last)
	if len(entries) > 0 {
		b.Queue(appendSQL, entries)
	}
	b.Queue("COMMIT")
	if err := c.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("postgres: put: commit: %w", err)
	}
	return out, nil
}

// asyncRecordMin is the least number of new versions for which Put runs
// the recorder on its own goroutine, beside the COPY.
const asyncRecordMin = 256

// versionCond returns the SQL condition selecting versions by vm (the
// zero value meaning "last"), appending its arguments to args; "" selects
// every version.
func versionCond(vm store.VersionMatch, args *[]any) string {
	if vm.IsZero() {
		vm.Last = true
	}
	if vm.All {
		return ""
	}
	var ors []string
	if vm.First {
		ors = append(ors, "is_first")
	}
	if vm.Last {
		ors = append(ors, "is_last")
	}
	if len(vm.At) > 0 {
		ks := make([]int64, 0, len(vm.At))
		for _, t := range vm.At {
			if k, err := versionKey(t); err == nil {
				ks = append(ks, k)
			} // a key outside the storable range matches nothing
		}
		if len(ks) > 0 {
			*args = append(*args, ks)
			ors = append(ors, "modified = ANY($"+strconv.Itoa(len(*args))+"::bigint[])")
		}
	}
	if len(ors) == 0 {
		return "false"
	}
	if len(ors) == 1 {
		return ors[0]
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// List returns at most q.Limit versions matching q in date_added order
// (see listSQL for the plans), and whether more follow. Because Put
// commits a collection's versions in date_added order, a page never skips
// a version that a later page could show. An error if q.Limit <= 0;
// ErrNotFound if the collection does not exist.
func (db *DB) List(ctx context.Context, collection string, q store.Query) (store.Page, error) {
	if q.Limit <= 0 {
		return store.Page{}, fmt.Errorf("postgres: list: limit must be > 0, got %d", q.Limit)
	}
	sql, args := listSQL(collection, q)
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("postgres: list %s: %w", collection, err)
	}
	var (
		page         store.Page
		da, modified int64
		v            store.Version
	)
	dest := []any{&da, &v.ID, &v.Type, &v.SpecVersion, &modified, &v.Source, &v.Revoked, &v.Latest, &v.Facts}
	if !q.MetaOnly {
		dest = append(dest, &v.Raw)
	}
	vs := make([]store.Version, 0, min(q.Limit+1, 1024))
	for rows.Next() {
		v = store.Version{Collection: collection}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return store.Page{}, fmt.Errorf("postgres: list %s: %w", collection, err)
		}
		v.DateAdded, v.Modified = microsTime(da), versionTime(modified)
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("postgres: list %s: %w", collection, err)
	}
	if len(vs) > q.Limit {
		vs, page.More = vs[:q.Limit], true
	}
	if len(vs) == 0 {
		if err := db.collectionExists(ctx, collection); err != nil {
			return store.Page{}, fmt.Errorf("postgres: list: %w", err)
		}
	}
	page.Versions = vs
	return page, nil
}

// listSQL builds List's query from the filters present, so that each
// shape gets its own cached plan. q.Limit must be > 0.
//
// With ids it reads their versions through versions_key and sorts them.
// Otherwise, without a type filter the query is one ordered range scan:
// of versions_edge for "first"/"last", of the primary key for "all". With one type it is an ordered range
// scan of versions_type. With several types it is a UNION ALL of one such
// scan per type, each stopped at the limit, merged by date_added: an ANY
// over types would have to read and sort every matching version.
func listSQL(collection string, q store.Query) (string, []any) {
	cols := "date_added, id, type, spec_version, modified, source, revoked, is_last, facts"
	if !q.MetaOnly {
		cols += ", raw"
	}
	args := []any{collection}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// conds are the filters besides the collection and the ids.
	var conds []string
	if c := versionCond(q.Versions, &args); c != "" {
		conds = append(conds, c)
	}
	if !q.AddedAfter.IsZero() {
		// date_added (whole µs) > AddedAfter  ⇔  date_added > floor(AddedAfter in µs)
		conds = append(conds, "date_added > "+arg(q.AddedAfter.UnixMicro()))
	}
	var ids string
	if len(q.IDs) > 0 {
		ids = "id = ANY(" + arg(q.IDs) + "::text[])"
	}
	if len(q.SpecVersions) > 0 {
		conds = append(conds, "spec_version = ANY("+arg(q.SpecVersions)+"::text[])")
	}
	limit := q.Limit
	if limit < math.MaxInt {
		limit++ // one more tells whether there is More
	}
	lim := arg(limit)

	const inColl = "coll = (SELECT seq FROM collections WHERE id = $1)"
	types := slices.Compact(slices.Sorted(slices.Values(q.Types)))
	if ids != "" {
		// Every version of the ids asked for, through versions_key (few
		// rows), then the other filters, sorted. Left to itself the
		// planner may walk versions_edge or versions_type in date_added
		// order for the LIMIT and test every row against the ids
		// (seconds per query on a large collection: an ingest's look-ups
		// of what it replaces). MATERIALIZED keeps the filters, ORDER BY
		// and LIMIT out of the scan.
		if len(types) > 0 {
			conds = append(conds, "type = ANY("+arg(types)+"::text[])")
		}
		outer := ""
		if len(conds) > 0 {
			outer = " WHERE " + strings.Join(conds, " AND ")
		}
		return "WITH m AS MATERIALIZED (SELECT " + cols + ", is_first FROM versions WHERE " + inColl + " AND " + ids + ") SELECT " + cols +
			" FROM m" + outer + " ORDER BY date_added LIMIT " + lim, args
	}
	var where strings.Builder
	where.WriteString(inColl)
	for _, c := range conds {
		where.WriteString(" AND " + c)
	}
	if len(types) <= 1 {
		w := where.String()
		if len(types) == 1 {
			w += " AND type = " + arg(types[0])
		}
		return "SELECT " + cols + " FROM versions WHERE " + w + " ORDER BY date_added LIMIT " + lim, args
	}
	var sb strings.Builder
	sb.WriteString("SELECT " + cols + " FROM (")
	for i, t := range types {
		if i > 0 {
			sb.WriteString(" UNION ALL ")
		}
		sb.WriteString("(SELECT " + cols + " FROM versions WHERE " + where.String() + " AND type = " + arg(t) +
			" ORDER BY date_added LIMIT " + lim + ")")
	}
	sb.WriteString(") AS u ORDER BY date_added LIMIT " + lim)
	return sb.String(), args
}

func (db *DB) collectionExists(ctx context.Context, collection string) error {
	var one int
	err := db.pool.QueryRow(ctx, `SELECT 1 FROM collections WHERE id = $1`, collection).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("collection %s: %w", collection, store.ErrNotFound)
	}
	return err
}

// Delete removes the versions of object id selected by versions (zero
// value: the last) and specVersions (empty: any) and moves the first/last
// flags to the remaining versions, in one transaction holding the
// collection lock. It returns how many versions went; ErrNotFound if the
// collection does not exist or nothing matched.
func (db *DB) Delete(ctx context.Context, collection, id string, versions store.VersionMatch, specVersions []string) (int, error) {
	tx, err := db.pool.BeginTx(ctx, readCommitted)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete: %w", err)
	}
	defer tx.Rollback(ctx)
	seq, err := lockCollection(ctx, tx, collection)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete: %w", err)
	}
	args := []any{seq, id}
	sql := "DELETE FROM versions WHERE coll = $1 AND id = $2"
	if c := versionCond(versions, &args); c != "" {
		sql += " AND " + c
	}
	if len(specVersions) > 0 {
		args = append(args, specVersions)
		sql += " AND spec_version = ANY($" + strconv.Itoa(len(args)) + "::text[])"
	}
	// The change names the deleted versions' source: the newest deleted
	// version's, should they have come from several organisations.
	var (
		n      int
		source string
	)
	err = tx.QueryRow(ctx, `WITH d AS (`+sql+` RETURNING source, modified)
		SELECT count(*), coalesce((SELECT source FROM d ORDER BY modified DESC LIMIT 1), '') FROM d`, args...).Scan(&n, &source)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete %s from %s: %w", id, collection, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("postgres: delete %s from %s: %w", id, collection, store.ErrNotFound)
	}
	if _, err := tx.Exec(ctx, `UPDATE versions v SET is_first = (v.modified = m.mn), is_last = (v.modified = m.mx)
		FROM (SELECT min(modified) AS mn, max(modified) AS mx FROM versions WHERE coll = $1 AND id = $2) m
		WHERE v.coll = $1 AND v.id = $2 AND (v.is_first <> (v.modified = m.mn) OR v.is_last <> (v.modified = m.mx))`,
		seq, id); err != nil {
		return 0, fmt.Errorf("postgres: delete %s from %s: move first/last: %w", id, collection, err)
	}
	if err := db.record(ctx, tx, store.Change{Op: store.OpDelete, Collection: collection, Source: source, ObjectID: id, Deleted: n}); err != nil {
		return 0, fmt.Errorf("postgres: delete %s from %s: %w", id, collection, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("postgres: delete %s from %s: commit: %w", id, collection, err)
	}
	return n, nil
}
