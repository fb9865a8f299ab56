package guard

import (
	"bytes"
	"fmt"
	"net/netip"
	"unicode/utf8"
)

// sink receives the candidates an extractor finds. Spans are byte offsets
// in the text given to extractor.text. Byte slices are valid only during
// the call.
type sink interface {
	prefix(p netip.Prefix, start, end int)
	domain(d []byte, start, end int) // lower-case ASCII, no trailing dot
	email(local, domain []byte, start, end int)
	asn(n uint32, start, end int)
}

// extractor finds IP addresses and ranges, domains, e-mail addresses and
// AS numbers in text, in every form the normalisers accept. It keeps
// scratch buffers between calls and is not safe for concurrent use.
type extractor struct {
	sink   sink
	asnCtx bool    // bare numbers are AS numbers here
	mp     []int32 // maps offsets in the current view to the text; nil = identity
	buf    []byte
	lbuf   []byte
	labels []int
	ibuf   []byte
	tbuf   []byte
	view   []byte
	vmap   []int32
}

// text runs every extraction over s: as written and, when it holds
// defanged or %-encoded forms, once more refanged.
func (x *extractor) text(s []byte, fl uint16) {
	x.mp = nil
	x.run(s, fl)
	if fl&flRefang != 0 {
		v, mp, changed := deobfuscate(x.view[:0], x.vmap[:0], s, true)
		x.view, x.vmap = v, mp
		if changed {
			x.mp = mp
			x.run(v, classify(v))
			x.mp = nil
		}
	}
}

func (x *extractor) run(s []byte, fl uint16) {
	if fl&(flDigit|flAlpha|flHigh) == 0 {
		return
	}
	x.hosts(s)
	if fl&flColon2 != 0 {
		x.ipv6(s)
	}
	if fl&flAt != 0 {
		x.emails(s)
	}
	if fl&flASPattern != 0 {
		x.asPattern(s)
	}
}

// span maps a span of the current view back to the text.
func (x *extractor) span(start, end int) (int, int) {
	if x.mp == nil {
		return start, end
	}
	return int(x.mp[start]), int(x.mp[end])
}

func (x *extractor) emitPrefix(p netip.Prefix, start, end int) {
	start, end = x.span(start, end)
	x.sink.prefix(p, start, end)
}

func (x *extractor) emitDomain(d []byte, start, end int) {
	start, end = x.span(start, end)
	x.sink.domain(d, start, end)
}

func (x *extractor) emitASN(n uint32, start, end int) {
	start, end = x.span(start, end)
	x.sink.asn(n, start, end)
}

// text flags, computed in one pass by classify
const (
	flDigit     uint16 = 1 << iota
	flAlpha            // ASCII letter
	flHigh             // non-ASCII byte
	flDot              // '.'
	flColon2           // two or more ':'
	flAt               // '@'
	flRefang           // a character that may start a defanged or encoded form
	flASPattern        // "autonomous-system:number" may be present
)

// classify computes the flags that decide which extractions can find
// anything in s.
func classify(s []byte) uint16 {
	var fl uint16
	colons := 0
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			fl |= flDigit
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			fl |= flAlpha
		case c >= utf8.RuneSelf:
			fl |= flHigh
		case c == '.':
			fl |= flDot
		case c == ':':
			colons++
			if i >= 17 && lower(s[i-1]) == 'm' && hasPrefixFold(s[i-17:], "autonomous-system") {
				fl |= flASPattern
			}
		case c == '@':
			fl |= flAt
		case c == '[' || c == '(' || c == '{' || c == '<' || c == ']' || c == '\\' || c == '%':
			fl |= flRefang
		case c == ' ':
			if i+4 < len(s) && s[i+4] == ' ' && lower(s[i+1]) == 'd' && lower(s[i+2]) == 'o' && lower(s[i+3]) == 't' {
				fl |= flRefang
			}
		}
		if c == 'x' || c == 'X' {
			// hxxp, fxp
			if i > 0 && (s[i-1] == 'h' || s[i-1] == 'H' || s[i-1] == 'f' || s[i-1] == 'F') {
				fl |= flRefang
			}
		}
	}
	if colons >= 2 {
		fl |= flColon2
	}
	return fl
}

// hosts finds host tokens (runs of letters, digits, '-', '_' and '.', including
// non-ASCII letters and the full-width and ideographic dots) and reads each
// as IPv4 forms, domain and AS number.
func (x *extractor) hosts(s []byte) {
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		if c < utf8.RuneSelf {
			if !hostByte[c] {
				i++
				continue
			}
		} else if r, sz := utf8.DecodeRune(s[i:]); !isHostRune(r) {
			i += sz
			continue
		}
		start, ascii := i, true
		for i < n {
			c = s[i]
			if c < utf8.RuneSelf {
				if !hostByte[c] {
					break
				}
				i++
				continue
			}
			r, sz := utf8.DecodeRune(s[i:])
			if !isHostRune(r) {
				break
			}
			ascii = false
			i += sz
		}
		if ascii {
			x.hostTokenBytes(s[start:i], s, start, i, false)
		} else {
			x.foreignToken(s, start, i)
		}
	}
}

func isHostRune(r rune) bool {
	return isWordRune(r) || r == 0x3002 || r == 0xFF0E || r == 0xFF61 || r == 0xFF0D
}

// foreignToken handles a host token with non-ASCII characters: mapped
// whole through IDNA (bücher.example, full-width digits and dots), and
// split at characters of scripts that write words without spaces, where a
// plain domain can sit glued to the text around it.
func (x *extractor) foreignToken(s []byte, start, end int) {
	if end-start <= 1024 {
		if t, err := idnaProfile.ToASCII(string(s[start:end])); err == nil || isASCII(t) {
			x.tbuf = append(x.tbuf[:0], t...)
			x.hostTokenBytes(x.tbuf, s, start, end, true)
		}
	}
	for i := start; i < end; {
		r, sz := utf8.DecodeRune(s[i:])
		if r >= utf8.RuneSelf && isSoloRune(r) {
			i += sz
			continue
		}
		// the run up to the next solo rune
		j := i
		for j < end {
			r2, sz2 := utf8.DecodeRune(s[j:])
			if r2 >= utf8.RuneSelf && isSoloRune(r2) {
				break
			}
			j += sz2
		}
		if i > start || j < end {
			// its ASCII core; the whole token was mapped above
			sub, sj := i, j
			for sub < sj && s[sub] >= utf8.RuneSelf {
				_, k := utf8.DecodeRune(s[sub:])
				sub += k
			}
			for sj > sub && s[sj-1] >= utf8.RuneSelf {
				_, k := utf8.DecodeLastRune(s[:sj])
				sj -= k
			}
			if sub < sj && isASCII(string(s[sub:sj])) {
				x.hostTokenBytes(s[sub:sj], s, sub, sj, false)
			}
		}
		i = j
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// hostTokenBytes reads one host token. tok is ASCII: the text s[start:end]
// itself, or its IDNA mapping when mapped is set (then spans cover the
// whole token). The text after the token is read for "/bits" and
// "AS 64500".
func (x *extractor) hostTokenBytes(tok, s []byte, start, end int, mapped bool) {
	after := s[end:]
	// trim dots and hyphens at both ends
	a, b := 0, len(tok)
	for a < b && (tok[a] == '.' || tok[a] == '-') {
		a++
	}
	trailingDot := false
	for b > a && (tok[b-1] == '.' || tok[b-1] == '-') {
		if tok[b-1] == '.' {
			trailingDot = true
		}
		b--
	}
	if a == b {
		return
	}
	if !mapped {
		if b < len(tok) {
			after = s[start+b:]
		}
		start, end = start+a, start+b
	}
	t := tok[a:b]
	dots, letters, upper, digits, under, dash := 0, 0, false, false, false, false
	for _, c := range t {
		switch {
		case 'a' <= c && c <= 'z':
			letters++
		case c == '.':
			dots++
		case '0' <= c && c <= '9':
			digits = true
		case 'A' <= c && c <= 'Z':
			letters++
			upper = true
		case c == '_':
			under = true
		case c == '-':
			dash = true
		}
	}
	if dots == 0 && !digits {
		// a plain word: only "AS"/"ASN" before a number can matter
		if len(t) <= 3 && t[0] == 'A' && len(t) >= 2 && t[1] == 'S' {
			x.asToken(t, after, start, end)
		}
		return
	}
	if !mapped && under {
		// "_dmarc.acme-corp.example" is a name as it stands; in
		// "backup_acme-corp.example.zip" the '_' separates words
		for i := 0; i < len(t); {
			j := i
			for j < len(t) && t[j] != '_' {
				j++
			}
			if j > i && (i > 0 || j < len(t)) {
				x.hostTokenBytes(t[i:j], s, start+i, start+j, false)
			}
			i = j + 1
		}
	}
	if dots == 0 {
		x.plainToken(t, after, start, end, dash || under)
		return
	}
	if upper {
		x.buf = append(x.buf[:0], t...)
		for i, c := range x.buf {
			x.buf[i] = lower(c)
		}
		t = x.buf
	}
	x.dottedIPv4(t, after, trailingDot, start, end)
	if letters > 0 {
		if t[0] == 'a' && t[1] == 's' {
			x.asToken(t, after, start, end) // asdot: AS64086.59904
		}
		x.emitDomain(t, start, end)
	}
}

// plainToken reads a token without dots: decimal or hex integer IPv4,
// AS numbers, dashed IPv4 inside a label (ip-198-51-100-7).
func (x *extractor) plainToken(t, after []byte, start, end int, sep bool) {
	c0 := t[0]
	switch {
	case c0 >= '0' && c0 <= '9':
		allDigits := true
		for _, c := range t {
			if c < '0' || c > '9' {
				allDigits = false
				break
			}
		}
		if allDigits {
			if v, ok := ipv4Integer(t); ok && len(t) >= 8 {
				x.emitPrefix(netip.PrefixFrom(addr4(v), 32), start, end)
			}
			if x.asnCtx {
				if n, ok := parseASN(t); ok {
					x.emitASN(n, start, end)
				}
			}
			return
		}
		if c0 == '0' && len(t) > 2 && (t[1] == 'x' || t[1] == 'X') {
			if v, ok := ipv4Integer(t); ok {
				x.emitPrefix(netip.PrefixFrom(addr4(v), 32), start, end)
			}
			return
		}
	case c0 == 'a' || c0 == 'A':
		if len(t) >= 2 && (t[1] == 's' || t[1] == 'S') {
			x.asToken(t, after, start, end)
		}
	}
	if sep {
		x.dashedIPv4(t, start, end)
	}
}

// asToken reads AS64500, ASN64500, AS-64500, asdot AS1.10, and "AS"/"ASN"
// in capitals followed by up to three separators and the number.
func (x *extractor) asToken(t, after []byte, start, end int) {
	r := t[2:]
	if len(r) > 0 && (r[0] == 'n' || r[0] == 'N') {
		r = r[1:]
	}
	if len(r) > 0 && (r[0] == '-' || r[0] == '_') {
		r = r[1:]
	}
	if len(r) > 0 {
		if n, ok := parseASN(r); ok {
			x.emitASN(n, start, end)
		}
		return
	}
	// "AS 64500", "ASN: 64500" — capitals only, "as 2024" is English
	if !(t[0] == 'A' && t[1] == 'S' && (len(t) == 2 || t[2] == 'N')) {
		return
	}
	i := 0
	for i < len(after) && i < 3 && (after[i] == ' ' || after[i] == ':' || after[i] == '#' || after[i] == '\t' || after[i] == '-') {
		i++
	}
	if i == 0 {
		return
	}
	j := i
	for j < len(after) && (after[j] >= '0' && after[j] <= '9' || after[j] == '.') {
		j++
	}
	for j > i && after[j-1] == '.' {
		j--
	}
	if j < len(after) && alnum[after[j]] {
		return
	}
	if n, ok := parseASN(after[i:j]); ok {
		x.emitASN(n, start, end+j)
	}
}

// dottedIPv4 finds IPv4 addresses in a dotted token: any four consecutive
// numeric labels (so 198.51.100.7.static.isp.example is read too), the
// reversed labels of in-addr.arpa, a /bits suffix after the token, and a
// /24 written as 198.51.100.x, 198.51.100.* or "198.51.100." before
// a regex class.
func (x *extractor) dottedIPv4(t, after []byte, trailingDot bool, start, end int) {
	x.labels = x.labels[:0]
	ls := 0
	for i := 0; i <= len(t); i++ {
		if i == len(t) || t[i] == '.' {
			x.labels = append(x.labels, ls, i)
			ls = i + 1
		}
	}
	nl := len(x.labels) / 2
	label := func(k int) []byte { return t[x.labels[2*k]:x.labels[2*k+1]] }
	run := 0
	found := false
	for k := 0; k < nl; k++ {
		d, a := ipv4Part(label(k))
		if d < 0 && a < 0 {
			run = 0
			if bytes.IndexByte(label(k), '-') >= 0 || bytes.IndexByte(label(k), '_') >= 0 {
				x.dashedIPv4(label(k), start, end)
			}
			continue
		}
		run++
		if run < 4 {
			continue
		}
		found = true
		first := x.labels[2*(k-3)]
		last := x.labels[2*k+1]
		v, n := ipv4Forms(t[first:last])
		bits := 32
		if last == len(t) && len(after) > 1 && after[0] == '/' {
			if b, rest, ok := readUint(after[1:], 32); ok && (len(rest) == 0 || !alnum[rest[0]]) {
				bits = int(b)
				end += 1 + len(after[1:]) - len(rest)
			}
		}
		for i := 0; i < n; i++ {
			p, _ := addr4(v[i]).Prefix(bits)
			x.emitPrefix(p, start, end)
		}
		if nl >= 6 && k == 3 && bytes.HasSuffix(t, []byte(".in-addr.arpa")) {
			v, n = ipv4Forms(t[first:last])
			for i := 0; i < n; i++ {
				r := v[i]
				r = r>>24 | r>>8&0xff00 | r<<8&0xff0000 | r<<24
				x.emitPrefix(netip.PrefixFrom(addr4(r), 32), start, end)
			}
		}
	}
	if found || nl < 3 {
		return
	}
	// a /24 written with its last octet open
	for k := 0; k < 3; k++ {
		if d, _ := ipv4Part(label(k)); d < 0 {
			return
		}
	}
	open := false
	switch {
	case nl == 3:
		open = trailingDot && (len(after) == 0 || !(after[0] >= '0' && after[0] <= '9'))
	case nl == 4:
		l := label(3)
		open = bytes.Equal(l, []byte("x")) || bytes.Equal(l, []byte("xx")) || bytes.Equal(l, []byte("xxx"))
		if !open && len(l) > 0 && l[0] >= '0' && l[0] <= '9' {
			// a range in the last octet: 198.51.100.7-20
			if i := bytes.IndexByte(l, '-'); i > 0 {
				if d, _ := ipv4Part(l[:i]); d >= 0 {
					if v, n := ipv4Forms(append(append(x.ibuf[:0], t[:x.labels[6]]...), l[:i]...)); n > 0 {
						x.emitPrefix(netip.PrefixFrom(addr4(v[0]), 32), start, end)
					}
				}
			}
		}
	}
	if open {
		if v, n := ipv4Forms(append(append(x.ibuf[:0], t[:x.labels[5]]...), ".0"...)); n > 0 {
			for i := 0; i < n; i++ {
				x.emitPrefix(netip.PrefixFrom(addr4(v[i]), 24), start, end)
			}
		}
	}
}

// dashedIPv4 finds four consecutive decimal numbers separated by '-' or
// '_' in a label, as in ip-198-51-100-7, 198-51-100-7-static or
// host_198_51_100_7.
func (x *extractor) dashedIPv4(l []byte, start, end int) {
	var parts [4]int
	run := 0
	for i := 0; i <= len(l); {
		j := i
		for j < len(l) && l[j] != '-' && l[j] != '_' {
			j++
		}
		p := l[i:j]
		v := -1
		if len(p) > 0 && len(p) <= 3 {
			v = 0
			for _, c := range p {
				if c < '0' || c > '9' {
					v = -1
					break
				}
				v = v*10 + int(c-'0')
			}
			if v > 255 {
				v = -1
			}
		}
		if v < 0 {
			run = 0
		} else {
			parts[0], parts[1], parts[2], parts[3] = parts[1], parts[2], parts[3], v
			run++
			if run >= 4 {
				a := uint32(parts[0])<<24 | uint32(parts[1])<<16 | uint32(parts[2])<<8 | uint32(parts[3])
				x.emitPrefix(netip.PrefixFrom(addr4(a), 32), start, end)
			}
		}
		i = j + 1
	}
}

// ipv6 finds IPv6 addresses and ranges: runs of hex digits, ':' and '.'
// holding at least two colons, with an optional zone and /bits.
func (x *extractor) ipv6(s []byte) {
	for i := 0; i < len(s); i++ {
		if s[i] != ':' {
			continue
		}
		a := i
		for a > 0 && v6Byte[s[a-1]] {
			a--
		}
		b := i
		for b < len(s) && v6Byte[s[b]] {
			b++
		}
		x.v6Token(s, a, b)
		i = b
	}
}

func (x *extractor) v6Token(s []byte, a, b int) {
	for b > a && s[b-1] == '.' {
		b--
	}
	if bytes.Count(s[a:b], []byte(":")) < 2 {
		return
	}
	tok := s[a:b]
	addr, err := netip.ParseAddr(string(tok))
	if err != nil {
		// "2001:db8::1:443"-like trailing port after a full address, or a
		// single leading/trailing colon from the surrounding text
		t := tok
		if len(t) > 1 && t[0] == ':' && t[1] != ':' {
			t = t[1:]
		}
		if n := len(t); n > 1 && t[n-1] == ':' && t[n-2] != ':' {
			t = t[:n-1]
		}
		if addr, err = netip.ParseAddr(string(t)); err != nil {
			if i := bytes.LastIndexByte(t, ':'); i > 0 {
				addr, err = netip.ParseAddr(string(t[:i]))
			}
			if err != nil {
				return
			}
		}
	}
	end := b
	if end < len(s) && s[end] == '%' {
		end++
		for end < len(s) && (alnum[s[end]] || s[end] == '_' || s[end] == '-' || s[end] == '.') {
			end++
		}
	}
	bits := 128
	if end < len(s)-1 && s[end] == '/' {
		if v, rest, ok := readUint(s[end+1:], 128); ok && (len(rest) == 0 || !alnum[rest[0]]) {
			bits = int(v)
			end = len(s) - len(rest)
		}
	}
	p, err := addr.Prefix(bits)
	if err != nil {
		return
	}
	x.emitPrefix(p, a, end)
}

// emails finds addresses local@domain and bare mail domains @domain.
func (x *extractor) emails(s []byte) {
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		a := i
		for a > 0 && localByte[s[a-1]] != 0 {
			a--
		}
		// text quotes the address more often than a local part starts
		// with a symbol: start at a letter or digit
		for a < i && !alnum[s[a]] {
			a++
		}
		b := i + 1
		ascii := true
		for b < len(s) {
			c := s[b]
			if c < utf8.RuneSelf {
				if !hostByte[c] {
					break
				}
				b++
				continue
			}
			r, sz := utf8.DecodeRune(s[b:])
			if !isHostRune(r) {
				break
			}
			ascii = false
			b += sz
		}
		e := b
		for e > i+1 && (s[e-1] == '.' || s[e-1] == '-') {
			e--
		}
		dom := s[i+1 : e]
		if len(dom) == 0 {
			continue
		}
		if ascii {
			x.buf = append(x.buf[:0], dom...)
			for k, c := range x.buf {
				x.buf[k] = lower(c)
			}
		} else {
			t, err := idnaProfile.ToASCII(string(dom))
			if err != nil && !isASCII(t) {
				continue
			}
			x.buf = append(x.buf[:0], t...)
		}
		if bytes.IndexByte(x.buf, '.') < 0 {
			continue
		}
		x.lbuf = append(x.lbuf[:0], s[a:i]...)
		for k, c := range x.lbuf {
			x.lbuf[k] = lower(c)
		}
		sa, sb := x.span(a, e)
		x.sink.email(x.lbuf, x.buf, sa, sb)
		// "from=ceo@…", "user/ceo@…": also the part after the last symbol
		// that log formats put before an address
		for k := len(x.lbuf) - 1; k >= 0; k-- {
			if c := x.lbuf[k]; c == '=' || c == '/' || c == '\'' || c == '`' || c == '|' || c == '{' || c == '}' || c == '#' || c == '!' || c == '?' || c == '*' || c == '&' || c == '^' || c == '~' || c == '$' {
				if k+1 < len(x.lbuf) {
					sa, _ = x.span(a+k+1, e)
					x.sink.email(x.lbuf[k+1:], x.buf, sa, sb)
				}
				break
			}
		}
		i = b - 1
	}
}

// asPattern reads the numbers compared with autonomous-system:number in a
// STIX pattern, up to the end of the comparison.
func (x *extractor) asPattern(s []byte) {
	const key = "autonomous-system:number"
	for off := 0; ; {
		i := indexFold(s[off:], key)
		if i < 0 {
			return
		}
		i += off + len(key)
		j := i
		for j < len(s) && s[j] != ']' && !(j+4 < len(s) && (hasPrefixFold(s[j:], " and ") || hasPrefixFold(s[j:], " or "))) {
			j++
		}
		for k := i; k < j; {
			if s[k] >= '0' && s[k] <= '9' && (k == i || !alnum[s[k-1]]) {
				e := k
				for e < j && s[e] >= '0' && s[e] <= '9' {
					e++
				}
				if n, ok := parseASN(s[k:e]); ok && (e == j || !alnum[s[e]]) {
					x.emitASN(n, k, e)
				}
				k = e
				continue
			}
			k++
		}
		off = j
	}
}

// indexFold is bytes.Index for an ASCII lower-case word, ignoring case.
func indexFold(s []byte, w string) int {
	for i := 0; i+len(w) <= len(s); i++ {
		if lower(s[i]) == w[0] && hasPrefixFold(s[i:], w) {
			return i
		}
	}
	return -1
}

// Candidate is one value Extract found in a text.
type Candidate struct {
	Kind       Kind   // KindCIDR, KindDomain, KindEmail or KindASN
	Value      string // canonical: "198.51.100.7/32", "acme-corp.example", "john@acme-corp.example", "AS64500"
	Start, End int    // byte span in the text
}

// Extract returns every IP address or range, domain, e-mail address and AS
// number found in s, in any form the normalisers accept, as the scanner
// sees them (names and regexes need a list: see Scanner). Candidates may
// repeat and overlap (an e-mail's domain is also a domain); IPv6
// addresses with an IPv4 address inside are also reported as that IPv4
// address.
func Extract(s string) []Candidate {
	var c collector
	x := extractor{sink: &c}
	b := []byte(s)
	x.text(b, classify(b))
	return c.out
}

type collector struct{ out []Candidate }

func (c *collector) prefix(p netip.Prefix, start, end int) {
	c.out = append(c.out, Candidate{KindCIDR, p.String(), start, end})
	if v4, ok := embeddedV4(p); ok {
		c.out = append(c.out, Candidate{KindCIDR, v4.String(), start, end})
	}
}
func (c *collector) domain(d []byte, start, end int) {
	c.out = append(c.out, Candidate{KindDomain, string(d), start, end})
}
func (c *collector) email(local, d []byte, start, end int) {
	c.out = append(c.out, Candidate{KindEmail, string(local) + "@" + string(d), start, end})
}
func (c *collector) asn(n uint32, start, end int) {
	c.out = append(c.out, Candidate{KindASN, fmt.Sprintf("AS%d", n), start, end})
}

// embeddedV4 returns the IPv4 range inside an IPv6 range that carries one:
// IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96, deprecated),
// NAT64 (64:ff9b::/96, RFC 6052) and 6to4 (2002::/16, RFC 3056).
func embeddedV4(p netip.Prefix) (netip.Prefix, bool) {
	a := p.Addr()
	if !a.Is6() {
		return netip.Prefix{}, false
	}
	b := a.As16()
	bits := p.Bits()
	switch {
	case a.Is4In6():
		return v4from(b[12:16], bits-96)
	case b[0] == 0x20 && b[1] == 0x02: // 6to4
		return v4from(b[2:6], min(bits, 48)-16)
	case isZero(b[:12]) && !isZero(b[12:14]): // compatible, not ::1 and the like
		return v4from(b[12:16], bits-96)
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && isZero(b[4:12]):
		return v4from(b[12:16], bits-96)
	}
	return netip.Prefix{}, false
}

func v4from(b []byte, bits int) (netip.Prefix, bool) {
	if bits < 0 {
		return netip.Prefix{}, false
	}
	p, err := netip.AddrFrom4([4]byte(b)).Prefix(bits)
	return p, err == nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
