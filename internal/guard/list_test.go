package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"
)

func mustList(t testing.TB, text string) *List {
	t.Helper()
	l, err := ParseList(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func loadAssets(t testing.TB) *List {
	t.Helper()
	f, err := os.Open("testdata/assets.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ParseList(f)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestParseList(t *testing.T) {
	l := loadAssets(t)
	want := map[Kind]int{KindCIDR: 5, KindDomain: 4, KindEmail: 3, KindName: 5, KindASN: 3, KindRegex: 3}
	got := l.Counts()
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d assets, want %d", k, got[k], n)
		}
	}
	// canonical values and source lines
	checks := map[string]int{ // "kind value" -> line
		"cidr 203.0.113.200/32":                       0,
		"domain xn--bcher-kunde-thb.example":          0,
		"domain initech-internal.example":             0,
		"name initech systems":                        0,
		"name 北 辰 商 事":                                0,
		"asn AS64511":                                 0,
		"asn AS4200000001":                            0,
		"email j.smith+billing@umbrella-mail.example": 0,
	}
	for i := 0; i < l.Len(); i++ {
		k, v, line, ok := l.Asset(i)
		if !ok || line <= 0 {
			t.Fatalf("Asset(%d) = %v %q %d %v", i, k, v, line, ok)
		}
		if _, ok := checks[k.String()+" "+v]; ok {
			delete(checks, k.String()+" "+v)
		}
	}
	for c := range checks {
		t.Errorf("missing canonical asset %q", c)
	}
	if _, _, _, ok := l.Asset(l.Len()); ok {
		t.Error("Asset past the end: ok")
	}
}

func TestParseListErrors(t *testing.T) {
	secret := "Very Secret Customer"
	text := strings.Join([]string{
		"# fine",
		"domain acme-corp.example",
		secret,                              // 3: no kind (the name alone)
		"cidr 198.51.100.0/33",              // 4
		"domain co.uk",                      // 5: public suffix
		"domain localhost",                  // 6
		"email someone@co.uk",               // 7
		"name x",                            // 8
		"asn AS0",                           // 9
		"regex CUST-[0-9",                   // 10: syntax error that would echo the regex
		"regex .*",                          // 11: matches empty
		"cidr 0.0.0.0/0",                    // 12: too wide
		"domain",                            // 13
		"domain a.example b.example",        // 14
		"cidr 2001:db8::/8",                 // 15
		"name " + secret + " # comment too", // 16: fine
		"\xff\xfe",                          // 17
	}, "\n")
	_, err := ParseList(strings.NewReader(text))
	var le *ListError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want *ListError", err)
	}
	var lines []int
	for _, l := range le.Lines {
		lines = append(lines, l.Line)
	}
	if fmt.Sprint(lines) != "[3 4 5 6 7 8 9 10 11 12 13 14 15 17]" {
		t.Errorf("bad lines %v", lines)
	}
	msg := err.Error()
	for _, leak := range []string{"very secret", "Secret", "198.51", "co.uk", "localhost", "CUST", "a.example", "2001", "0.0.0.0", "someone"} {
		if strings.Contains(strings.ToLower(msg), strings.ToLower(leak)) {
			t.Errorf("error echoes %q: %s", leak, msg)
		}
	}
	t.Log(msg)
}

func TestParseListTooManyErrorsAndLongLine(t *testing.T) {
	var b strings.Builder
	for i := 0; i < MaxListErrors+5; i++ {
		b.WriteString("bogus line\n")
	}
	_, err := ParseList(strings.NewReader(b.String()))
	var le *ListError
	if !errors.As(err, &le) || len(le.Lines) != MaxListErrors || !le.Truncated {
		t.Fatalf("err = %v", err)
	}
	_, err = ParseList(strings.NewReader("domain acme-corp.example\nname " + strings.Repeat("a", MaxLineBytes+1) + "\n"))
	if !errors.As(err, &le) || le.Lines[0].Line != 2 {
		t.Fatalf("long line: err = %v", err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestParseListReadError(t *testing.T) {
	_, err := ParseList(failingReader{})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

func TestDigestCanonical(t *testing.T) {
	a := mustList(t, "domain acme-corp.example\ncidr 198.51.100.0/24\nname Acme Corporation\n")
	b := mustList(t, "# reordered, recased, defanged, duplicated\n\nNAME   acme   CORPORATION\ncidr 198.51.100.7/24 # masked\nDomain ACME-corp[.]example.\ndomain acme-corp.example\n")
	c := mustList(t, "domain acme-corp.example\ncidr 198.51.100.0/25\nname Acme Corporation\n")
	if a.Digest() != b.Digest() {
		t.Errorf("equivalent lists differ: %s vs %s", a.Digest(), b.Digest())
	}
	if a.Digest() == c.Digest() {
		t.Error("different lists have the same digest")
	}
	if !strings.HasPrefix(a.Digest(), "sha256:") || len(a.Digest()) != 7+64 {
		t.Errorf("digest %q", a.Digest())
	}
	var buf bytes.Buffer
	if err := a.WriteCanonical(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "cidr 198.51.100.0/24\ndomain acme-corp.example\nname acme corporation\n" {
		t.Errorf("canonical form:\n%s", buf.String())
	}
	if b.Len() != 3 {
		t.Errorf("duplicates kept: %d", b.Len())
	}
}

// bigList writes a list of n assets of mixed kinds: mostly ranges and
// domains, as a network or hosting provider's list would be. The values
// are drawn from spaces the test corpus does not use (CGNAT and 10/8,
// cust-*.example, "Kunde …" names, private ASNs), so the corpus's clean
// objects stay clean against it.
func bigList(n int, seed uint64) string {
	r := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	b.Grow(n * 32)
	v4, v6 := 0, 0
	for i := 0; i < n; i++ {
		switch k := i % 100; {
		case k < 40:
			if r.IntN(4) == 0 {
				fmt.Fprintf(&b, "cidr 2001:db8:%x:%x::/64\n", 0xf000+v6>>16, v6&0xffff)
				v6++
			} else {
				fmt.Fprintf(&b, "cidr 10.%d.%d.%d/%d\n", v4>>8&255, v4&255, r.IntN(256), 24+r.IntN(9))
				v4++
			}
		case k < 70:
			fmt.Fprintf(&b, "domain cust-%d-%s.example\n", i, syllables(r, 2))
		case k < 80:
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, "email @mail-%d.cust.example\n", i)
			} else {
				fmt.Fprintf(&b, "email user%d@cust-%d.example\n", r.IntN(1000), i)
			}
		case k < 95:
			fmt.Fprintf(&b, "name Kunde %s %s %d\n", syllables(r, 2), syllables(r, 3), i)
		case k < 99:
			fmt.Fprintf(&b, "asn AS%d\n", 4200001000+i)
		default:
			fmt.Fprintf(&b, "regex KD%d-[0-9]{8}\n", 1000+i/100)
		}
	}
	return b.String()
}

func syllables(r *rand.Rand, n int) string {
	const cons, vows = "bdfgklmnprstvz", "aeiou"
	var b []byte
	for i := 0; i < n; i++ {
		b = append(b, cons[r.IntN(len(cons))], vows[r.IntN(len(vows))])
	}
	return string(b)
}

func TestParseList100k(t *testing.T) {
	text := bigList(100_000, 7)
	start := time.Now()
	l, err := ParseList(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	// Timing is reported, not asserted (see BenchmarkParseList100k).
	t.Logf("parsed and compiled %d assets (%d bytes) in %v", l.Len(), len(text), time.Since(start))
	if l.Len() != 100_000 {
		t.Errorf("%d distinct assets, want 100000", l.Len())
	}
}

func BenchmarkParseList100k(b *testing.B) {
	text := bigList(100_000, 7)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := ParseList(strings.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}
