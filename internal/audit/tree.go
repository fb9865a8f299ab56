package audit

import (
	"crypto/sha256"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// emptyRoot is the hash of the empty tree (RFC 6962 section 2.1): SHA-256
// of the empty string.
var emptyRoot = tlog.Hash(sha256.Sum256(nil))

// frontier is the right edge of a Merkle tree of n leaves (RFC 6962
// section 2.1): the roots of the perfect subtrees [0,n) splits into,
// largest (leftmost) first, one per set bit of n. It is all that is needed
// to append leaves and to compute the root.
type frontier struct {
	n      int64
	hashes []tlog.Hash
}

// frontierIndexes returns the stored-hash indexes (tlog.StoredHashIndex)
// of the frontier of a tree of n leaves, in frontier order.
func frontierIndexes(n int64) []int64 {
	out := make([]int64, 0, bits.OnesCount64(uint64(n)))
	var start int64
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			out = append(out, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	return out
}

// push appends a leaf hash: it appends to out the hashes tlog stores for
// the new leaf (the leaf hash, then the hash of each subtree it
// completes, lowest first: the hashes tlog.StoredHashesForRecordHash
// returns, in storage order) and returns out.
func (f *frontier) push(leaf tlog.Hash, out []tlog.Hash) []tlog.Hash {
	out = append(out, leaf)
	h := leaf
	for i := f.n; i&1 == 1; i >>= 1 {
		last := len(f.hashes) - 1
		h = tlog.NodeHash(f.hashes[last], h)
		f.hashes = f.hashes[:last]
		out = append(out, h)
	}
	f.hashes = append(f.hashes, h)
	f.n++
	return out
}

// pushSubtree appends the root h of a perfect subtree of 2^level leaves
// to a frontier whose n is a multiple of 2^level, like push but without
// storing h itself (its producer already did): it appends the hashes of
// the subtrees h completes.
func (f *frontier) pushSubtree(level int, h tlog.Hash, out []tlog.Hash) []tlog.Hash {
	for i := f.n >> level; i&1 == 1; i >>= 1 {
		last := len(f.hashes) - 1
		h = tlog.NodeHash(f.hashes[last], h)
		f.hashes = f.hashes[:last]
		out = append(out, h)
	}
	f.hashes = append(f.hashes, h)
	f.n += 1 << level
	return out
}

// root is the tree's hash (RFC 6962 MTH): the frontier folded from the
// right; the hash of the empty string for an empty tree.
func rootOf(hashes []tlog.Hash) tlog.Hash {
	if len(hashes) == 0 {
		return emptyRoot
	}
	h := hashes[len(hashes)-1]
	for i := len(hashes) - 2; i >= 0; i-- {
		h = tlog.NodeHash(hashes[i], h)
	}
	return h
}

func (f *frontier) root() tlog.Hash { return rootOf(f.hashes) }

func (f *frontier) clone() frontier {
	return frontier{n: f.n, hashes: append([]tlog.Hash(nil), f.hashes...)}
}
