package pattern

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestPrecedence checks grouping by printing the tree with explicit
// parentheses around every binary node.
func TestPrecedence(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"[a:b = 1 AND a:c = 2 OR a:d = 3]", "[((a:b = 1 AND a:c = 2) OR a:d = 3)]"},
		{"[a:b = 1 OR a:c = 2 AND a:d = 3]", "[(a:b = 1 OR (a:c = 2 AND a:d = 3))]"},
		{"[a:b = 1 OR a:c = 2 OR a:d = 3]", "[((a:b = 1 OR a:c = 2) OR a:d = 3)]"},
		{"[(a:b = 1 OR a:c = 2) AND a:d = 3]", "[(P(a:b = 1 OR a:c = 2) AND a:d = 3)]"},
		{"[x:a = 1] AND [x:b = 1] OR [x:c = 1]", "(([x:a = 1] AND [x:b = 1]) OR [x:c = 1])"},
		{"[x:a = 1] OR [x:b = 1] AND [x:c = 1]", "([x:a = 1] OR ([x:b = 1] AND [x:c = 1]))"},
		{"[x:a = 1] FOLLOWEDBY [x:b = 1] OR [x:c = 1]", "([x:a = 1] FOLLOWEDBY ([x:b = 1] OR [x:c = 1]))"},
		{"[x:a = 1] OR [x:b = 1] FOLLOWEDBY [x:c = 1]", "(([x:a = 1] OR [x:b = 1]) FOLLOWEDBY [x:c = 1])"},
		{"[x:a = 1] FOLLOWEDBY [x:b = 1] FOLLOWEDBY [x:c = 1]", "(([x:a = 1] FOLLOWEDBY [x:b = 1]) FOLLOWEDBY [x:c = 1])"},
		{"[x:a = 1] AND [x:b = 1] WITHIN 5 SECONDS", "([x:a = 1] AND {[x:b = 1] WITHIN 5 SECONDS})"},
		{"([x:a = 1] AND [x:b = 1]) WITHIN 5 SECONDS", "{P([x:a = 1] AND [x:b = 1]) WITHIN 5 SECONDS}"},
		{"[x:a = 1] REPEATS 2 TIMES WITHIN 5 SECONDS", "{{[x:a = 1] REPEATS 2 TIMES} WITHIN 5 SECONDS}"},
		{"[x:a = 1] WITHIN 5 SECONDS FOLLOWEDBY [x:b = 1]", "({[x:a = 1] WITHIN 5 SECONDS} FOLLOWEDBY [x:b = 1])"},
	} {
		p, err := Parse(c.src)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		if got := explicit(p.Root); got != c.want {
			t.Errorf("%s\n got %s\nwant %s", c.src, got, c.want)
		}
	}
}

func explicit(e any) string {
	switch x := e.(type) {
	case *ObsBracket:
		return "[" + explicit(x.Comparison) + "]"
	case *ObsParen:
		return "P" + explicit(x.Inner)
	case *ObsBinary:
		return "(" + explicit(x.Left) + " " + x.Op.String() + " " + explicit(x.Right) + ")"
	case *ObsQualified:
		return "{" + explicit(x.Inner) + " " + x.Qualifier.String() + "}"
	case *CompBinary:
		return "(" + explicit(x.Left) + " " + x.Op.String() + " " + explicit(x.Right) + ")"
	case *CompParen:
		return "P" + explicit(x.Inner)
	case *Comparison:
		return x.String()
	}
	return "?"
}

func onlyComparison(t *testing.T, src string) *Comparison {
	t.Helper()
	p, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	c, ok := p.Root.(*ObsBracket).Comparison.(*Comparison)
	if !ok {
		t.Fatalf("%q: not a single comparison", src)
	}
	return c
}

func TestConstants(t *testing.T) {
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		lit   string
		want  Value
		canon string
	}{
		{"'abc'", Value{Kind: ValString, Str: "abc"}, "'abc'"},
		{"''", Value{Kind: ValString, Str: ""}, "''"},
		{`'it\'s'`, Value{Kind: ValString, Str: "it's"}, `'it\'s'`},
		{`'a\\b'`, Value{Kind: ValString, Str: `a\b`}, `'a\\b'`},
		{`'\\\''`, Value{Kind: ValString, Str: `\'`}, `'\\\''`},
		{"'ünï €'", Value{Kind: ValString, Str: "ünï €"}, "'ünï €'"},
		{"'line\nbreak'", Value{Kind: ValString, Str: "line\nbreak"}, "'line\nbreak'"},
		{"0", Value{Kind: ValInt, Int: 0}, "0"},
		{"42", Value{Kind: ValInt, Int: 42}, "42"},
		{"+42", Value{Kind: ValInt, Int: 42}, "42"},
		{"-42", Value{Kind: ValInt, Int: -42}, "-42"},
		{"-0", Value{Kind: ValInt, Int: 0}, "0"},
		{"9223372036854775807", Value{Kind: ValInt, Int: math.MaxInt64}, "9223372036854775807"},
		{"1.5", Value{Kind: ValFloat, Float: 1.5}, "1.5"},
		{".5", Value{Kind: ValFloat, Float: 0.5}, "0.5"},
		{"-.5", Value{Kind: ValFloat, Float: -0.5}, "-0.5"},
		{"+7.0", Value{Kind: ValFloat, Float: 7}, "7.0"},
		{"007.25", Value{Kind: ValFloat, Float: 7.25}, "7.25"},
		{"true", Value{Kind: ValBool, Bool: true}, "true"},
		{"false", Value{Kind: ValBool, Bool: false}, "false"},
		{"t'2016-06-01T01:30:00Z'", Value{Kind: ValTimestamp, Str: "2016-06-01T01:30:00Z", Time: ts("2016-06-01T01:30:00Z")}, "t'2016-06-01T01:30:00Z'"},
		{"t'2016-06-01T01:30:00.123456789123Z'", Value{Kind: ValTimestamp, Str: "2016-06-01T01:30:00.123456789123Z", Time: ts("2016-06-01T01:30:00.123456789Z")}, "t'2016-06-01T01:30:00.123456789123Z'"},
		{"t'2016-12-31T23:59:60Z'", Value{Kind: ValTimestamp, Str: "2016-12-31T23:59:60Z", Time: ts("2017-01-01T00:00:00Z")}, "t'2016-12-31T23:59:60Z'"},
		{"t'2023-02-30T00:00:00Z'", Value{Kind: ValTimestamp, Str: "2023-02-30T00:00:00Z", Time: ts("2023-03-02T00:00:00Z")}, "t'2023-02-30T00:00:00Z'"},
		{"b'dGhpcyBpcyBhIHRlc3Q='", Value{Kind: ValBinary, Bytes: []byte("this is a test")}, "b'dGhpcyBpcyBhIHRlc3Q='"},
		{"b'AA=='", Value{Kind: ValBinary, Bytes: []byte{0}}, "b'AA=='"},
		{"b'AB=='", Value{Kind: ValBinary, Bytes: []byte{0}}, "b'AA=='"},
		{"h'ffd8'", Value{Kind: ValHex, Bytes: []byte{0xff, 0xd8}}, "h'ffd8'"},
		{"h'FFD8'", Value{Kind: ValHex, Bytes: []byte{0xff, 0xd8}}, "h'ffd8'"},
		{"h''", Value{Kind: ValHex, Bytes: []byte{}}, "h''"},
	} {
		c2 := onlyComparison(t, "[x:y = "+c.lit+"]")
		if !equalValue(c2.Value, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.lit, c2.Value, c.want)
		}
		if got := c2.Value.String(); got != c.canon {
			t.Errorf("%s: canonical %s, want %s", c.lit, got, c.canon)
		}
	}
	set := onlyComparison(t, "[x:y IN ('a', 1, 2.5, true, h'00')]").Value
	if set.Kind != ValSet || len(set.Set) != 5 || set.Set[3].Kind != ValBool || !bytes.Equal(set.Set[4].Bytes, []byte{0}) {
		t.Errorf("IN set: %+v", set)
	}
	if s := onlyComparison(t, "[x:y NOT IN ()]").Value; s.Kind != ValSet || len(s.Set) != 0 {
		t.Errorf("empty set: %+v", s)
	}
}

func TestPaths(t *testing.T) {
	for _, c := range []struct {
		src, typ, canon string
		steps           []PathStep
	}{
		{"[file:name = 1]", "file", "file:name", []PathStep{{Kind: StepKey, Key: "name"}}},
		{"[x-usb-device:usbdrive.serial_number = 1]", "x-usb-device", "x-usb-device:usbdrive.serial_number",
			[]PathStep{{Kind: StepKey, Key: "usbdrive"}, {Kind: StepKey, Key: "serial_number"}}},
		{"[file:extensions.'windows-pebinary-ext'.sections[*].entropy = 1]", "file",
			"file:extensions.'windows-pebinary-ext'.sections[*].entropy",
			[]PathStep{{Kind: StepKey, Key: "extensions"}, {Kind: StepKey, Key: "windows-pebinary-ext"},
				{Kind: StepKey, Key: "sections"}, {Kind: StepAny}, {Kind: StepKey, Key: "entropy"}}},
		{"[a:b[3][-1].c = 1]", "a", "a:b[3][-1].c",
			[]PathStep{{Kind: StepKey, Key: "b"}, {Kind: StepIndex, Index: 3}, {Kind: StepIndex, Index: -1}, {Kind: StepKey, Key: "c"}}},
		{"[a:'quoted key'.'it\\'s' = 1]", "a", `a:'quoted key'.'it\'s'`,
			[]PathStep{{Kind: StepKey, Key: "quoted key"}, {Kind: StepKey, Key: "it's"}}},
		{"[a:'AND'.'true'.t.b = 1]", "a", "a:'AND'.'true'.t.b",
			[]PathStep{{Kind: StepKey, Key: "AND"}, {Kind: StepKey, Key: "true"}, {Kind: StepKey, Key: "t"}, {Kind: StepKey, Key: "b"}}},
		{"[a:'plain' = 1]", "a", "a:plain", []PathStep{{Kind: StepKey, Key: "plain"}}},
	} {
		c2 := onlyComparison(t, c.src)
		if c2.Path.ObjectType != c.typ || len(c2.Path.Steps) != len(c.steps) {
			t.Errorf("%s: got %+v", c.src, c2.Path)
			continue
		}
		for i := range c.steps {
			if c2.Path.Steps[i] != c.steps[i] {
				t.Errorf("%s: step %d = %+v, want %+v", c.src, i, c2.Path.Steps[i], c.steps[i])
			}
		}
		if got := c2.Path.String(); got != c.canon {
			t.Errorf("%s: canonical %s, want %s", c.src, got, c.canon)
		}
	}
}

func TestOperatorsParse(t *testing.T) {
	for _, c := range []struct {
		src     string
		op      Operator
		negated bool
	}{
		{"[a:b = 1]", OpEQ, false}, {"[a:b == 1]", OpEQ, false}, {"[a:b NOT = 1]", OpEQ, true},
		{"[a:b != 1]", OpNEQ, false}, {"[a:b <> 1]", OpNEQ, false}, {"[a:b NOT != 1]", OpNEQ, true},
		{"[a:b < 1]", OpLT, false}, {"[a:b <= 1]", OpLE, false}, {"[a:b > 1]", OpGT, false},
		{"[a:b >= 1]", OpGE, false}, {"[a:b NOT >= 1]", OpGE, true},
		{"[a:b IN (1)]", OpIn, false}, {"[a:b NOT IN (1)]", OpIn, true},
		{"[a:b LIKE 'x']", OpLike, false}, {"[a:b NOT LIKE 'x']", OpLike, true},
		{"[a:b MATCHES 'x']", OpMatches, false}, {"[a:b NOT MATCHES 'x']", OpMatches, true},
		{"[a:b ISSUBSET '10.0.0.0/8']", OpIsSubset, false}, {"[a:b NOT ISSUBSET '10.0.0.0/8']", OpIsSubset, true},
		{"[a:b ISSUPERSET '10.0.0.0/8']", OpIsSuperset, false}, {"[a:b NOT ISSUPERSET '10.0.0.0/8']", OpIsSuperset, true},
		{"[EXISTS a:b]", OpExists, false},
	} {
		cmp := onlyComparison(t, c.src)
		if cmp.Op != c.op || cmp.Negated != c.negated {
			t.Errorf("%s: op %v negated %v, want %v %v", c.src, cmp.Op, cmp.Negated, c.op, c.negated)
		}
	}
}

func TestQualifiersParse(t *testing.T) {
	q := func(src string) Qualifier {
		p, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		return p.Root.(*ObsQualified).Qualifier
	}
	if g := q("[a:b = 1] WITHIN 5 SECONDS"); g.Kind != QualWithin || g.Seconds != 5 {
		t.Errorf("WITHIN 5: %+v", g)
	}
	if g := q("[a:b = 1] WITHIN 2.5 SECONDS"); g.Kind != QualWithin || g.Seconds != 2.5 {
		t.Errorf("WITHIN 2.5: %+v", g)
	}
	if g := q("[a:b = 1] WITHIN 5SECONDS"); g.Kind != QualWithin || g.Seconds != 5 {
		t.Errorf("WITHIN 5SECONDS (no space, as the grammar allows): %+v", g)
	}
	if g := q("[a:b = 1] REPEATS 9 TIMES"); g.Kind != QualRepeats || g.Times != 9 {
		t.Errorf("REPEATS 9: %+v", g)
	}
	g := q("[a:b = 1] START t'2016-06-01T01:30:00.123Z' STOP t'2016-06-01T02:20:00Z'")
	if g.Kind != QualStartStop || g.Start.Str != "2016-06-01T01:30:00.123Z" || g.Stop.Time.Hour() != 2 {
		t.Errorf("START/STOP: %+v", g)
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		src    string
		offset int
		msg    string
	}{
		{"[file:size = 1 foo]", 15, "expected ']' or AND/OR, got 'foo'"},
		{"file:size = 1280", 0, "expected '[' or '(', got 'file'"},
		{"", 0, "expected '[' or '(', got end of pattern"},
		{"[file:size = ]", 13, "expected a constant after =, got ']'"},
		{"[file:name LIKE 5]", 16, "expected a string constant after LIKE, got '5'"},
		{"[file:size < true]", 13, "expected a string, number, timestamp, binary or hex constant after <, got 'true'"},
		{"[file:size NOT EXISTS]", 15, "expected a comparison operator after NOT, got 'EXISTS'"},
		{"[NOT EXISTS file:size]", 1, "expected an object path, EXISTS or '(', got 'NOT'"},
		{"[file:a-b = 1]", 6, "expected a property name after ':', got 'a-b'"},
		{"[file:a.b-c = 1]", 8, "expected a property name after '.' (quote names with hyphens), got 'b-c'"},
		{"[file:a[x] = 1]", 8, "expected an integer or '*' in the list index, got 'x'"},
		{"[a:b = 1] and [a:c = 1]", 10, "expected AND, OR, FOLLOWEDBY, a qualifier or the end of the pattern, got 'and'"},
		{"[a:b = 1] WITHIN 5 MINUTES", 19, "expected SECONDS, got 'MINUTES'"},
		{"[a:b = 1] WITHIN -5 SECONDS", 17, "expected a positive number of seconds after WITHIN, got '-5'"},
		{"[a:b = 1] REPEATS 2.5 TIMES", 18, "expected a positive integer after REPEATS, got '2.5'"},
		{"[a:b = 1] START '2016-06-01T01:30:00Z' STOP '2016-06-01T01:30:00Z'", 16, "expected a timestamp t'…' after START, got ''2016-06-01T01:30:00Z''"},
		{"[a:b = 1] WITHIN 5 SECONDS WITHIN 6 SECONDS", 27, "duplicate WITHIN qualifier on one observation expression"},
		{"[a:b = 'x\\n']", 9, `invalid escape \n in string: only \' and \\ are allowed`},
		{"[a:b = 'x]", 7, "unterminated string"},
		{"[a:b = 007]", 7, "integer 007 has a leading zero"},
		{"[a:b = 99999999999999999999]", 7, "integer 99999999999999999999 out of range (64-bit)"},
		{"[a:b = h'abc']", 7, "invalid hex constant h'abc': odd number of digits"},
		{"[a:b = h'zz']", 7, "invalid hex constant h'zz': not hex digits"},
		{"[a:b = b'abc']", 7, "invalid binary constant b'abc': want padded base64"},
		{"[a:b = t'2024-01-01T00:00:00']", 7, "invalid timestamp t'2024-01-01T00:00:00': want YYYY-MM-DDTHH:MM:SS[.fraction]Z"},
		{"[a:b = 1] /* open", 10, "unterminated comment"},
		{"[a:b = 1] # c", 10, "unexpected character '#'"},
		{"[a:b = 1]\n  AND x", 16, "expected '[' or '(', got 'x'"},
		{"[file:hashes.MD5 = 'abc']", 19, "'abc' is not a valid MD5 hash"},
		{"[file:hashes.MD5 IN ('cead3f77f6cda6ec00f57d76c9a6879f', 'abc')]", 20, "'abc' is not a valid MD5 hash"},
		{"[a:b = 1] OR", 12, "expected '[' or '(', got end of pattern"},
		{"([a:b = 1]", 10, "expected ')', AND, OR, FOLLOWEDBY or a qualifier, got end of pattern"},
	} {
		_, err := Parse(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want *SyntaxError", c.src, err)
			continue
		}
		if se.Offset != c.offset || se.Msg != c.msg {
			t.Errorf("%q:\n got at %d: %s\nwant at %d: %s", c.src, se.Offset, se.Msg, c.offset, c.msg)
		}
	}
	_, err := Parse("[a:b = 1]\n  AND x")
	if want := "pattern: at 16 (line 2, column 7): expected '[' or '(', got 'x'"; err == nil || err.Error() != want {
		t.Errorf("line/column: %v, want %s", err, want)
	}
	_, err = Parse("[file:size = 1 foo]")
	if want := "pattern: at 15: expected ']' or AND/OR, got 'foo'"; err == nil || err.Error() != want {
		t.Errorf("message: %v, want %s", err, want)
	}
}

func TestAcceptedEdgeCases(t *testing.T) {
	for _, src := range []string{
		"[a:b=1]AND[a:c=2]",                       // no spaces
		"[a:b MATCHES'x']",                        // string right after keyword
		"/* lead */ [a:b = 1] // trailing",        // comments
		"[a:b = 1]\u00a0\u2003AND\u3000[a:c = 2]", // Unicode white space of the grammar
		"((([a:b = 1])))",                         // nested parentheses
		"[a:b = 1] REPEATS 2 TIMES WITHIN 5 SECONDS START t'2016-06-01T01:30:00Z' STOP t'2016-06-01T02:30:00Z'",
		"([a:b = 1] WITHIN 5 SECONDS) WITHIN 6 SECONDS",
		"[a:hashes.MD5 LIKE 'abc%']",     // hash check only for =, != and IN
		"[a:hashes.'x-unknown' = 'abc']", // unknown algorithm: no check
		"[_a:_b = 1]",
		"[a:b = '\\\\']",
		"[a:b NOT IN ()]",
	} {
		p, err := Parse(src)
		if err != nil {
			t.Errorf("Parse(%q): %v", src, err)
			continue
		}
		q, err := Parse(p.String())
		if err != nil || !Equal(p, q) {
			t.Errorf("%q: canonical %q does not round-trip (%v)", src, p.String(), err)
		}
	}
}

func TestDepthLimit(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "[a:b = 1]" + strings.Repeat(")", MaxDepth+1)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("observation nesting: %v", err)
	}
	deepC := "[" + strings.Repeat("(", MaxDepth+1) + "a:b = 1" + strings.Repeat(")", MaxDepth+1) + "]"
	if _, err := Parse(deepC); err == nil || !strings.Contains(err.Error(), "nested deeper than") {
		t.Errorf("comparison nesting: %v", err)
	}
	ok := strings.Repeat("(", MaxDepth-1) + "[a:b = 1]" + strings.Repeat(")", MaxDepth-1)
	if _, err := Parse(ok); err != nil {
		t.Errorf("nesting %d: %v", MaxDepth, err)
	}
	// long flat chains do not recurse and are accepted
	long := strings.Repeat("[a:b = 1] AND ", 5000) + "[a:b = 1]"
	if _, err := Parse(long); err != nil {
		t.Errorf("5001 observation expressions: %v", err)
	}
	if _, err := Parse(strings.Repeat(" ", MaxLength+1)); err == nil {
		t.Error("over-long pattern accepted")
	}
	if _, err := Parse("[a:b = '\xff']"); err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
		t.Errorf("invalid UTF-8: %v", err)
	}
}

func TestRoundTripCanonical(t *testing.T) {
	src := "[  file:hashes . 'SHA-256' == 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:size<>+12 ]REPEATS 2 TIMES"
	p := MustParse(src)
	want := "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f' AND file:size != 12] REPEATS 2 TIMES"
	if p.String() != want {
		t.Errorf("canonical:\n got %s\nwant %s", p.String(), want)
	}
	if q := MustParse(p.String()); !Equal(p, q) || q.String() != want {
		t.Errorf("canonical form is not a fixed point: %s", q)
	}
	if Equal(p, MustParse("[file:size != 12] REPEATS 2 TIMES")) {
		t.Error("Equal: different patterns reported equal")
	}
}
