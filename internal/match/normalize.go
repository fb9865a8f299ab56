package match

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// Normalisation. Indicator values and observed values go through the same
// functions, so that two spellings of one thing give one key. The rules
// are listed in the package documentation; the functions here append the
// canonical form to a caller's buffer so that the screening path does not
// allocate.

// idnaProfile maps internationalised names for lookup (UTS #46: case
// folding, full-width dots and letters) and converts them to their ASCII
// (punycode) form. Underscores are allowed because real names carry them
// (_dmarc.example.com).
var idnaProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// parseAddr parses an IPv4 or IPv6 address, with or without brackets
// around an IPv6 address. An IPv4-mapped IPv6 address becomes the IPv4
// address; an IPv6 zone is dropped.
func parseAddr(s string) (netip.Addr, bool) {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	if s == "" || len(s) > 64 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// parsePrefix parses an address or a CIDR block the way the STIX pattern
// evaluator does: an address is the block of that one address, host bits
// are cleared, an IPv4-mapped IPv6 block becomes the IPv4 block.
func parsePrefix(s string) (netip.Prefix, bool) {
	i := strings.IndexByte(s, '/')
	if i < 0 {
		a, ok := parseAddr(s)
		if !ok {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	if i == 0 || i > 64 || len(s)-i > 4 {
		return netip.Prefix{}, false
	}
	a, err := netip.ParseAddr(s[:i])
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	bits, err := strconv.Atoi(s[i+1:])
	if err != nil || bits < 0 || bits > a.BitLen() || s[i+1] == '+' || s[i+1] == '-' {
		return netip.Prefix{}, false
	}
	if a.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, false
		}
		a, bits = a.Unmap(), bits-96
	}
	return netip.PrefixFrom(a, bits).Masked(), true
}

// appendDomain appends the canonical form of a domain name to dst: ASCII
// lower case, internationalised labels in punycode (UTS #46 lookup
// mapping), one trailing dot removed. Labels are 1 to 63 bytes of letters,
// digits, hyphens and underscores; the name is at most 253 bytes. ok is
// false (and dst unchanged) when s is not such a name.
func appendDomain(dst []byte, s string) ([]byte, bool) {
	start := len(dst)
	out, ok, ascii := appendASCIIDomain(dst, s)
	if ok || ascii {
		return out, ok
	}
	// Non-ASCII: map and convert, then check the result like any name.
	if len(s) > 1024 {
		return dst[:start], false
	}
	a, err := idnaProfile.ToASCII(s)
	if err != nil {
		return dst[:start], false
	}
	out, ok, _ = appendASCIIDomain(dst[:start], a)
	return out, ok
}

// appendASCIIDomain is appendDomain for ASCII input. ascii is false when s
// holds a byte above 0x7f (the caller then tries the IDN mapping).
func appendASCIIDomain(dst []byte, s string) (out []byte, ok, ascii bool) {
	start := len(dst)
	if n := len(s); n > 0 && s[n-1] == '.' {
		s = s[:n-1]
	}
	if len(s) == 0 || len(s) > 253 {
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x80 {
				return dst, false, false
			}
		}
		return dst, false, true
	}
	label := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '.':
			if label == 0 {
				return dst[:start], false, !hasHigh(s[i:])
			}
			label = -1
		case c >= 0x80:
			return dst[:start], false, false
		default:
			return dst[:start], false, !hasHigh(s[i:])
		}
		label++
		if label > 63 {
			return dst[:start], false, !hasHigh(s[i:])
		}
		dst = append(dst, c)
	}
	if label == 0 {
		return dst[:start], false, true
	}
	return dst, true, true
}

func hasHigh(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

// looksLikeHostname reports whether a canonical domain name has at least
// two labels and a top-level label that is alphabetic (or punycode), the
// test for calling an untyped string a domain name.
func looksLikeHostname(d []byte) bool {
	dot := -1
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] == '.' {
			dot = i
			break
		}
	}
	if dot <= 0 || dot == len(d)-1 {
		return false
	}
	tld := d[dot+1:]
	if len(tld) >= 4 && string(tld[:4]) == "xn--" {
		return true
	}
	if len(tld) < 2 {
		return false
	}
	for _, c := range tld {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// appendEmail appends the canonical form of an e-mail address: the local
// part in ASCII lower case, "@", the canonical domain. The address splits
// at its last "@"; the local part is 1 to 64 bytes of printable ASCII
// other than space, quotes, brackets, commas and "@"; the domain must be a
// domain name as for appendDomain.
func appendEmail(dst []byte, s string) ([]byte, bool) {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 || at == len(s)-1 {
		return dst, false
	}
	start := len(dst)
	for i := 0; i < at; i++ {
		c := s[i]
		if !isLocalChar(c) {
			return dst[:start], false
		}
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	dst = append(dst, '@')
	out, ok := appendDomain(dst, s[at+1:])
	if !ok {
		return dst[:start], false
	}
	return out, true
}

// isLocalChar reports whether c may appear in the local part of an
// address as the matcher reads it (RFC 5322 atext plus the dot).
func isLocalChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0
}

// appendHex decodes a hexadecimal digest of either case. ok is false for
// an odd length or a non-hex character.
func appendHex(dst []byte, s string) ([]byte, bool) {
	if len(s)%2 != 0 || len(s) == 0 {
		return dst, false
	}
	start := len(dst)
	for i := 0; i < len(s); i += 2 {
		h, ok1 := unhex(s[i])
		l, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return dst[:start], false
		}
		dst = append(dst, h<<4|l)
	}
	return dst, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := unhex(s[i]); !ok {
			return false
		}
	}
	return len(s) > 0
}

// isDigest reports whether a value under a hashes dictionary is matched
// as a digest (binary, case-insensitive): an even number, 16 to 256, of
// hex digits. Other hash values (SSDEEP, TLSH with prefixes, ...) are
// matched as exact strings.
func isDigest(s string) bool {
	return len(s) >= 16 && len(s) <= 256 && len(s)%2 == 0 && isHexString(s)
}

// hashAlgorithm names the algorithm of a hex digest detected by its
// length, or "" for other lengths.
func hashAlgorithm(hexLen int) string {
	switch hexLen {
	case 32:
		return "MD5"
	case 40:
		return "SHA-1"
	case 64:
		return "SHA-256"
	case 128:
		return "SHA-512"
	}
	return ""
}

// defaultPorts are removed from URLs (RFC 3986 section 6.2.3).
var defaultPorts = map[string]string{
	"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21",
}

// appendURL appends the canonical form of an absolute URL; see the
// package documentation for the rules. ok is false when s has no scheme.
func appendURL(dst []byte, s string) ([]byte, bool) {
	start := len(dst)
	s = strings.TrimSpace(s)
	if len(s) > 1<<16 {
		return dst, false
	}
	// scheme
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			i++
			continue
		}
		break
	}
	if i == 0 || i >= len(s) || s[i] != ':' {
		return dst, false
	}
	schemeStart := len(dst)
	for j := 0; j < i; j++ {
		c := s[j]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	scheme := string(dst[schemeStart:])
	dst = append(dst, ':')
	rest := s[i+1:]
	if h := strings.IndexByte(rest, '#'); h >= 0 {
		rest = rest[:h] // the fragment never leaves the client
	}
	if !strings.HasPrefix(rest, "//") {
		return appendPct(dst, rest, false), true
	}
	dst = append(dst, '/', '/')
	rest = rest[2:]
	end := strings.IndexAny(rest, "/?")
	if end < 0 {
		end = len(rest)
	}
	auth, rest := rest[:end], rest[end:]
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		dst = appendPct(dst, auth[:at], false)
		dst = append(dst, '@')
		auth = auth[at+1:]
	}
	host, port := auth, ""
	if strings.HasPrefix(auth, "[") {
		if c := strings.IndexByte(auth, ']'); c > 0 {
			host, port = auth[:c+1], auth[c+1:]
		}
	} else if c := strings.LastIndexByte(auth, ':'); c >= 0 {
		host, port = auth[:c], auth[c:]
	}
	if port != "" {
		if port[0] != ':' {
			return dst[:start], false
		}
		port = strings.TrimLeft(port[1:], "0")
		for k := 0; k < len(port); k++ {
			if port[k] < '0' || port[k] > '9' {
				return dst[:start], false
			}
		}
		if port == "" && len(auth) > len(host)+1 {
			port = "0"
		}
		if port == defaultPorts[scheme] {
			port = ""
		}
	}
	if strings.IndexByte(host, '%') >= 0 && !strings.HasPrefix(host, "[") {
		// Decode escapes of unreserved characters first, so that
		// the host is read the same way as its canonical form.
		var buf [256]byte
		host = string(appendPct(buf[:0], host, false))
	}
	if a, ok := parseAddr(host); ok && host != "" {
		if a.Is6() {
			dst = append(dst, '[')
			dst = a.AppendTo(dst)
			dst = append(dst, ']')
		} else {
			dst = a.AppendTo(dst)
		}
	} else if strings.IndexByte(host, ':') >= 0 {
		return dst[:start], false // a colon outside brackets, not before a port
	} else if d, ok := appendDomain(dst, host); ok {
		dst = d
	} else {
		h := len(dst)
		dst = appendPct(dst, host, false)
		lowerOutsideEscapes(dst[h:])
	}
	if port != "" {
		dst = append(dst, ':')
		dst = append(dst, port...)
	}
	path, query := rest, ""
	hasQuery := false
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		path, query, hasQuery = rest[:q], rest[q+1:], true
	}
	if path == "" {
		path = "/"
	}
	dst = appendPct(dst, path, true)
	if hasQuery {
		dst = append(dst, '?')
		dst = appendPct(dst, query, false)
	}
	return dst, true
}

// lowerOutsideEscapes lowers the ASCII letters of b in place, except the hex
// digits of %XX escapes.
func lowerOutsideEscapes(b []byte) {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '%':
			i += 2
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		}
	}
}

const upperHex = "0123456789ABCDEF"

// appendPct appends s with percent-encoding normalised (RFC 3986 section
// 6.2.2): %XX of an unreserved character is decoded, other %XX get upper
// case hex digits, a "%" not followed by two hex digits becomes "%25",
// and bytes that may not appear in a URI (controls, space, bytes above
// 0x7e, and " < > \ ^ ` { | }) are encoded. With dots set, s is a path
// and its "." and ".." segments are removed (RFC 3986 section 5.2.4).
func appendPct(dst []byte, s string, dots bool) []byte {
	start := len(dst)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if i+2 < len(s) {
				h, ok1 := unhex(s[i+1])
				l, ok2 := unhex(s[i+2])
				if ok1 && ok2 {
					b := h<<4 | l
					if isUnreserved(b) {
						dst = append(dst, b)
					} else {
						dst = append(dst, '%', upperHex[h], upperHex[l])
					}
					i += 2
					continue
				}
			}
			dst = append(dst, '%', '2', '5')
			continue
		}
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&15])
			continue
		}
		dst = append(dst, c)
	}
	if dots && len(dst) > start && dst[start] == '/' {
		dst = removeDots(dst, start)
	}
	return dst
}

func isUnreserved(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDots removes "." and ".." segments from the absolute path in
// buf[start:], in place.
func removeDots(buf []byte, start int) []byte {
	path := buf[start:]
	if !hasDotSegment(path) {
		return buf
	}
	var segs [][]byte
	p := path[1:]
	trailing := false
	for {
		j := indexByte(p, '/')
		var seg []byte
		if j < 0 {
			seg = p
		} else {
			seg = p[:j]
		}
		switch string(seg) {
		case ".":
			trailing = true
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
			trailing = true
		default:
			segs = append(segs, seg)
			trailing = false
		}
		if j < 0 {
			break
		}
		p = p[j+1:]
	}
	out := make([]byte, 0, len(path))
	for _, s := range segs {
		out = append(out, '/')
		out = append(out, s...)
	}
	if trailing || len(out) == 0 {
		out = append(out, '/')
	}
	return append(buf[:start], out...)
}

func hasDotSegment(p []byte) bool {
	for i := 0; i < len(p); i++ {
		if p[i] != '.' || (i > 0 && p[i-1] != '/') {
			continue
		}
		j := i + 1
		if j < len(p) && p[j] == '.' {
			j++
		}
		if j == len(p) || p[j] == '/' {
			return true
		}
	}
	return false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
