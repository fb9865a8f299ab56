package match

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// table is an immutable hash table from keys to posting lists, built once
// by tableBuilder. Keys and postings live in one byte arena:
//
//	uvarint(len(key)) key uvarint(n) n × uint32 (little-endian)
//
// and the slots hold, for each key, the high 32 bits of its hash (a tag
// that rejects most wrong slots without touching the arena) and its arena
// offset + 1 (0 marks an empty slot). Slots are found by linear probing
// from a position derived from the low 32 bits of the hash; the table is
// kept at most 70 % full.
type table struct {
	slots []uint64
	arena []byte
	n     int // keys
}

// posting is one element of a posting list: an entry slot and flags.
type posting uint32

const (
	// pCandidate: the key is a necessary condition of the indicator's
	// pattern, which must be evaluated; otherwise the key decides alone.
	pCandidate posting = 1 << 31
	// pNoParent: the key is a domain that is itself a public suffix;
	// names below it are not reported as subdomain matches.
	pNoParent posting = 1 << 30

	slotMask posting = 1<<30 - 1
	// maxSlots bounds the entries an index can hold.
	maxSlots = int(slotMask)
)

func (p posting) slot() uint32 { return uint32(p & slotMask) }

// find returns the raw posting list of key (n little-endian uint32s), or
// nil.
func (t *table) find(h uint64, key []byte) []byte {
	if len(t.slots) == 0 {
		return nil
	}
	tag := uint32(h >> 32)
	n := uint64(len(t.slots))
	i := (uint64(uint32(h)) * n) >> 32
	for {
		s := t.slots[i]
		if s == 0 {
			return nil
		}
		if uint32(s>>32) == tag {
			off := int(uint32(s)) - 1
			kl, w := binary.Uvarint(t.arena[off:])
			off += w
			if int(kl) == len(key) && bytes.Equal(t.arena[off:off+int(kl)], key) {
				off += int(kl)
				cnt, w := binary.Uvarint(t.arena[off:])
				off += w
				return t.arena[off : off+4*int(cnt)]
			}
		}
		i++
		if i == n {
			i = 0
		}
	}
}

// each calls fn for every key and its postings.
func (t *table) each(fn func(key []byte, posts []byte)) {
	for off := 0; off < len(t.arena); {
		kl, w := binary.Uvarint(t.arena[off:])
		off += w
		key := t.arena[off : off+int(kl)]
		off += int(kl)
		cnt, w := binary.Uvarint(t.arena[off:])
		off += w
		fn(key, t.arena[off:off+4*int(cnt)])
		off += 4 * int(cnt)
	}
}

func postingAt(b []byte, i int) posting {
	return posting(binary.LittleEndian.Uint32(b[4*i:]))
}

// tableBuilder collects (key, posting) pairs and builds a table.
type tableBuilder struct {
	keys  []byte // concatenated keys
	pairs []pair
}

type pair struct {
	h    uint64
	off  uint32 // key in keys
	klen uint32
	p    posting
}

func (b *tableBuilder) add(h uint64, key []byte, p posting) {
	b.pairs = append(b.pairs, pair{h: h, off: uint32(len(b.keys)), klen: uint32(len(key)), p: p})
	b.keys = append(b.keys, key...)
}

func (b *tableBuilder) key(p *pair) []byte { return b.keys[p.off : p.off+p.klen] }

// build sorts the pairs, merges the postings of equal keys (dropping
// duplicates) and lays out the table. hashes receives the hash of every
// distinct key when not nil.
func (b *tableBuilder) build(hashes *[]uint64) *table {
	slices.SortFunc(b.pairs, func(x, y pair) int {
		if x.h != y.h {
			if x.h < y.h {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(b.key(&x), b.key(&y)); c != 0 {
			return c
		}
		if x.p < y.p {
			return -1
		}
		if x.p > y.p {
			return 1
		}
		return 0
	})
	// count distinct keys and arena size
	distinct, size := 0, 0
	for i := 0; i < len(b.pairs); {
		j := i + 1
		cnt := 1
		for j < len(b.pairs) && b.pairs[j].h == b.pairs[i].h && bytes.Equal(b.key(&b.pairs[j]), b.key(&b.pairs[i])) {
			if b.pairs[j].p != b.pairs[j-1].p {
				cnt++
			}
			j++
		}
		distinct++
		size += uvarintLen(uint64(b.pairs[i].klen)) + int(b.pairs[i].klen) + uvarintLen(uint64(cnt)) + 4*cnt
		i = j
	}
	t := &table{n: distinct, arena: make([]byte, 0, size)}
	if distinct == 0 {
		return t
	}
	t.slots = make([]uint64, distinct*10/7+1)
	if hashes != nil {
		*hashes = slices.Grow((*hashes)[:0], distinct)
	}
	n := uint64(len(t.slots))
	var ps []posting
	for i := 0; i < len(b.pairs); {
		first := &b.pairs[i]
		key := b.key(first)
		ps = append(ps[:0], first.p)
		j := i + 1
		for j < len(b.pairs) && b.pairs[j].h == first.h && bytes.Equal(b.key(&b.pairs[j]), key) {
			if b.pairs[j].p != ps[len(ps)-1] {
				ps = append(ps, b.pairs[j].p)
			}
			j++
		}
		off := len(t.arena)
		t.arena = binary.AppendUvarint(t.arena, uint64(len(key)))
		t.arena = append(t.arena, key...)
		t.arena = binary.AppendUvarint(t.arena, uint64(len(ps)))
		for _, p := range ps {
			t.arena = binary.LittleEndian.AppendUint32(t.arena, uint32(p))
		}
		s := (uint64(uint32(first.h)) * n) >> 32
		for t.slots[s] != 0 {
			s++
			if s == n {
				s = 0
			}
		}
		t.slots[s] = first.h>>32<<32 | uint64(off+1)
		if hashes != nil {
			*hashes = append(*hashes, first.h)
		}
		i = j
	}
	return t
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}
