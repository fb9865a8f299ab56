package guard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/corpus from the generator")

// TestCorpusGolden checks that the checked-in corpus is what the generator
// writes (with -update, it writes it).
func TestCorpusGolden(t *testing.T) {
	for name, want := range corpusFiles() {
		if *update {
			if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output; run go generate ./internal/guard", name)
		}
	}
}

type expectation struct {
	id         string
	kind       Kind
	path, form string
	redactable bool
	injected   string
}

type corpus struct {
	leaky  [][]byte
	expect []expectation
	clean  [][]byte
	prior  BlockedSet
}

func readLines(t *testing.T, name string) [][]byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 || sc.Bytes()[0] == '#' {
			continue
		}
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func readCorpus(t *testing.T) corpus {
	c := corpus{
		leaky: readLines(t, "testdata/corpus/leaky.jsonl"),
		clean: readLines(t, "testdata/corpus/clean.jsonl"),
		prior: BlockedSet{},
	}
	for _, l := range readLines(t, "testdata/corpus/prior.txt") {
		c.prior[string(l)] = true
	}
	for _, l := range readLines(t, "testdata/corpus/leaky.tsv") {
		f := strings.Split(string(l), "\t")
		if len(f) != 7 {
			t.Fatalf("leaky.tsv: %q", l)
		}
		kind, ok := Kind(0), false
		for k := KindCIDR; k <= KindMalformed; k++ {
			if k.String() == f[2] {
				kind, ok = k, true
			}
		}
		inj, err := strconv.Unquote(f[6])
		if !ok || err != nil {
			t.Fatalf("leaky.tsv: %q", l)
		}
		c.expect = append(c.expect, expectation{id: f[1], kind: kind, path: f[3], form: f[4], redactable: f[5] == "true", injected: inj})
	}
	if len(c.expect) != len(c.leaky) {
		t.Fatalf("%d leaky objects, %d expectations", len(c.leaky), len(c.expect))
	}
	return c
}

// TestCorpus scans the corpus: every leaky object must be blocked (or, in
// redact mode, redacted where it is free text) for the expected reason,
// and no clean object may be touched. It runs once with the corpus's own
// list and once with that list plus 100,000 more assets.
func TestCorpus(t *testing.T) {
	c := readCorpus(t)
	if len(c.leaky) < 300 || len(c.clean) < 1000 {
		t.Fatalf("corpus too small: %d leaky, %d clean", len(c.leaky), len(c.clean))
	}
	forms := map[string]int{}
	places := map[string]int{}
	kinds := map[Kind]int{}
	for _, e := range c.expect {
		f, p, _ := strings.Cut(e.form, "@")
		forms[f]++
		places[p]++
		kinds[e.kind]++
	}
	for _, f := range allFormNames() {
		if forms[f] == 0 {
			t.Errorf("form %s has no leaky object", f)
		}
	}
	for k := KindCIDR; k <= KindReference; k++ {
		if kinds[k] == 0 {
			t.Errorf("kind %s has no leaky object", k)
		}
	}
	t.Logf("corpus: %d leaky objects (%d forms, %d placements), %d clean objects", len(c.leaky), len(forms), len(places), len(c.clean))

	assets, err := os.ReadFile("testdata/assets.txt")
	if err != nil {
		t.Fatal(err)
	}
	lists := []struct {
		name string
		text string
	}{
		{"assets.txt", string(assets)},
		{"assets.txt+100k", string(assets) + bigList(100_000, 7)},
	}
	for _, l := range lists {
		t.Run(l.name, func(t *testing.T) {
			list, err := ParseList(strings.NewReader(l.text))
			if err != nil {
				t.Fatal(err)
			}
			checkCorpus(t, c, list)
		})
	}
}

func checkCorpus(t *testing.T, c corpus, list *List) {
	ctx := context.Background()
	block := NewScanner(list, Options{})
	redact := NewScanner(list, Options{Redact: true})

	// default action: everything leaky is blocked, for the expected reason
	res, err := block.ScanBatch(ctx, c.leaky, c.prior)
	if err != nil {
		t.Fatal(err)
	}
	leaks, wrongReason := 0, 0
	for i, r := range res {
		e := c.expect[i]
		if r.Action != Block {
			leaks++
			t.Errorf("LEAK leaky line %d (%s, want %s at %s): %v", i+1, e.form, e.kind, e.path, r.Action)
			continue
		}
		if !hasFinding(r, e.kind, e.path) {
			wrongReason++
			t.Errorf("leaky line %d (%s): blocked for %q, want %s at %s", i+1, e.form, r.Reason(), e.kind, e.path)
		}
	}

	// redact mode: free text of reports and notes is redacted, the rest blocked
	res, err = redact.ScanBatch(ctx, c.leaky, c.prior)
	if err != nil {
		t.Fatal(err)
	}
	redacted, redactLeaks := 0, 0
	for i, r := range res {
		e := c.expect[i]
		want := Block
		if e.redactable {
			want = Redact
		}
		if r.Action == Allow {
			redactLeaks++
		}
		if r.Action != want {
			t.Errorf("redact mode: leaky line %d (%s): %v (%s), want %v", i+1, e.form, r.Action, r.Reason(), want)
			continue
		}
		if r.Action != Redact {
			continue
		}
		redacted++
		if !json.Valid(r.Redacted) {
			t.Errorf("redact mode: leaky line %d: invalid JSON", i+1)
		}
		var m map[string]any
		_ = json.Unmarshal(r.Redacted, &m)
		if v, _ := m[e.path].(string); strings.Contains(v, e.injected) || !strings.Contains(v, "[REDACTED]") {
			t.Errorf("redact mode: leaky line %d (%s): %s = %q", i+1, e.form, e.path, v)
		}
		if again := block.Scan(r.Redacted); again.Action != Allow {
			redactLeaks++
			t.Errorf("redact mode: leaky line %d (%s): redacted object still hits: %s", i+1, e.form, again.Reason())
		}
	}

	// clean objects: nothing may be blocked or redacted, in either mode
	fps := 0
	for _, sc := range []*Scanner{block, redact} {
		res, err := sc.ScanBatch(ctx, c.clean, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.Action != Allow {
				fps++
				t.Errorf("FALSE POSITIVE clean line %d: %s\n%s", i+1, r.Reason(), c.clean[i])
			}
		}
	}
	t.Logf("%d assets: leaky %d: leaks %d, wrong reason %d; redact mode: %d redacted, leaks %d; clean %d (x2 modes): false positives %d",
		list.Len(), len(c.leaky), leaks, wrongReason, redacted, redactLeaks, len(c.clean), fps)
	if leaks != 0 || redactLeaks != 0 || fps != 0 {
		t.Errorf("leaks %d + %d, false positives %d: all must be 0", leaks, redactLeaks, fps)
	}
}

func hasFinding(r Result, kind Kind, path string) bool {
	for _, f := range r.Findings {
		if f.Rule == kind && f.Path == path {
			return true
		}
	}
	return false
}

// allFormNames lists every form the generator knows, the table's and the
// ones written out in leaks and refLeaks.
func allFormNames() []string {
	var out []string
	for _, f := range forms {
		out = append(out, f.name)
	}
	return append(out, "asn-sco-number", "asn-custom-number", "ipv4-json-number", "ref")
}
