package audit

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Receipt proves that an entry is in the hub's log: the entry's exact
// bytes, its index, its inclusion proof (RFC 6962 section 2.1.1) in the
// tree of TreeSize entries, and the hub's signed checkpoint of that tree.
// Anyone holding the hub's verifier key can check it (CheckReceipt, or by
// hand as docs/audit.md describes) without asking the hub anything.
type Receipt struct {
	Index      int64       `json:"index"`
	Entry      []byte      `json:"entry"` // standard base64 in JSON
	TreeSize   int64       `json:"tree_size"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint"`
}

// Receipt returns the receipt of entry index in the tree of size entries,
// with that size's stored checkpoint.
func (l *Log) Receipt(ctx context.Context, index int64, cp Checkpoint) (Receipt, error) {
	es, err := l.st.ReadLog(ctx, index, index+1)
	if err != nil {
		return Receipt{}, fmt.Errorf("audit: entry %d: %w", index, err)
	}
	p, err := l.ProveEntry(ctx, index, cp.Size)
	if err != nil {
		return Receipt{}, err
	}
	return Receipt{Index: index, Entry: es[0], TreeSize: cp.Size, Proof: p, Checkpoint: string(cp.Note)}, nil
}

// CheckReceipt checks a receipt with the hub's verifier key: the
// checkpoint's signature and size, and that the entry's leaf hash with
// the proof gives the signed root. It returns the parsed entry.
func CheckReceipt(r Receipt, v note.Verifier) (Entry, error) {
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return Entry{}, fmt.Errorf("receipt for entry %d: %w", r.Index, err)
	}
	if cp.Size != r.TreeSize {
		return Entry{}, fmt.Errorf("receipt for entry %d: tree_size %d but the checkpoint signs %d", r.Index, r.TreeSize, cp.Size)
	}
	if r.Index < 0 || r.Index >= cp.Size {
		return Entry{}, fmt.Errorf("receipt for entry %d: not in a tree of %d entries", r.Index, cp.Size)
	}
	if err := checkRecord(r.Proof, cp.Size, cp.Root, r.Index, tlog.RecordHash(r.Entry)); err != nil {
		return Entry{}, fmt.Errorf("receipt for entry %d: inclusion proof does not give the signed root: %w", r.Index, err)
	}
	e, err := ParseEntry(r.Entry)
	if err != nil {
		return Entry{}, fmt.Errorf("receipt for entry %d: %w", r.Index, err)
	}
	return e, nil
}
