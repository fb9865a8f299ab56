package match

import (
	"net/netip"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Extractor pulls observables out of free text (log lines): URLs, IPv4
// and IPv6 addresses and CIDR blocks, e-mail addresses, domain names and
// hex digests of 32, 40, 64 or 128 digits, in the canonical form Lookup
// uses. Defanged forms are refanged first (see refang). A URL also gives
// its host (a domain name or an address), an e-mail address its domain.
//
// A name counts as a domain name only when it ends in a known public
// suffix (golang.org/x/net/publicsuffix: an ICANN suffix, or a private
// suffix of two or more labels such as duckdns.org) below which it has
// a label, so that file names such as report.pdf or setup.exe are not
// taken for domains. Two-label names whose suffix is also a common file
// extension (readme.md, setup.py, install.sh, archive.zip, …) and names
// right after "/" or "\" (a path) are taken for file names too. Names
// under private, non-public suffixes (host.corp, db.internal) are not
// extracted; give those as typed observables.
//
// An Extractor keeps scratch buffers; it is not safe for concurrent use.
type Extractor struct {
	k     keyer
	buf   []byte
	spans []span
}

type span struct{ lo, hi int }

// maxLine bounds the text one Extract call reads; the rest of a longer
// line is ignored.
const maxLine = 1 << 20

// Extract appends to dst the observables found in line, each once, in
// the order found (URLs first).
func (e *Extractor) Extract(line []byte, dst []Observable) []Observable {
	if len(line) > maxLine {
		line = line[:maxLine]
	}
	s := string(line)
	return e.extract(s, dst)
}

// ExtractString is Extract for a string.
func (e *Extractor) ExtractString(line string) []Observable {
	if len(line) > maxLine {
		line = line[:maxLine]
	}
	return e.extract(line, nil)
}

func (e *Extractor) extract(s string, dst []Observable) []Observable {
	start := len(dst)
	if mayBeDefanged(s) {
		e.buf, _ = refang(e.buf[:0], s)
		s = string(e.buf)
	}
	emit := func(o Observable) {
		for _, d := range dst[start:] {
			if d == o {
				return
			}
		}
		dst = append(dst, o)
	}
	e.spans = e.spans[:0]
	// URLs: a scheme, "://", and everything up to white space or a
	// character that cannot be in a URL.
	for off := 0; ; {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			break
		}
		i += off
		off = i + 3
		j := i
		for j > 0 && isSchemeChar(s[j-1]) {
			j--
		}
		for j < i && !isAlpha(s[j]) { // a scheme starts with a letter
			j++
		}
		if i-j < 2 {
			continue
		}
		end := i + 3
		for end < len(s) && !isURLStop(s[end]) {
			end++
		}
		end = trimURLEnd(s, i+3, end)
		if end <= i+3 {
			continue
		}
		raw := s[j:end]
		var ok bool
		e.k.norm, ok = appendURL(e.k.norm[:0], raw)
		if !ok {
			continue
		}
		e.spans = append(e.spans, span{j, end})
		off = end
		emit(Observable{Type: "url", Path: "value", Value: string(e.k.norm)})
		if o, ok := e.host(raw[i-j+3:]); ok {
			emit(o)
		}
	}
	// Everything else: runs of characters that can be part of an
	// address, a name or a digest.
	sp := 0
	for i := 0; i < len(s); {
		if sp < len(e.spans) && i >= e.spans[sp].lo {
			i = e.spans[sp].hi
			sp++
			continue
		}
		if !isTokenChar(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isTokenChar(s[j]) && (sp >= len(e.spans) || j < e.spans[sp].lo) {
			j++
		}
		if j-i <= 256 {
			pathBefore := i > 0 && (s[i-1] == '/' || s[i-1] == '\\')
			e.token(s, i, j, pathBefore, emit)
		}
		i = j
	}
	return dst
}

// host gives the host of a URL (the text after "://") as an observable.
func (e *Extractor) host(rest string) (Observable, bool) {
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	auth := rest[:end]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		auth = auth[at+1:]
	}
	if strings.HasPrefix(auth, "[") {
		if c := strings.IndexByte(auth, ']'); c > 0 {
			auth = auth[:c+1]
		}
	} else if c := strings.LastIndexByte(auth, ':'); c >= 0 {
		auth = auth[:c]
	}
	if a, ok := parseAddr(auth); ok {
		return addrObservable(netip.PrefixFrom(a, a.BitLen())), true
	}
	var ok bool
	e.k.norm, ok = appendDomain(e.k.norm[:0], auth)
	if !ok || !looksLikeHostname(e.k.norm) {
		return Observable{}, false
	}
	return Observable{Type: "domain-name", Path: "value", Value: string(e.k.norm)}, true
}

func addrObservable(p netip.Prefix) Observable {
	typ := "ipv4-addr"
	if p.Addr().Is6() {
		typ = "ipv6-addr"
	}
	v := p.String()
	if p.IsSingleIP() {
		v = p.Addr().String()
	}
	return Observable{Type: typ, Path: "value", Value: v}
}

// token classifies one run s[i:j].
func (e *Extractor) token(s string, i, j int, pathBefore bool, emit func(Observable)) {
	t := s[i:j]
	if at := strings.LastIndexByte(t, '@'); at >= 0 {
		// local part: the local characters right before "@"
		l := at
		for l > 0 && isLocalChar(t[l-1]) && t[l-1] != '@' {
			l--
		}
		for l < at && t[l] == '.' {
			l++
		}
		// domain: name characters right after "@"
		r := at + 1
		for r < len(t) && isNameChar(t[r]) {
			r++
		}
		d := strings.TrimRight(t[at+1:r], ".-")
		if l < at && d != "" {
			var ok bool
			e.k.norm, ok = appendEmail(e.k.norm[:0], t[l:at]+"@"+d)
			if ok && e.publicName(e.k.norm[strings.IndexByte(string(e.k.norm), '@')+1:]) {
				emit(Observable{Type: "email-addr", Path: "value", Value: string(e.k.norm)})
				if o, ok := e.name(d, false); ok {
					emit(o)
				}
				e.token(s, i, i+l, pathBefore, emit)
				if at+1+len(d) < len(t) {
					e.token(s, i+at+1+len(d), j, false, emit)
				}
				return
			}
		}
		e.token(s, i, i+at, pathBefore, emit)
		e.token(s, i+at+1, j, false, emit)
		return
	}
	for i < j && strings.IndexByte(".-_+", s[i]) >= 0 {
		i++
	}
	for j > i && strings.IndexByte(".-_+", s[j-1]) >= 0 {
		j--
	}
	if strings.IndexByte(s[i:j], ':') >= 0 {
		if a, ok := parseAddr(s[i:j]); ok { // before trimming colons: 2001:db8::
			emit(e.withBlock(s, j, a))
			return
		}
	}
	for i < j && strings.IndexByte(".-_+:", s[i]) >= 0 {
		i++
	}
	for j > i && strings.IndexByte(".-_+:", s[j-1]) >= 0 {
		j--
	}
	if i == j {
		return
	}
	t = s[i:j]
	if strings.IndexByte(t, ':') >= 0 {
		if a, ok := parseAddr(t); ok {
			emit(e.withBlock(s, j, a))
			return
		}
		// host:port, key:value, times: the parts on their own
		for k := i; k < j; {
			c := strings.IndexByte(s[k:j], ':')
			if c < 0 {
				c = j - k
			}
			if c > 0 {
				e.token(s, k, k+c, false, emit)
			}
			k += c + 1
		}
		return
	}
	if len(t) <= 128 && hashAlgorithm(len(t)) != "" && isHexString(t) {
		if isWordEdge(s, i-1) && isWordEdge(s, j) {
			emit(Observable{Type: "file", Path: hashPaths[hashAlgorithm(len(t))], Value: strings.ToLower(t)})
		}
		return
	}
	if isDottedQuad(t) {
		if a, ok := parseAddr(t); ok {
			emit(e.withBlock(s, j, a))
		}
		return
	}
	if o, ok := e.name(t, pathBefore); ok {
		emit(o)
	}
}

// withBlock returns the address, or the CIDR block when "/bits" follows
// it in s at j.
func (e *Extractor) withBlock(s string, j int, a netip.Addr) Observable {
	if j < len(s) && s[j] == '/' {
		k := j + 1
		for k < len(s) && k-j <= 3 && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j+1 && (k == len(s) || !isTokenChar(s[k]) || s[k] == '.') {
			if p, ok := parsePrefix(a.String() + s[j:k]); ok {
				return addrObservable(p)
			}
		}
	}
	return addrObservable(netip.PrefixFrom(a, a.BitLen()))
}

// name returns a domain-name observable for t if it is a name under a
// public suffix and does not look like a file name.
func (e *Extractor) name(t string, pathBefore bool) (Observable, bool) {
	if strings.IndexByte(t, '.') < 0 || pathBefore {
		return Observable{}, false
	}
	var ok bool
	e.k.norm, ok = appendDomain(e.k.norm[:0], t)
	if !ok || !looksLikeHostname(e.k.norm) || !e.publicName(e.k.norm) {
		return Observable{}, false
	}
	d := e.k.norm
	if dot := strings.IndexByte(string(d), '.'); dot == strings.LastIndexByte(string(d), '.') && fileExtTLD[string(d[dot+1:])] {
		return Observable{}, false
	}
	return Observable{Type: "domain-name", Path: "value", Value: string(d)}, true
}

// publicName reports whether a canonical name ends in a known public
// suffix and has a label below it.
func (e *Extractor) publicName(d []byte) bool {
	name := string(d)
	ps, icann := publicsuffix.PublicSuffix(name)
	if !icann && strings.IndexByte(ps, '.') < 0 {
		return false // the default rule: an unknown top-level label
	}
	return len(name) > len(ps)
}

// fileExtTLD lists top-level domains that are also common file
// extensions; two-label names ending in them are taken for file names.
var fileExtTLD = map[string]bool{
	"zip": true, "mov": true, "py": true, "sh": true, "md": true, "rs": true, "pl": true,
	"pm": true, "so": true, "cc": true, "ps": true, "ai": true, "in": true, "ac": true,
	"am": true, "mo": true, "ms": true, "sb": true, "st": true, "cs": true, "ts": true,
	"rar": true, "gz": true, "bz": true, "tar": true, "log": true, "exe": true, "doc": true,
}

func isDottedQuad(t string) bool {
	dots := 0
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c == '.':
			dots++
		case c < '0' || c > '9':
			return false
		}
	}
	return dots == 3
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isSchemeChar(c byte) bool {
	return isAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// isURLStop reports whether c ends a URL in text.
func isURLStop(c byte) bool {
	return c <= 0x20 || c == 0x7f || strings.IndexByte("\"'<>`^{}|\\", c) >= 0
}

// trimURLEnd drops punctuation that ends a sentence or closes a
// bracket opened before the URL.
func trimURLEnd(s string, from, end int) int {
	for end > from {
		switch s[end-1] {
		case '.', ',', ';', ':', '!', '?', '*':
			end--
			continue
		case ')':
			if strings.Count(s[from:end], "(") < strings.Count(s[from:end], ")") {
				end--
				continue
			}
		case ']':
			if strings.Count(s[from:end], "[") < strings.Count(s[from:end], "]") {
				end--
				continue
			}
		}
		break
	}
	return end
}

// isTokenChar reports whether c can be part of an address, a name, an
// e-mail address or a digest.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '.' || c == '-' || c == '_' || c == '@' || c == ':' || c == '+' || c >= 0x80
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c >= 0x80
}

// isWordEdge reports whether s[i] (or the start or end of s) is not a
// letter or digit.
func isWordEdge(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return true
	}
	c := s[i]
	return !(isAlpha(c) || c >= '0' && c <= '9')
}

// defangBytes marks the bytes that can start (or, for x, be inside) a
// defanged form.
var defangBytes = func() (t [256]bool) {
	for _, c := range "[({\\xX" {
		t[c] = true
	}
	return t
}()

// mayBeDefanged reports whether refang could change s.
func mayBeDefanged(s string) bool {
	for i := 0; i < len(s); i++ {
		if !defangBytes[s[i]] {
			continue
		}
		if c := s[i]; c != 'x' && c != 'X' || i > 0 && (s[i-1]|0x20 == 'h' || s[i-1]|0x20 == 'f') {
			return true
		}
	}
	return false
}

// refang undoes the usual defanging of indicators in text and appends the
// result to dst:
//
//	[.] (.) {.} [dot] (dot) {dot} \.     →  .
//	[at] (at) {at} [@] (@)                →  @
//	[:] [://] [/]                          →  :  ://  /
//	hxxp hxxps hXXp fxp (before :// or [:]) →  http https http ftp
//
// Spaces around a bracketed dot or at ("evil [.] example") are dropped
// too. changed reports whether anything was replaced.
func refang(dst []byte, s string) (_ []byte, changed bool) {
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '[', '(', '{':
			if rep, n := bracketForm(s[i:]); n > 0 {
				if rep == "." || rep == "@" {
					for len(dst) > 0 && dst[len(dst)-1] == ' ' {
						dst = dst[:len(dst)-1]
					}
					n += countSpaces(s[i+n:])
				}
				dst = append(dst, rep...)
				i += n
				changed = true
				continue
			}
		case '\\':
			if i+1 < len(s) && s[i+1] == '.' {
				dst = append(dst, '.')
				i += 2
				changed = true
				continue
			}
		case 'h', 'H', 'f', 'F':
			if n, rep := defangedScheme(s[i:]); n > 0 && (i == 0 || !isAlpha(s[i-1])) {
				dst = append(dst, rep...)
				i += n
				changed = true
				continue
			}
		}
		dst = append(dst, c)
		i++
	}
	return dst, changed
}

func countSpaces(s string) int {
	n := 0
	for n < len(s) && s[n] == ' ' {
		n++
	}
	return n
}

// bracketForm recognises a bracketed defang at the start of s and returns
// its replacement and length.
func bracketForm(s string) (string, int) {
	close := map[byte]byte{'[': ']', '(': ')', '{': '}'}[s[0]]
	end := strings.IndexByte(s[1:], close)
	if end < 0 || end > 6 {
		return "", 0
	}
	inner := strings.ToLower(strings.TrimSpace(s[1 : 1+end]))
	n := end + 2
	switch inner {
	case ".", "dot":
		return ".", n
	case "at", "@":
		return "@", n
	}
	if s[0] == '[' {
		switch inner {
		case ":":
			return ":", n
		case "://":
			return "://", n
		case "/":
			return "/", n
		}
	}
	return "", 0
}

// defangedScheme recognises hxxp, hxxps, fxp (x in either case) followed
// by "://", "[:]" or "[://]" at the start of s and returns the length of
// the scheme and its real name.
func defangedScheme(s string) (int, string) {
	for _, f := range []struct{ in, out string }{{"hxxps", "https"}, {"hxxp", "http"}, {"fxp", "ftp"}} {
		if len(s) >= len(f.in) && strings.EqualFold(s[:len(f.in)], f.in) {
			rest := s[len(f.in):]
			if strings.HasPrefix(rest, "://") || strings.HasPrefix(rest, "[:]") || strings.HasPrefix(rest, "[://]") {
				return len(f.in), f.out
			}
		}
	}
	return 0, ""
}
