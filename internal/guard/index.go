package guard

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"

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
	ips       bart.Table[int32] // CIDR prefix table
	nIPs      int
	domains   map[string]int32 // domain → asset; a text domain is looked up with each of its parent domains
	emails    map[string]int32 // "local@domain"
	mailDoms  map[string]int32 // mail domain → asset, looked up like domains
	names     map[string]int32 // folded words joined by ' ', and the words run together
	nameFirst map[string]uint8 // first word → most words of a name starting with it
	asns      map[uint32]int32

	res      []reAsset
	reBigram [1 << 16 / 64]uint64 // first two bytes of a literal prefix
	reTri    map[uint32][]int32   // first three bytes → regexes (index into res)
	reAlways []int32              // regexes without a usable literal prefix

	needHosts bool // any cidr, domain, email or asn asset
}

type reAsset struct {
	idx      int32
	re       *regexp.Regexp
	anchored *regexp.Regexp // ^(?:re), run where the literal prefix occurs
	lit      []byte
	complete bool // the regex is its literal prefix
}

func (m *matcher) build(assets []asset) error {
	m.domains = make(map[string]int32)
	m.emails = make(map[string]int32)
	m.mailDoms = make(map[string]int32)
	m.names = make(map[string]int32)
	m.nameFirst = make(map[string]uint8)
	m.asns = make(map[uint32]int32)
	m.reTri = make(map[uint32][]int32)
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
			ri := int32(len(m.res))
			if len(lit) >= 3 {
				if !complete {
					r.anchored = regexp.MustCompile(`^(?:` + a.value + `)`)
				}
				bg := uint32(lit[0])<<8 | uint32(lit[1])
				m.reBigram[bg/64] |= 1 << (bg % 64)
				tri := bg<<8 | uint32(lit[2])
				m.reTri[tri] = append(m.reTri[tri], ri)
			} else {
				m.reAlways = append(m.reAlways, ri)
			}
			m.res = append(m.res, r)
		}
	}
	m.needHosts = m.nIPs > 0 || len(m.domains) > 0 || len(m.emails) > 0 || len(m.mailDoms) > 0 || len(m.asns) > 0
	return nil
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

// lookupSuffix looks d (lower-case ASCII) and each parent domain of d up
// in set, stopping before the top-level label.
func lookupSuffix(set map[string]int32, d []byte) (int32, bool) {
	if len(set) == 0 {
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
	return lookupSuffix(m.mailDoms, dom)
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
	if len(m.reTri) == 0 || len(s) < 3 {
		return
	}
	for i := 0; i+3 <= len(s); i++ {
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
