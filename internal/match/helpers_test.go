package match

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the clock of the tests unless they move it.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func newTestIndex(t testing.TB, opts Options) (*Index, *clock) {
	t.Helper()
	c := &clock{t: testNow}
	opts.Now = c.Now
	return New(opts), c
}

// spec describes a test indicator version.
type spec struct {
	n        int    // the id's number
	coll     string // default "c1"
	pattern  string
	ptype    string // default "stix"
	modified string // default 2024-01-01T00:00:00Z
	from     string // default 2024-01-01T00:00:00Z
	until    string // none when empty
	revoked  bool
	typ      string // default "indicator"
}

func id(n int) string { return fmt.Sprintf("indicator--%08d-0000-4000-8000-000000000000", n) }

func (s spec) item() Item {
	if s.coll == "" {
		s.coll = "c1"
	}
	if s.ptype == "" {
		s.ptype = "stix"
	}
	if s.modified == "" {
		s.modified = "2024-01-01T00:00:00Z"
	}
	if s.from == "" {
		s.from = "2024-01-01T00:00:00Z"
	}
	if s.typ == "" {
		s.typ = "indicator"
	}
	mod, err := time.Parse(time.RFC3339Nano, s.modified)
	if err != nil {
		panic(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `{"type":%q,"spec_version":"2.1","id":%q,"created":"2024-01-01T00:00:00Z","modified":%q,`, s.typ, id(s.n), s.modified)
	fmt.Fprintf(&b, `"pattern":%q,"pattern_type":%q,"valid_from":%q`, s.pattern, s.ptype, s.from)
	if s.until != "" {
		fmt.Fprintf(&b, `,"valid_until":%q`, s.until)
	}
	if s.revoked {
		b.WriteString(`,"revoked":true`)
	}
	b.WriteString("}")
	return Item{Ref: Ref{Collection: s.coll, ID: id(s.n), Modified: mod}, Raw: []byte(b.String())}
}

func items(specs ...spec) []Item {
	out := make([]Item, len(specs))
	for i, s := range specs {
		out[i] = s.item()
	}
	return out
}

// summary renders hits as "n:kind" (n the id's number), sorted, for
// comparison; with the observable and matched value when verbose.
func summary(hits []Hit) []string {
	var out []string
	for _, h := range hits {
		var n int
		fmt.Sscanf(strings.TrimPrefix(h.Ref.ID, "indicator--"), "%d", &n)
		out = append(out, fmt.Sprintf("%d:%s", n, h.Kind))
	}
	slices.Sort(out)
	return out
}

func mustUpdate(t testing.TB, x *Index, specs ...spec) Stats {
	t.Helper()
	st := x.Update(items(specs...)...)
	if st.Invalid > 0 {
		t.Fatalf("update: %+v", st)
	}
	return st
}

func lookupS(t testing.TB, x *Index, s string) []string {
	t.Helper()
	hits, _ := x.LookupString(s)
	return summary(hits)
}

func lookupO(t testing.TB, x *Index, o Observable) []string {
	t.Helper()
	hits, err := x.Lookup(o)
	if err != nil {
		t.Fatalf("Lookup(%v): %v", o, err)
	}
	return summary(hits)
}

func eq(a, b []string) bool { return slices.Equal(a, b) }
