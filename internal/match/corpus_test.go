package match

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/stix"
)

// corpusItems reads the indicators of an OASIS example bundle in
// testdata (BSD-3-Clause, see testdata/LICENSE).
func corpusItems(t testing.TB, name string) []Item {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Objects []jsontext.Value `json:"objects"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	var out []Item
	for _, o := range b.Objects {
		obj, err := stix.Parse(o)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Item{Ref: Ref{Collection: "oasis", ID: obj.ID, Modified: obj.Version()}, Raw: obj.Raw})
	}
	return out
}

func TestOASISExamples(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	var all []Item
	for _, f := range []string{"apt1.json", "poisonivy.json", "malicious-email-indicator-with-attachment.json"} {
		all = append(all, corpusItems(t, f)...)
	}
	st, err := x.Build(seq(all, -1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Indicators != 12+25+2 || st.Tombstones != 0 || st.Invalid != 0 {
		t.Fatalf("%+v", st)
	}
	count := func(hits []Hit, kind Kind) int {
		n := 0
		for _, h := range hits {
			if h.Kind == kind {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		s    string
		kind Kind
		n    int
	}{
		{"223.167.255.1", KindCIDR, 1}, // [ipv4-addr:value = '223.166.0.0/15']
		{"223.168.0.1", KindCIDR, 0},   // outside the /15
		{"hugesoft.org", KindExact, 1}, // apt1
		{"WWW.HugeSoft.org", KindSubdomain, 1},
		{"001DD76872D80801692FF942308C64E6", KindExact, 1}, // file:hashes.md5 (lower-case name)
		{"113.10.246.30", KindExact, 4},                    // in four OR patterns of poisonivy
		{"www.webserver.dynssl.com", KindExact, 1},
		{"e.ct.toh.info", KindExact, 1},
	} {
		hits, ok := x.LookupString(c.s)
		if !ok || count(hits, c.kind) != c.n {
			t.Errorf("%s: %d %s hits of %d: %+v", c.s, count(hits, c.kind), c.kind, len(hits), hits)
		}
	}
	// 'domain autuo.xicp.net' is no domain name: it matches as a string.
	hits, err := x.Lookup(Observable{"domain-name", "value", "domain autuo.xicp.net"})
	if err != nil || count(hits, KindExact) != 1 {
		t.Errorf("odd domain value: %+v %v", hits, err)
	}
	// x509-certificate:issuer AND serial_number: one property is partial,
	// both in one object match.
	hits, _ = x.Lookup(Observable{"x509-certificate", "issuer", "CN=WEBMAIL"})
	if len(hits) != 1 || hits[0].Kind != KindPartial {
		t.Errorf("issuer alone: %+v", hits)
	}
	obs, _, err := ObservationsFromBundle(bundleOf(group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
		`"type":"x509-certificate","issuer":"CN=WEBMAIL","serial_number":"4c:0b:1d:19:74:86:a7:66:b4:1a:bf:40:27:21:76:28"`,
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if hits := x.MatchObservations(obs); len(hits) != 1 || hits[0].Kind != KindPattern || hits[0].Ref.ID != "indicator--b3b6b540-d838-41e2-853b-005056c00008" {
		t.Errorf("certificate: %+v", hits)
	}
	// the e-mail indicator: MATCHES on a subject, keyless. (Its
	// expression '^[IMPORTANT] Please Review Before' starts with a
	// character class: one of I, M, P, O, R, T, A, N.)
	obs, _, err = ObservationsFromBundle(bundleOf(group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
		`"type":"email-message","is_multipart":false,"subject":"T Please Review Before Friday"`,
	}}, group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
		`"type":"email-message","is_multipart":false,"subject":"Please Review Before Friday"`,
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if hits := x.MatchObservations(obs); len(hits) != 1 || hits[0].Kind != KindPattern || hits[0].Input != 0 {
		t.Errorf("e-mail subject: %+v", hits)
	}
}

// TestCompileOASISPatterns indexes every pattern of the OASIS validator's
// valid set (testdata/valid-2.1.txt) and looks each pattern's string
// constants up: nothing is rejected, nothing panics.
func TestCompileOASISPatterns(t *testing.T) {
	f, err := os.Open("testdata/valid-2.1.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, _ := newTestIndex(t, Options{})
	sc := bufio.NewScanner(f)
	var specs []spec
	var consts []string
	for n := 0; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		specs = append(specs, spec{n: n, pattern: line})
		for _, part := range strings.Split(line, "'")[1:] {
			consts = append(consts, part)
		}
	}
	st := mustUpdate(t, x, specs...)
	if st.Indicators != len(specs) || st.Tombstones != 0 {
		t.Fatalf("%d patterns: %+v", len(specs), st)
	}
	for _, c := range consts {
		x.LookupString(c)
		x.Lookup(Observable{"file", "name", c})
	}
}
