package stix

import (
	"sync/atomic"
	"unsafe"
)

// Parse decodes the whole object into a tree, and Validate (or Lint),
// which every write path calls right after, needs the very same tree.
// Parse therefore leaves its tree in a small table keyed by the object,
// and the first Validate or Lint of that object takes it instead of
// decoding Raw again. The table is a cache: an entry is replaced by the
// next Parse that hashes to its slot, and a miss only costs the decode,
// so a Parse without a Validate pins at most a slot's worth of memory.
//
// The tree is the one Parse built with its strict checks, over a private
// copy of the input that is Raw, or that Raw was compacted from (then
// the values are the same): for input Parse accepted, it is exactly what
// decoding Raw gives. It is only taken while o.Raw is the very slice
// Parse set (same array, same length); like FactsBlob, this relies on Raw
// not being changed in place, and assigning a new slice is safe.

// parsedTree is one entry. Its fields never change after it is
// published, so a reader may look at them before claiming the entry.
type parsedTree struct {
	owner *Object
	raw   []byte // owner.Raw when Parse returned
	t     *tree
	root  int32
}

// parsedSlot is padded to a cache line: each worker touches its own.
type parsedSlot struct {
	p atomic.Pointer[parsedTree]
	_ [56]byte
}

const parsedSlotBits = 5

var parsedSlots [1 << parsedSlotBits]parsedSlot

// maxHandoff bounds the size of a tree left in the table (nodes plus
// kids, by capacity), so that the table never pins much memory.
const maxHandoff = 1 << 12

func slotOf(o *Object) *parsedSlot {
	h := uint64(uintptr(unsafe.Pointer(o))) * 0x9E3779B97F4A7C15
	return &parsedSlots[h>>(64-parsedSlotBits)]
}

// leaveParsed offers t, the tree of o.Raw with its root, to the next
// takeParsed of o. It reports false when t is too large to keep: the
// caller then releases it.
func leaveParsed(o *Object, t *tree, root int32) bool {
	if cap(t.nodes)+cap(t.kids) > maxHandoff {
		return false
	}
	e := &parsedTree{owner: o, raw: o.Raw, t: t, root: root}
	if old := slotOf(o).p.Swap(e); old != nil {
		old.t.release()
	}
	return true
}

// takeParsed returns the tree Parse left for o, now owned by the caller
// (who releases it), or nil.
func takeParsed(o *Object) (*tree, int32) {
	s := slotOf(o)
	e := s.p.Load()
	if e == nil || e.owner != o || !sameSlice(e.raw, o.Raw) || !s.p.CompareAndSwap(e, nil) {
		return nil, 0
	}
	return e.t, e.root
}
