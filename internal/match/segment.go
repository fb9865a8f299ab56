package match

import (
	"net/netip"
	"slices"

	"github.com/FastFilter/xorfilter"
	"github.com/gaissmai/bart"
)

// segment is an immutable part of the index: the keys of a set of entries
// (exact structures), their CIDR blocks, and the object types of their
// keyless patterns. The index is one large base segment plus a few small
// delta segments holding what was added since the base was built.
type segment struct {
	tab    *table
	filter *xorfilter.BinaryFuse8 // over the hashes of tab's keys; nil: probe tab directly

	cidr     *bart.Table[uint32] // block → offset of its postings in cidrPost; nil when none
	cidrPost []posting           // count, then postings, for each block

	byType map[string][]posting // keyless patterns by an object type they need

	keys int // keys + blocks + keyless postings: the size that drives merging
}

// segmentBuilder collects what a segment will hold.
type segmentBuilder struct {
	tb     tableBuilder
	blocks map[netip.Prefix][]posting
	byType map[string][]posting
}

func (b *segmentBuilder) addKey(h uint64, key []byte, p posting) { b.tb.add(h, key, p) }

func (b *segmentBuilder) addBlock(pfx netip.Prefix, p posting) {
	if b.blocks == nil {
		b.blocks = make(map[netip.Prefix][]posting)
	}
	l := b.blocks[pfx]
	if len(l) == 0 || l[len(l)-1] != p {
		b.blocks[pfx] = append(l, p)
	}
}

func (b *segmentBuilder) addType(typ string, p posting) {
	if b.byType == nil {
		b.byType = make(map[string][]posting)
	}
	l := b.byType[typ]
	if len(l) == 0 || l[len(l)-1] != p {
		b.byType[typ] = append(l, p)
	}
}

// build lays the segment out. With filter set, a binary fuse filter over
// the keys' hashes answers most misses before the table is touched.
func (b *segmentBuilder) build(filter bool) *segment {
	s := &segment{}
	var hashes []uint64
	var hp *[]uint64
	if filter {
		hp = &hashes
	}
	s.tab = b.tb.build(hp)
	s.keys = s.tab.n
	if filter && len(hashes) > 0 {
		if f, err := xorfilter.PopulateBinaryFuse8(hashes); err == nil {
			s.filter = f
		}
		// On error (it does not happen for distinct hashes) the
		// table alone answers, which is correct, only slower.
	}
	if len(b.blocks) > 0 {
		s.cidr = new(bart.Table[uint32])
		pfxs := make([]netip.Prefix, 0, len(b.blocks))
		for p := range b.blocks {
			pfxs = append(pfxs, p)
		}
		slices.SortFunc(pfxs, func(x, y netip.Prefix) int { return x.Compare(y) })
		n := 0
		for _, l := range b.blocks {
			n += 1 + len(l)
		}
		s.cidrPost = make([]posting, 0, n)
		for _, p := range pfxs {
			l := b.blocks[p]
			slices.Sort(l)
			l = slices.Compact(l)
			s.cidr.Insert(p, uint32(len(s.cidrPost)))
			s.cidrPost = append(s.cidrPost, posting(len(l)))
			s.cidrPost = append(s.cidrPost, l...)
		}
		s.keys += len(pfxs)
	}
	if len(b.byType) > 0 {
		s.byType = make(map[string][]posting, len(b.byType))
		for t, l := range b.byType {
			l = slices.Clone(l)
			slices.Sort(l)
			s.byType[t] = slices.Compact(l)
			s.keys += len(l)
		}
	}
	return s
}

// find returns the raw postings of a key, or nil.
func (s *segment) find(h uint64, key []byte) []byte {
	if s.tab.n == 0 {
		return nil
	}
	if s.filter != nil && !s.filter.Contains(h) {
		return nil
	}
	return s.tab.find(h, key)
}

// blocks calls fn for every indicator block holding pfx (a single
// address or a block), with the block and its postings.
func (s *segment) blocks(pfx netip.Prefix, fn func(block netip.Prefix, ps []posting)) {
	if s.cidr == nil {
		return
	}
	if pfx.IsSingleIP() {
		if !s.cidr.Contains(pfx.Addr()) {
			return
		}
	} else if _, _, ok := s.cidr.LookupPrefixLPM(pfx); !ok {
		return
	}
	for blk, off := range s.cidr.Supernets(pfx) {
		n := int(s.cidrPost[off])
		fn(blk, s.cidrPost[off+1:int(off)+1+n])
	}
}

// eachBlock calls fn for every block of the segment.
func (s *segment) eachBlock(fn func(block netip.Prefix, ps []posting)) {
	if s.cidr == nil {
		return
	}
	for blk, off := range s.cidr.All() {
		n := int(s.cidrPost[off])
		fn(blk, s.cidrPost[off+1:int(off)+1+n])
	}
}
