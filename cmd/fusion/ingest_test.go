package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/gen"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// pgEnv names the PostgreSQL server the tests also run against. When it is
// set and the server cannot be reached, the tests fail rather than skip.
const pgEnv = testdb.PostgresEnv

// backend is one store the command tests run against.
type backend struct {
	name string
	// flags returns the --db/--data flags of a fresh, empty store.
	flags func(t testing.TB) []string
}

// pgSchemaURL is the URL of a fresh schema of its own for one test,
// dropped when the test ends.
func pgSchemaURL(t testing.TB) string { return testdb.PostgresURL(t) }

func backends(t testing.TB) []backend {
	bs := []backend{{"sqlite", func(t testing.TB) []string { return []string{"--data", t.TempDir()} }}}
	if os.Getenv(pgEnv) != "" {
		bs = append(bs, backend{"postgres", func(t testing.TB) []string { return []string{"--db", pgSchemaURL(t)} }})
	}
	return bs
}

// openFromFlags opens the store that a backend's flags (--db URL, --data
// DIR) name, as the commands open it (openStore); the caller closes it.
func openFromFlags(t testing.TB, flags []string) store.Store {
	t.Helper()
	st, err := openStore(context.Background(), flagValue(flags, "--db"), flagValue(flags, "--data"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func flagValue(flags []string, name string) string {
	for i := 0; i+1 < len(flags); i++ {
		if flags[i] == name {
			return flags[i+1]
		}
	}
	if name == "--data" {
		return os.Getenv("FUSION_DATA")
	}
	return ""
}

// fusion runs the command line in-process.
func fusion(t testing.TB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

// withStdin makes "-" read r for the rest of the test.
func withStdin(t testing.TB, r io.Reader) {
	old := stdin
	stdin = r
	t.Cleanup(func() { stdin = old })
}

var summaryRE = regexp.MustCompile(`ingest: (\d+) objects in .*: (\d+) stored, (\d+) unchanged, (\d+) rejected(; (\d+) file errors?)?\n$`)

type counts struct{ total, stored, unchanged, rejected, faults int }

func summary(t testing.TB, stdout string) counts {
	t.Helper()
	m := summaryRE.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	n := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return counts{n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[6])}
}

// exported runs export and parses the bundle it writes.
func exported(t testing.TB, args ...string) (id string, objs []map[string]any) {
	t.Helper()
	code, out, errs := fusion(t, append([]string{"export"}, args...)...)
	if code != 0 {
		t.Fatalf("export %v: exit %d: %s", args, code, errs)
	}
	var b struct {
		Type    string           `json:"type"`
		ID      string           `json:"id"`
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal([]byte(out), &b, json.RejectUnknownMembers(true)); err != nil {
		t.Fatalf("export wrote no valid bundle: %v\n%.500s", err, out)
	}
	if b.Type != "bundle" || !strings.HasPrefix(b.ID, "bundle--") || !stix.IsUUID(strings.TrimPrefix(b.ID, "bundle--")) || b.ID[len("bundle--")+14] != '4' {
		t.Fatalf("bad bundle header: type %q id %q", b.Type, b.ID)
	}
	if b.Objects != nil && len(b.Objects) == 0 {
		t.Fatal("bundle has an empty objects list")
	}
	// Every object must also be a valid STIX object.
	r := stix.NewReader(strings.NewReader(out))
	for {
		it, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("exported bundle: %v", err)
		}
		if _, err := stix.Parse(it.Raw); err != nil {
			t.Fatalf("exported objects[%d]: %v", it.Index, err)
		}
	}
	return b.ID, b.Objects
}

// readObjects reads every object of a file with the stix reader and
// decodes it for comparison.
func readObjects(t testing.TB, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := stix.NewReader(f)
	var out []map[string]any
	for {
		it, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		var m map[string]any
		if err := json.Unmarshal(it.Raw, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
}

func versionKey(m map[string]any) string {
	k, _ := m["modified"].(string)
	if k == "" {
		k, _ = m["created"].(string)
	}
	if k != "" {
		t, err := stix.ParseTimestamp(k)
		if err == nil {
			k = t.Format(time.RFC3339Nano)
		}
	}
	return m["id"].(string) + "@" + k
}

// sameObjects checks that got holds exactly the distinct versions of want
// (by id and version key), each equal as parsed JSON.
func sameObjects(t testing.TB, got, want []map[string]any) {
	t.Helper()
	w := map[string]map[string]any{}
	for _, m := range want {
		w[versionKey(m)] = m
	}
	if len(got) != len(w) {
		t.Errorf("got %d objects, want %d distinct versions", len(got), len(w))
	}
	seen := map[string]bool{}
	for _, m := range got {
		k := versionKey(m)
		if seen[k] {
			t.Errorf("%s exported twice", k)
		}
		seen[k] = true
		if !reflect.DeepEqual(m, w[k]) {
			t.Errorf("%s differs:\n got %v\nwant %v", k, m, w[k])
		}
	}
}

func exampleFiles(t testing.TB) []string {
	files, err := filepath.Glob("testdata/stix-examples/*.json")
	if err != nil || len(files) != 8 {
		t.Fatalf("want the 8 OASIS example files in testdata/stix-examples, got %d (%v)", len(files), err)
	}
	return files
}

// TestIngestExamples loads the OASIS examples, exports them back, then
// loads them again.
func TestIngestExamples(t *testing.T) {
	files := exampleFiles(t)
	var want []map[string]any
	for _, f := range files {
		want = append(want, readObjects(t, f)...)
	}
	distinct := map[string]bool{}
	for _, m := range want {
		distinct[versionKey(m)] = true
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			code, out, errs := fusion(t, append(append([]string{"ingest"}, db...), files...)...)
			if code != 0 || errs != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errs)
			}
			c := summary(t, out)
			if c.total != len(want) || c.stored != len(distinct) || c.unchanged != len(want)-len(distinct) || c.rejected != 0 || c.faults != 0 {
				t.Fatalf("counts %+v, want %d objects, %d stored", c, len(want), len(distinct))
			}
			_, got := exported(t, append(db, "--all-versions")...)
			sameObjects(t, got, want)

			// Again: everything is already there.
			code, out, errs = fusion(t, append(append([]string{"ingest"}, db...), files...)...)
			if code != 0 {
				t.Fatalf("second ingest: exit %d: %s", code, errs)
			}
			if c := summary(t, out); c.stored != 0 || c.unchanged != len(want) || c.rejected != 0 {
				t.Fatalf("second ingest counts %+v, want all %d unchanged", c, len(want))
			}
			_, again := exported(t, append(db, "--all-versions")...)
			sameObjects(t, again, want)
		})
	}
}

// TestIngestFormats loads the same generated objects as a bundle, a JSON
// array, JSON lines, and through standard input.
func TestIngestFormats(t *testing.T) {
	const n = 700
	dir := t.TempDir()
	path := func(f gen.Format) string {
		p := filepath.Join(dir, fmt.Sprintf("gen-%d.json", f))
		var buf bytes.Buffer
		if err := gen.Write(&buf, n, 42, f); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bundle, array, lines := path(gen.Bundle), path(gen.Array), path(gen.JSONLines)
	want := readObjects(t, bundle)
	for _, b := range backends(t) {
		for _, tc := range []struct {
			name  string
			file  string
			stdin bool
		}{{"bundle", bundle, false}, {"array", array, false}, {"jsonl", lines, false}, {"stdin-pipe", lines, true}, {"stdin-file", bundle, true}} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				db := b.flags(t)
				arg := tc.file
				if tc.stdin {
					arg = "-"
					data, _ := os.ReadFile(tc.file)
					if tc.name == "stdin-file" {
						f, err := os.Open(tc.file)
						if err != nil {
							t.Fatal(err)
						}
						defer f.Close()
						withStdin(t, f)
					} else {
						withStdin(t, bytes.NewReader(data))
					}
				}
				code, out, errs := fusion(t, append(append([]string{"ingest", "--batch", "97"}, db...), arg)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				c := summary(t, out)
				if c.total != n || c.rejected != 0 || c.stored+c.unchanged != n {
					t.Fatalf("counts %+v", c)
				}
				_, got := exported(t, append(db, "--all-versions")...)
				sameObjects(t, got, want)
			})
		}
	}
}

const goodIndicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-0%dT00:00:00.000Z","name":"n%d","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`

func indicatorN(i int) string {
	return fmt.Sprintf(goodIndicator, fmt.Sprintf("%08d-0000-4000-8000-000000000000", i), 1, i, i%250)
}

func bundleOf(objs ...string) string {
	return `{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[` + "\n" + strings.Join(objs, ",\n") + "\n]}\n"
}

func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIngestBadInput: each input is reported with its file and position,
// the good objects before (and, for invalid objects, after) it are
// stored, the exit code is 1, and nothing panics.
func TestIngestBadInput(t *testing.T) {
	noValidFrom := `{"type":"indicator","spec_version":"2.1","id":"indicator--11111111-1111-4111-8111-111111111111","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix"}`
	deep := `{"type":"x-deep","spec_version":"2.1","id":"x-deep--22222222-2222-4222-8222-222222222222","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","x_nest":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`
	huge := `{"type":"note","spec_version":"2.1","id":"note--33333333-3333-4333-8333-333333333333","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","content":"` + strings.Repeat("A", stix.MaxObjectSize+10) + `","object_refs":["indicator--00000001-0000-4000-8000-000000000000"]}`
	apt1, err := os.ReadFile("testdata/stix-examples/apt1.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		content string
		// stored is how many objects end up stored, rejected how many
		// are counted as rejected, fault whether the file ends early.
		stored, rejected int
		fault            bool
		// want are regular expressions the error output must match.
		want []string
	}{
		{
			name:    "invalid object in the middle",
			content: bundleOf(indicatorN(1), indicatorN(2), noValidFrom, indicatorN(3)),
			stored:  3, rejected: 1,
			want: []string{`^bad\.json:4: objects\[2\] \(indicator--11111111-1111-4111-8111-111111111111\): valid_from: `},
		},
		{
			name:    "malformed JSON",
			content: bundleOf(indicatorN(1), `{"type": "indicator",, "id": 1}`, indicatorN(2)),
			stored:  1, fault: true,
			want: []string{`^bad\.json:3:\d+: `},
		},
		{
			name:    "truncated file",
			content: string(apt1[:len(apt1)*2/3]),
			stored:  readable(t, apt1[:len(apt1)*2/3]),
			fault:   true,
			want:    []string{`^bad\.json:\d+:\d+: unexpected end of input`},
		},
		{
			name:    "invalid UTF-8",
			content: bundleOf(indicatorN(1), strings.Replace(indicatorN(2), `"n2"`, "\"n\xff\xfe\"", 1), indicatorN(3)),
			stored:  1, fault: true,
			want: []string{`^bad\.json:3:\d+: .*(UTF-8|utf-8)`},
		},
		{
			name:    "duplicate keys",
			content: bundleOf(indicatorN(1), strings.Replace(indicatorN(2), `"name":"n2"`, `"name":"n2","name":"again"`, 1), indicatorN(3)),
			stored:  1, fault: true,
			want: []string{`^bad\.json:3:\d+: .*duplicate`},
		},
		{
			name:    "duplicate keys in JSON lines",
			content: indicatorN(1) + "\n" + strings.Replace(indicatorN(2), `"name":"n2"`, `"name":"n2","name":"again"`, 1) + "\n",
			stored:  1, fault: true,
			want: []string{`^bad\.json:2:\d+: .*duplicate`},
		},
		{
			name:    "object over the size limit",
			content: bundleOf(indicatorN(1), huge, indicatorN(2)),
			stored:  1, fault: true,
			want: []string{`^bad\.json:3:1: .*over the \d+ byte limit`},
		},
		{
			name:    "deeply nested JSON",
			content: bundleOf(indicatorN(1), deep, indicatorN(2)),
			stored:  2, rejected: 1,
			want: []string{`^bad\.json:3: objects\[1\]: .*nested deeper than`},
		},
		{
			name:    "not JSON at all",
			content: "hello\n",
			fault:   true,
			want:    []string{`^bad\.json:1:1: `},
		},
		{
			name:    "bundle of the wrong shape",
			content: `{"type":"report","id":"report--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[` + indicatorN(1) + `]}`,
			fault:   true,
			want:    []string{`^bad\.json:1:1: `},
		},
		{
			name:    "array of non-objects",
			content: `[` + indicatorN(1) + `, 42]`,
			stored:  1, fault: true,
			want: []string{`^bad\.json:1:\d+: objects\[1\] is not a JSON object`},
		},
	}
	for _, b := range backends(t) {
		for _, tc := range cases {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				db := b.flags(t)
				p := writeFile(t, "bad.json", tc.content)
				code, out, errs := fusion(t, append(append([]string{"ingest"}, db...), p)...)
				if code != 1 {
					t.Fatalf("exit %d, want 1; stderr:\n%s", code, errs)
				}
				c := summary(t, out)
				if c.stored != tc.stored || c.rejected != tc.rejected || (c.faults == 1) != tc.fault {
					t.Errorf("counts %+v, want %d stored, %d rejected, fault %v\nstderr:\n%s", c, tc.stored, tc.rejected, tc.fault, errs)
				}
				errs = strings.ReplaceAll(errs, p, "bad.json")
				for _, re := range tc.want {
					if !regexp.MustCompile("(?m)" + re).MatchString(errs) {
						t.Errorf("stderr does not match %s:\n%s", re, errs)
					}
				}
				_, got := exported(t, append(db, "--all-versions")...)
				if len(got) != tc.stored {
					t.Errorf("%d objects in the store, want %d", len(got), tc.stored)
				}

				// --strict: nothing of the file is written.
				db = b.flags(t)
				code, out, errs = fusion(t, append(append([]string{"ingest", "--strict"}, db...), p)...)
				if code != 1 {
					t.Fatalf("--strict: exit %d, want 1; stderr:\n%s", code, errs)
				}
				if c := summary(t, out); c.stored != 0 || c.unchanged != 0 || c.rejected != tc.stored+tc.rejected {
					t.Errorf("--strict: counts %+v, want %d rejected", c, tc.stored+tc.rejected)
				}
				if !strings.Contains(errs, "rejected as a whole (--strict)") {
					t.Errorf("--strict: no whole-file rejection in:\n%s", errs)
				}
				if _, got := exported(t, db...); len(got) != 0 {
					t.Errorf("--strict: %d objects written from a rejected file", len(got))
				}
			})
		}
	}
}

// readable counts the objects a stream yields before its fault.
func readable(t testing.TB, b []byte) int {
	r := stix.NewReader(bytes.NewReader(b))
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			t.Fatal("stream has no fault")
		}
		if err != nil {
			if n == 0 {
				t.Fatal("no object before the fault")
			}
			return n
		}
		n++
	}
}

// TestIngestStrict: --strict writes valid files whole, whether they fit
// in one batch or need the second pass, from a file or from a pipe, and
// rejects an invalid file among valid ones without touching the others.
func TestIngestStrict(t *testing.T) {
	apt1 := "testdata/stix-examples/apt1.json"
	want := readObjects(t, apt1)
	data, err := os.ReadFile(apt1)
	if err != nil {
		t.Fatal(err)
	}
	bad := writeFile(t, "bad.json", bundleOf(indicatorN(1), `{"type":"indicator","spec_version":"2.1","id":"indicator--nope"}`))
	for _, b := range backends(t) {
		for _, tc := range []struct {
			name  string
			batch string
			pipe  bool
		}{{"one batch", "1000", false}, {"two passes", "10", false}, {"two passes from a pipe", "10", true}, {"one batch from a pipe", "1000", true}} {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				db := b.flags(t)
				arg := apt1
				if tc.pipe {
					arg = "-"
					withStdin(t, io.MultiReader(bytes.NewReader(data))) // not an *os.File: spooled
				}
				code, out, errs := fusion(t, append(append([]string{"ingest", "--strict", "--batch", tc.batch}, db...), arg)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errs)
				}
				if c := summary(t, out); c.stored != len(want) || c.rejected != 0 {
					t.Fatalf("counts %+v", c)
				}
				_, got := exported(t, db...)
				sameObjects(t, got, want)
			})
		}
		t.Run(b.name+"/mixed files", func(t *testing.T) {
			db := b.flags(t)
			code, out, errs := fusion(t, append(append([]string{"ingest", "--strict"}, db...), bad, apt1)...)
			if code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, errs)
			}
			if c := summary(t, out); c.stored != len(want) || c.rejected != 2 {
				t.Fatalf("counts %+v, want %d stored and 2 rejected", c, len(want))
			}
			if !strings.Contains(errs, "objects[1] (indicator--nope): id: ") {
				t.Errorf("rejection reason missing:\n%s", errs)
			}
			_, got := exported(t, db...)
			sameObjects(t, got, want)
		})
	}
}

// TestIngestRejectionCap prints the first reasons and counts the rest.
func TestIngestRejectionCap(t *testing.T) {
	var objs []string
	for i := 0; i < 45; i++ {
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08d-0000-4000-8000-000000000000"}`, i))
	}
	objs = append(objs, indicatorN(99))
	p := writeFile(t, "many.json", bundleOf(objs...))
	code, out, errs := fusion(t, "ingest", "--data", t.TempDir(), p)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	if c := summary(t, out); c.rejected != 45 || c.stored != 1 {
		t.Fatalf("counts %+v", c)
	}
	if n := strings.Count(errs, ": objects["); n != maxShown {
		t.Errorf("%d reasons printed, want %d:\n%s", n, maxShown, errs)
	}
	if !strings.Contains(errs, fmt.Sprintf("... and %d more rejected objects not shown", 45-maxShown)) {
		t.Errorf("no count of the reasons not shown:\n%s", errs)
	}
	// Input order: the first reasons printed are those of objects 0, 1, 2...
	first := strings.SplitN(errs, "\n", 2)[0]
	if !strings.Contains(first, "objects[0] (indicator--00000000-") {
		t.Errorf("first reason is not the first object's: %s", first)
	}
}

func TestIngestUsage(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"ingest", "--data", data}, 2, "no FILE given"},
		{[]string{"ingest", "--data", data, "--batch", "0", "x.json"}, 2, "--batch must be at least 1"},
		{[]string{"ingest", "--data", data, "-", "-"}, 2, "standard input (-) can be read only once"},
		{[]string{"ingest", "--data", data, "--collection", "nope", "x.json"}, 1, `collection "nope": no collection has this id or alias`},
		{[]string{"ingest", "--data", data, "--collection", "5d0092c5-5f74-4287-9642-33f4c354e56d", "x.json"}, 1, `no collection has this id or alias`},
		{[]string{"ingest", "--data", data, "--source", "nobody", "x.json"}, 1, `no organisation with id or name "nobody"`},
		{[]string{"ingest", "--db", "mysql://x", "x.json"}, 1, `unsupported store "mysql"`},
		{[]string{"ingest", "--db", "sqlite:", "x.json"}, 1, `needs a file path`},
		{[]string{"ingest", "--data", data, filepath.Join(data, "missing.json")}, 1, "missing.json: no such file"},
		{[]string{"ingest", "--data", data, data}, 1, "is a directory"},
		{[]string{"ingest", "--help"}, 0, ""},
	} {
		code, _, errs := fusion(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

// TestIngestCollectionsAndSource ingests by alias and id with a source
// organisation recorded.
func TestIngestCollectionsAndSource(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			ctx := context.Background()
			st := openFromFlags(t, db)
			coll := store.Collection{ID: "0b5a4b3e-7a1c-4c55-9d0e-1f2a3b4c5d6e", APIRoot: store.DefaultAPIRoot, Title: "Partner feed", Alias: "partner-feed"}
			if err := st.CreateCollection(ctx, coll); err != nil {
				t.Fatal(err)
			}
			org := store.Org{ID: "7c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", Name: "contoso", Kind: store.KindPartner}
			if err := st.CreateOrg(ctx, org); err != nil {
				t.Fatal(err)
			}
			st.Close()

			p := writeFile(t, "a.json", bundleOf(indicatorN(1), indicatorN(2)))
			code, _, errs := fusion(t, append(append([]string{"ingest", "--collection", "partner-feed", "--source", "contoso"}, db...), p)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if _, got := exported(t, append(db, "--collection", coll.ID)...); len(got) != 2 {
				t.Fatalf("%d objects in the named collection, want 2", len(got))
			}
			if _, got := exported(t, db...); len(got) != 0 {
				t.Fatalf("%d objects leaked into the default collection", len(got))
			}
			st = openFromFlags(t, db)
			defer st.Close()
			page, err := st.List(ctx, coll.ID, store.Query{Limit: 10, MetaOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				if v.Source != org.ID {
					t.Errorf("%s: source %q, want %q", v.ID, v.Source, org.ID)
				}
			}
			// By id, with the organisation given by id too.
			p2 := writeFile(t, "b.json", indicatorN(3))
			code, _, errs = fusion(t, append(append([]string{"ingest", "--collection", strings.ToUpper(coll.ID), "--source", org.ID}, db...), p2)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			if _, got := exported(t, append(db, "--collection", "partner-feed")...); len(got) != 3 {
				t.Fatalf("%d objects, want 3", len(got))
			}
		})
	}
}

// TestPosReader checks line and column against a direct count, across
// block boundaries, and that positions no longer kept are reported as
// unknown rather than wrong.
func TestPosReader(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 5*blockSize; i++ {
		b.WriteString(strings.Repeat("x", i%97))
		b.WriteByte('\n')
	}
	input := b.String()
	naive := func(off int) (int64, int64) {
		line := strings.Count(input[:off], "\n") + 1
		return int64(line), int64(off - strings.LastIndexByte(input[:off], '\n'))
	}
	// Read through in odd-sized pieces, asking for positions as we go,
	// in increasing order like the ingest pipeline does.
	pr := newPosReader(strings.NewReader(input), 2*blockSize, nil)
	buf := make([]byte, 777)
	read := 0
	for {
		n, err := pr.Read(buf)
		read += n
		for _, off := range []int{read - n, read - n/2, read - 1} {
			if off < 0 || off >= read {
				continue
			}
			l, c := pr.position(int64(off))
			wl, wc := naive(off)
			if l != wl || c != wc {
				t.Fatalf("position(%d) = %d:%d, want %d:%d", off, l, c, wl, wc)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if read != len(input) {
		t.Fatalf("read %d bytes of %d", read, len(input))
	}
	// Out of order and within the kept window: still exact.
	for _, off := range []int{len(input) - 1, len(input) - blockSize - 5, len(input) - 10} {
		l, c := pr.position(int64(off))
		if wl, wc := naive(off); l != wl || c != wc {
			t.Fatalf("position(%d) = %d:%d, want %d:%d", off, l, c, wl, wc)
		}
	}
	// Long gone: unknown.
	if l, _ := pr.position(0); l != 0 {
		t.Fatalf("position(0) after %d bytes with %d kept = line %d, want 0 (unknown)", read, 2*blockSize, l)
	}
}

// TestIngestSingleLine: a minified bundle is one long line; columns are
// byte columns in it.
func TestIngestSingleLine(t *testing.T) {
	content := strings.ReplaceAll(bundleOf(indicatorN(1), indicatorN(2)), "\n", "")
	content = content[:len(content)-3] + `,]}` // a trailing comma
	p := writeFile(t, "min.json", content)
	code, _, errs := fusion(t, "ingest", "--data", t.TempDir(), p)
	if code != 1 {
		t.Fatalf("exit %d", code)
	}
	col := strings.LastIndex(content, ",") + 1 // 1-based column of the comma; the fault is at or after it
	m := regexp.MustCompile(`min\.json:1:(\d+): `).FindStringSubmatch(errs)
	if m == nil {
		t.Fatalf("no line:column in %q", errs)
	}
	if got, _ := strconv.Atoi(m[1]); got < col || got > len(content)+1 {
		t.Fatalf("column %d, want about %d: %s", got, col, errs)
	}
}

func TestExportFilters(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			v1 := fmt.Sprintf(goodIndicator, "44444444-4444-4444-8444-444444444444", 1, 1, 1)
			v2 := fmt.Sprintf(goodIndicator, "44444444-4444-4444-8444-444444444444", 2, 2, 2)
			mal := `{"type":"malware","spec_version":"2.1","id":"malware--55555555-5555-4555-8555-555555555555","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"m","is_family":true}`
			code, _, errs := fusion(t, append(append([]string{"ingest"}, db...), writeFile(t, "a.json", bundleOf(v1, mal)))...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			between := stix.FormatTimestamp(time.Now().UTC())
			time.Sleep(5 * time.Millisecond)
			code, _, errs = fusion(t, append(append([]string{"ingest"}, db...), writeFile(t, "b.json", bundleOf(v2)))...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			ids := func(objs []map[string]any) []string {
				var s []string
				for _, o := range objs {
					s = append(s, o["type"].(string)+"@"+o["modified"].(string)[:10])
				}
				sort.Strings(s)
				return s
			}
			for _, tc := range []struct {
				args []string
				want []string
			}{
				{nil, []string{"indicator@2024-01-02", "malware@2024-01-01"}},
				{[]string{"--all-versions"}, []string{"indicator@2024-01-01", "indicator@2024-01-02", "malware@2024-01-01"}},
				{[]string{"--type", "malware"}, []string{"malware@2024-01-01"}},
				{[]string{"--type", "indicator,malware", "--all-versions"}, []string{"indicator@2024-01-01", "indicator@2024-01-02", "malware@2024-01-01"}},
				{[]string{"--type", "campaign"}, nil},
				{[]string{"--added-after", between, "--all-versions"}, []string{"indicator@2024-01-02"}},
				{[]string{"--added-after", "2999-01-01T00:00:00Z"}, nil},
			} {
				_, got := exported(t, append(db, tc.args...)...)
				if g := ids(got); !reflect.DeepEqual(g, tc.want) {
					t.Errorf("export %v = %v, want %v", tc.args, g, tc.want)
				}
			}
			// Fresh bundle ids.
			id1, _ := exported(t, db...)
			id2, _ := exported(t, db...)
			if id1 == id2 {
				t.Errorf("two exports share bundle id %s", id1)
			}
			// Objects are written exactly as stored.
			code, out, _ := fusion(t, append([]string{"export", "--type", "malware"}, db...)...)
			if code != 0 || !strings.Contains(out, "\n"+mal+"\n") {
				t.Errorf("malware not written byte for byte:\n%s", out)
			}
		})
	}
}

// TestExportPaging crosses several store pages.
func TestExportPaging(t *testing.T) {
	const n = 2*exportPage + 17
	var buf bytes.Buffer
	if err := gen.Write(&buf, n, 5, gen.JSONLines); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "g.jsonl", buf.String())
	want := readObjects(t, p)
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			if code, _, errs := fusion(t, append(append([]string{"ingest"}, db...), p)...); code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			_, got := exported(t, append(db, "--all-versions")...)
			sameObjects(t, got, want)
		})
	}
}

func TestExportUsage(t *testing.T) {
	data := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"export", "--data", data, "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"export", "--data", data, "--added-after", "yesterday"}, 1, "--added-after: timestamp must be"},
		{[]string{"export", "--data", data, "--collection", "nope"}, 1, `collection "nope"`},
	} {
		code, _, errs := fusion(t, tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}

// TestOpenStore covers the store URL forms.
func TestOpenStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data", "nested")
	st, err := openStore(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	fi, err := os.Stat(data)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, mode %v; want 0700", err, fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(data, "fusion.db")); err != nil {
		t.Fatalf("no fusion.db in the data dir: %v", err)
	}
	for _, u := range []string{"sqlite:" + filepath.Join(dir, "a.db"), "sqlite://" + filepath.Join(dir, "b.db")} {
		st, err := openStore(ctx, u, "")
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if _, err := st.GetCollection(ctx, store.DefaultCollectionID); err != nil {
			t.Errorf("%s: default collection: %v", u, err)
		}
		st.Close()
	}
	for _, name := range []string{"a.db", "b.db"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("%s not created: %v", name, err)
		}
	}
	if os.Getenv(pgEnv) != "" {
		u := pgSchemaURL(t)
		for _, u := range []string{u, "postgresql" + strings.TrimPrefix(u, "postgres")} {
			st, err := openStore(ctx, u, "")
			if err != nil {
				t.Fatalf("postgres: %v", err)
			}
			if _, err := st.GetCollection(ctx, store.DefaultCollectionID); err != nil {
				t.Errorf("postgres: default collection: %v", err)
			}
			st.Close()
		}
	}
	// Environment defaults.
	envData := filepath.Join(dir, "env-data")
	t.Setenv("FUSION_DATA", envData)
	t.Setenv("FUSION_DB", "")
	p := writeFile(t, "one.json", indicatorN(7))
	if code, _, errs := fusion(t, "ingest", p); code != 0 {
		t.Fatalf("ingest with FUSION_DATA: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(envData, "fusion.db")); err != nil {
		t.Fatalf("FUSION_DATA not used: %v", err)
	}
	t.Setenv("FUSION_DB", "sqlite:"+filepath.Join(dir, "env.db"))
	if code, _, errs := fusion(t, "ingest", p); code != 0 {
		t.Fatalf("ingest with FUSION_DB: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(dir, "env.db")); err != nil {
		t.Fatalf("FUSION_DB not used: %v", err)
	}
}

var faultRE = regexp.MustCompile(`^f\.json:(\d+):(\d+): .`)

// FuzzScan feeds arbitrary input through the ingest pipeline (without a
// store): it must never panic (a recovered panic shows up as an
// "internal error" and fails the target), every object must be either
// emitted in batches or rejected with a message naming the file, and a
// fault's line and column must lie within the input.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		bundleOf(indicatorN(1), indicatorN(2)),
		indicatorN(1) + "\n" + indicatorN(2) + "\n",
		"[" + indicatorN(1) + "," + indicatorN(2) + "]",
		bundleOf(indicatorN(1), `{"type":"indicator"}`),
		`{"type":"bundle","objects":[],"id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"}`,
		"\n\n{\"a\":",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &ingester{batch: 3, workers: 2}
		in.con = newConsole(io.Discard, &in.objects)
		var read atomic.Int64
		emitted, invalid := 0, 0
		sc, err := in.scan(context.Background(), "f.json", bytes.NewReader(data), &read, func(b []*stix.Object) error {
			if len(b) == 0 || len(b) > 3 {
				t.Fatalf("batch of %d objects", len(b))
			}
			for _, o := range b {
				if o == nil || len(o.Raw) == 0 {
					t.Fatal("nil or empty object emitted")
				}
			}
			emitted += len(b)
			return nil
		}, func(msg string) {
			invalid++
			if !strings.HasPrefix(msg, "f.json:") || strings.Contains(msg, "internal error") {
				t.Fatalf("bad rejection message %q", msg)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if sc.read != emitted+invalid || sc.invalid != invalid {
			t.Fatalf("stats %+v, but %d emitted and %d rejected", sc, emitted, invalid)
		}
		if read.Load() > int64(len(data)) {
			t.Fatalf("read %d bytes of %d", read.Load(), len(data))
		}
		if sc.fault == "" {
			return
		}
		if strings.Contains(sc.fault, "internal error") {
			t.Fatalf("the stream reader panicked: %s", sc.fault)
		}
		m := faultRE.FindStringSubmatch(sc.fault)
		if m == nil {
			t.Fatalf("fault without file:line:column: %q", sc.fault)
		}
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		if line < 1 || line > bytes.Count(data, []byte{'\n'})+1 || col < 1 || col > len(data)+1 {
			t.Fatalf("fault position %d:%d outside the %d-byte input: %s", line, col, len(data), sc.fault)
		}
	})
}

// benchObjects is how many generated objects each ingest benchmark
// iteration loads (the 1,000,000-object figure is measured with the real
// binary; see docs/benchmarks.md).
const benchObjects = 50000

func benchFile(b *testing.B) string { return benchFileOf(b, benchObjects) }

// benchFileOf writes a bundle of n generated objects (seed 1) and
// returns its path.
func benchFileOf(b *testing.B, n int) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.json")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := gen.Write(f, n, 1, gen.Bundle); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchIngest runs `fusion ingest` on benchObjects generated objects into
// a fresh store per iteration and reports objects/s.
func benchIngest(b *testing.B, flags func(testing.TB) []string) {
	p := benchFile(b)
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		args := append(append([]string{"ingest"}, flags(b)...), p)
		b.StartTimer()
		code, out, errs := fusion(b, args...)
		if code != 0 {
			b.Fatalf("exit %d: %s", code, errs)
		}
		if c := summary(b, out); c.stored+c.unchanged != benchObjects {
			b.Fatalf("counts %+v", c)
		}
	}
	b.ReportMetric(float64(benchObjects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

func BenchmarkIngestSQLite(b *testing.B) {
	benchIngest(b, func(t testing.TB) []string { return []string{"--data", t.TempDir()} })
}

func BenchmarkIngestPostgres(b *testing.B) {
	if os.Getenv(pgEnv) == "" {
		b.Skip(pgEnv + " is not set")
	}
	benchIngest(b, func(t testing.TB) []string { return []string{"--db", pgSchemaURL(t)} })
}

// BenchmarkIngestPipeline is the ingest pipeline without a store: read,
// parse and validate on all cores, batch in order. It is the ceiling the
// store-bound benchmarks are measured against.
func BenchmarkIngestPipeline(b *testing.B) {
	p := benchFile(b)
	fi, _ := os.Stat(p)
	b.SetBytes(fi.Size())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(p)
		if err != nil {
			b.Fatal(err)
		}
		in := &ingester{batch: 1000, workers: runtime.GOMAXPROCS(0)}
		in.con = newConsole(io.Discard, &in.objects)
		var read atomic.Int64
		n := 0
		sc, err := in.scan(context.Background(), p, f, &read, func(o []*stix.Object) error { n += len(o); return nil }, func(m string) { b.Fatal(m) })
		f.Close()
		if err != nil || sc.fault != "" || n != benchObjects {
			b.Fatalf("%v %s %d", err, sc.fault, n)
		}
	}
	b.ReportMetric(float64(benchObjects)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
}

// putFailStore is a real store whose Put fails from the failAt-th call on.
type putFailStore struct {
	store.Store
	calls, failAt int
}

var errInjected = errors.New("injected failure")

func (s *putFailStore) Put(ctx context.Context, coll, source string, objs []*stix.Object) ([]store.PutOutcome, error) {
	s.calls++
	if s.calls >= s.failAt {
		return nil, errInjected
	}
	return s.Store.Put(ctx, coll, source, objs)
}

func newTestIngester(t *testing.T, st store.Store, batch int) *ingester {
	in := &ingester{st: st, coll: store.DefaultCollectionID, batch: batch, workers: 2}
	in.con = newConsole(io.Discard, &in.objects)
	return in
}

func sqliteStore(t *testing.T) store.Store {
	st, err := openStore(context.Background(), "", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestIngestStoreFailure: a failing Put stops the run with the store's
// error; the batches before it stay stored, and nothing hangs.
func TestIngestStoreFailure(t *testing.T) {
	var buf bytes.Buffer
	if err := gen.Write(&buf, 5000, 9, gen.Bundle); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "g.json", buf.String())
	for _, strict := range []bool{false, true} {
		fs := &putFailStore{Store: sqliteStore(t), failAt: 3}
		in := newTestIngester(t, fs, 100)
		in.strict = strict
		err := in.file(context.Background(), p)
		if !errors.Is(err, errInjected) {
			t.Fatalf("strict %v: error %v, want the injected one", strict, err)
		}
		if in.stored != 200 {
			t.Errorf("strict %v: %d stored, want the 200 of the two batches before the failure", strict, in.stored)
		}
		page, err := fs.Store.List(context.Background(), store.DefaultCollectionID, store.Query{Limit: 1000, MetaOnly: true, Versions: store.VersionMatch{All: true}})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Versions) != 200 {
			t.Errorf("strict %v: %d versions in the store, want 200", strict, len(page.Versions))
		}
	}
}

// TestIngestStrictFileChanged: when the second pass of --strict reads
// something else than the first, the run stops with an error saying so.
func TestIngestStrictFileChanged(t *testing.T) {
	good := bundleOf(indicatorN(1), indicatorN(2), indicatorN(3), indicatorN(4))
	changed := writeFile(t, "changed.json", bundleOf(indicatorN(1), indicatorN(2), `{"type":"indicator","spec_version":"2.1","id":"indicator--nope"}`, indicatorN(4)))
	f, err := os.Open(changed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in := newTestIngester(t, sqliteStore(t), 2)
	in.strict = true
	// The first pass reads the good content, the second re-reads the file.
	err = in.strictFile(context.Background(), "changed.json", strings.NewReader(good), f, -1)
	if err == nil || !strings.Contains(err.Error(), "changed.json changed while it was being ingested") {
		t.Fatalf("error %v, want one saying the file changed", err)
	}
	if in.stored != 2 {
		t.Errorf("%d stored, want the first batch of 2", in.stored)
	}
}

// TestIngestInterrupted: cancelling the context stops a long ingest with
// an error and the counts so far.
func TestIngestInterrupted(t *testing.T) {
	var buf bytes.Buffer
	if err := gen.Write(&buf, 60000, 3, gen.JSONLines); err != nil {
		t.Fatal(err)
	}
	p := writeFile(t, "g.jsonl", buf.String())
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	var o, e bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"ingest", "--data", t.TempDir(), p}, &o, &e) }()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(e.String(), "interrupted") {
			t.Fatalf("exit %d, stderr %q; want 1 and interrupted", code, e.String())
		}
		if c := summary(t, o.String()); c.total >= 60000 {
			t.Fatalf("counts %+v: the whole file went in before the interrupt", c)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("ingest did not stop after cancellation")
	}
}
