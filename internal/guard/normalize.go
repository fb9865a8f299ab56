package guard

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The exported normalisers turn one value, written any of the ways people
// and tools write it, into the canonical form the asset list and the
// matcher use. The scanner uses the same rules on the candidates it finds
// in text (see Extract), through allocation-free variants.

var (
	errNotIP     = errors.New("not an IP address")
	errNotPrefix = errors.New("not an IP address or CIDR range")
	errNotDomain = errors.New("not a domain name")
	errNotEmail  = errors.New("not an e-mail address")
	errNotASN    = errors.New("not an AS number")
)

// idnaProfile maps a domain for lookup (UTS #46: case, width, dots such as
// U+3002) and converts it to punycode. Underscores are allowed because
// real names carry them (_dmarc.example).
var idnaProfile = idna.New(idna.MapForLookup(), idna.StrictDomainName(false), idna.Transitional(false))

// Refang undoes the defanging analysts apply to indicators so they cannot
// be clicked, and the encodings that hide them from naive matching:
//
//	acme-corp[.]example, (.), {.}, <.>, [dot], (dot), " dot "   → "."
//	[:], [://], [/]                                              → ":", "://", "/"
//	[at], (at), [@]                                              → "@"
//	hxxp, hXXps, fxp                                             → http, https, ftp
//	evil[.com, evil.]com                                         → evil.com
//	acme-corp\.example (regex escapes)                           → acme-corp.example
//	%2E and other %XX escapes                                    → the byte
//
// Text without such forms is returned unchanged.
func Refang(s string) string {
	out, _, changed := deobfuscate(nil, nil, []byte(s), false)
	if !changed {
		return s
	}
	return string(out)
}

// deobfuscate is Refang on bytes. It appends the result to dst and, when
// withMap is set, the source offset of every output byte to mp, plus a
// final entry len(s), so that spans found in the output map back to s.
func deobfuscate(dst []byte, mp []int32, s []byte, withMap bool) ([]byte, []int32, bool) {
	changed := false
	emit := func(c byte, at int) {
		dst = append(dst, c)
		if withMap {
			mp = append(mp, int32(at))
		}
	}
	// trimSpaces drops spaces just emitted before a "." or "@" so that
	// "acme-corp [dot] example" becomes one token.
	trimSpaces := func() {
		for len(dst) > 0 && dst[len(dst)-1] == ' ' {
			dst = dst[:len(dst)-1]
			if withMap {
				mp = mp[:len(mp)-1]
			}
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '[', '(', '{', '<':
			if sym, n := bracketed(s[i:]); n > 0 {
				if sym == "." || sym == "@" {
					trimSpaces()
					for i+n < len(s) && s[i+n] == ' ' {
						n++
					}
				}
				for k := 0; k < len(sym); k++ {
					emit(sym[k], i)
				}
				i += n
				changed = true
				continue
			}
			if c == '[' && i+1 < len(s) && s[i+1] == '.' {
				i++ // "evil[.com"
				changed = true
				continue
			}
		case ']':
			if i > 0 && s[i-1] == '.' {
				i++ // "evil.]com"
				changed = true
				continue
			}
		case '\\':
			j := i
			for j < len(s) && s[j] == '\\' {
				j++
			}
			if j < len(s) && (s[j] == '.' || s[j] == '@' || s[j] == ':' || s[j] == '-') {
				i = j // regex escapes: acme-corp\.example
				changed = true
				continue
			}
		case '%':
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				emit(unhex(s[i+1])<<4|unhex(s[i+2]), i)
				i += 3
				changed = true
				continue
			}
		case ' ':
			if i+4 < len(s) && s[i+4] == ' ' && lower(s[i+1]) == 'd' && lower(s[i+2]) == 'o' && lower(s[i+3]) == 't' {
				emit('.', i)
				i += 5
				changed = true
				continue
			}
		case 'h', 'H':
			if i+3 < len(s) && lower(s[i+1]) == 'x' && lower(s[i+2]) == 'x' && lower(s[i+3]) == 'p' {
				emit('h', i)
				emit('t', i+1)
				emit('t', i+2)
				emit('p', i+3)
				i += 4
				changed = true
				continue
			}
		case 'f', 'F':
			if i+2 < len(s) && lower(s[i+1]) == 'x' && lower(s[i+2]) == 'p' && (i+3 >= len(s) || s[i+3] == ':' || s[i+3] == 's' || s[i+3] == '[') {
				emit('f', i)
				emit('t', i+1)
				emit('p', i+2)
				i += 3
				changed = true
				continue
			}
		}
		emit(c, i)
		i++
	}
	if withMap {
		mp = append(mp, int32(len(s)))
	}
	return dst, mp, changed
}

// bracketed recognises a defanging group at the start of s: an opening
// bracket, optional spaces, one of . dot : :// / @ at, optional spaces and
// a closing bracket. It returns the symbol and the group's length.
func bracketed(s []byte) (string, int) {
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	var sym string
	switch {
	case hasPrefixFold(s[i:], "dot"):
		sym, i = ".", i+3
	case hasPrefixFold(s[i:], "at"):
		sym, i = "@", i+2
	case hasPrefixFold(s[i:], "://"):
		sym, i = "://", i+3
	case i < len(s) && (s[i] == '.' || s[i] == ':' || s[i] == '@' || s[i] == '/'):
		sym, i = string(s[i]), i+1
	default:
		return "", 0
	}
	for i < len(s) && s[i] == ' ' {
		i++
	}
	if i < len(s) && (s[i] == ']' || s[i] == ')' || s[i] == '}' || s[i] == '>') {
		return sym, i + 1
	}
	return "", 0
}

func hasPrefixFold(s []byte, p string) bool {
	if len(s) < len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		if lower(s[i]) != p[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// hostPart strips what can surround a host in a value: white space, a URL
// scheme, user info, path, query and fragment. It leaves a port and the
// brackets of an IPv6 literal for the caller.
func hostPart(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
		if j := strings.IndexAny(s, "/?#"); j >= 0 {
			s = s[:j]
		}
		if j := strings.LastIndexByte(s, '@'); j >= 0 {
			s = s[j+1:]
		}
	}
	return s
}

// NormalizeIP returns the address written in s in any of these forms:
// dotted IPv4, with zero-padded parts (read as decimal), or with hex (0xC6)
// or octal (0306) parts as inet_aton reads them; one decimal integer
// (3325256711) or hex integer (0xC6336407); IPv6 compressed, expanded, with
// a zone, or IPv4-mapped (::ffff:198.51.100.7, returned as IPv4); inside
// brackets, with a port, or as the host of a URL; defanged (see Refang).
func NormalizeIP(s string) (netip.Addr, error) {
	s = hostPart(Refang(s))
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, errNotIP
		}
		s = s[1:end]
	}
	if a, ok := parseAddrLoose(s); ok {
		return a, nil
	}
	// host:port
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.IndexByte(s[:i], ':') < 0 {
		if _, err := strconv.ParseUint(s[i+1:], 10, 16); err == nil {
			if a, ok := parseAddrLoose(s[:i]); ok {
				return a, nil
			}
		}
	}
	return netip.Addr{}, errNotIP
}

// parseAddrLoose parses one address without brackets or port.
func parseAddrLoose(s string) (netip.Addr, bool) {
	if i := strings.IndexByte(s, '%'); i > 0 && strings.IndexByte(s, ':') >= 0 {
		s = s[:i] // zone
	}
	if strings.IndexByte(s, ':') >= 0 {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	b := []byte(s)
	if v, n := ipv4Forms(b); n > 0 {
		return addr4(v[0]), true
	}
	if v, ok := ipv4Integer(b); ok {
		return addr4(v), true
	}
	return netip.Addr{}, false
}

// NormalizePrefix is NormalizeIP for a range: it also accepts "/bits"
// after the address (the address is masked to the range). A single address
// becomes a /32 or /128; an IPv4-mapped IPv6 range becomes the IPv4 range.
func NormalizePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(Refang(s))
	addr, bits, hasBits := strings.Cut(s, "/")
	if !hasBits || strings.Contains(s, "://") {
		a, err := NormalizeIP(s)
		if err != nil {
			return netip.Prefix{}, errNotPrefix
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	a, err := NormalizeIP(addr)
	if err != nil {
		return netip.Prefix{}, errNotPrefix
	}
	n, err := strconv.Atoi(bits)
	if err != nil || n < 0 || len(bits) > 3 {
		return netip.Prefix{}, errNotPrefix
	}
	if a.Is4() && strings.Contains(addr, ":") {
		// ::ffff:198.51.100.0/120 is 198.51.100.0/24
		n -= 96
		if n < 0 {
			return netip.Prefix{}, errNotPrefix
		}
	}
	p, err := a.Prefix(n)
	if err != nil {
		return netip.Prefix{}, errNotPrefix
	}
	return p, nil
}

func addr4(v uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// ipv4Part reads one part of a dotted IPv4 address. dec is the part read
// as decimal (zero padding ignored), aton as inet_aton reads it (0x hex,
// 0-led octal); either is -1 when the part is not valid that way or over
// 255.
func ipv4Part(p []byte) (dec, aton int) {
	dec, aton = -1, -1
	if len(p) == 0 || len(p) > 12 {
		return
	}
	if len(p) > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') {
		v := 0
		for _, c := range p[2:] {
			if !isHex(c) {
				return
			}
			v = v<<4 | int(unhex(c))
			if v > 255 {
				return
			}
		}
		return v, v
	}
	v, o, octal := 0, 0, p[0] == '0' && len(p) > 1
	for _, c := range p {
		if c < '0' || c > '9' {
			return -1, -1
		}
		v = v*10 + int(c-'0')
		if c > '7' {
			octal = false
		}
		o = o*8 + int(c-'0')
		if v > 255 {
			v = 256
		}
		if o > 255 {
			o = 256
		}
	}
	if v <= 255 {
		dec = v
	}
	switch {
	case p[0] != '0' || len(p) == 1:
		aton = dec
	case octal && o <= 255:
		aton = o
	}
	return
}

// ipv4Forms reads a dotted IPv4 address of exactly four parts and returns
// its distinct readings (decimal with zero padding, inet_aton's hex/octal):
// "198.051.100.007" is both 198.51.100.7 and 198.41.100.7.
func ipv4Forms(tok []byte) (v [2]uint32, n int) {
	var dec, aton uint32
	decOK, atonOK := true, true
	part := 0
	for start := 0; start <= len(tok); {
		end := start
		for end < len(tok) && tok[end] != '.' {
			end++
		}
		if part == 4 {
			return v, 0
		}
		d, a := ipv4Part(tok[start:end])
		decOK = decOK && d >= 0
		atonOK = atonOK && a >= 0
		dec = dec<<8 | uint32(d&0xff)
		aton = aton<<8 | uint32(a&0xff)
		part++
		start = end + 1
	}
	if part != 4 {
		return v, 0
	}
	if decOK {
		v[n] = dec
		n++
	}
	if atonOK && (!decOK || aton != dec) {
		v[n] = aton
		n++
	}
	return v, n
}

// ipv4Integer reads a whole IPv4 address written as one decimal integer
// (3325256711) or one hex integer (0xC6336407).
func ipv4Integer(tok []byte) (uint32, bool) {
	if len(tok) > 2 && tok[0] == '0' && (tok[1] == 'x' || tok[1] == 'X') {
		if len(tok) > 10 {
			return 0, false
		}
		var v uint32
		for _, c := range tok[2:] {
			if !isHex(c) {
				return 0, false
			}
			v = v<<4 | uint32(unhex(c))
		}
		return v, true
	}
	if len(tok) == 0 || len(tok) > 10 {
		return 0, false
	}
	var v uint64
	for _, c := range tok {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	if v > 0xFFFFFFFF {
		return 0, false
	}
	return uint32(v), true
}

// NormalizeDomain returns the lookup form of a domain or host name: lower
// case, punycode for internationalised labels (bücher.example →
// xn--bcher-kva.example; width and case folded, U+3002 and other dots
// mapped), no trailing dot. It accepts defanged forms and takes the host
// out of a URL or host:port. IP addresses and names with empty labels,
// labels over 63 bytes or characters outside letters, digits, '-' and '_'
// are errors, and so are labels that start or end with '-' and top-level
// labels without a letter.
func NormalizeDomain(s string) (string, error) {
	s = hostPart(Refang(s))
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i] // acme-corp.example/login
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if _, err := strconv.ParseUint(s[i+1:], 10, 16); err != nil {
			return "", errNotDomain
		}
		s = s[:i]
	}
	d, ok := foldDomain(s)
	if !ok {
		return "", errNotDomain
	}
	if _, err := NormalizeIP(d); err == nil {
		return "", errNotDomain
	}
	return d, nil
}

// foldDomain lowercases s (punycode for non-ASCII), drops trailing dots
// and checks the label syntax.
func foldDomain(s string) (string, bool) {
	if len(s) == 0 || len(s) > 1024 {
		return "", false
	}
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		s = strings.ToLower(s)
	} else {
		t, err := idnaProfile.ToASCII(s)
		if err != nil {
			return "", false
		}
		s = t
	}
	s = strings.TrimRight(s, ".")
	if s == "" || len(s) > 253 {
		return "", false
	}
	labels := strings.Split(s, ".")
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", false
			}
		}
	}
	// a top-level label has a letter (or is punycode): "1.2.3.4.5" and
	// "-.0" are not names
	tld := labels[len(labels)-1]
	if strings.IndexFunc(tld, func(r rune) bool { return 'a' <= r && r <= 'z' }) < 0 {
		return "", false
	}
	return s, true
}

// NormalizeEmail returns an address as "local@domain" with both parts in
// lower case and the domain as NormalizeDomain returns it, or a whole mail
// domain as "@domain". It accepts defanged forms (john[at]acme-corp[.]example),
// a mailto: prefix and angle brackets.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(Refang(s))
	s = strings.TrimPrefix(s, "mailto:")
	s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
	i := strings.LastIndexByte(s, '@')
	if i < 0 {
		return "", errNotEmail
	}
	local, dom := s[:i], s[i+1:]
	for j := 0; j < len(local); j++ {
		c := local[j]
		if c >= utf8.RuneSelf || localByte[c] == 0 {
			return "", errNotEmail
		}
	}
	d, ok := foldDomain(dom)
	if !ok || !strings.Contains(d, ".") {
		return "", errNotEmail
	}
	return strings.ToLower(local) + "@" + d, nil
}

// NormalizeName returns a name as its words folded for comparison and
// joined by single spaces: "  ACME\tCorporation " → "acme corporation".
// A word is a run of letters, digits and combining marks; Han, Hiragana
// and Katakana characters are words of their own, since those scripts
// separate no words. Folding is Unicode NFKC (fullwidth forms) then case
// folding (ß → ss). It returns "" when s has no word.
func NormalizeName(s string) string {
	var it wordIter
	it.reset([]byte(s))
	var b strings.Builder
	for {
		w, _, _, ok := it.next()
		if !ok {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.Write(w)
	}
	return b.String()
}

// NormalizeASN returns the number of an autonomous system written as
// "AS64500", "ASN 64500", "as-64500", "64500", or in asdot notation
// ("AS1.10" = 65546). Zero and numbers over 32 bits are errors.
func NormalizeASN(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && strings.EqualFold(s[:2], "as") {
		s = s[2:]
		if len(s) > 0 && (s[0] == 'n' || s[0] == 'N') {
			s = s[1:]
		}
		s = strings.TrimLeft(s, " \t:#-")
	}
	n, ok := parseASN([]byte(s))
	if !ok {
		return 0, errNotASN
	}
	return n, nil
}

// parseASN reads "64500" or asdot "1.10".
func parseASN(b []byte) (uint32, bool) {
	hi, rest, ok := readUint(b, 0xFFFFFFFF)
	if !ok {
		return 0, false
	}
	if len(rest) == 0 {
		return uint32(hi), hi != 0
	}
	if rest[0] != '.' || hi > 0xFFFF {
		return 0, false
	}
	lo, rest, ok := readUint(rest[1:], 0xFFFF)
	if !ok || len(rest) != 0 {
		return 0, false
	}
	n := uint32(hi<<16 | lo)
	return n, n != 0
}

// readUint reads leading decimal digits up to max.
func readUint(b []byte, max uint64) (uint64, []byte, bool) {
	var v uint64
	i := 0
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		v = v*10 + uint64(b[i]-'0')
		if v > max {
			return 0, nil, false
		}
		i++
	}
	return v, b[i:], i > 0
}

// wordIter yields the words of a text, folded, with their byte spans.
type wordIter struct {
	s     []byte
	i     int
	buf   []byte
	caser cases.Caser
	init  bool
	// a folded word that folding split into several ("Ŀ" → "l·" → "l"):
	// the rest of it, and the span of the source word
	rest         []byte
	restS, restE int
}

func (it *wordIter) reset(s []byte) { it.s, it.i, it.rest = s, 0, nil }

// next returns the next word folded (valid until the next call) and its
// span in the text.
func (it *wordIter) next() (w []byte, start, end int, ok bool) {
	if len(it.rest) > 0 {
		if w := it.splitRest(); w != nil {
			return w, it.restS, it.restE, true
		}
	}
	s := it.s
	i := it.i
	// skip separators
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if alnum[c] {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if isWordRune(r) {
			break
		}
		i += n
	}
	if i >= len(s) {
		it.i = i
		return nil, 0, 0, false
	}
	start = i
	ascii, upper := true, false
	if s[i] >= utf8.RuneSelf {
		if r, n := utf8.DecodeRune(s[i:]); isSoloRune(r) {
			it.i = i + n
			// folding may make several characters of one (ゟ → より)
			it.rest, it.restS, it.restE = it.fold(s[i:i+n], false), i, i+n
			if w := it.splitRest(); w != nil {
				return w, i, i + n, true
			}
			return it.next()
		}
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if !alnum[c] {
				break
			}
			if 'A' <= c && c <= 'Z' {
				upper = true
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if !isWordRune(r) || isSoloRune(r) {
			break
		}
		ascii = false
		i += n
	}
	it.i = i
	w = s[start:i]
	switch {
	case !ascii:
		it.rest, it.restS, it.restE = it.fold(w, true), start, i
		if w = it.splitRest(); w == nil {
			return it.next()
		}
	case upper:
		it.buf = append(it.buf[:0], w...)
		for k, c := range it.buf {
			it.buf[k] = lower(c)
		}
		w = it.buf
	}
	return w, start, i, true
}

// splitRest returns the next word of it.rest, a folded text, or nil.
func (it *wordIter) splitRest() []byte {
	r := it.rest
	i := 0
	for i < len(r) {
		c, n := utf8.DecodeRune(r[i:])
		if isWordRune(c) {
			break
		}
		i += n
	}
	j := i
	for j < len(r) {
		c, n := utf8.DecodeRune(r[j:])
		if !isWordRune(c) || isSoloRune(c) && j > i {
			break
		}
		j += n
		if isSoloRune(c) {
			break
		}
	}
	it.rest = r[j:]
	if j == i {
		return nil
	}
	return r[i:j]
}

func (it *wordIter) fold(w []byte, full bool) []byte {
	if !it.init {
		it.caser = cases.Fold()
		it.init = true
	}
	// Fold alone is not stable: x/text toggles the case of Cherokee
	// letters (lower-casing its result fixes that), and folding can put
	// combining marks out of canonical order (İ → i + U+0307), which the
	// second NFKC fixes.
	it.buf = norm.NFKC.Bytes(bytes.ToLower(it.caser.Bytes(norm.NFKC.Bytes(w))))
	return it.buf
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Nd, r)
}

// isSoloRune reports characters of scripts written without spaces between
// words: each is a word of its own.
func isSoloRune(r rune) bool {
	return unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r)
}

// byte classes
var (
	alnum     [256]bool // A-Z a-z 0-9
	hostByte  [256]bool // alnum, '-', '.', '_'
	hexByte   [256]bool // 0-9 a-f A-F
	v6Byte    [256]bool // hex digits, ':', '.'
	localByte [256]byte // e-mail local part
)

func init() {
	for c := 0; c < 256; c++ {
		b := byte(c)
		an := 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
		alnum[c] = an
		hostByte[c] = an || b == '-' || b == '.' || b == '_'
		v6Byte[c] = isHex(b) || b == ':' || b == '.'
		hexByte[c] = isHex(b)
		if an || strings.IndexByte(".!#$%&'*+/=?^_`{|}~-", b) >= 0 {
			localByte[c] = 1
		}
	}
}
