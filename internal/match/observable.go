package match

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/go-json-experiment/json"
)

// Observable is one value to screen, named the way a STIX pattern names
// it: the SCO type, the property path below the object (as in a pattern:
// "value", "name", "hashes.MD5", "hashes.'SHA-256'") and the value.
//
// The usual observables are
//
//	{"ipv4-addr", "value", "198.51.100.7"}      (or a CIDR block)
//	{"ipv6-addr", "value", "2001:db8::1"}
//	{"domain-name", "value", "evil.example"}
//	{"url", "value", "http://evil.example/x"}
//	{"email-addr", "value", "bad@evil.example"}
//	{"file", "hashes.'SHA-256'", "<64 hex digits>"}
//
// and any other SCO property holding a string, such as {"mutex", "name",
// "Global\\x"} or {"windows-registry-key", "key", "HKEY_LOCAL_MACHINE\\…"}.
// Values under a hashes dictionary that are hex digests match whatever
// SCO type and algorithm name they came with (the digest identifies the
// content); other properties match only the same type and path.
type Observable struct {
	Type  string
	Path  string
	Value string
}

// String returns the observable in pattern form, e.g.
// "domain-name:value = 'evil.example'".
func (o Observable) String() string {
	var b strings.Builder
	b.WriteString(o.Type)
	b.WriteByte(':')
	b.WriteString(o.Path)
	b.WriteString(" = '")
	b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(o.Value))
	b.WriteByte('\'')
	return b.String()
}

// Key kinds: the first byte of every key in the index.
const (
	kIPv4   byte = 1 // 4 address bytes
	kIPv6   byte = 2 // 16 address bytes
	kDomain byte = 3 // canonical domain name
	kURL    byte = 4 // canonical URL
	kEmail  byte = 5 // canonical address
	kHash   byte = 6 // digest bytes
	kOther  byte = 7 // type ":" path "\x00" value, exact bytes
)

// class says how a property's value is keyed.
type class uint8

const (
	cNone   class = iota
	cIP           // ipv4-addr:value, ipv6-addr:value
	cDomain       // domain-name:value
	cURL          // url:value
	cEmail        // email-addr:value
	cHash         // a value directly under a hashes dictionary
	cOther        // any other property of a plain path
	cForm         // the value property of an object reached through a reference: keyed by its form
)

// classOf classifies a property path (keys without the object type).
func classOf(typ string, keys []string) class {
	n := len(keys)
	if n >= 2 && keys[n-2] == "hashes" {
		return cHash
	}
	if n == 1 && keys[0] == "value" {
		switch typ {
		case "ipv4-addr", "ipv6-addr":
			return cIP
		case "domain-name":
			return cDomain
		case "url":
			return cURL
		case "email-addr":
			return cEmail
		}
	}
	return cOther
}

// formatPath writes property keys the way Observable.Path holds them:
// joined by dots, a key quoted ('…', with \ and ' escaped) unless it is
// letters, digits and underscores not starting with a digit.
func formatPath(keys []string) string {
	var b []byte
	b = appendPath(b, keys)
	return string(b)
}

func appendPath(b []byte, keys []string) []byte {
	for i, k := range keys {
		if i > 0 {
			b = append(b, '.')
		}
		if isPlain(k) {
			b = append(b, k...)
			continue
		}
		b = append(b, '\'')
		for j := 0; j < len(k); j++ {
			if k[j] == '\'' || k[j] == '\\' {
				b = append(b, '\\')
			}
			b = append(b, k[j])
		}
		b = append(b, '\'')
	}
	return b
}

func isPlain(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parsePath splits an Observable.Path into its keys. Keys are plain
// (anything up to the next dot) or quoted with single quotes (\ escapes
// the next character). List indexes are not part of observable paths.
func parsePath(s string) ([]string, error) {
	var keys []string
	for i := 0; ; {
		if i >= len(s) {
			return nil, fmt.Errorf("path %q: empty key at byte %d", s, i)
		}
		var k strings.Builder
		if s[i] == '\'' {
			i++
			closed := false
			for i < len(s) {
				c := s[i]
				if c == '\\' && i+1 < len(s) {
					k.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
				if c == '\'' {
					closed = true
					break
				}
				k.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("path %q: unterminated quote", s)
			}
		} else {
			j := strings.IndexByte(s[i:], '.')
			if j < 0 {
				j = len(s) - i
			}
			if j == 0 {
				return nil, fmt.Errorf("path %q: empty key at byte %d", s, i)
			}
			k.WriteString(s[i : i+j])
			i += j
		}
		keys = append(keys, k.String())
		if i == len(s) {
			return keys, nil
		}
		if s[i] != '.' {
			return nil, fmt.Errorf("path %q: want '.' at byte %d", s, i)
		}
		i++
	}
}

// keyer builds index keys in reusable buffers. The zero value is ready;
// it is not safe for concurrent use.
type keyer struct {
	key  []byte
	norm []byte
}

// valueKey builds the key of a value of class c (not cOther, not cHash):
// an IP address (prefix is valid and not a single address when the value
// is a CIDR block), or a domain, URL or e-mail key. ok is false when the
// value is not of its class's form.
func (k *keyer) valueKey(c class, v string) (prefix netip.Prefix, ok bool) {
	k.key = k.key[:0]
	switch c {
	case cIP:
		p, ok := parsePrefix(v)
		if !ok {
			return netip.Prefix{}, false
		}
		if p.IsSingleIP() {
			k.key = appendAddrKey(k.key, p.Addr())
			return netip.Prefix{}, true
		}
		return p, true
	case cDomain:
		k.key = append(k.key, kDomain)
		k.key, ok = appendDomain(k.key, v)
	case cURL:
		k.key = append(k.key, kURL)
		k.key, ok = appendURL(k.key, v)
	case cEmail:
		k.key = append(k.key, kEmail)
		k.key, ok = appendEmail(k.key, v)
	}
	return netip.Prefix{}, ok
}

func appendAddrKey(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		a4 := a.As4()
		return append(append(b, kIPv4), a4[:]...)
	}
	a16 := a.As16()
	return append(append(b, kIPv6), a16[:]...)
}

// hashKey builds the key of a hex digest.
func (k *keyer) hashKey(v string) bool {
	k.key = append(k.key[:0], kHash)
	var ok bool
	k.key, ok = appendHex(k.key, v)
	return ok
}

// otherKey builds the exact-match key of a property of a plain path.
func (k *keyer) otherKey(typ string, keys []string, v string) {
	k.key = append(k.key[:0], kOther)
	k.key = append(k.key, typ...)
	k.key = append(k.key, ':')
	k.key = appendPath(k.key, keys)
	k.key = append(k.key, 0)
	k.key = append(k.key, v...)
}

// otherKeyPath is otherKey with the path already in canonical form.
func (k *keyer) otherKeyPath(typ, path, v string) {
	k.key = append(k.key[:0], kOther)
	k.key = append(k.key, typ...)
	k.key = append(k.key, ':')
	k.key = append(k.key, path...)
	k.key = append(k.key, 0)
	k.key = append(k.key, v...)
}

// formClass classifies a value by its form alone, for values whose type
// is not known (the value property of an object reached through a
// reference): an IP address or CIDR block, a URL (scheme followed by
// ":"), an e-mail address, or a domain name.
func formClass(v string) class {
	if _, ok := parsePrefix(v); ok {
		return cIP
	}
	if hasSchemeSlashes(v) {
		return cURL
	}
	if strings.IndexByte(v, '@') > 0 {
		return cEmail
	}
	var buf [256]byte
	if _, ok := appendDomain(buf[:0], v); ok {
		return cDomain
	}
	return cNone
}

// ErrNotObservable is returned (wrapped) for a string whose form is none
// of those Detect knows.
var ErrNotObservable = errors.New("not an IP address, domain name, URL, e-mail address or hash")

// Detect names an untyped string by its form and returns it as a
// normalised Observable: an IPv4 or IPv6 address or CIDR block, a URL
// (starting with a scheme and "://"), an e-mail address, a hex digest of 32,
// 40, 64 or 128 digits (MD5, SHA-1, SHA-256, SHA-512), or a domain name
// of at least two labels whose last label is alphabetic. Surrounding
// white space is ignored and defanged forms (hxxp, [.], (.), [at], …) are
// refanged first. The error wraps ErrNotObservable.
func Detect(s string) (Observable, error) {
	var k keyer
	var d detected
	if !k.detect(s, &d) {
		return Observable{}, fmt.Errorf("%q: %w", truncate(s, 80), ErrNotObservable)
	}
	return d.observable(k.norm, k.key), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// detected is what detect found: the class of the value, its canonical
// text in keyer.norm, and for IP values the prefix (a single address or a
// block).
type detected struct {
	c      class
	prefix netip.Prefix
	alg    string // cHash: the algorithm named by the digest's length
}

func (d *detected) observable(norm, key []byte) Observable {
	switch d.c {
	case cIP:
		typ := "ipv4-addr"
		if d.prefix.Addr().Is6() {
			typ = "ipv6-addr"
		}
		v := d.prefix.Addr().String()
		if !d.prefix.IsSingleIP() {
			v = d.prefix.String()
		}
		return Observable{Type: typ, Path: "value", Value: v}
	case cDomain:
		return Observable{Type: "domain-name", Path: "value", Value: string(norm)}
	case cURL:
		return Observable{Type: "url", Path: "value", Value: string(norm)}
	case cEmail:
		return Observable{Type: "email-addr", Path: "value", Value: string(norm)}
	case cHash:
		return Observable{Type: "file", Path: hashPaths[d.alg], Value: hex.EncodeToString(key[1:])}
	}
	return Observable{}
}

// detect classifies s by form, leaving the canonical text in k.norm and
// the key in k.key.
func (k *keyer) detect(s string, d *detected) bool {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 1<<16 {
		return false
	}
	if mayBeDefanged(s) {
		var buf []byte
		buf, _ = refang(buf, s)
		s = string(buf)
	}
	*d = detected{}
	switch {
	case hasSchemeSlashes(s):
		k.norm = k.norm[:0]
		var ok bool
		if k.norm, ok = appendURL(k.norm, s); !ok {
			return false
		}
		d.c = cURL
		k.key = append(append(k.key[:0], kURL), k.norm...)
		return true
	case hashAlgorithm(len(s)) != "" && k.hashKey(s):
		d.c, d.alg = cHash, hashAlgorithm(len(s))
		return true
	}
	if p, ok := parsePrefix(s); ok {
		d.c, d.prefix = cIP, p
		k.key = k.key[:0]
		if p.IsSingleIP() {
			k.key = appendAddrKey(k.key, p.Addr())
		}
		return true
	}
	if strings.IndexByte(s, '@') > 0 {
		k.norm = k.norm[:0]
		var ok bool
		if k.norm, ok = appendEmail(k.norm, s); !ok {
			return false
		}
		d.c = cEmail
		k.key = append(append(k.key[:0], kEmail), k.norm...)
		return true
	}
	k.norm = k.norm[:0]
	var ok bool
	if k.norm, ok = appendDomain(k.norm, s); !ok || !looksLikeHostname(k.norm) {
		return false
	}
	d.c = cDomain
	k.key = append(append(k.key[:0], kDomain), k.norm...)
	return true
}

// hasSchemeSlashes reports whether s starts with a URL scheme and "://".
func hasSchemeSlashes(s string) bool {
	i := 0
	for i < len(s) && (isAlpha(s[i]) || i > 0 && isSchemeChar(s[i])) {
		i++
	}
	return i > 0 && strings.HasPrefix(s[i:], "://")
}

func appendLowerHex(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'F' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// ObservablesFromSCO lists the observables of one STIX Cyber-observable
// Object given as JSON, such as {"type":"domain-name","value":"x.example"}
// or {"type":"file","name":"a.exe","hashes":{"MD5":"…"}}: one for every
// string property reachable through dictionaries (not lists, not *_ref or
// *_refs properties, and not id, type, spec_version), in sorted path order.
// The values are as given; Lookup normalises them. It returns an error
// when raw is not a JSON object with a string "type".
func ObservablesFromSCO(raw []byte) ([]Observable, error) {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("observable: %w", err)
	}
	typ, ok := obj["type"].(string)
	if !ok || typ == "" {
		return nil, errors.New(`observable: no "type" string`)
	}
	var out []Observable
	walkStrings(obj, nil, 0, func(keys []string, v string) {
		out = append(out, Observable{Type: typ, Path: formatPath(keys), Value: v})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// maxDepth bounds the property paths the index keys: longer paths in a
// pattern are not keyed (the pattern is evaluated), and the observed side
// lists no deeper strings.
const maxDepth = 16

// walkStrings calls fn for every string reachable from obj through
// dictionary keys, skipping references, lists and the common properties
// that never carry observed values.
func walkStrings(obj map[string]any, keys []string, depth int, fn func(keys []string, v string)) {
	if depth >= maxDepth {
		return
	}
	for k, v := range obj {
		if depth == 0 && (k == "type" || k == "id" || k == "spec_version") {
			continue
		}
		if strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs") {
			continue
		}
		switch x := v.(type) {
		case string:
			fn(append(keys, k), x)
		case map[string]any:
			walkStrings(x, append(keys, k), depth+1, fn)
		}
	}
}
