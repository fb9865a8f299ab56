package guard

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp/syntax"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// The fuzz targets. Seeds live in testdata/fuzz/<Target>/ (written by
// TestFuzzSeeds -update from the tables and corpus of the other tests).
// Run one with e.g.
//
//	go test ./internal/guard -run '^$' -fuzz '^FuzzScan$' -fuzztime 60s -parallel 1

func FuzzNormalizeIP(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := NormalizeIP(s)
		if err != nil {
			return
		}
		if a.Is4In6() || a.Zone() != "" {
			t.Fatalf("NormalizeIP(%q) = %v: not canonical", s, a)
		}
		b, err := NormalizeIP(a.String())
		if err != nil || b != a {
			t.Fatalf("NormalizeIP(%q) = %v, but of that %v, %v", s, a, b, err)
		}
	})
}

func FuzzNormalizePrefix(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		p, err := NormalizePrefix(s)
		if err != nil {
			return
		}
		if p != p.Masked() || p.Addr().Is4In6() {
			t.Fatalf("NormalizePrefix(%q) = %v: not canonical", s, p)
		}
		q, err := NormalizePrefix(p.String())
		if err != nil || q != p {
			t.Fatalf("NormalizePrefix(%q) = %v, but of that %v, %v", s, p, q, err)
		}
	})
}

func FuzzNormalizeDomain(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		for i := 0; i < len(d); i++ {
			c := d[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
				t.Fatalf("NormalizeDomain(%q) = %q: byte %q", s, d, c)
			}
		}
		if d2, err := NormalizeDomain(d); err != nil || d2 != d {
			t.Fatalf("NormalizeDomain(%q) = %q, but of that %q, %v", s, d, d2, err)
		}
		// the scanner finds the domain where the normaliser does (assets
		// have two labels at least)
		if strings.Contains(d, ".") && !hasCandidate(Extract(d), KindDomain, d) {
			t.Fatalf("Extract(%q) does not find it: %v", d, Extract(d))
		}
	})
}

func hasCandidate(cs []Candidate, k Kind, v string) bool {
	for _, c := range cs {
		if c.Kind == k && c.Value == v {
			return true
		}
	}
	return false
}

func FuzzNormalizeEmail(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		e, err := NormalizeEmail(s)
		if err != nil {
			return
		}
		if e2, err := NormalizeEmail(e); err != nil || e2 != e {
			t.Fatalf("NormalizeEmail(%q) = %q, but of that %q, %v", s, e, e2, err)
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeName(s)
		if n2 := NormalizeName(n); n2 != n {
			t.Fatalf("NormalizeName(%q) = %q, but of that %q", s, n, n2)
		}
		if strings.Contains(n, "  ") || strings.HasPrefix(n, " ") || strings.HasSuffix(n, " ") {
			t.Fatalf("NormalizeName(%q) = %q: spaces", s, n)
		}
	})
}

func FuzzNormalizeASN(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeASN(s)
		if err != nil {
			return
		}
		if n == 0 {
			t.Fatalf("NormalizeASN(%q) = 0", s)
		}
		if m, err := NormalizeASN(fmt.Sprintf("AS%d", n)); err != nil || m != n {
			t.Fatalf("NormalizeASN(%q) = %d, but of AS%d %d, %v", s, n, n, m, err)
		}
	})
}

func FuzzRefang(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		out, mp, changed := deobfuscate(nil, nil, []byte(s), true)
		if len(mp) != len(out)+1 || int(mp[len(out)]) != len(s) {
			t.Fatalf("map of %d for %d output bytes", len(mp), len(out))
		}
		for i := 1; i < len(mp); i++ {
			if mp[i] < mp[i-1] || mp[i] < 0 || int(mp[i]) > len(s) {
				t.Fatalf("map not monotonic at %d: %v", i, mp)
			}
		}
		if !changed && string(out) != s {
			t.Fatalf("unchanged but %q != %q", out, s)
		}
		if Refang(s) != string(out) {
			t.Fatalf("Refang differs")
		}
	})
}

func FuzzExtract(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range Extract(s) {
			if c.Start < 0 || c.End > len(s) || c.Start > c.End {
				t.Fatalf("Extract(%q): span %d-%d", s, c.Start, c.End)
			}
			switch c.Kind {
			case KindCIDR:
				p, err := NormalizePrefix(c.Value)
				if err != nil {
					t.Fatalf("Extract(%q): prefix %q does not normalise: %v", s, c.Value, err)
				}
				if q := netip.MustParsePrefix(c.Value); !q.Addr().Is4In6() && p != q {
					t.Fatalf("Extract(%q): prefix %q normalises to %v", s, c.Value, p)
				}
			case KindASN:
				if _, err := NormalizeASN(c.Value); err != nil {
					t.Fatalf("Extract(%q): %q", s, c.Value)
				}
			}
		}
	})
}

func FuzzParseList(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseList(strings.NewReader(string(data)))
		if err != nil {
			le, ok := err.(*ListError)
			if !ok {
				t.Fatalf("error %T %v", err, err)
			}
			for _, e := range le.Lines {
				if !knownListMessage(e.Msg) {
					t.Fatalf("line %d: message %q may echo content", e.Line, e.Msg)
				}
			}
			return
		}
		// the canonical form parses to the same list
		var b strings.Builder
		if err := l.WriteCanonical(&b); err != nil {
			t.Fatal(err)
		}
		l2, err := ParseList(strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, b.String())
		}
		if l2.Digest() != l.Digest() || l2.Len() != l.Len() {
			t.Fatalf("canonical form parses to another list:\n%s", b.String())
		}
	})
}

var listMessages = []string{
	"not valid UTF-8", "unknown kind (want cidr, domain, email, name, asn or regex)", "missing value after ",
	"more than one value for ", "not an IP address or CIDR range", "range wider than ", "not a domain name",
	"domain needs at least two labels", "domain is a public suffix", "mail domain", "not an e-mail address or @domain",
	"name has no letters or digits", "name of one character would match too much", "not an AS number",
	"regex matches the empty string", "line longer than ", "invalid RE2 regex",
}

func knownListMessage(m string) bool {
	if rest, ok := strings.CutPrefix(m, "invalid RE2 regex: "); ok {
		switch syntax.ErrorCode(rest) {
		case syntax.ErrInternalError, syntax.ErrInvalidCharClass, syntax.ErrInvalidCharRange, syntax.ErrInvalidEscape,
			syntax.ErrInvalidNamedCapture, syntax.ErrInvalidPerlOp, syntax.ErrInvalidRepeatOp, syntax.ErrInvalidRepeatSize,
			syntax.ErrInvalidUTF8, syntax.ErrMissingBracket, syntax.ErrMissingParen, syntax.ErrMissingRepeatArgument,
			syntax.ErrTrailingBackslash, syntax.ErrUnexpectedParen, syntax.ErrNestingDepth, syntax.ErrLarge:
			return true
		}
		return false
	}
	for _, p := range listMessages {
		if strings.HasPrefix(m, p) {
			return true
		}
	}
	return false
}

var fuzzList = sync.OnceValue(func() *List {
	f, err := os.Open("testdata/assets.txt")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	l, err := ParseList(f)
	if err != nil {
		panic(err)
	}
	return l
})

// FuzzScan: no input panics; the scanner's JSON reading agrees with
// encoding/json on what is a JSON object; findings and action agree; a
// redacted object is valid and clean.
func FuzzScan(f *testing.F) {
	block := NewScanner(fuzzList(), Options{})
	redact := NewScanner(fuzzList(), Options{Redact: true})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := block.Scan(data)
		malformed := r.Err != nil
		if malformed != (r.Action == Block && len(r.Findings) > 0 && r.Findings[len(r.Findings)-1].Rule == KindMalformed) {
			t.Fatalf("Err %v but findings %v", r.Err, r.Findings)
		}
		// the reader accepts exactly the JSON objects (RFC 8259, UTF-8)
		// nested no deeper than 64, as encoding/json reads them
		var v any
		valid := json.Unmarshal(data, &v) == nil && utf8.Valid(data) && jsonDepth(data) <= 64
		if _, isObject := v.(map[string]any); !isObject {
			valid = false
		}
		if valid && malformed {
			t.Fatalf("valid JSON object read as malformed: %v", r.Err)
		}
		if !valid && !malformed {
			t.Fatalf("invalid JSON or not an object, read as fine: %q", data)
		}
		if (r.Action == Allow) != (len(r.Findings) == 0) {
			t.Fatalf("action %v with %d findings", r.Action, len(r.Findings))
		}
		for _, f := range r.Findings {
			if f.Action != Block {
				t.Fatalf("block mode, finding %v", f)
			}
		}
		rr := redact.Scan(data)
		if (rr.Action == Allow) != (r.Action == Allow) {
			t.Fatalf("redact mode %v, block mode %v", rr.Action, r.Action)
		}
		if rr.Action == Redact {
			if !json.Valid(rr.Redacted) {
				t.Fatalf("redacted invalid: %q", rr.Redacted)
			}
			if again := block.Scan(rr.Redacted); again.Action != Allow {
				t.Fatalf("redacted still hits: %s", again.Reason())
			}
		}
	})
}

func jsonDepth(b []byte) int {
	d, m, in := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if in {
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case '{', '[':
			d++
			m = max(m, d)
		case '}', ']':
			d--
		}
	}
	return m
}

// TestFuzzSeeds checks that every fuzz target has a seed corpus; with
// -update it writes the seeds from the tables of the other tests and from
// the test corpus.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]string{
		"FuzzNormalizeIP":     {"198.51.100.7", "198.051.100.007", "3325256711", "0xC6336407", "0xc6.0x33.0x64.0x07", "0306.063.0144.07", "198[.]51[.]100[.]7", "hxxp://198[.]51[.]100[.]7:8080/x", "::ffff:198.51.100.7", "[2001:db8::1]:443", "fe80::1%eth0", "2001:db8[:]:1", "1.2.3.4.5", "0x", "[", "%31"},
		"FuzzNormalizePrefix": {"198.51.100.0/24", "198.51.100.7/24", "::ffff:198.51.100.0/120", "2001:db8:ac3e::/48", "198.51.100[.]0/25", "1/1", "::/0", "0x1/8"},
		"FuzzNormalizeDomain": {"acme-corp.example", "ACME-Corp.Example.", "hxxps://vpn.acme-corp[.]example:8443/login", "Bücher-Kunde.example", "xn--bcher-kunde-thb.example", "acme-corp。example", "ａｃｍｅ-corp．example", "_dmarc.acme-corp.example", "acme-corp\\.example", "a..b", "xn--zz.example", "例子.中国"},
		"FuzzNormalizeEmail":  {"John.Doe@Acme-Corp.Example", "@acme-corp.example", "mailto:ceo@globex-holdings.example", "john[at]acme-corp[.]example", "john(at)acme-corp(dot)example", "a@b@c.example", "@"},
		"FuzzNormalizeName":   {"Acme Corporation", "  ACME \t Corporation ", "Ａｃｍｅ", "STRASSE Straße", "北辰商事", "AT&T", "ǅ", "ﬃ", "İstanbul", "ß", "\u0301a"},
		"FuzzNormalizeASN":    {"AS64500", "ASN 64500", "as-64500", "AS64086.59905", "AS0", "AS4294967296", "1.65536", "AS"},
		"FuzzRefang":          {"hxxps://acme-corp[.]example/x", "john[at]acme-corp{.}example", "acme-corp [dot] example", "%61cme%2", "evil[.com.]", "\\\\.\\", "[ . ]", "( at )", "fxp"},
		"FuzzExtract":         {"C2 at 198.51.100.7, then", "[ipv4-addr:value ISSUBSET '198.51.100.0/25']", "198.51.100.x", "7.100.51.198.in-addr.arpa", "ip-198-51-100-7.ec2.internal", "64:ff9b::198.51.100.9", "[2001:db8:ac3e::5]:8443", "１９８．５１．１００．７", "访问acme-corp.example获取", "from=ceo@globex-holdings.example", "AS 64500 and AS64086.59905", "[autonomous-system:number IN (64500, 64511)]", "::::", "1.2.3.4/"},
		"FuzzParseList":       {"cidr 198.51.100.0/24\ndomain acme-corp.example\nemail @acme-corp.example\nname Acme Corporation\nasn AS64500\nregex CUST-[0-9]{6}\n", "# c\n\nname 北辰商事 # x\n", "regex a  b\n", "cidr 0.0.0.0/0\n", "domain co.uk\n", "regex (?i)X[#]y\n"},
	}
	// the scanner's seeds: the unit tests' objects and corpus lines
	var scanSeeds []string
	for _, name := range []string{"testdata/corpus/leaky.jsonl", "testdata/corpus/clean.jsonl"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(data), "\n")
		for i := 0; i < len(lines); i += 37 {
			if lines[i] != "" {
				scanSeeds = append(scanSeeds, lines[i])
			}
		}
	}
	scanSeeds = append(scanSeeds, `{"type":"report","description":"Acme Corporation \u0041cme"}`, `{"a":"\ud800"}`, `{"a":[1,2,{"b":null}]}`, `{}`, `[]`, `{"number":64500,"type":"autonomous-system"}`)
	seeds["FuzzScan"] = scanSeeds

	for target, ss := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, s := range ss {
				typ := "string"
				if target == "FuzzScan" || target == "FuzzParseList" {
					typ = "[]byte"
				}
				body := fmt.Sprintf("go test fuzz v1\n%s(%q)\n", typ, s)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%03d", i)), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil || len(entries) < len(ss) {
			t.Errorf("%s: %d seeds in %s, want at least %d (run with -update)", target, len(entries), dir, len(ss))
		}
	}
}
