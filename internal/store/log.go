package store

import (
	"context"
	"errors"

	"fusion/internal/stix"
)

// ErrConflict: a conditional write lost a race (another node got there first).
var ErrConflict = errors.New("conflict")

// Change ops reported to a Recorder.
const (
	OpPut              = "put"
	OpDelete           = "delete"
	OpCollectionCreate = "collection.create"
	OpCollectionUpdate = "collection.update"
	OpCollectionDelete = "collection.delete"
	OpOrgCreate        = "org.create"
	OpTokenCreate      = "token.create"
	OpTokenRevoke      = "token.revoke"
	OpGrantSet         = "grant.set"
)

// Change describes one change a Store is about to commit. Only the fields
// of its Op are set. Times are as the Store keeps them (where a Store
// stores the current time for a zero Created, that time).
type Change struct {
	Op         string
	Collection string         // put, delete, collection.*, grant.set
	Source     string         // put: the submitting organisation's id; delete: the deleted versions' source (of the newest one)
	Objects    []*stix.Object // put: the inputs, aligned with Outcomes
	Outcomes   []PutOutcome   // put: what happened to each input
	ObjectID   string         // delete
	Deleted    int            // delete: how many versions went
	Coll       *Collection    // collection.create, collection.update
	Org        *Org           // org.create
	Token      *Token         // token.create (Hash nil), token.revoke (ID, OrgID and Revoked only)
	Grant      *Grant         // grant.set
}

// Recorder turns a change into audit log entries. A Store calls it inside
// the transaction that makes the change and appends what it returns in
// that same transaction, so that there is no change without its entries
// and no entry without its change. An error from the Recorder aborts the
// change. ctx is the one the Store method was called with (it carries the
// acting organisation, see package audit). It is called once for every
// successful call of a mutating method, a Put that adds nothing included
// (its Outcomes say so). It runs while the Store holds its write lock
// (SQLite: the one write connection), so it must not call the Store and
// should be quick.
type Recorder func(ctx context.Context, c Change) ([][]byte, error)

// Recorded is what a Recorder call returned.
type Recorded struct {
	Entries [][]byte
	Err     error
}

// RecordAsync calls r (nil: none, no entries) with c, on a goroutine of
// its own when async, and delivers the result on the channel: a backend
// computes a large change's entries (hashing every object) while it
// writes the change's rows. The caller must not change c until the
// result has arrived.
func RecordAsync(ctx context.Context, r Recorder, c Change, async bool) <-chan Recorded {
	ch := make(chan Recorded, 1)
	call := func() {
		if r == nil {
			ch <- Recorded{}
			return
		}
		entries, err := r(ctx, c)
		ch <- Recorded{entries, err}
	}
	if async && r != nil {
		go call()
	} else {
		call()
	}
	return ch
}

// Checkpoint is a signed statement of the log's tree size and root.
type Checkpoint struct {
	Size int64
	Note []byte // the signed note (golang.org/x/mod/sumdb/note)
}

// Log is the storage of the tamper-evident audit log: entries numbered
// from 0 in append order, the Merkle tree's stored hashes (in the order of
// golang.org/x/mod/sumdb/tlog's StoredHashIndex) and signed checkpoints.
// The tree is built behind the entries: TreeSize <= LogSize.
type Log interface {
	// SetRecorder installs the recorder called on every change (nil: none).
	// Call it before the store is used concurrently.
	SetRecorder(r Recorder)

	// AppendLog appends entries that record no change of the store (what
	// was served to whom, refused requests) in a transaction of their own
	// (a backend may commit concurrent AppendLog calls together) and
	// returns the index of the first (LogSize, appending nothing, when
	// entries is empty). A call's entries are contiguous; indexes are
	// dense and in commit order, also with several nodes appending. When
	// it returns the entries are committed: visible, and kept if the
	// calling process dies; a backend may commit them without waiting for
	// the disk (a crash of the database machine may lose the last moments
	// of them, as SQLite's synchronous=NORMAL allows for every commit).
	AppendLog(ctx context.Context, entries [][]byte) (first int64, err error)

	// AppendSpooled is AppendLog for entries moved from a node-local
	// spool (the audit log's file of entries written but not yet stored):
	// in the same transaction it records seq, the spool's number of the
	// last of entries, as how far spool has been moved. ErrConflict, with
	// nothing stored, unless seq is above the number recorded before, so
	// a move repeated after a crash stores nothing twice. It commits with
	// the store's full durability (the spool may be emptied once it
	// returns).
	AppendSpooled(ctx context.Context, spool string, seq int64, entries [][]byte) (first int64, err error)

	// SpoolMark is how far spool has been moved: the seq of the last
	// AppendSpooled that stored, 0 when none did.
	SpoolMark(ctx context.Context, spool string) (int64, error)

	// LogSize is the number of entries appended.
	LogSize(ctx context.Context) (int64, error)

	// ReadLog returns entries [start, end). ErrNotFound if end > LogSize;
	// an error if start < 0 or start > end.
	ReadLog(ctx context.Context, start, end int64) ([][]byte, error)

	// TreeSize is the number of entries the stored hashes cover.
	TreeSize(ctx context.Context) (int64, error)

	// ReadHashes returns the stored hashes at the given storage indexes,
	// in order. ErrNotFound if any is missing.
	ReadHashes(ctx context.Context, indexes []int64) ([][32]byte, error)

	// ExtendTree atomically grows the tree from oldSize to newSize entries:
	// it stores hashes at storage indexes StoredHashIndex(0, oldSize)
	// onwards and the checkpoint for newSize. ErrConflict if the tree size
	// is no longer oldSize (another node extended it first) or a checkpoint
	// for newSize is stored already. newSize == oldSize (no hashes) stores
	// a checkpoint of the current tree, e.g. the empty one. An error, with
	// nothing stored, unless oldSize <= newSize <= LogSize, cp.Size ==
	// newSize and len(hashes) == StoredHashCount(newSize) -
	// StoredHashCount(oldSize).
	ExtendTree(ctx context.Context, oldSize, newSize int64, hashes [][32]byte, cp Checkpoint) error

	// Checkpoints returns the stored checkpoints with Size in [from, to],
	// ascending (none is not an error); LatestCheckpoint the newest
	// (ErrNotFound if none).
	Checkpoints(ctx context.Context, from, to int64) ([]Checkpoint, error)
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)

	// DeleteCheckpoints removes the stored checkpoints of the given sizes
	// (thinning: the tree and its hashes stay, so proofs between any sizes
	// still work); sizes with none stored are skipped. It never removes
	// the newest checkpoint: asking to is an error, with nothing removed.
	// It returns how many were removed.
	DeleteCheckpoints(ctx context.Context, sizes []int64) (int64, error)
}
