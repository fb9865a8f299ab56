package guard

import (
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/gaissmai/bart"
)

// Ranges in the text wider than these are matched only when they lie
// inside a protected range: a range that merely contains a customer's
// network among thousands of others does not point at the customer.
const (
	maxOverlapWidth4 = 16 // an IPv4 range of /16 or longer overlapping a protected range hits
	maxOverlapWidth6 = 32
)

// maxNameWords bounds the words of one name.
const maxNameWords = 32

// matcher holds the compiled lookup structures of a list. Values are asset
// indexes. It is read-only after build.
type matcher struct {
	ips      bart.Table[int32] // CIDR prefix table
	nIPs     int
	domains  map[string]int32 // domain → asset; a text domain is looked up with each of its parent domains
	emails   map[string]int32 // "local@domain"
	mailDoms map[string]int32 // mail domain → asset, looked up like domains
	// bitsets over the hash of the last two labels of every domain and
	// mail domain: a candidate whose last two labels are in neither set
	// cannot match, and skips the suffix walk
	domBits, mailBits []uint64
	names             map[string]int32 // folded words joined by ' ', and the words run together
	nameFirst         map[string]uint8 // first word → most words of a name starting with it
	nameBits          []uint64         // bitset over wordHash of the first words: most words skip the map
	asns              map[uint32]int32

	res      []reAsset
	reBigram [1 << 16 / 64]uint64 // first two bytes of a literal prefix
	reTri    map[uint32][]int32   // first three bytes → regexes (index into res)
	// the same for case-insensitive prefixes, keyed on lower-case bytes
	reFoldBigram [1 << 16 / 64]uint64
	reFoldTri    map[uint32][]int32
	reFirst      [256]bool // first bytes of all prefixes, both cases for folded ones
	reAlways     []int32   // regexes without a usable literal prefix

	needHosts bool // any cidr, domain, email or asn asset
}

type reAsset struct {
	idx      int32
	re       *regexp.Regexp
	anchored *regexp.Regexp // ^(?:re), run where the literal prefix occurs
	lit      []byte         // every match starts with it (lower case when fold)
	fold     bool           // lit is matched ignoring ASCII case
	complete bool           // the regex is its literal prefix
}

func (m *matcher) build(assets []asset) error {
	m.domains = make(map[string]int32)
	m.emails = make(map[string]int32)
	m.mailDoms = make(map[string]int32)
	m.names = make(map[string]int32)
	m.nameFirst = make(map[string]uint8)
	m.asns = make(map[uint32]int32)
	m.reTri = make(map[uint32][]int32)
	m.reFoldTri = make(map[uint32][]int32)
	for i, a := range assets {
		idx := int32(i)
		switch a.kind {
		case KindCIDR:
			p := cidrOf(a.value)
			if _, dup := m.ips.Get(p); !dup {
				m.ips.Insert(p, idx)
				m.nIPs++
			}
		case KindDomain:
			putFirst(m.domains, a.value, idx)
		case KindEmail:
			if dom, ok := strings.CutPrefix(a.value, "@"); ok {
				putFirst(m.mailDoms, dom, idx)
			} else {
				putFirst(m.emails, a.value, idx)
			}
		case KindName:
			words := strings.Split(a.value, " ")
			if len(words) > maxNameWords {
				return fmt.Errorf("protected-asset list: line %d: name of more than %d words", a.line, maxNameWords)
			}
			m.addName(a.value, words[0], len(words), idx)
			if len(words) > 1 {
				// "AcmeCorporation", "acme_corporation" is two words already
				joined := strings.Join(words, "")
				m.addName(joined, joined, 1, idx)
			}
		case KindASN:
			n, _ := NormalizeASN(a.value)
			if _, dup := m.asns[n]; !dup {
				m.asns[n] = idx
			}
		case KindRegex:
			re := regexp.MustCompile(a.value) // checked by canonical
			lit, complete := re.LiteralPrefix()
			r := reAsset{idx: idx, re: re, lit: []byte(lit), complete: complete}
			if len(lit) < 3 {
				r.lit, r.fold, r.complete = foldPrefix(a.value), true, false
			}
			ri := int32(len(m.res))
			switch {
			case len(r.lit) < 3:
				m.reAlways = append(m.reAlways, ri)
			case r.fold:
				r.anchored = regexp.MustCompile(`^(?:` + a.value + `)`)
				addTri(&m.reFoldBigram, m.reFoldTri, r.lit, ri)
				m.reFirst[r.lit[0]] = true
				m.reFirst[upper(r.lit[0])] = true
			default:
				if !complete {
					r.anchored = regexp.MustCompile(`^(?:` + a.value + `)`)
				}
				addTri(&m.reBigram, m.reTri, r.lit, ri)
				m.reFirst[r.lit[0]] = true
			}
			m.res = append(m.res, r)
		}
	}
	m.domBits, m.mailBits = tailBits(m.domains), tailBits(m.mailDoms)
	m.nameBits = make([]uint64, nameBitsLen/64)
	for w := range m.nameFirst {
		h := wordHash([]byte(w))
		m.nameBits[h/64] |= 1 << (h % 64)
	}
	m.needHosts = m.nIPs > 0 || len(m.domains) > 0 || len(m.emails) > 0 || len(m.mailDoms) > 0 || len(m.asns) > 0
	return nil
}

// nameBitsLen is the size of the first-word bitset: 128 KiB, mostly in
// cache, a few per cent full with tens of thousands of names.
const nameBitsLen = 1 << 20

// wordHash hashes a folded word for the first-word bitset (FNV-1a over
// the length and at most 16 bytes).
func wordHash(w []byte) uint32 {
	h := uint32(2166136261) ^ uint32(len(w))
	h *= 16777619
	for i, c := range w {
		if i == 16 {
			break
		}
		h ^= uint32(c)
		h *= 16777619
	}
	return h % nameBitsLen
}

func (m *matcher) maybeFirstWord(w []byte) bool {
	h := wordHash(w)
	return m.nameBits[h/64]&(1<<(h%64)) != 0
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func addTri(bigram *[1 << 16 / 64]uint64, tri map[uint32][]int32, lit []byte, ri int32) {
	bg := uint32(lit[0])<<8 | uint32(lit[1])
	bigram[bg/64] |= 1 << (bg % 64)
	k := bg<<8 | uint32(lit[2])
	tri[k] = append(tri[k], ri)
}

// foldPrefix returns the lower-case ASCII literal that every match of a
// case-insensitive regex starts with ("(?i)acmevpn-[0-9a-f]{8}" →
// "acmevpn-"), or nil.
func foldPrefix(src string) []byte {
	re, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil
	}
	re = re.Simplify()
	for re.Op == syntax.OpConcat && len(re.Sub) > 0 || re.Op == syntax.OpCapture {
		re = re.Sub[0]
	}
	if re.Op != syntax.OpLiteral {
		return nil
	}
	var lit []byte
	for _, r := range re.Rune {
		if r >= utf8.RuneSelf {
			break // folding of non-ASCII letters is more than ASCII case
		}
		letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if letter && re.Flags&syntax.FoldCase == 0 {
			break
		}
		if letter && (r|0x20 == 'k' || r|0x20 == 's') {
			break // (?i)k matches the Kelvin sign, (?i)s the long s
		}
		lit = append(lit, lower(byte(r)))
	}
	return lit
}

func putFirst(m map[string]int32, k string, v int32) {
	if _, dup := m[k]; !dup {
		m[k] = v
	}
}

func (m *matcher) addName(key, first string, n int, idx int32) {
	putFirst(m.names, key, idx)
	if uint8(n) > m.nameFirst[first] {
		m.nameFirst[first] = uint8(n)
	}
}

// lookupPrefix finds a protected range that an address or range in the
// text falls in or (if not too wide) overlaps, also through the IPv4
// address inside an IPv6 one.
func (m *matcher) lookupPrefix(p netip.Prefix) (int32, bool) {
	if m.nIPs == 0 {
		return 0, false
	}
	if idx, ok := m.lookupPrefix1(p); ok {
		return idx, true
	}
	if v4, ok := embeddedV4(p); ok {
		return m.lookupPrefix1(v4)
	}
	return 0, false
}

func (m *matcher) lookupPrefix1(p netip.Prefix) (int32, bool) {
	if p.IsSingleIP() {
		return m.ips.Lookup(p.Addr())
	}
	if idx, ok := m.ips.LookupPrefix(p); ok {
		return idx, true // inside a protected range
	}
	if p.Addr().Is4() && p.Bits() < maxOverlapWidth4 || p.Addr().Is6() && p.Bits() < maxOverlapWidth6 {
		return 0, false
	}
	for _, idx := range m.ips.Subnets(p) {
		return idx, true // holds a protected range
	}
	return 0, false
}

// tailBits returns the bitset over the last two labels of the domains.
func tailBits(set map[string]int32) []uint64 {
	bits := make([]uint64, nameBitsLen/64)
	for d := range set {
		h := wordHash(tail2([]byte(d)))
		bits[h/64] |= 1 << (h % 64)
	}
	return bits
}

// tail2 returns the last two labels of a domain ("acme-corp.example" of
// "vpn.acme-corp.example"), or nil when it has one label.
func tail2(d []byte) []byte {
	n := 0
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] == '.' {
			n++
			if n == 2 {
				return d[i+1:]
			}
		}
	}
	if n == 1 {
		return d
	}
	return nil
}

// lookupSuffix looks d (lower-case ASCII) and each parent domain of d up
// in set, stopping before the top-level label. bits is the set's
// tailBits.
func lookupSuffix(set map[string]int32, bits []uint64, d []byte) (int32, bool) {
	if len(set) == 0 {
		return 0, false
	}
	t := tail2(d)
	if t == nil {
		return 0, false
	}
	if h := wordHash(t); bits[h/64]&(1<<(h%64)) == 0 {
		return 0, false
	}
	for i := 0; ; {
		j := indexDot(d[i:])
		if j < 0 {
			return 0, false
		}
		if idx, ok := set[string(d[i:])]; ok {
			return idx, true
		}
		i += j + 1
	}
}

func indexDot(b []byte) int {
	for i, c := range b {
		if c == '.' {
			return i
		}
	}
	return -1
}

// lookupEmail looks up an address (also without a +tag) and its mail
// domain. buf is scratch.
func (m *matcher) lookupEmail(local, dom []byte, buf *[]byte) (int32, bool) {
	if len(m.emails) > 0 && len(local) > 0 {
		k := append(append(append((*buf)[:0], local...), '@'), dom...)
		*buf = k
		if idx, ok := m.emails[string(k)]; ok {
			return idx, true
		}
		if i := indexByte(local, '+'); i > 0 {
			k = append(append(append(k[:0], local[:i]...), '@'), dom...)
			if idx, ok := m.emails[string(k)]; ok {
				return idx, true
			}
		}
	}
	return lookupSuffix(m.mailDoms, m.mailBits, dom)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// regexHits calls hit for every match of a protected regex in s.
func (m *matcher) regexHits(s []byte, hit func(idx int32, start, end int)) {
	for _, ri := range m.reAlways {
		r := &m.res[ri]
		for _, loc := range r.re.FindAllIndex(s, -1) {
			hit(r.idx, loc[0], loc[1])
		}
	}
	if len(m.reFoldTri) > 0 && len(s) >= 3 {
		for i := 0; i+3 <= len(s); i++ {
			if !m.reFirst[s[i]] {
				continue
			}
			bg := uint32(lower(s[i]))<<8 | uint32(lower(s[i+1]))
			if m.reFoldBigram[bg/64]&(1<<(bg%64)) == 0 {
				continue
			}
			for _, ri := range m.reFoldTri[bg<<8|uint32(lower(s[i+2]))] {
				r := &m.res[ri]
				if !hasPrefixFold(s[i:], string(r.lit)) {
					continue
				}
				if loc := r.anchored.FindIndex(s[i:]); loc != nil {
					hit(r.idx, i, i+loc[1])
				}
			}
		}
	}
	if len(m.reTri) == 0 || len(s) < 3 {
		return
	}
	for i := 0; i+3 <= len(s); i++ {
		if !m.reFirst[s[i]] {
			continue
		}
		bg := uint32(s[i])<<8 | uint32(s[i+1])
		if m.reBigram[bg/64]&(1<<(bg%64)) == 0 {
			continue
		}
		for _, ri := range m.reTri[bg<<8|uint32(s[i+2])] {
			r := &m.res[ri]
			if !hasPrefix(s[i:], r.lit) {
				continue
			}
			if r.complete {
				hit(r.idx, i, i+len(r.lit))
				continue
			}
			if loc := r.anchored.FindIndex(s[i:]); loc != nil {
				hit(r.idx, i, i+loc[1])
			}
		}
	}
}

func hasPrefix(s, p []byte) bool {
	if len(s) < len(p) {
		return false
	}
	for i := range p {
		if s[i] != p[i] {
			return false
		}
	}
	return true
}
