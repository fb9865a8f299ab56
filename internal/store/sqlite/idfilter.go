package sqlite

import (
	"context"
	"database/sql"
	"math/bits"
	"sync"
)

// Known-id filters let Put skip the index look-up of ids a collection
// cannot hold. Each is a Bloom filter over the id hashes (idHash) of one
// collection's versions as of its upTo, the collection's last_added: it
// may say "maybe" of an id that is absent (about 1 % of them), never "no"
// of one that is present.
//
// The filter is kept up to date by Put itself, inside its transaction, so
// every change to it happens while the writer connection is held. Other
// processes (or other DB values) on the same file write too: every
// version they add raises the collection's last_added (date_added is
// strictly increasing per collection), so a Put that reads a last_added
// beyond upTo first adds the hashes of the versions after upTo, a range
// scan of the table. A collection whose seq or created time changed (it
// was deleted and made again) or whose last_added went back is rebuilt
// from its index. Deleted versions stay in the filter, which is only a
// wasted look-up. A transaction that does not commit invalidates every
// filter, since the filters may already hold its rows.
//
// Building a filter scans the collection's id index. So that a small Put
// into a large collection does not pay for that, a build is attempted only
// once the objects put into the collection by this process are at least a
// quarter of the rows the scan would read (plus a floor); a collection
// larger than that is looked up row by row until then.
type idFilters struct {
	mu sync.Mutex
	m  map[string]*idFilter // by collection id
}

type idFilter struct {
	seq, created int64
	upTo         int64 // last_added the filter covers

	bits []uint64 // nil: not built
	n    int      // hashes added
	cap  int      // hashes it holds at its designed error rate

	puts      int // objects put into the collection by this process
	nextBuild int // puts at which the next build may be tried
}

const (
	filterHashes   = 7       // probes per hash
	filterBitsPer  = 10      // bits per hash at capacity: about 1 % false "maybe"
	filterMinCap   = 1 << 12 // hashes: 8 KiB, since a server may put into hundreds of collections
	buildFloor     = 20000   // rows a build may always scan
	buildPerPut    = 4       // rows a build may scan per object put
	filterMaxRebld = 1 << 30
)

// invalidate forgets every filter.
func (fs *idFilters) invalidate() {
	fs.mu.Lock()
	fs.m = nil
	fs.mu.Unlock()
}

// get returns the collection's filter, brought up to last inside tx, or
// nil when there is none yet (look every id up). n is the number of
// objects about to be put.
func (fs *idFilters) get(ctx context.Context, tx *sql.Tx, collection string, seq, created, last int64, n int) (*idFilter, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.m == nil {
		fs.m = make(map[string]*idFilter)
	}
	f := fs.m[collection]
	if f == nil || f.seq != seq || f.created != created || (f.bits != nil && last < f.upTo) {
		f = &idFilter{seq: seq, created: created}
		fs.m[collection] = f
	}
	f.puts += n
	if f.bits == nil {
		if f.puts < f.nextBuild {
			return nil, nil
		}
		ok, err := f.build(ctx, tx, last, buildFloor+buildPerPut*f.puts)
		if err != nil || !ok {
			f.nextBuild = 2 * f.puts
			return nil, err
		}
		return f, nil
	}
	if last > f.upTo {
		// Another writer added versions: take their hashes.
		rows, err := tx.QueryContext(ctx, `SELECT idh FROM versions WHERE coll = ? AND date_added > ?`, seq, f.upTo)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var h int64
			if err := rows.Scan(&h); err != nil {
				return nil, err
			}
			f.add(h)
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
		f.upTo = last
	}
	if f.n > f.cap {
		// Full: rebuild a larger one now.
		f.bits = nil
		ok, err := f.build(ctx, tx, last, filterMaxRebld)
		if err != nil || !ok {
			f.nextBuild = 2 * f.puts
			return nil, err
		}
	}
	return f, nil
}

// build fills the filter from the collection's id index, unless that
// holds more than limit rows (false).
func (f *idFilter) build(ctx context.Context, tx *sql.Tx, last int64, limit int) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT idh FROM versions INDEXED BY versions_object WHERE coll = ? LIMIT ?`, f.seq, limit+1)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	var hs []int64
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return false, err
		}
		if len(hs) == limit {
			return false, nil
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	f.cap = max(filterMinCap, 2*len(hs))
	f.bits = make([]uint64, 1<<bits.Len(uint(f.cap*filterBitsPer/64)))
	f.n = 0
	for _, h := range hs {
		f.add(h)
	}
	f.upTo = last
	return true, nil
}

// probes returns the filter's double-hashing start and step for h.
func (f *idFilter) probes(h int64) (uint64, uint64, uint64) {
	// idHash is FNV-1a, weak in its low bits: mix it first (splitmix64).
	x := uint64(h)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x, x>>32 | 1, uint64(len(f.bits))*64 - 1
}

func (f *idFilter) add(h int64) {
	a, b, mask := f.probes(h)
	for range filterHashes {
		i := a & mask
		f.bits[i/64] |= 1 << (i % 64)
		a += b
	}
	f.n++
}

// mayHave reports whether the collection may hold an id with hash h.
func (f *idFilter) mayHave(h int64) bool {
	a, b, mask := f.probes(h)
	for range filterHashes {
		i := a & mask
		if f.bits[i/64]&(1<<(i%64)) == 0 {
			return false
		}
		a += b
	}
	return true
}

// MayHold tells, without touching the index, which of ids the collection
// may hold a version of (false: certainly none), from the collection's
// known-id filter. ok is false when there is no filter to trust: none
// built yet, or the collection changed since the filter last caught up
// (another process wrote to it, or it was made again); then every id must
// be looked up. Versions this process's open group has added may answer
// true before they are visible to readers; a caller that then looks them
// up does not find them, as without the filter.
func (db *DB) MayHold(ctx context.Context, collection string, ids []string) (may []bool, ok bool) {
	var seq, last, created int64
	err := db.r.QueryRowContext(ctx, `SELECT seq, last_added, coalesce(created, 0) FROM collections WHERE id = ?`, collection).Scan(&seq, &last, &created)
	if err != nil {
		return nil, false
	}
	db.ids.mu.Lock()
	defer db.ids.mu.Unlock()
	f := db.ids.m[collection]
	if f == nil || f.bits == nil || f.seq != seq || f.created != created || last > f.upTo {
		return nil, false
	}
	may = make([]bool, len(ids))
	for i, id := range ids {
		may[i] = f.mayHave(idHash(id))
	}
	return may, true
}
