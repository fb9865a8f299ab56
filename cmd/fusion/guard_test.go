package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"fusion/internal/guard"
	"fusion/internal/server"
	"fusion/internal/stix"
)

// The tests use testdata/guard: assets.txt (the list of a fictional
// partner), leaky.json (24 objects: 18 leak a customer directly or by
// reference, 6 are clean, some of them lookalikes) and refs.json (13
// objects whose references cross each other forwards and backwards, with
// two versions of one campaign, one of them leaky).

const (
	gAssets = "testdata/guard/assets.txt"
	gLeaky  = "testdata/guard/leaky.json"
	gRefs   = "testdata/guard/refs.json"
)

// gFinding is one finding as fusion guard check reports it.
type gFinding struct {
	file   string
	index  int
	id     string
	action string
	rule   string
	path   string
	line   int    // asset line, 0 for references
	ref    string // reference findings: the blocked object
}

func (f gFinding) String() string {
	return fmt.Sprintf("%s[%d] %s %s %s@%s line=%d ref=%s", f.file, f.index, f.id, f.action, f.rule, f.path, f.line, f.ref)
}

func lid(typ string, n int) string { return fmt.Sprintf("%s--a0000000-0000-4000-8000-%012d", typ, n) }
func sid(typ string, n int) string { return fmt.Sprintf("%s--b0000000-0000-4000-8000-%012d", typ, n) }
func rid(typ string, n int) string { return fmt.Sprintf("%s--d0000000-0000-4000-8000-%012d", typ, n) }

// leakyWant is every finding in leaky.json, written by hand from how the
// file was made (asset lines: 5 cidr v4, 6 cidr v6, 7 domain, 8 email,
// 9 name, 10 asn, 11 regex).
func leakyWant(redact bool) []gFinding {
	free := "block"
	if redact {
		free = "redact"
	}
	f := func(i int, id, action, rule, path string, line int, ref string) gFinding {
		return gFinding{"leaky.json", i, id, action, rule, path, line, ref}
	}
	return []gFinding{
		f(0, lid("identity", 1), "block", "name", "name", 9, ""),
		f(1, lid("indicator", 2), "block", "cidr", "pattern", 5, ""),
		f(2, lid("indicator", 3), "block", "domain", "pattern", 7, ""),
		f(3, lid("indicator", 4), "block", "cidr", "pattern", 6, ""),
		f(4, sid("ipv4-addr", 5), "block", "cidr", "value", 5, ""),
		f(5, sid("email-addr", 6), "block", "email", "value", 8, ""),
		f(6, sid("autonomous-system", 7), "block", "asn", "number", 10, ""),
		f(7, lid("malware", 8), "block", "domain", "description", 7, ""), // malware is not free text: never redacted
		f(8, lid("report", 9), free, "name", "description", 9, ""),
		f(9, lid("note", 10), free, "regex", "content", 11, ""),
		f(10, lid("indicator", 11), "block", "cidr", "external_references[0].url", 5, ""),
		f(11, lid("campaign", 12), "block", "cidr", "x_victim_host", 5, ""),
		f(12, lid("relationship", 13), "block", "reference", "source_ref", 0, lid("indicator", 2)),
		f(14, lid("vulnerability", 15), "block", "reference", "", 0, lid("relationship", 18)), // before the relationship that ties it
		f(16, lid("sighting", 17), "block", "reference", "where_sighted_refs[0]", 0, lid("identity", 1)),
		f(17, lid("relationship", 18), "block", "reference", "source_ref", 0, lid("identity", 1)),
		f(18, lid("relationship", 19), "block", "reference", "target_ref", 0, lid("malware", 21)), // refers forward
		f(20, lid("malware", 21), "block", "cidr", "description", 5, ""),
	}
}

// leakyClean are the ids of leaky.json that must pass.
var leakyClean = []string{
	lid("campaign", 14), lid("indicator", 16), sid("ipv4-addr", 20),
	lid("indicator", 22), lid("identity", 23), sid("ipv6-addr", 24),
}

func refsWant() []gFinding {
	f := func(i int, id, rule, path string, line int, ref string) gFinding {
		return gFinding{"refs.json", i, id, "block", rule, path, line, ref}
	}
	return []gFinding{
		// a chain of references that all point forwards: 0 → 1 → 9 → 11
		f(0, rid("relationship", 13), "reference", "source_ref", 0, rid("sighting", 12)),
		f(1, rid("sighting", 12), "reference", "observed_data_refs[0]", 0, rid("observed-data", 7)),
		f(2, rid("relationship", 10), "reference", "target_ref", 0, rid("observed-data", 7)),
		f(4, rid("vulnerability", 2), "reference", "", 0, rid("relationship", 8)),
		f(5, rid("campaign", 3), "name", "description", 9, ""),
		f(7, rid("relationship", 5), "reference", "source_ref", 0, rid("campaign", 3)), // the clean version 6 does not save it
		f(9, rid("observed-data", 7), "reference", "object_refs[0]", 0, "ipv4-addr--e0000000-0000-4000-8000-000000000009"),
		f(10, rid("relationship", 8), "reference", "source_ref", 0, rid("observed-data", 7)),
		f(11, "ipv4-addr--e0000000-0000-4000-8000-000000000009", "cidr", "value", 5, ""),
	}
}

func gRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(t.Context(), args, &out, &errb)
	return code, out.String(), errb.String()
}

var (
	gTextLine = regexp.MustCompile(`^(\S+) objects\[(\d+)\] \(([^)]+)\): (block|redact): (\w+)(?: at (.+?))?(: asset line \d+ \(.*\)| \((?:refers to|tied by) blocked \S+\))$`)
	gAssetRe  = regexp.MustCompile(`^: asset line (\d+) \((\w+) (.+)\)$`)
	gRefRe    = regexp.MustCompile(`^ \((?:refers to|tied by) blocked (\S+)\)$`)
	gSummary  = regexp.MustCompile(`checked (\d+) objects in (\d+) files? in \S+ \(\d+ objects/s\): (\d+) would be blocked, (\d+) redacted, (\d+) clean`)
)

// parseCheckText reads the findings of the text output; every line but
// the summary must be a finding.
func parseCheckText(t *testing.T, stdout string) (fs []gFinding, summary []int) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		if m := gSummary.FindStringSubmatch(l); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.Atoi(s)
				summary = append(summary, n)
			}
			continue
		}
		m := gTextLine.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("unexpected output line %q", l)
			continue
		}
		i, _ := strconv.Atoi(m[2])
		f := gFinding{file: filepath.Base(m[1]), index: i, id: m[3], action: m[4], rule: m[5], path: m[6]}
		if a := gAssetRe.FindStringSubmatch(m[7]); a != nil {
			f.line, _ = strconv.Atoi(a[1])
			if a[2] != f.rule {
				t.Errorf("line %q: asset kind %s, rule %s", l, a[2], f.rule)
			}
		} else if r := gRefRe.FindStringSubmatch(m[7]); r != nil {
			f.ref = r[1]
		} else {
			t.Errorf("line %q: neither an asset nor a reference", l)
		}
		fs = append(fs, f)
	}
	if summary == nil {
		t.Errorf("no summary line in %q", stdout)
	}
	return fs, summary
}

type gJSONObject struct {
	File     string `json:"file"`
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Action   string `json:"action"`
	Reason   string `json:"reason"`
	Findings []struct {
		Rule   string `json:"rule"`
		Path   string `json:"path"`
		Action string `json:"action"`
		Asset  *struct {
			Line  int    `json:"line"`
			Kind  string `json:"kind"`
			Value string `json:"value"`
		} `json:"asset"`
		Ref string `json:"ref"`
	} `json:"findings"`
	Redacted json.RawMessage `json:"redacted"`
	Summary  *struct {
		Files, Objects, Blocked, Redacted, Clean, Faults, Passes, Assets int
		Digest                                                           string
		Seconds                                                          float64
		ObjectsPerSecond                                                 float64 `json:"objects_per_second"`
	} `json:"summary"`
	Fault string `json:"fault"`
}

func parseCheckJSON(t *testing.T, stdout string) (objs []gJSONObject, fs []gFinding) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var o gJSONObject
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		objs = append(objs, o)
		for _, f := range o.Findings {
			g := gFinding{file: filepath.Base(o.File), index: o.Index, id: o.ID, action: o.Action, rule: f.Rule, path: f.Path, ref: f.Ref}
			if f.Asset != nil {
				g.line = f.Asset.Line
				if f.Asset.Kind != f.Rule || f.Asset.Value == "" {
					t.Errorf("%s: asset %+v", g, *f.Asset)
				}
			}
			if f.Action != o.Action {
				t.Errorf("%s: finding action %s", g, f.Action)
			}
			fs = append(fs, g)
		}
	}
	return objs, fs
}

func sameFindings(t *testing.T, what string, got, want []gFinding) {
	t.Helper()
	key := func(f gFinding) string { return f.String() }
	g, w := make([]string, len(got)), make([]string, len(want))
	for i := range got {
		g[i] = key(got[i])
	}
	for i := range want {
		w[i] = key(want[i])
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("%s: findings differ\ngot:\n  %s\nwant:\n  %s", what, strings.Join(g, "\n  "), strings.Join(w, "\n  "))
	}
}

// Every leak in leaky.json is found, with the asset's line, and nothing
// else; exit status 1.
func TestGuardCheckFindsEveryLeak(t *testing.T) {
	code, out, errOut := gRun(t, "guard", "check", "--assets", gAssets, gLeaky)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	got, sum := parseCheckText(t, out)
	sameFindings(t, "text", got, leakyWant(false))
	if want := []int{24, 1, 18, 0, 6}; !slices.Equal(sum, want) {
		t.Errorf("summary %v, want %v", sum, want)
	}
	// The owner sees which asset: the canonical value from the list.
	for _, s := range []string{"asset line 5 (cidr 203.0.113.0/24)", "asset line 11 (regex CUST-[0-9]{6})", "asset line 7 (domain acme-corp.example)"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if !strings.Contains(out, "sha256:") {
		t.Error("summary does not give the list's digest")
	}
	if strings.Contains(out+errOut, "\x1b[") {
		t.Error("terminal control sequences in output that is not a terminal")
	}
}

// --json: one object per flagged object with every finding, and a
// summary line; redacted objects carry their redacted form.
func TestGuardCheckJSON(t *testing.T) {
	for _, redact := range []bool{false, true} {
		args := []string{"guard", "check", "--json", "--assets", gAssets, gLeaky}
		if redact {
			args = append(args, "--redact")
		}
		code, out, errOut := gRun(t, args...)
		if code != 1 {
			t.Fatalf("redact=%v: exit %d\n%s\n%s", redact, code, out, errOut)
		}
		objs, got := parseCheckJSON(t, out)
		sameFindings(t, fmt.Sprintf("json redact=%v", redact), got, leakyWant(redact))
		last := objs[len(objs)-1]
		if last.Summary == nil {
			t.Fatalf("last line is not a summary: %+v", last)
		}
		s := last.Summary
		wantRedacted := 0
		if redact {
			wantRedacted = 2
		}
		if s.Objects != 24 || s.Blocked != 18-wantRedacted || s.Redacted != wantRedacted || s.Clean != 6 || s.Files != 1 || s.Assets != 7 || s.Passes != 1 || !strings.HasPrefix(s.Digest, "sha256:") {
			t.Errorf("redact=%v: summary %+v", redact, *s)
		}
		for _, o := range objs[:len(objs)-1] {
			if !strings.HasPrefix(o.Reason, "customer-data guard "+o.Action) {
				t.Errorf("%s: reason %q", o.ID, o.Reason)
			}
			if (o.Action == "redact") != (o.Redacted != nil) {
				t.Errorf("%s: action %s with redacted %s", o.ID, o.Action, o.Redacted)
			}
			if o.Action != "redact" {
				continue
			}
			ro, err := stix.Parse(o.Redacted)
			if err != nil || ro.ID != o.ID || !bytes.Contains(o.Redacted, []byte("[REDACTED]")) {
				t.Errorf("%s: redacted form %s (%v)", o.ID, o.Redacted, err)
			}
			for _, leak := range []string{"ACME", "corporation", "CUST-004211"} {
				if bytes.Contains(o.Redacted, []byte(leak)) {
					t.Errorf("%s: redacted form still holds %q: %s", o.ID, leak, o.Redacted)
				}
			}
		}
	}
}

// A file that only needs redactions passes with --redact (exit 0) and
// fails without it (exit 1).
func TestGuardCheckRedactOnlyExitCode(t *testing.T) {
	raws := rtReadObjects(t, gLeaky)
	file := filepath.Join(t.TempDir(), "report.json")
	os.WriteFile(file, append(append(raws[8], '\n'), raws[9]...), 0o644)
	if code, out, _ := gRun(t, "guard", "check", "--assets", gAssets, "--redact", file); code != 0 || !strings.Contains(out, "0 would be blocked, 2 redacted, 0 clean") {
		t.Errorf("--redact: exit %d\n%s", code, out)
	}
	if code, out, _ := gRun(t, "guard", "check", "--assets", gAssets, file); code != 1 || !strings.Contains(out, "2 would be blocked, 0 redacted") {
		t.Errorf("block: exit %d\n%s", code, out)
	}
}

// The OASIS example bundles name none of the partner's assets: no
// finding, exit 0, every object counted.
func TestGuardCheckOASISClean(t *testing.T) {
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	code, out, errOut := gRun(t, append([]string{"guard", "check", "--assets", gAssets}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	got, sum := parseCheckText(t, out)
	if len(got) != 0 {
		t.Errorf("findings in the OASIS examples: %v", got)
	}
	n := len(rtOASIS(t))
	if want := []int{n, len(files), 0, 0, n}; !slices.Equal(sum, want) {
		t.Errorf("summary %v, want %v", sum, want)
	}
}

// Whatever the batch size, and whether the input comes from files or
// standard input, check reports exactly what one batch holding all of it
// reports: references forwards and backwards across batches, the
// vulnerability tied by a relationship in another batch, and a clean
// version of a blocked object in the same batch as a relationship to it.
func TestGuardCheckBatchesAgree(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	want := append(leakyWant(false), refsWant()...)
	code, out, _ := gRun(t, "guard", "check", "--json", "--assets", gAssets, gRefs, gLeaky)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	_, one := parseCheckJSON(t, out)
	sameFindings(t, "one batch", one, want)
	for batch := 1; batch <= 38; batch++ {
		code, out, errOut := gRun(t, "guard", "check", "--json", "--batch", strconv.Itoa(batch), "--assets", gAssets, gRefs, gLeaky)
		if code != 1 {
			t.Fatalf("batch %d: exit %d\n%s", batch, code, errOut)
		}
		objs, got := parseCheckJSON(t, out)
		sameFindings(t, fmt.Sprintf("batch %d", batch), got, want)
		s := objs[len(objs)-1].Summary
		if s == nil || s.Objects != 37 || (batch < 37) != (s.Passes > 1) || batch == 1 && s.Passes != 6 {
			t.Errorf("batch %d: summary %+v", batch, s)
		}
	}
	// standard input, copied for the later passes
	for _, batch := range []int{1, 3, 1000} {
		setStdin(t, gRefs)
		code, out, errOut := gRun(t, "guard", "check", "--json", "--batch", strconv.Itoa(batch), "--assets", gAssets, "-", gLeaky)
		if code != 1 {
			t.Fatalf("stdin batch %d: exit %d\n%s", batch, code, errOut)
		}
		_, got := parseCheckJSON(t, out)
		for i := range got {
			if got[i].file == "-" {
				got[i].file = "refs.json"
			}
		}
		sameFindings(t, fmt.Sprintf("stdin batch %d", batch), got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(tmp, "fusion-guard-*")); len(left) > 0 {
		t.Errorf("temporary copies left behind: %v", left)
	}
}

func setStdin(t *testing.T, name string) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	old := stdin
	stdin = struct{ io.Reader }{f} // not an *os.File: like a pipe
	t.Cleanup(func() { stdin = old })
}

// A malformed asset list: exit 2, every bad line named by number, none
// of the values echoed.
func TestGuardCheckBadAssetList(t *testing.T) {
	list := filepath.Join(t.TempDir(), "assets.txt")
	os.WriteFile(list, []byte("# customers\n"+
		"cidr    203.0.113.0/24\n"+
		"cidr    10.99.0.0/3\n"+ // wider than /8
		"domain  zz-secret-customer\n"+ // one label
		"colour  zz-blue-customer.example\n"+ // unknown kind
		"regex   (zz-unclosed\n"), 0o644)
	for _, args := range [][]string{
		{"guard", "check", "--assets", list, gLeaky},
		{"push", "http://127.0.0.1:1/api1/", "--collection", "c", "--token", "x", "--assets", list, gLeaky},
	} {
		code, out, errOut := gRun(t, args...)
		if code == 0 {
			t.Errorf("%s: exit 0", args[0])
		}
		for _, n := range []string{"line 3", "line 4", "line 5", "line 6"} {
			if !strings.Contains(errOut, n) {
				t.Errorf("%s: error does not name %s: %s", args[0], n, errOut)
			}
		}
		if strings.Contains(errOut, "line 2") {
			t.Errorf("%s: good line 2 reported: %s", args[0], errOut)
		}
		for _, v := range []string{"10.99", "zz-", "colour", "unclosed", "203.0.113"} {
			if strings.Contains(out+errOut, v) {
				t.Errorf("%s: output echoes %q:\n%s%s", args[0], v, out, errOut)
			}
		}
	}
	if code, _, _ := gRun(t, "guard", "check", "--assets", list, gLeaky); code != 2 {
		t.Errorf("check: exit %d, want 2", code)
	}
	if code, _, errOut := gRun(t, "guard", "check", "--assets", filepath.Join(t.TempDir(), "none.txt"), gLeaky); code != 2 || !strings.Contains(errOut, "none.txt") {
		t.Errorf("missing list: exit %d, %s", code, errOut)
	}
}

// Usage errors and unreadable input exit 2; a truncated file is reported
// with what was found before the cut.
func TestGuardCheckUsageAndFaults(t *testing.T) {
	for _, args := range [][]string{
		{"guard", "check", gLeaky},
		{"guard", "check", "--assets", gAssets},
		{"guard", "check", "--assets", gAssets, "--batch", "0", gLeaky},
		{"guard", "check", "--assets", gAssets, "-", "-"},
		{"guard", "check", "--assets", gAssets, "--no-such-flag", gLeaky},
		{"guard"},
		{"guard", "nonsense"},
	} {
		if code, _, _ := gRun(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
	raw, _ := os.ReadFile(gLeaky)
	cut := filepath.Join(t.TempDir(), "cut.json")
	os.WriteFile(cut, raw[:bytes.Index(raw, []byte(lid("malware", 8)))], 0o644) // objects 0..6 whole
	code, out, _ := gRun(t, "guard", "check", "--assets", gAssets, cut, filepath.Join(t.TempDir(), "missing.json"))
	if code != 2 {
		t.Errorf("cut: exit %d, want 2", code)
	}
	if !strings.Contains(out, "cut.json: not read to the end") || !strings.Contains(out, "missing.json: not read to the end") ||
		!strings.Contains(out, "checked 7 objects") || !strings.Contains(out, "2 files not read to the end") {
		t.Errorf("output:\n%s", out)
	}
	code, out, _ = gRun(t, "guard", "check", "--json", "--assets", gAssets, cut)
	objs, _ := parseCheckJSON(t, out)
	faults := 0
	for _, o := range objs {
		if o.Fault != "" {
			faults++
		}
	}
	if code != 2 || faults != 1 || objs[len(objs)-1].Summary.Faults != 1 {
		t.Errorf("json cut: exit %d, %d fault lines\n%s", code, faults, out)
	}
	clean := filepath.Join(t.TempDir(), "clean.json")
	raws := rtReadObjects(t, gLeaky)
	os.WriteFile(clean, bytes.Join([][]byte{raws[13], raws[15], raws[21]}, []byte("\n")), 0o644)
	if code, out, _ := gRun(t, "guard", "check", "--assets", gAssets, clean); code != 0 || !strings.Contains(out, "0 would be blocked, 0 redacted, 3 clean") {
		t.Errorf("clean: exit %d\n%s", code, out)
	}
}

// Help: fusion help guard lists check; check --help gives the format and
// an example, exit 0.
func TestGuardHelp(t *testing.T) {
	code, out, _ := gRun(t, "help", "guard")
	if code != 0 || !strings.Contains(out, "check") || !strings.Contains(out, "fusion guard SUBCOMMAND") {
		t.Errorf("help guard: exit %d\n%s", code, out)
	}
	code, _, errOut := gRun(t, "guard", "check", "--help")
	if code != 0 {
		t.Errorf("check --help: exit %d", code)
	}
	for _, s := range []string{"example:", "fusion guard check --assets customers.txt", "--redact", "--json", "exit status", "cidr"} {
		if !strings.Contains(errOut, s) {
			t.Errorf("check --help lacks %q:\n%s", s, errOut)
		}
	}
	if code, out, _ := gRun(t, "help", "push"); code != 0 || !strings.Contains(out, "--assets") {
		t.Errorf("help push: exit %d\n%s", code, out)
	}
}

// ---- push --assets ----

// recorder keeps every request that passes through a proxy in front of
// the real server.
type recorder struct {
	mu   sync.Mutex
	reqs []string // method, URL, headers and body of each request
}

func newRecorder(t *testing.T, target string) (*recorder, *rtProxy) {
	rec := &recorder{}
	px := rtNewProxy(t, target, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
		r.Header.Write(&b)
		b.Write(body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, b.String())
		rec.mu.Unlock()
		return false
	})
	return rec, px
}

// leakForms are the protected values as leaky.json and refs.json write
// them, their canonical forms, and the list's comment marker: none may
// appear, in any case, in anything push sends. decoys are the clean
// lookalikes, removed before looking.
var (
	leakForms = []string{
		"203.0.113", "2001:0db8:ac0e", "2001:db8:ac0e", "ac0e", "acme-corp", "acme-mail", "acme corporation",
		"acme   corporation", "64500", "cust-004211", "0xcb007107", "marker-7f3c9e", "cust-[0-9]",
	}
	decoys = strings.NewReplacer("acme-corp.example.evil.net", "", "notacme-corp.example", "")
)

// noLeak fails if text names a protected asset: the guard (which reads
// every encoding it knows) must find nothing, and none of leakForms may
// occur in any case.
func noLeak(t *testing.T, sc *guard.Scanner, what, text string) {
	t.Helper()
	if !guardClean(sc, text) {
		t.Errorf("%s names a protected asset (the guard finds it):\n%s", what, text)
	}
	low := decoys.Replace(strings.ToLower(text))
	for _, f := range leakForms {
		if strings.Contains(low, f) {
			t.Errorf("%s holds %q:\n%s", what, f, text)
		}
	}
}

func testScanner(t *testing.T) *guard.Scanner {
	l, err := loadAssets(gAssets)
	if err != nil {
		t.Fatal(err)
	}
	return guard.NewScanner(l, guard.Options{})
}

func storedIDs(t *testing.T, a *rtServer) map[string]bool {
	ids := map[string]bool{}
	for k := range rtVersions(t, a.st, a.coll) {
		ids[k[:strings.IndexByte(k, '@')]] = true
	}
	return ids
}

// push --assets: the blocked objects are reported (position, id, rule,
// path, never the value) and not sent; nothing any request carries names
// a protected asset in any form; the clean objects and the OASIS examples
// arrive; exit 1.
func TestPushGuardBlocks(t *testing.T) {
	a := rtNewServer(t, server.Config{MaxContentLength: 16 << 10})
	rec, px := newRecorder(t, a.srv.URL)
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	files = append(files, gLeaky, gRefs)
	code, out, errOut := rtPush(t, append([]string{px.srv.URL + "/api1/", "--collection", a.coll, "--token", a.writeToken, "--assets", gAssets}, files...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	sc := testScanner(t)
	for i, r := range rec.reqs {
		noLeak(t, sc, fmt.Sprintf("request %d", i), r)
	}
	noLeak(t, sc, "push's stdout", out)
	noLeak(t, sc, "push's stderr", errOut)

	want := map[string]bool{}
	for _, raw := range rtOASIS(t) {
		o, _ := stix.Parse(raw)
		want[o.ID] = true
	}
	for _, id := range leakyClean {
		want[id] = true
	}
	for _, id := range []string{rid("indicator", 1), rid("campaign", 3), rid("malware", 4), rid("identity", 11)} {
		want[id] = true // campaign 3: its clean version (the leaky one is blocked)
	}
	got := storedIDs(t, a)
	for id := range want {
		if !got[id] {
			t.Errorf("clean object %s was not stored", id)
		}
	}
	blocked := append(leakyWant(false), refsWant()...)
	for _, f := range blocked {
		if f.id == rid("campaign", 3) {
			continue
		}
		if got[f.id] {
			t.Errorf("blocked object %s was stored", f.id)
		}
		for i, r := range rec.reqs {
			if strings.Contains(r, f.id) && !strings.HasPrefix(r, "GET") {
				t.Errorf("request %d carries blocked %s", i, f.id)
			}
		}
		line := fmt.Sprintf("blocked: testdata/guard/%s: objects[%d] (%s): customer-data guard blocked: %s", f.file, f.index, f.id, f.rule)
		if !strings.Contains(errOut, line) {
			t.Errorf("stderr does not report %q", line)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d objects stored, want %d", len(got), len(want))
	}
	vs := rtVersions(t, a.st, a.coll)
	if _, ok := vs[rid("campaign", 3)+"@2024-03-05T10:00:00.000Z"]; !ok || len(vs) != len(rtWantVersions(t, rtOASIS(t)))+len(leakyClean)+4 {
		t.Errorf("campaign 3: the clean version is not the one stored (%d versions)", len(vs))
	}
	if n := strings.Count(errOut, "use fusion guard check to see which asset"); n != len(blocked) {
		t.Errorf("%d blocked lines point to fusion guard check, want %d", n, len(blocked))
	}
	s := parsePushSummary(t, out)
	if total := len(rtOASIS(t)) + 24 + 13; s.sent != total-len(blocked) || s.accepted != s.sent || s.failed != len(blocked) || s.rejected != len(blocked) || s.envelopes < 3 {
		t.Errorf("summary %+v", s)
	}
	if !strings.Contains(out, fmt.Sprintf("guard: %d blocked, 0 redacted", len(blocked))) {
		t.Errorf("summary lacks the guard counts: %s", out)
	}
}

// push --assets --redact: the report and the note are sent redacted (same
// id, [REDACTED] in place of the match); the malware's description
// (not free text) still blocks it.
func TestPushGuardRedacts(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	rec, px := newRecorder(t, a.srv.URL)
	raws := rtReadObjects(t, gLeaky)
	file := filepath.Join(t.TempDir(), "mixed.json")
	os.WriteFile(file, bytes.Join([][]byte{raws[7], raws[8], raws[9], raws[13]}, []byte("\n")), 0o644)
	code, out, errOut := rtPush(t, px.srv.URL+"/api1/", "--collection", a.coll, "--token", a.writeToken, "--assets", gAssets, "--redact", file)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	sc := testScanner(t)
	for i, r := range rec.reqs {
		noLeak(t, sc, fmt.Sprintf("request %d", i), r)
	}
	noLeak(t, sc, "stderr", errOut)
	vs := rtVersions(t, a.st, a.coll)
	if len(vs) != 3 {
		t.Errorf("%d versions stored, want 3 (report, note, campaign)", len(vs))
	}
	for _, id := range []string{lid("report", 9), lid("note", 10)} {
		raw, ok := vs[id+"@2024-03-01T10:00:00.000Z"]
		if !ok {
			t.Errorf("%s not stored", id)
			continue
		}
		if !bytes.Contains(raw, []byte("[REDACTED]")) {
			t.Errorf("%s stored without redaction: %s", id, raw)
		}
	}
	if !strings.Contains(errOut, "redacted: "+file+": objects[1] ("+lid("report", 9)+"): customer-data guard redacted: name at description") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if !strings.Contains(out, "guard: 1 blocked, 2 redacted") {
		t.Errorf("summary: %s", out)
	}
}

// References across guard batches, from standard input (copied for the
// second pass): with one object per batch, push sends exactly what one
// batch would, so a relationship to an object blocked later in the input,
// and the vulnerability a later relationship ties, are never sent.
func TestPushGuardReferencesAcrossBatches(t *testing.T) {
	for _, batch := range []string{"1", "2", "5"} {
		t.Run(batch, func(t *testing.T) {
			a := rtNewServer(t, server.Config{})
			rec, px := newRecorder(t, a.srv.URL)
			setStdin(t, gLeaky)
			code, out, errOut := rtPush(t, px.srv.URL+"/api1/", "--collection", a.coll, "--token", a.writeToken, "--assets", gAssets, "--guard-batch", batch, "-", gRefs)
			if code != 1 {
				t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
			}
			if !strings.Contains(errOut, "reading it again to follow references") {
				t.Errorf("no note of a second pass: %s", errOut)
			}
			sc := testScanner(t)
			for i, r := range rec.reqs {
				noLeak(t, sc, fmt.Sprintf("request %d", i), r)
			}
			got := storedIDs(t, a)
			want := append(slices.Clone(leakyClean), rid("indicator", 1), rid("campaign", 3), rid("malware", 4), rid("identity", 11))
			if len(got) != len(want) {
				t.Errorf("stored %d objects, want %d", len(got), len(want))
			}
			for _, id := range want {
				if !got[id] {
					t.Errorf("%s not stored", id)
				}
			}
			for _, id := range []string{lid("relationship", 19), lid("vulnerability", 15), rid("relationship", 10), rid("relationship", 5), rid("vulnerability", 2), rid("relationship", 13), rid("sighting", 12)} {
				if got[id] {
					t.Errorf("%s stored: a reference across batches was missed", id)
				}
			}
			if s := parsePushSummary(t, out); s.rejected != 27 || s.failed != 27 || s.accepted != 10 {
				t.Errorf("summary %+v", s)
			}
		})
	}
}

// The messages push prints pass through the guard: a file whose name is
// a customer's domain is not named.
func TestPushGuardWithholdsMessages(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	dir := t.TempDir()
	file := filepath.Join(dir, "acme-corp.example_export.json")
	raws := rtReadObjects(t, gLeaky)
	bad := []byte(`{"type":"campaign","spec_version":"2.1","id":"campaign--f0000000-0000-4000-8000-000000000001","created":"2024-03-01T10:00:00.000Z","modified":"2024-03-01T10:00:00.000Z"}`) // no name: invalid
	os.WriteFile(file, bytes.Join([][]byte{raws[1], raws[13], bad, []byte(`{"type":`)}, []byte("\n")), 0o644)
	code, out, errOut := rtPush(t, a.root, "--collection", a.coll, "--token", a.writeToken, "--assets", gAssets, file)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	noLeak(t, testScanner(t), "stderr", errOut)
	if n := strings.Count(errOut, "description withheld"); n != 3 {
		t.Errorf("%d messages withheld, want 3 (blocked, invalid, truncated):\n%s", n, errOut)
	}
	if !storedIDs(t, a)[lid("campaign", 14)] {
		t.Error("the clean object was not sent")
	}
}

// --redact needs --assets; a bad asset list stops push before any request.
func TestPushGuardUsage(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	rec, px := newRecorder(t, a.srv.URL)
	if code, _, _ := rtPush(t, px.srv.URL+"/api1/", "--collection", a.coll, "--token", a.writeToken, "--redact", gLeaky); code != 2 {
		t.Errorf("--redact alone: exit %d, want 2", code)
	}
	list := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(list, []byte("domain zz-secret\n"), 0o644)
	code, _, errOut := rtPush(t, px.srv.URL+"/api1/", "--collection", a.coll, "--token", a.writeToken, "--assets", list, gLeaky)
	if code != 1 || !strings.Contains(errOut, "line 1") || strings.Contains(errOut, "zz-secret") {
		t.Errorf("bad list: exit %d, %s", code, errOut)
	}
	if len(rec.reqs) != 0 {
		t.Errorf("%d requests sent", len(rec.reqs))
	}
}

// The engine alone: decisions do not depend on the batch size, for any
// input (the fuzzer makes the inputs). Seeds: the test files.
func FuzzGuardBatches(f *testing.F) {
	for _, name := range []string{gLeaky, gRefs} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1))
		f.Add(b, uint8(3))
	}
	// Found by the fuzzer. A fault after several batches is reported
	// last, as with one batch:
	f.Add([]byte(`[{},{},{}`), uint8(1))
	// a relationship with no id still ties its ends:
	f.Add([]byte(`{"type":"relationship","source_ref":"vulnerability--2","target_ref":"x--3"}{"":"","id":"vulnerability--2"}{"":"","id":"x--3","e":"AcmeCorporation"}`), uint8(0))
	f.Add([]byte(`{"type":"relationship","id":"relationship--1","source_ref":"vulnerability--2","target_ref":"x--3"} {"type":"vulnerability","id":"vulnerability--2"} {"type":"x","id":"x--3","name":"Acme Corporation"}`), uint8(1))
	l, err := loadAssets(gAssets)
	if err != nil {
		f.Fatal(err)
	}
	sc := guard.NewScanner(l, guard.Options{Redact: true})
	decide := func(t *testing.T, in []byte, batch int) []string {
		g := newGuardEngine(sc, batch, 1<<20)
		g.stdin = bytes.NewReader(in)
		var out []string
		_, err := g.run(context.Background(), []string{"-"}, func(items []guardItem, res []guard.Result) error {
			for i := range items {
				// The decision, not the reason: which of two blocked
				// references a finding names may depend on the order
				// in which they were found.
				out = append(out, fmt.Sprintf("%d %s %s", items[i].index, res[i].ID, res[i].Action))
			}
			return nil
		}, func(string, error) { out = append(out, "fault") })
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		return out
	}
	f.Setenv("TMPDIR", f.TempDir()) // for the copies of standard input
	f.Fuzz(func(t *testing.T, in []byte, b uint8) {
		want := decide(t, in, 1<<30)
		got := decide(t, in, int(b%8)+1)
		if !slices.Equal(got, want) {
			t.Errorf("batch %d decides differently from one batch:\n%s\nwant\n%s", b%8+1, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}
