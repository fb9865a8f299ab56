package guard

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"pgregory.net/rapid"
)

// jnode is a JSON value built by the property tests, so that they control
// member order and escaping.
type jnode struct {
	kind int // 0 object, 1 array, 2 string, 3 number, 4 literal
	obj  []jmember
	arr  []*jnode
	str  string // string value, number text or literal
}

type jmember struct {
	key string
	val *jnode
}

func jstr(s string) *jnode { return &jnode{kind: 2, str: s} }

// write serialises n; esc decides, per character, whether to write it as
// a \u escape.
func (n *jnode) write(b *strings.Builder, esc func() bool) {
	switch n.kind {
	case 0:
		b.WriteByte('{')
		for i, m := range n.obj {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, m.key, esc)
			b.WriteByte(':')
			m.val.write(b, esc)
		}
		b.WriteByte('}')
	case 1:
		b.WriteByte('[')
		for i, e := range n.arr {
			if i > 0 {
				b.WriteString(", ")
			}
			e.write(b, esc)
		}
		b.WriteByte(']')
	case 2:
		writeJSONString(b, n.str, esc)
	default:
		b.WriteString(n.str)
	}
}

func writeJSONString(b *strings.Builder, s string, esc func() bool) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || esc():
			if r > 0xffff {
				r1, r2 := utf16Pair(r)
				fmt.Fprintf(b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + r>>10, 0xdc00 + r&0x3ff
}

var (
	propKeys    = []string{"name", "description", "value", "x_notes", "labels", "external_references", "url", "source_name", "hashes", "extensions", "objects", "x_ctx", "details", "items", "data", "SHA-256", "request_header"}
	propStrings = []string{"Emotet", "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "2024-03-01T10:00:00.000Z", "d41d8cd98f00b204e9800998ecf8427e",
		"update-cloud.xyz", "45.77.12.9", "2a01:4f8:c17:1a2b::1", "AS13335", "CVE-2024-3400", "malicious-activity", "The loader beacons every 60 seconds.",
		"https://attack.mitre.org/techniques/T1566/001/", "mitre-attack", "", "powershell -enc SQBFAFgA", "Contoso CERT", "the ACME protocol"}
	prefixSeps = []string{" ", "\n", "\t", "(", "\"", "'", "<", "[", "=", ": ", "|", ", ", ""}
	suffixSeps = []string{" ", "\n", ")", "\"", "'", ">", "]", ",", ";", ". ", "|", "!", "?", ""}
)

func drawTree(t *rapid.T, depth int) *jnode {
	k := rapid.IntRange(0, 5).Draw(t, "node")
	if depth >= 3 && k < 2 {
		k += 2
	}
	switch k {
	case 0:
		n := &jnode{kind: 0}
		for i, m := 0, rapid.IntRange(0, 4).Draw(t, "members"); i < m; i++ {
			n.obj = append(n.obj, jmember{rapid.SampledFrom(propKeys).Draw(t, "key"), drawTree(t, depth+1)})
		}
		return n
	case 1:
		n := &jnode{kind: 1}
		for i, m := 0, rapid.IntRange(0, 4).Draw(t, "elems"); i < m; i++ {
			n.arr = append(n.arr, drawTree(t, depth+1))
		}
		return n
	case 2:
		return jstr(rapid.SampledFrom(propStrings).Draw(t, "str"))
	case 3:
		return &jnode{kind: 3, str: strconv.Itoa(rapid.IntRange(0, 1<<20).Draw(t, "num"))}
	}
	return &jnode{kind: 4, str: rapid.SampledFrom([]string{"true", "false", "null"}).Draw(t, "lit")}
}

// drawObject draws a top-level object with a type, an id and a random tree.
func drawObject(t *rapid.T, typ string) *jnode {
	o := &jnode{kind: 0}
	o.obj = append(o.obj, jmember{"type", jstr(typ)}, jmember{"id", jstr(typ + "--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")})
	for i, m := 0, rapid.IntRange(0, 6).Draw(t, "top"); i < m; i++ {
		o.obj = append(o.obj, jmember{rapid.SampledFrom(propKeys).Draw(t, "key"), drawTree(t, 1)})
	}
	return o
}

// slots lists the places a value can go: containers and string leaves.
func slots(n *jnode, out []*jnode) []*jnode {
	if n.kind <= 2 {
		out = append(out, n)
	}
	for _, m := range n.obj {
		out = slots(m.val, out)
	}
	for _, e := range n.arr {
		out = slots(e, out)
	}
	return out
}

// inject puts text at a random place: into a string, as a new member or
// element, or as a property name.
func inject(t *rapid.T, root *jnode, text string) {
	ss := slots(root, nil)
	s := ss[rapid.IntRange(0, len(ss)-1).Draw(t, "slot")]
	switch s.kind {
	case 0:
		if len(s.obj) > 0 && rapid.Bool().Draw(t, "as key") {
			i := rapid.IntRange(0, len(s.obj)-1).Draw(t, "member")
			s.obj[i].key = text
			return
		}
		i := rapid.IntRange(0, len(s.obj)).Draw(t, "at")
		s.obj = slices.Insert(s.obj, i, jmember{rapid.SampledFrom(propKeys).Draw(t, "newkey"), jstr(text)})
	case 1:
		i := rapid.IntRange(0, len(s.arr)).Draw(t, "at")
		s.arr = slices.Insert(s.arr, i, jstr(text))
	case 2:
		if s.str == "" || rapid.Bool().Draw(t, "replace") {
			s.str = text
		} else {
			s.str = s.str + " " + text
		}
	}
}

func serialise(t *rapid.T, root *jnode) []byte {
	r := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "escape seed"), 0))
	rate := rapid.SampledFrom([]int{0, 0, 5, 50}).Draw(t, "escape rate")
	var b strings.Builder
	root.write(&b, func() bool { return rate > 0 && r.IntN(100) < rate })
	return []byte(b.String())
}

// drawLeak returns a protected value in a random encoding, and its kind.
func drawLeak(t *rapid.T) (string, Kind) {
	g := newGen()
	g.r = rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "value seed"), 1))
	if rapid.IntRange(0, 2).Draw(t, "family") > 0 {
		// a form of the corpus generator
		f := rapid.SampledFrom(forms).Draw(t, "form")
		text := f.text(g)
		if f.patternOnly {
			text = fmt.Sprintf(f.pattern, text)
		}
		if f.kind != KindRegex && !strings.Contains(f.name, "idn") && rapid.Bool().Draw(t, "upper") {
			text = strings.ToUpper(text)
		}
		return text, f.kind
	}
	// a plain value through a random pipeline of encodings
	var v string
	kind := KindCIDR
	switch rapid.IntRange(0, 3).Draw(t, "plain") {
	case 0:
		v = g.protV4().String()
	case 1:
		v = g.protV6().String()
	case 2:
		v, kind = g.protDomain(), KindDomain
	default:
		v, kind = g.pick("ceo@globex-holdings.example", "it@acme-corp.example", "j.smith+billing@umbrella-mail.example"), KindEmail
	}
	isV6 := strings.Contains(v, ":")
	if kind != KindEmail && rapid.Bool().Draw(t, "url") {
		host := v
		if isV6 {
			host = "[" + v + "]"
		}
		if rapid.Bool().Draw(t, "port") {
			host += ":" + strconv.Itoa(rapid.IntRange(1, 65535).Draw(t, "portnum"))
		}
		v = rapid.SampledFrom([]string{"http://", "https://", "hxxps://", "hXXp://", "ftp://", "https[:]//", "//"}).Draw(t, "scheme") +
			host + rapid.SampledFrom([]string{"", "/", "/login.php?u=1", "/a/b#c"}).Draw(t, "path")
	}
	switch rapid.IntRange(0, 3).Draw(t, "obfuscation") {
	case 1: // defang some dots (or colons of an IPv6 address)
		sep, repl := ".", rapid.SampledFrom([]string{"[.]", "(.)", "{.}", "[dot]", "(dot)", " [dot] "}).Draw(t, "defang")
		if isV6 {
			sep, repl = ":", "[:]"
		}
		var b strings.Builder
		for i, part := range strings.Split(v, sep) {
			if i > 0 {
				if rapid.Bool().Draw(t, "this one") {
					b.WriteString(repl)
				} else {
					b.WriteString(sep)
				}
			}
			b.WriteString(part)
		}
		v = b.String()
	case 2: // percent-encode some characters
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if alnum[v[i]] && rapid.IntRange(0, 3).Draw(t, "pct") == 0 {
				fmt.Fprintf(&b, "%%%02X", v[i])
			} else {
				b.WriteByte(v[i])
			}
		}
		v = b.String()
	case 3:
		v = strings.ToUpper(v)
	}
	return v, kind
}

// TestPropInjectedLeakIsCaught: a random object with a protected value in
// a random encoding, at a random place, between random separators, with
// random \u escapes in the JSON, is always blocked with a finding of the
// value's kind.
func TestPropInjectedLeakIsCaught(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	rapid.Check(t, func(t *rapid.T) {
		obj := drawObject(t, rapid.SampledFrom([]string{"indicator", "malware", "infrastructure", "x-custom", "observed-data", "report"}).Draw(t, "type"))
		text, kind := drawLeak(t)
		text = rapid.SampledFrom(prefixSeps).Draw(t, "pre") + text + rapid.SampledFrom(suffixSeps).Draw(t, "post")
		if rapid.Bool().Draw(t, "words around") {
			text = "seen " + text + " today"
		}
		inject(t, obj, text)
		raw := serialise(t, obj)
		if !json.Valid(raw) {
			t.Fatalf("test built invalid JSON: %s", raw)
		}
		r := sc.Scan(raw)
		if r.Action != Block || !slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == kind }) {
			t.Fatalf("not caught (%v, %s), want %s: %s", r.Action, r.Reason(), kind, raw)
		}
	})
}

// TestPropNumbersAreCaught: an address as a JSON number anywhere, an AS
// number as an autonomous-system object's number (before or after its
// type) or in a property named for ASNs.
func TestPropNumbersAreCaught(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	rapid.Check(t, func(t *rapid.T) {
		obj := drawObject(t, "x-custom")
		ss := slots(obj, nil)
		var objs []*jnode
		for _, s := range ss {
			if s.kind == 0 {
				objs = append(objs, s)
			}
		}
		target := objs[rapid.IntRange(0, len(objs)-1).Draw(t, "object")]
		var kind Kind
		switch rapid.IntRange(0, 2).Draw(t, "what") {
		case 0:
			a := netip.MustParseAddr(rapid.SampledFrom([]string{"198.51.100.7", "192.0.2.100", "203.0.113.200", "100.64.13.77"}).Draw(t, "ip")).As4()
			n := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
			target.obj = append(target.obj, jmember{rapid.SampledFrom(propKeys).Draw(t, "k"), &jnode{kind: 3, str: strconv.FormatUint(uint64(n), 10)}})
			kind = KindCIDR
		case 1:
			as := &jnode{kind: 0, obj: []jmember{{"number", &jnode{kind: 3, str: strconv.FormatUint(uint64(rapid.SampledFrom(gtASNs).Draw(t, "asn")), 10)}}, {"name", jstr("TRANSIT")}}}
			at := rapid.IntRange(0, 2).Draw(t, "type at")
			as.obj = slices.Insert(as.obj, at, jmember{"type", jstr("autonomous-system")})
			target.obj = append(target.obj, jmember{"objects", &jnode{kind: 0, obj: []jmember{{"0", as}}}})
			kind = KindASN
		default:
			target.obj = append(target.obj, jmember{rapid.SampledFrom([]string{"x_asn", "peer_asns", "ASN", "x_origin_asn"}).Draw(t, "k"), &jnode{kind: 3, str: strconv.FormatUint(uint64(rapid.SampledFrom(gtASNs).Draw(t, "asn")), 10)}})
			kind = KindASN
		}
		raw := serialise(t, obj)
		r := sc.Scan(raw)
		if r.Action != Block || !slices.ContainsFunc(r.Findings, func(f Finding) bool { return f.Rule == kind }) {
			t.Fatalf("not caught (%v, %s), want %s: %s", r.Action, r.Reason(), kind, raw)
		}
	})
}

// TestPropRedactedReportIsClean: a report whose free text carries a leak
// is redacted, the redacted object is valid JSON, scans clean, and keeps
// the rest of the text.
func TestPropRedactedReportIsClean(t *testing.T) {
	l := loadAssets(t)
	sc := NewScanner(l, Options{Redact: true})
	block := NewScanner(l, Options{})
	rapid.Check(t, func(t *rapid.T) {
		text, _ := drawLeak(t)
		key := rapid.SampledFrom([]string{"name", "description"}).Draw(t, "key")
		desc := "Before " + rapid.SampledFrom(prefixSeps).Draw(t, "pre") + text + rapid.SampledFrom(suffixSeps).Draw(t, "post") + " after."
		obj := &jnode{kind: 0, obj: []jmember{{"type", jstr("report")}, {"id", jstr("report--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")}, {key, jstr(desc)}, {"object_refs", &jnode{kind: 1}}}}
		raw := serialise(t, obj)
		r := sc.Scan(raw)
		if r.Action != Redact {
			t.Fatalf("%v (%s), want redact: %s", r.Action, r.Reason(), raw)
		}
		if !json.Valid(r.Redacted) || !utf8.Valid(r.Redacted) {
			t.Fatalf("redacted JSON invalid: %s", r.Redacted)
		}
		if again := block.Scan(r.Redacted); again.Action != Allow {
			t.Fatalf("redacted object still hits (%s): %s", again.Reason(), r.Redacted)
		}
		var m map[string]any
		_ = json.Unmarshal(r.Redacted, &m)
		got, _ := m[key].(string)
		if !strings.HasPrefix(got, "Before") || !strings.HasSuffix(got, "after.") || !strings.Contains(got, "[REDACTED]") {
			t.Fatalf("redacted text %q", got)
		}
	})
}

// TestPropCleanObjectsPass: the corpus generator's clean objects, drawn
// from fresh seeds, are never blocked.
func TestPropCleanObjectsPass(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	rapid.Check(t, func(t *rapid.T) {
		g := newGen()
		g.r = rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "seed"), 2))
		for _, o := range g.cleanObject() {
			raw, _ := json.Marshal(o)
			if r := sc.Scan(raw); r.Action != Allow {
				t.Fatalf("clean object blocked (%s): %s", r.Reason(), raw)
			}
		}
	})
}

// TestPropOrderAndEscapingDoNotMatter: the decision and the findings do
// not depend on member order or on \u escaping.
func TestPropOrderAndEscapingDoNotMatter(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	rapid.Check(t, func(t *rapid.T) {
		obj := drawObject(t, "x-custom")
		if rapid.Bool().Draw(t, "leak") {
			text, _ := drawLeak(t)
			inject(t, obj, " "+text+" ")
		}
		var plain strings.Builder
		obj.write(&plain, func() bool { return false })
		r1 := sc.Scan([]byte(plain.String()))
		shuffled := &jnode{kind: 0, obj: rapid.Permutation(obj.obj).Draw(t, "order")}
		r2 := sc.Scan(serialise(t, shuffled))
		if r1.Action != r2.Action || !sameFindings(r1.Findings, r2.Findings) {
			t.Fatalf("%v %v vs %v %v", r1.Action, r1.Findings, r2.Action, r2.Findings)
		}
	})
}

func sameFindings(a, b []Finding) bool {
	if len(a) != len(b) {
		return false
	}
	for _, f := range a {
		if !slices.Contains(b, f) {
			return false
		}
	}
	return true
}
