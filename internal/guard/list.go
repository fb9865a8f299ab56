package guard

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/publicsuffix"
)

// Kind is the kind of a protected asset, and so the rule kind of a finding.
type Kind uint8

// Asset kinds, in the order of the list format's keywords, followed by the
// two rule kinds that have no asset of their own.
const (
	KindCIDR      Kind = iota + 1 // an IPv4 or IPv6 address or range
	KindDomain                    // a domain and all its subdomains
	KindEmail                     // one address, or a whole mail domain
	KindName                      // a customer name, matched as whole words
	KindASN                       // an autonomous system number
	KindRegex                     // an RE2 expression for internal identifiers
	KindReference                 // the object refers to a blocked object
	KindMalformed                 // the object could not be read, so it is blocked
)

var kindNames = [...]string{
	KindCIDR: "cidr", KindDomain: "domain", KindEmail: "email", KindName: "name",
	KindASN: "asn", KindRegex: "regex", KindReference: "reference", KindMalformed: "malformed",
}

// String returns the keyword of the kind ("cidr", "domain", …).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

func parseKind(s string) (Kind, bool) {
	for k := KindCIDR; k <= KindRegex; k++ {
		if strings.EqualFold(s, kindNames[k]) {
			return k, true
		}
	}
	return 0, false
}

// Limits of the list format.
const (
	// MaxLineBytes is the longest line a list may hold.
	MaxLineBytes = 64 << 10
	// MaxListErrors is how many bad lines one ListError reports at most.
	MaxListErrors = 100
	// MinPrefixBits4 and MinPrefixBits6 are the widest ranges a list may
	// protect: a wider range would cover networks that are not customers.
	MinPrefixBits4 = 8
	MinPrefixBits6 = 16
)

// LineError is one bad line of an asset list. It names the line and what
// is wrong, never the line's content: the content may be a customer's
// identity, and errors end up in logs.
type LineError struct {
	Line int // 1-based
	Msg  string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ListError lists the bad lines of an asset list (up to MaxListErrors), so
// that the list's owner can fix them all at once.
type ListError struct {
	Lines     []LineError
	Truncated bool // more lines were bad than are listed
}

func (e *ListError) Error() string {
	var b strings.Builder
	b.WriteString("protected-asset list: ")
	for i, l := range e.Lines {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(l.Error())
	}
	if e.Truncated {
		b.WriteString("; more errors not shown")
	}
	return b.String()
}

// asset is one parsed line.
type asset struct {
	kind  Kind
	value string // canonical form, see canonical()
	line  int
}

// List is a parsed, compiled protected-asset list. It is immutable and
// safe for concurrent use.
type List struct {
	assets []asset
	digest string
	m      matcher
}

// ParseList reads an asset list in the text format
//
//	# comment
//	cidr    198.51.100.0/24          # an IPv4 or IPv6 range or single address
//	domain  acme-corp.example        # the domain and every subdomain
//	email   @acme-corp.example       # an address, or a whole mail domain
//	name    Acme Corporation         # case- and whitespace-insensitive words
//	asn     AS64500
//	regex   CUST-[0-9]{6}            # RE2 syntax
//
// one asset per line: a keyword (any case), white space, the value. A '#'
// at the start of a line or after white space starts a comment (write
// [#] inside a regex that needs " #"). Blank lines are ignored, and so are
// duplicates. Values are written as in the examples; defanged forms
// (acme-corp[.]example) and IDNs (bücher.example) are accepted.
//
// On bad input it returns a *ListError naming every bad line (up to
// MaxListErrors) and what is wrong with it, without the line's content.
// Reading errors of r are returned wrapped.
func ParseList(r io.Reader) (*List, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes)
	l := &List{}
	var lerr ListError
	bad := func(line int, msg string) {
		if len(lerr.Lines) == MaxListErrors {
			lerr.Truncated = true
			return
		}
		lerr.Lines = append(lerr.Lines, LineError{Line: line, Msg: msg})
	}
	n := 0
	for sc.Scan() {
		n++
		a, msg := parseLine(sc.Bytes())
		if msg != "" {
			bad(n, msg)
			continue
		}
		if a.kind == 0 {
			continue // blank or comment
		}
		a.line = n
		l.assets = append(l.assets, a)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			bad(n+1, fmt.Sprintf("line longer than %d bytes", MaxLineBytes))
		} else {
			return nil, fmt.Errorf("reading protected-asset list: %w", err)
		}
	}
	if len(lerr.Lines) > 0 {
		return nil, &lerr
	}
	if err := l.compile(); err != nil {
		return nil, err
	}
	return l, nil
}

// parseLine returns the asset on one line, a zero asset for a blank or
// comment line, or a message saying what is wrong.
func parseLine(line []byte) (asset, string) {
	if !utf8.Valid(line) {
		return asset{}, "not valid UTF-8"
	}
	s := stripComment(string(line))
	s = strings.TrimSpace(s)
	if s == "" {
		return asset{}, ""
	}
	kw, rest := s, ""
	if i := strings.IndexAny(s, " \t"); i >= 0 {
		kw, rest = s[:i], s[i+1:]
	}
	kind, ok := parseKind(kw)
	if !ok {
		return asset{}, "unknown kind (want cidr, domain, email, name, asn or regex)"
	}
	rest = strings.TrimSpace(rest)
	if rest == "" {
		return asset{}, "missing value after " + kind.String()
	}
	if kind != KindName && kind != KindRegex && strings.ContainsAny(rest, " \t") {
		return asset{}, "more than one value for " + kind.String()
	}
	v, msg := canonical(kind, rest)
	if msg != "" {
		return asset{}, msg
	}
	return asset{kind: kind, value: v}, ""
}

// stripComment cuts a comment: '#' at the start or after white space.
func stripComment(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '#' && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') {
			return s[:i]
		}
	}
	return s
}

// canonical returns the canonical form of an asset value, the form the
// digest covers and the matcher indexes, or a message (without the value)
// saying what is wrong.
func canonical(kind Kind, v string) (string, string) {
	switch kind {
	case KindCIDR:
		p, err := NormalizePrefix(v)
		if err != nil {
			return "", "not an IP address or CIDR range"
		}
		if p.Addr().Is4() && p.Bits() < MinPrefixBits4 || p.Addr().Is6() && p.Bits() < MinPrefixBits6 {
			return "", fmt.Sprintf("range wider than /%d (IPv4) or /%d (IPv6) would cover unrelated networks", MinPrefixBits4, MinPrefixBits6)
		}
		return p.String(), ""
	case KindDomain:
		d, err := NormalizeDomain(v)
		if err != nil {
			return "", "not a domain name"
		}
		if msg := checkProtectable(d); msg != "" {
			return "", msg
		}
		return d, ""
	case KindEmail:
		e, err := NormalizeEmail(v)
		if err != nil {
			return "", "not an e-mail address or @domain"
		}
		_, dom, _ := strings.Cut(e, "@")
		if msg := checkProtectable(dom); msg != "" {
			return "", "mail " + msg
		}
		return e, ""
	case KindName:
		n := NormalizeName(v)
		if n == "" {
			return "", "name has no letters or digits"
		}
		if utf8.RuneCountInString(n) < 2 {
			return "", "name of one character would match too much"
		}
		return n, ""
	case KindASN:
		n, err := NormalizeASN(v)
		if err != nil {
			return "", "not an AS number (AS64500, 64500 or asdot 1.10)"
		}
		return fmt.Sprintf("AS%d", n), ""
	case KindRegex:
		re, err := regexp.Compile(v)
		if err != nil {
			var se *syntax.Error
			if errors.As(err, &se) {
				// Code is the kind of error; the Expr field, which
				// would echo the value, is left out on purpose.
				return "", "invalid RE2 regex: " + string(se.Code)
			}
			return "", "invalid RE2 regex"
		}
		if re.MatchString("") {
			return "", "regex matches the empty string, so it would match everything"
		}
		return v, ""
	}
	return "", "unknown kind"
}

// checkProtectable rejects domains that cannot name one customer.
func checkProtectable(d string) string {
	if !strings.Contains(d, ".") {
		return "domain needs at least two labels"
	}
	if ps, _ := publicsuffix.PublicSuffix(d); ps == d {
		return "domain is a public suffix, which would cover unrelated domains"
	}
	return ""
}

// compile deduplicates the assets, computes the digest and builds the
// lookup structures.
func (l *List) compile() error {
	seen := make(map[string]bool, len(l.assets))
	kept := l.assets[:0]
	for _, a := range l.assets {
		k := a.kind.String() + " " + a.value
		if seen[k] {
			continue
		}
		seen[k] = true
		kept = append(kept, a)
	}
	l.assets = slices.Clip(kept)

	lines := make([]string, len(l.assets))
	for i, a := range l.assets {
		lines[i] = a.kind.String() + " " + a.value + "\n"
	}
	slices.Sort(lines)
	h := sha256.New()
	for _, s := range lines {
		io.WriteString(h, s)
	}
	l.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return l.m.build(l.assets)
}

// Len returns the number of distinct assets in the list.
func (l *List) Len() int { return len(l.assets) }

// Digest returns "sha256:" and the hex SHA-256 of the list's canonical
// form: one line "KIND VALUE\n" per distinct asset, values canonical (see
// Asset), lines sorted bytewise. Comments, order, spacing, case, defanging
// and duplicates do not change it. Log the digest, never the list. A digest
// of a short list of guessable values can be confirmed by guessing; keep it
// among parties that may know the list exists.
func (l *List) Digest() string { return l.digest }

// Counts returns how many distinct assets of each kind the list holds.
func (l *List) Counts() map[Kind]int {
	c := make(map[Kind]int)
	for _, a := range l.assets {
		c[a.kind]++
	}
	return c
}

// Asset returns the kind, canonical value and source line of asset i (the
// index in Finding.Asset). The value is the customer's data: show it to the
// list's owner only, never in logs, errors or anything shared.
// It returns ok=false when i is out of range.
func (l *List) Asset(i int) (kind Kind, value string, line int, ok bool) {
	if i < 0 || i >= len(l.assets) {
		return 0, "", 0, false
	}
	a := l.assets[i]
	return a.kind, a.value, a.line, true
}

// WriteCanonical writes the list's canonical form (the text the digest
// covers). Owner-only, like Asset.
func (l *List) WriteCanonical(w io.Writer) error {
	var b bytes.Buffer
	lines := make([]string, len(l.assets))
	for i, a := range l.assets {
		lines[i] = a.kind.String() + " " + a.value + "\n"
	}
	slices.Sort(lines)
	for _, s := range lines {
		b.WriteString(s)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// cidrOf is used by the matcher: the canonical CIDR value back as a prefix.
func cidrOf(v string) netip.Prefix { return netip.MustParsePrefix(v) }
