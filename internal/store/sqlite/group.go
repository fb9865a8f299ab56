package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// Group commit for bulk loads (fusion ingest).
//
// Each committed transaction writes every page it changed to the WAL, and
// new objects change leaves of the id index at random places: a Put of a
// few thousand new objects into a collection of a million rewrites most
// of that index. PutGrouped lets a loader keep one write transaction open
// across several Puts, so that the index pages are written once per group
// instead of once per Put, without holding the group's objects in memory.

// Group limits: a group commits once it has stored groupObjects versions
// or has been open for groupAge, whichever comes first. groupAge also
// bounds how long other processes wait for the write lock.
// Variables so that tests can make groups small.
var (
	groupObjects = 50_000
	groupAge     = 3 * time.Second
)

// PutGrouped calls fn with a put function that stores batches like Put,
// but in write transactions shared by several calls: put commits the
// open transaction (and every batch before) when the group is full, and
// then reports committed. put(nil) commits now. PutGrouped commits what
// is left when fn returns nil. If put or fn fails, the batches since the
// last commit are rolled back (nothing of them stays, audit log entries
// included) and PutGrouped returns the error; put must not be called
// after it failed, nor after fn returned.
//
// Until a batch is committed nothing of it is visible to readers and a
// crash loses it; the writer connection is held meanwhile, so other
// writes of this DB wait (at most groupAge plus one Put, when put is
// called often enough), and so do other processes' writes to the file.
func (db *DB) PutGrouped(ctx context.Context, collection, source string,
	fn func(put func(objs []*stix.Object) (out []store.PutOutcome, committed bool, err error)) error) error {
	g := &group{db: db, ctx: ctx, collection: collection, source: source}
	err := fn(g.put)
	if err == nil && g.err == nil {
		err = g.commit()
	}
	if g.tx != nil {
		g.abort()
	}
	if err == nil {
		err = g.err
	}
	return err
}

type group struct {
	db                 *DB
	ctx                context.Context
	collection, source string

	tx      *sql.Tx // open transaction, nil between groups
	opened  time.Time
	pending int // versions stored in tx
	err     error
}

func (g *group) put(objs []*stix.Object) ([]store.PutOutcome, bool, error) {
	if g.err != nil {
		return nil, false, g.err
	}
	if objs == nil {
		return nil, true, g.commit()
	}
	keys := make([]int64, len(objs))
	facts := make([][]byte, len(objs)) // cached on objects a validator has read (see FactsBlob)
	for i, o := range objs {
		if o == nil {
			return nil, false, g.fail(fmt.Errorf("sqlite: put: object %d is nil", i))
		}
		k, err := versionKey(o.Version())
		if err != nil {
			return nil, false, g.fail(fmt.Errorf("sqlite: put: object %d (%s): %w", i, o.ID, err))
		}
		keys[i] = k
		facts[i] = o.FactsBlob()
	}
	if g.tx == nil {
		if err := ctxErr(g.ctx, "put"); err != nil {
			return nil, false, g.fail(err)
		}
		tx, err := g.db.w.BeginTx(g.ctx, nil)
		if err != nil {
			return nil, false, g.fail(fmt.Errorf("sqlite: put %d objects into %s: %w", len(objs), g.collection, err))
		}
		g.tx, g.opened, g.pending = tx, time.Now(), 0
	}
	out, err := g.db.putIn(g.ctx, g.tx, g.collection, g.source, objs, keys, facts)
	if err != nil {
		return nil, false, g.fail(fmt.Errorf("sqlite: put %d objects into %s: %w", len(objs), g.collection, err))
	}
	for _, o := range out {
		if o.Added {
			g.pending++
		}
	}
	if g.pending < groupObjects && time.Since(g.opened) < groupAge {
		return out, false, nil
	}
	if err := g.commit(); err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// commit commits the open transaction, if any.
func (g *group) commit() error {
	if g.err != nil {
		return g.err
	}
	if g.tx == nil {
		return nil
	}
	err := g.tx.Commit()
	tx := g.tx
	g.tx = nil
	if err != nil {
		g.db.ids.invalidate()
		rollback(tx)
		return g.fail(fmt.Errorf("sqlite: put into %s: commit: %w", g.collection, err))
	}
	g.db.wrote()
	return nil
}

// fail rolls the open transaction back and keeps err for every later call.
func (g *group) fail(err error) error {
	if g.tx != nil {
		g.abort()
	}
	g.err = err
	return err
}

func (g *group) abort() {
	g.db.ids.invalidate()
	rollback(g.tx)
	g.tx = nil
}
