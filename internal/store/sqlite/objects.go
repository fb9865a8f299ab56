package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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

// Put stores versions as the store.Store contract says, in one immediate
// transaction. date_added is max(now, previous+1µs), the previous value
// kept in collections.last_added.
func (db *DB) Put(ctx context.Context, collection, source string, objs []*stix.Object) ([]store.PutOutcome, error) {
	if err := ctxErr(ctx, "put"); err != nil {
		return nil, err
	}
	keys := make([]int64, len(objs))
	for i, o := range objs {
		if o == nil {
			return nil, fmt.Errorf("sqlite: put: object %d is nil", i)
		}
		k, err := versionKey(o.Version())
		if err != nil {
			return nil, fmt.Errorf("sqlite: put: object %d (%s): %w", i, o.ID, err)
		}
		keys[i] = k
	}
	out, err := db.put(ctx, collection, source, objs, keys)
	if err != nil {
		return nil, fmt.Errorf("sqlite: put %d objects into %s: %w", len(objs), collection, err)
	}
	return out, nil
}

func (db *DB) put(ctx context.Context, collection, source string, objs []*stix.Object, keys []int64) ([]store.PutOutcome, error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer rollback(tx)
	var seq, last int64
	err = tx.QueryRowContext(ctx, `SELECT seq, last_added FROM collections WHERE id = ?`, collection).Scan(&seq, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := make([]store.PutOutcome, len(objs))
	if len(objs) == 0 {
		return out, nil
	}

	// One statement each, prepared once per batch.
	prep := func(q string) (*sql.Stmt, error) { return tx.PrepareContext(ctx, q) }
	newest, err := prep(`SELECT rid, modified FROM versions WHERE coll = ? AND id = ? ORDER BY modified DESC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	defer newest.Close()
	oldest, err := prep(`SELECT rid, modified FROM versions WHERE coll = ? AND id = ? ORDER BY modified ASC LIMIT 1`)
	if err != nil {
		return nil, err
	}
	defer oldest.Close()
	exists, err := prep(`SELECT 1 FROM versions WHERE coll = ? AND id = ? AND modified = ?`)
	if err != nil {
		return nil, err
	}
	defer exists.Close()
	clearLast, err := prep(`UPDATE versions SET is_last = 0 WHERE rid = ?`)
	if err != nil {
		return nil, err
	}
	defer clearLast.Close()
	clearFirst, err := prep(`UPDATE versions SET is_first = 0 WHERE rid = ?`)
	if err != nil {
		return nil, err
	}
	defer clearFirst.Close()
	insert, err := prep(`INSERT INTO versions
		(coll, date_added, id, modified, type, spec_version, source, revoked, is_first, is_last, raw)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, err
	}
	defer insert.Close()

	now := time.Now().UnixMicro()
	for i, o := range objs {
		k := keys[i]
		isFirst, isLast := true, true
		var lastRID, lastKey int64
		switch err := newest.QueryRowContext(ctx, seq, o.ID).Scan(&lastRID, &lastKey); {
		case errors.Is(err, sql.ErrNoRows):
			// a new object
		case err != nil:
			return nil, err
		case k == lastKey:
			continue // unchanged
		case k > lastKey:
			// a newer version: it becomes last; first stays
			isFirst = false
			if _, err := clearLast.ExecContext(ctx, lastRID); err != nil {
				return nil, err
			}
		default:
			// an older version than the last one: already there?
			isLast = false
			var one int
			err := exists.QueryRowContext(ctx, seq, o.ID, k).Scan(&one)
			if err == nil {
				continue // unchanged
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, err
			}
			var firstRID, firstKey int64
			if err := oldest.QueryRowContext(ctx, seq, o.ID).Scan(&firstRID, &firstKey); err != nil {
				return nil, err
			}
			if k < firstKey {
				if _, err := clearFirst.ExecContext(ctx, firstRID); err != nil {
					return nil, err
				}
			} else {
				isFirst = false
			}
		}
		added := max(now, last+1)
		last = added
		if _, err := insert.ExecContext(ctx, seq, added, o.ID, k, o.Type, o.SpecVersion, source,
			boolInt(o.Revoked), boolInt(isFirst), boolInt(isLast), o.Raw); err != nil {
			return nil, err
		}
		out[i] = store.PutOutcome{Added: true, DateAdded: time.UnixMicro(added).UTC()}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE collections SET last_added = ? WHERE seq = ?`, last, seq); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return out, nil
}

// listColumns are the columns List reads, in the order scanVersion scans.
const (
	metaColumns = `date_added, id, type, spec_version, modified, source, revoked`
	fullColumns = metaColumns + `, raw`
)

// List returns matching versions in date_added order, reading Limit+1 rows
// to learn whether there are more. With match[version] first or last
// alone the scan runs on a partial index of those versions; with one type
// and last, on the (type, date_added) partial index.
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
	var in interner
	for rows.Next() {
		if len(page.Versions) == q.Limit {
			page.More = true
			break
		}
		var (
			v                        store.Version
			added, modified, revoked int64
			typ, spec, source        sql.RawBytes
			dest                     = []any{&added, &v.ID, &typ, &spec, &modified, &source, &revoked}
		)
		if !q.MetaOnly {
			dest = append(dest, &v.Raw)
		}
		if err := rows.Scan(dest...); err != nil {
			return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
		}
		v.Collection = collection
		v.Type, v.SpecVersion, v.Source = in.str(typ), in.str(spec), in.str(source)
		v.DateAdded = time.UnixMicro(added).UTC()
		v.Modified = decodeVersionKey(modified)
		v.Revoked = revoked != 0
		page.Versions = append(page.Versions, v)
	}
	if err := rows.Err(); err != nil {
		return store.Page{}, fmt.Errorf("sqlite: list %s: %w", collection, err)
	}
	return page, nil
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
	// Steer the planner: without statistics it may prefer the object
	// index and a sort, which reads the whole collection for one page.
	switch {
	case len(q.IDs) > 0:
		// few rows per id: the object index is right
	case onlyLast && len(q.Types) == 1:
		b.WriteString(" INDEXED BY versions_last_type")
	case onlyLast:
		b.WriteString(" INDEXED BY versions_last")
	case onlyFirst:
		b.WriteString(" INDEXED BY versions_first")
	default:
		b.WriteString(" INDEXED BY versions_added")
	}
	b.WriteString(" WHERE coll = ? AND date_added > ?")
	args = append(args, seq, q.AddedAfter.UnixMicro())
	switch {
	case vm.All:
	case onlyLast:
		b.WriteString(" AND is_last = 1")
	case onlyFirst:
		b.WriteString(" AND is_first = 1")
	default:
		var ors []string
		if vm.First {
			ors = append(ors, "is_first = 1")
		}
		if vm.Last {
			ors = append(ors, "is_last = 1")
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
	return n, nil
}

func (db *DB) delete(ctx context.Context, collection, id string, vm store.VersionMatch, specVersions []string) (int, error) {
	var b strings.Builder
	b.WriteString("DELETE FROM versions WHERE coll = ? AND id = ?")
	args := []any{nil, id}
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
	res, err := tx.ExecContext(ctx, b.String(), args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, store.ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `UPDATE versions SET
			is_first = (modified = (SELECT min(modified) FROM versions WHERE coll = ?1 AND id = ?2)),
			is_last  = (modified = (SELECT max(modified) FROM versions WHERE coll = ?1 AND id = ?2))
		WHERE coll = ?1 AND id = ?2 AND (
			is_first != (modified = (SELECT min(modified) FROM versions WHERE coll = ?1 AND id = ?2)) OR
			is_last  != (modified = (SELECT max(modified) FROM versions WHERE coll = ?1 AND id = ?2)))`,
		seq, id); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	return int(n), nil
}
