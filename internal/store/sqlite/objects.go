package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// collectionSeq returns the internal key of a collection.
func collectionSeq(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, id string) (int64, error) {
	var seq int64
	err := q.QueryRowContext(ctx, `SELECT seq FROM collections WHERE id = ?`, id).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("collection %s: %w", id, store.ErrNotFound)
	}
	return seq, err
}

// idHash is the versions_object index key of an object id: 64-bit FNV-1a.
// Distinct ids may share it, so every query on it also compares id. A
// variable so that a test can make every id collide.
var idHash = fnv64

func fnv64(id string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int64(h)
}

// Put stores versions as the store.Store contract says, in one immediate
// transaction. date_added is max(now, previous+1µs), the previous value
// kept in collections.last_added.
func (db *DB) Put(ctx context.Context, collection, source string, objs []*stix.Object) ([]store.PutOutcome, error) {
	if err := ctxErr(ctx, "put"); err != nil {
		return nil, err
	}
	keys := make([]int64, len(objs))
	facts := make([][]byte, len(objs)) // before the write lock: see FactsBlob
	for i, o := range objs {
		if o == nil {
			return nil, fmt.Errorf("sqlite: put: object %d is nil", i)
		}
		k, err := versionKey(o.Version())
		if err != nil {
			return nil, fmt.Errorf("sqlite: put: object %d (%s): %w", i, o.ID, err)
		}
		keys[i] = k
		facts[i] = o.FactsBlob()
	}
	out, err := db.put(ctx, collection, source, objs, keys, facts)
	if err != nil {
		return nil, fmt.Errorf("sqlite: put %d objects into %s: %w", len(objs), collection, err)
	}
	db.wrote()
	return out, nil
}

// putStmts are Put's statements, prepared once on the writer connection.
type putStmts struct {
	load   *sql.Stmt // first and last versions of lookupChunk objects
	insert *sql.Stmt // insertChunk new versions
	exists *sql.Stmt // is this version key of this object stored?
}

func (db *DB) prepare(ctx context.Context) error {
	var err error
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var st *sql.Stmt
		st, err = db.w.PrepareContext(ctx, q)
		return st
	}
	db.stmts.load = prep(`SELECT id, date_added, modified, is_first, is_last FROM versions INDEXED BY versions_object
		WHERE coll = ? AND idh IN (` + placeholders(lookupChunk) + `) AND (is_first != 0 OR is_last != 0)`)
	db.stmts.insert = prep(insertSQL(insertChunk))
	db.stmts.exists = prep(`SELECT 1 FROM versions INDEXED BY versions_object WHERE coll = ? AND idh = ? AND modified = ? AND id = ?`)
	return err
}

func (s *putStmts) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{s.load, s.insert, s.exists} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}

// ref names a version during Put: a stored row by its date_added, or an
// input of this batch by its index.
type ref struct {
	stored bool
	added  int64 // when stored
	input  int   // when !stored
}

// objState is what Put knows of one object: its first and last version
// keys and where those versions are, and the keys this batch added.
type objState struct {
	stored            bool // the collection held the object before this batch
	firstKey, lastKey int64
	first, last       ref
	batchKeys         []int64
}

// row is one version Put will insert.
type row struct {
	input       int
	key         int64
	added       int64
	first, last bool
}

const (
	lookupChunk = 400 // ids per existing-object query
	insertChunk = 64  // rows per INSERT statement
	insertCols  = 13
)

// put runs one Put in a transaction of its own.
func (db *DB) put(ctx context.Context, collection, source string, objs []*stix.Object, keys []int64, facts [][]byte) ([]store.PutOutcome, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			// The known-id filters may hold this transaction's changes.
			db.ids.invalidate()
		}
		rollback(tx)
	}()
	out, err := db.putIn(ctx, tx, collection, source, objs, keys, facts)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	committed = true
	return out, nil
}

// putIn does Put's work inside tx, which the caller commits. If tx is not
// committed the caller must invalidate db.ids.
func (db *DB) putIn(ctx context.Context, tx *sql.Tx, collection, source string, objs []*stix.Object, keys []int64, facts [][]byte) ([]store.PutOutcome, error) {
	var seq, last, created int64
	err := tx.QueryRowContext(ctx, `SELECT seq, last_added, coalesce(created, 0) FROM collections WHERE id = ?`, collection).Scan(&seq, &last, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]store.PutOutcome, len(objs))
	change := store.Change{Op: store.OpPut, Collection: collection, Source: source, Objects: objs, Outcomes: out}
	if len(objs) == 0 {
		if err := db.record(ctx, tx, change); err != nil {
			return nil, err
		}
		return out, nil
	}

	hashes := make([]int64, len(objs))
	for i, o := range objs {
		hashes[i] = idHash(o.ID)
	}
	// Only ids the collection may hold are looked up: the known-id filter
	// rules out most new ids without touching the index.
	filter, err := db.ids.get(ctx, tx, collection, seq, created, last, len(objs))
	if err != nil {
		return nil, err
	}
	maybe := hashes
	if filter != nil {
		maybe = make([]int64, 0, 16)
		for _, h := range hashes {
			if filter.mayHave(h) {
				maybe = append(maybe, h)
			}
		}
	}
	state, err := db.loadObjects(ctx, tx, seq, objs, maybe)
	if err != nil {
		return nil, err
	}

	// Decide, in input order, what each input is and which flags move.
	var (
		rows                  []row
		rowOf                 = make(map[int]int) // input -> index in rows
		clearFirst, clearLast []any               // date_added of stored rows
	)
	now := time.Now().UnixMicro()
	for i, o := range objs {
		k := keys[i]
		st := state[o.ID]
		if st == nil {
			st = &objState{firstKey: k, lastKey: k, first: ref{input: i}, last: ref{input: i}}
			state[o.ID] = st
		} else {
			if k == st.firstKey || k == st.lastKey || slices.Contains(st.batchKeys, k) {
				continue // unchanged
			}
			if st.stored && k > st.firstKey && k < st.lastKey {
				// Between the first and last: is it stored already?
				var one int
				err := tx.StmtContext(ctx, db.stmts.exists).QueryRowContext(ctx, seq, hashes[i], k, o.ID).Scan(&one)
				if err == nil {
					continue // unchanged
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return nil, err
				}
			}
			if k > st.lastKey {
				if st.last.stored {
					clearLast = append(clearLast, st.last.added)
				} else {
					rows[rowOf[st.last.input]].last = false
				}
				st.lastKey, st.last = k, ref{input: i}
			}
			if k < st.firstKey {
				if st.first.stored {
					clearFirst = append(clearFirst, st.first.added)
				} else {
					rows[rowOf[st.first.input]].first = false
				}
				st.firstKey, st.first = k, ref{input: i}
			}
		}
		st.batchKeys = append(st.batchKeys, k)
		added := max(now, last+1)
		last = added
		rowOf[i] = len(rows)
		rows = append(rows, row{input: i, key: k, added: added,
			first: st.first == ref{input: i}, last: st.last == ref{input: i}})
		out[i] = store.PutOutcome{Added: true, DateAdded: time.UnixMicro(added).UTC()}
	}

	// The outcomes are final: the recorder (hashing and encoding an entry
	// per version) runs on another goroutine while SQLite inserts the
	// rows, so that it is not on the single writer's path. Its entries
	// are appended below, in this transaction.
	entries := store.RecordAsync(ctx, db.recorder, change, len(rows) >= asyncRecordMin)
	if err := clearFlag(ctx, tx, "is_first", seq, clearFirst); err != nil {
		return nil, err
	}
	if err := clearFlag(ctx, tx, "is_last", seq, clearLast); err != nil {
		return nil, err
	}
	if err := db.insertRows(ctx, tx, seq, source, objs, hashes, facts, rows); err != nil {
		return nil, err
	}
	if len(rows) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE collections SET last_added = ? WHERE seq = ?`, last, seq); err != nil {
			return nil, err
		}
	}
	if err := db.appendRecorded(ctx, tx, <-entries); err != nil {
		return nil, err
	}
	if filter != nil {
		db.ids.mu.Lock() // MayHold reads filters from other goroutines
		for _, r := range rows {
			filter.add(hashes[r.input])
		}
		filter.upTo = last
		db.ids.mu.Unlock()
	}
	return out, nil
}

// loadObjects reads the first and last stored versions of the objects in
// objs that the collection already holds, looking up the id hashes in
// hashes (those of objs that may be stored). Objects it does not hold are
// absent from the map.
func (db *DB) loadObjects(ctx context.Context, tx *sql.Tx, seq int64, objs []*stix.Object, hashes []int64) (map[string]*objState, error) {
	state := make(map[string]*objState, len(objs))
	if len(hashes) == 0 {
		return state, nil
	}
	uniq := make([]int64, 0, len(hashes))
	seen := make(map[int64]bool, len(objs))
	for _, h := range hashes {
		if !seen[h] {
			seen[h] = true
			uniq = append(uniq, h)
		}
	}
	want := make(map[string]bool, len(objs))
	for _, o := range objs {
		want[o.ID] = true
	}
	load := tx.StmtContext(ctx, db.stmts.load)
	args := make([]any, 1+lookupChunk)
	args[0] = seq
	for len(uniq) > 0 {
		chunk := uniq[:min(lookupChunk, len(uniq))]
		uniq = uniq[len(chunk):]
		// A short chunk repeats its first hash: the one prepared
		// statement serves every chunk.
		for i := range lookupChunk {
			if i < len(chunk) {
				args[1+i] = chunk[i]
			} else {
				args[1+i] = chunk[0]
			}
		}
		rows, err := load.QueryContext(ctx, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				id              string
				added, key      int64
				isFirst, isLast bool
			)
			if err := rows.Scan(&id, &added, &key, &isFirst, &isLast); err != nil {
				rows.Close()
				return nil, err
			}
			if !want[id] {
				continue // another id with the same hash
			}
			st := state[id]
			if st == nil {
				st = &objState{stored: true}
				state[id] = st
			}
			if isFirst {
				st.firstKey, st.first = key, ref{stored: true, added: added}
			}
			if isLast {
				st.lastKey, st.last = key, ref{stored: true, added: added}
			}
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return state, nil
}

// clearFlag sets is_first or is_last to 0 on stored versions.
func clearFlag(ctx context.Context, tx *sql.Tx, col string, seq int64, added []any) error {
	for len(added) > 0 {
		chunk := added[:min(lookupChunk, len(added))]
		added = added[len(chunk):]
		if _, err := tx.ExecContext(ctx, `UPDATE versions SET `+col+` = 0 WHERE coll = ? AND date_added IN (`+
			placeholders(len(chunk))+`)`, append([]any{seq}, chunk...)...); err != nil {
			return err
		}
	}
	return nil
}

// insertRows inserts the new versions, insertChunk rows per statement.
func (db *DB) insertRows(ctx context.Context, tx *sql.Tx, seq int64, source string, objs []*stix.Object, hashes []int64, facts [][]byte, rows []row) error {
	full := tx.StmtContext(ctx, db.stmts.insert)
	args := make([]any, 0, insertChunk*insertCols)
	for len(rows) > 0 {
		chunk := rows[:min(insertChunk, len(rows))]
		rows = rows[len(chunk):]
		args = args[:0]
		for _, r := range chunk {
			o := objs[r.input]
			args = append(args, seq, r.added, o.ID, hashes[r.input], r.key, o.Type, o.SpecVersion, source,
				boolInt(o.Revoked), boolInt(r.first), boolInt(r.last), o.Raw, facts[r.input])
		}
		var err error
		if len(chunk) == insertChunk {
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, insertSQL(len(chunk)), args...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func insertSQL(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT OR ROLLBACK INTO versions (coll, date_added, id, idh, modified, type, spec_version, source, revoked, is_first, is_last, raw, facts) VALUES `)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,?,?,?,?,?,?,?)")
	}
	return b.String()
}

// listColumns are the columns List reads, in the order scanVersion scans.
const (
	metaColumns = `date_added, id, type, spec_version, modified, source, revoked, is_last, facts`
	fullColumns = metaColumns + `, raw`
)

// List returns matching versions in date_added order, reading Limit+1 rows
// to learn whether there are more.
func (db *DB) List(ctx context.Context, collection string, q store.Query) (store.Page, error) {
	if err := ctxErr(ctx, "list"); err != nil {
		return store.Page{}, err
	}
	if q.Limit <= 0 {
		return store.Page{}, fmt.Errorf("sqlite: list %s: limit %d must be > 0", collection, q.Limit)
	}
	seq, err := collectionSeq(ctx, db.r, collection)
	if err != nil {
		return store.Page{}, fmt.Errorf("sqlite: list: %w", err)
	}
	query, args, err := listQuery(seq, q)
	if err != nil {
		return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
	}
	defer rows.Close()
	page := store.Page{Versions: make([]store.Version, 0, min(q.Limit, 1024))}
	var (
		in                               interner
		buf                              arena
		added, modified, revoked, isLast int64
		id, typ, spec, source            sql.RawBytes
		facts, raw                       sql.RawBytes
		dest                             = []any{&added, &id, &typ, &spec, &modified, &source, &revoked, &isLast, &facts, &raw}
	)
	if q.MetaOnly {
		dest = dest[:len(dest)-1]
	}
	for rows.Next() {
		if len(page.Versions) == q.Limit {
			page.More = true
			break
		}
		if err := rows.Scan(dest...); err != nil {
			return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
		}
		v := store.Version{
			Collection:  collection,
			ID:          string(id),
			Type:        in.str(typ),
			SpecVersion: in.str(spec),
			Modified:    decodeVersionKey(modified),
			DateAdded:   time.UnixMicro(added).UTC(),
			Source:      in.str(source),
			Revoked:     revoked != 0,
			Latest:      isLast != 0,
		}
		if facts != nil { // NULL: stored before facts were kept
			v.Facts = buf.copy(facts)
		}
		if !q.MetaOnly {
			v.Raw = buf.copy(raw)
		}
		page.Versions = append(page.Versions, v)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
	}
	return page, nil
}

// arena copies the raw objects of one page into a few large buffers
// instead of one allocation each.
type arena struct{ free []byte }

const arenaChunk = 256 << 10

func (a *arena) copy(b []byte) []byte {
	if len(b) == 0 || len(b) > arenaChunk/4 {
		return bytes.Clone(b)
	}
	if len(b) > cap(a.free)-len(a.free) {
		a.free = make([]byte, 0, arenaChunk)
	}
	start := len(a.free)
	a.free = append(a.free, b...)
	return a.free[start:len(a.free):len(a.free)] // full: appending to it cannot overwrite the next object
}

// interner shares the strings that repeat from row to row of one page
// (types, spec versions, sources).
type interner map[string]string

func (in *interner) str(b []byte) string {
	if *in == nil {
		*in = make(map[string]string)
	}
	if s, ok := (*in)[string(b)]; ok {
		return s
	}
	s := string(b)
	(*in)[s] = s
	return s
}

// listQuery builds List's SQL.
func listQuery(seq int64, q store.Query) (string, []any, error) {
	var b strings.Builder
	args := make([]any, 0, 4+len(q.IDs)+len(q.Types)+len(q.SpecVersions)+len(q.Versions.At))
	cols := fullColumns
	if q.MetaOnly {
		cols = metaColumns
	}
	vm := q.Versions
	if vm.IsZero() {
		vm.Last = true
	}
	onlyLast := vm.Last && !vm.All && !vm.First && len(vm.At) == 0
	onlyFirst := vm.First && !vm.All && !vm.Last && len(vm.At) == 0

	b.WriteString("SELECT ")
	b.WriteString(cols)
	b.WriteString(" FROM versions")
	// Steer the planner. Scanning versions_added, (coll, date_added) in
	// order, and filtering is the fastest way to a page, except for ids
	// (few rows each, through versions_object) and for last versions of
	// one type (versions_last_type). Without statistics the planner may
	// otherwise pick an index and a sort that reads the whole collection
	// for one page.
	lastOfType := onlyLast && len(q.Types) == 1 && len(q.IDs) == 0
	switch {
	case len(q.IDs) > 0:
		b.WriteString(" INDEXED BY versions_object")
	case lastOfType:
		b.WriteString(" INDEXED BY versions_last_type")
	default:
		b.WriteString(" INDEXED BY versions_added")
	}
	b.WriteString(" WHERE coll = ? AND date_added > ?")
	args = append(args, seq, q.AddedAfter.UnixMicro())
	switch {
	case vm.All:
	case lastOfType:
		b.WriteString(" AND is_last = 1") // the partial index's own term
	case onlyLast:
		b.WriteString(" AND is_last != 0")
	case onlyFirst:
		b.WriteString(" AND is_first != 0")
	default:
		var ors []string
		if vm.First {
			ors = append(ors, "is_first != 0")
		}
		if vm.Last {
			ors = append(ors, "is_last != 0")
		}
		if len(vm.At) > 0 {
			ks := make([]any, len(vm.At))
			for i, t := range vm.At {
				k, err := versionKey(t)
				if err != nil {
					return "", nil, err
				}
				ks[i] = k
			}
			ors = append(ors, "modified IN ("+placeholders(len(ks))+")")
			args = append(args, ks...)
		}
		b.WriteString(" AND (" + strings.Join(ors, " OR ") + ")")
	}
	if len(q.IDs) > 0 {
		hs := make([]any, len(q.IDs))
		for i, id := range q.IDs {
			hs[i] = idHash(id)
		}
		b.WriteString(" AND idh IN (" + placeholders(len(hs)) + ")")
		args = append(args, hs...)
	}
	args = inFilter(&b, args, "id", q.IDs)
	args = inFilter(&b, args, "type", q.Types)
	args = inFilter(&b, args, "spec_version", q.SpecVersions)
	b.WriteString(" ORDER BY date_added LIMIT ?")
	args = append(args, q.Limit+1)
	return b.String(), args, nil
}

// inFilter adds "AND col IN (...)" when vals is not empty.
func inFilter(b *strings.Builder, args []any, col string, vals []string) []any {
	switch len(vals) {
	case 0:
		return args
	case 1:
		b.WriteString(" AND " + col + " = ?")
	default:
		b.WriteString(" AND " + col + " IN (" + placeholders(len(vals)) + ")")
	}
	for _, v := range vals {
		args = append(args, v)
	}
	return args
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// Delete removes the selected versions and recomputes the object's first
// and last flags, in one transaction.
func (db *DB) Delete(ctx context.Context, collection, id string, versions store.VersionMatch, specVersions []string) (int, error) {
	if err := ctxErr(ctx, "delete"); err != nil {
		return 0, err
	}
	n, err := db.delete(ctx, collection, id, versions, specVersions)
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete %s from %s: %w", id, collection, err)
	}
	db.wrote()
	return n, nil
}

func (db *DB) delete(ctx context.Context, collection, id string, vm store.VersionMatch, specVersions []string) (int, error) {
	var b strings.Builder
	b.WriteString("DELETE FROM versions INDEXED BY versions_object WHERE coll = ? AND idh = ? AND id = ?")
	h := idHash(id)
	args := []any{nil, h, id}
	if vm.IsZero() {
		vm.Last = true
	}
	if !vm.All {
		var ors []string
		if vm.First {
			ors = append(ors, "is_first = 1")
		}
		if vm.Last {
			ors = append(ors, "is_last = 1")
		}
		if len(vm.At) > 0 {
			for _, t := range vm.At {
				k, err := versionKey(t)
				if err != nil {
					return 0, err
				}
				args = append(args, k)
			}
			ors = append(ors, "modified IN ("+placeholders(len(vm.At))+")")
		}
		b.WriteString(" AND (" + strings.Join(ors, " OR ") + ")")
	}
	args = inFilter(&b, args, "spec_version", specVersions)

	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer rollback(tx)
	seq, err := collectionSeq(ctx, tx, collection)
	if err != nil {
		return 0, err
	}
	args[0] = seq
	b.WriteString(" RETURNING source, modified")
	rows, err := tx.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return 0, err
	}
	// The change names the deleted versions' source: the newest deleted
	// version's, should they have come from several organisations.
	var (
		n      int64
		source string
		newest int64
	)
	for rows.Next() {
		var src string
		var mod int64
		if err := rows.Scan(&src, &mod); err != nil {
			rows.Close()
			return 0, err
		}
		if n == 0 || mod > newest {
			source, newest = src, mod
		}
		n++
	}
	if err := rows.Close(); err != nil {
		return 0, err
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, store.ErrNotFound
	}
	// Recompute the flags of what is left of the object.
	const object = `coll = ?1 AND idh = ?2 AND id = ?3`
	const lo = `(modified = (SELECT min(modified) FROM versions INDEXED BY versions_object WHERE ` + object + `))`
	const hi = `(modified = (SELECT max(modified) FROM versions INDEXED BY versions_object WHERE ` + object + `))`
	if _, err := tx.ExecContext(ctx, `UPDATE versions INDEXED BY versions_object SET is_first = `+lo+`, is_last = `+hi+
		` WHERE `+object+` AND (is_first != `+lo+` OR is_last != `+hi+`)`, seq, h, id); err != nil {
		return 0, err
	}
	if err := db.record(ctx, tx, store.Change{Op: store.OpDelete, Collection: collection, Source: source, ObjectID: id, Deleted: int(n)}); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(n), nil
}
