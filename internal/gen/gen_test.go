package gen

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/uuid"

	"fusion/internal/stix"
)

func generate(t testing.TB, n int, seed uint64, f Format) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, n, seed, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every item of a stream with the stix reader.
func readAll(t testing.TB, b []byte) []stix.Item {
	t.Helper()
	r := stix.NewReader(bytes.NewReader(b))
	var items []stix.Item
	for {
		it, err := r.Next()
		if err == io.EOF {
			return items
		}
		if err != nil {
			t.Fatalf("after %d objects: %v", len(items), err)
		}
		items = append(items, it)
	}
}

func TestDeterministic(t *testing.T) {
	a := generate(t, 3000, 7, Bundle)
	b := generate(t, 3000, 7, Bundle)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed gave different output")
	}
	c := generate(t, 3000, 8, Bundle)
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same output")
	}
	// A longer run starts with the shorter one's objects.
	long := readAll(t, generate(t, 3500, 7, Bundle))
	short := readAll(t, a)
	for i := range short {
		if !bytes.Equal(short[i].Raw, long[i].Raw) {
			t.Fatalf("object %d differs between n=3000 and n=3500", i)
		}
	}
}

func TestFormatsCarrySameObjects(t *testing.T) {
	const n = 500
	want := readAll(t, generate(t, n, 3, Bundle))
	if len(want) != n {
		t.Fatalf("bundle holds %d objects, want %d", len(want), n)
	}
	for _, f := range []Format{JSONLines, Array} {
		got := readAll(t, generate(t, n, 3, f))
		if len(got) != n {
			t.Fatalf("format %d: %d objects, want %d", f, len(got), n)
		}
		for i := range got {
			if !bytes.Equal(got[i].Raw, want[i].Raw) {
				t.Fatalf("format %d: object %d differs", f, i)
			}
		}
	}
	if lines := bytes.Count(generate(t, n, 3, JSONLines), []byte("\n")); lines != n {
		t.Fatalf("jsonl has %d lines, want %d", lines, n)
	}
}

func TestZeroObjects(t *testing.T) {
	for _, f := range []Format{Bundle, JSONLines, Array} {
		if got := readAll(t, generate(t, 0, 1, f)); len(got) != 0 {
			t.Fatalf("format %d: %d objects from n=0", f, len(got))
		}
	}
}

// TestObjectsAreValid parses and validates every generated object, and
// checks the rules Validate cannot see from one object alone: references
// resolve to earlier objects of allowed types, relationships are ones the
// spec defines, versions increase, revoked objects stay revoked.
func TestObjectsAreValid(t *testing.T) {
	const n = 20000
	items := readAll(t, generate(t, n, 1, Bundle))
	if len(items) != n {
		t.Fatalf("%d objects, want %d", len(items), n)
	}
	predefined := map[string]bool{TLPClear: true, TLPGreen: true, TLPAmber: true, TLPAmberStrict: true, TLPRed: true,
		TLP1White: true, TLP1Green: true, TLP1Amber: true, TLP1Red: true}
	seen := map[string]bool{}             // ids so far
	lastVersion := map[string]time.Time{} // id -> latest modified
	revoked := map[string]bool{}          // ids revoked so far
	types := map[string]int{}             // count per type
	patterns := map[string]int{}          // count per pattern object type
	for _, it := range items {
		o, err := stix.Parse(it.Raw)
		if err == nil {
			err = stix.Validate(o)
		}
		if err != nil {
			t.Fatalf("objects[%d]: %v\n%s", it.Index, err, it.Raw)
		}
		types[o.Type]++
		if o.SpecVersion != "2.1" {
			t.Fatalf("%s: spec_version %q", o.ID, o.SpecVersion)
		}
		typ, u, _ := strings.Cut(o.ID, "--")
		if typ != o.Type {
			t.Fatalf("%s: id type differs from type %q", o.ID, o.Type)
		}
		parsed, err := uuid.Parse(u)
		if err != nil || parsed.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: not an RFC 4122 UUID", o.ID)
		}
		var m map[string]any
		if err := json.Unmarshal(it.Raw, &m); err != nil {
			t.Fatal(err)
		}
		if isSCO(o.Type) {
			if parsed.Version() != 5 {
				t.Fatalf("%s: SCO id is UUID version %d, want 5", o.ID, parsed.Version())
			}
			if v, ok := m["value"].(string); ok {
				want := o.Type + "--" + uuid.NewSHA1(uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7"), []byte(`{"value":`+quote(v)+`}`)).String()
				if o.ID != want {
					t.Fatalf("%s: want deterministic id %s", o.ID, want)
				}
			}
		} else if parsed.Version() != 4 {
			t.Fatalf("%s: id is UUID version %d, want 4", o.ID, parsed.Version())
		}
		// Timestamps: millisecond precision, modified >= created, and
		// each new version later than the one before.
		for _, k := range []string{"created", "modified", "valid_from", "valid_until", "first_seen", "last_seen", "first_observed", "last_observed"} {
			if s, ok := m[k].(string); ok {
				if len(s) != len("2024-01-01T00:00:00.000Z") {
					t.Fatalf("%s: %s %q is not millisecond precision", o.ID, k, s)
				}
				if _, err := stix.ParseTimestamp(s); err != nil {
					t.Fatalf("%s: %s: %v", o.ID, k, err)
				}
			}
		}
		if !o.Modified.IsZero() && o.Modified.Before(o.Created) {
			t.Fatalf("%s: modified before created", o.ID)
		}
		for _, pair := range [][2]string{{"valid_from", "valid_until"}, {"first_seen", "last_seen"}, {"first_observed", "last_observed"}} {
			a, _ := m[pair[0]].(string)
			b, _ := m[pair[1]].(string)
			if a != "" && b != "" && b < a {
				t.Fatalf("%s: %s before %s", o.ID, pair[1], pair[0])
			}
		}
		if revoked[o.ID] {
			t.Fatalf("%s: new version after revocation", o.ID)
		}
		if prev, ok := lastVersion[o.ID]; ok {
			if isSCO(o.Type) {
				continue // the same observable seen again: same object, no version
			}
			if !o.Modified.After(prev) {
				t.Fatalf("%s: version %v not after %v", o.ID, o.Modified, prev)
			}
		}
		lastVersion[o.ID] = o.Modified
		if o.Revoked {
			revoked[o.ID] = true
		}
		// References point at objects generated earlier, of allowed types.
		for k, v := range m {
			var refs []string
			switch {
			case strings.HasSuffix(k, "_ref"):
				refs = []string{v.(string)}
			case strings.HasSuffix(k, "_refs"):
				for _, r := range v.([]any) {
					refs = append(refs, r.(string))
				}
			default:
				continue
			}
			for _, r := range refs {
				if predefined[r] {
					continue
				}
				if !seen[r] {
					t.Fatalf("%s: %s refers to %s, not generated before it", o.ID, k, r)
				}
				if want := refTypes[k]; want != "" && !strings.Contains(want, " "+stix.IDType(r)+" ") {
					t.Fatalf("%s: %s refers to a %s", o.ID, k, stix.IDType(r))
				}
			}
		}
		if o.Type == "relationship" {
			src, dst := stix.IDType(m["source_ref"].(string)), stix.IDType(m["target_ref"].(string))
			triple := src + " " + m["relationship_type"].(string) + " " + dst
			if !specRelationships[triple] {
				t.Fatalf("%s: %q is not a relationship the spec defines", o.ID, triple)
			}
		}
		if o.Type == "indicator" {
			p := m["pattern"].(string)
			obj, _, _ := strings.Cut(strings.TrimPrefix(p, "["), ":")
			patterns[obj]++
		}
		seen[o.ID] = true
	}
	for _, typ := range []string{"indicator", "malware", "threat-actor", "intrusion-set", "campaign", "attack-pattern", "vulnerability",
		"relationship", "sighting", "observed-data", "identity", "marking-definition",
		"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "network-traffic"} {
		if types[typ] == 0 {
			t.Errorf("no %s generated in %d objects", typ, n)
		}
	}
	for _, p := range []string{"ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "network-traffic"} {
		if patterns[p] == 0 {
			t.Errorf("no indicator pattern on %s", p)
		}
	}
	if types["indicator"] < n/3 {
		t.Errorf("only %d indicators in %d objects", types["indicator"], n)
	}
	t.Logf("types: %v", types)
}

func isSCO(typ string) bool {
	switch typ {
	case "ipv4-addr", "ipv6-addr", "domain-name", "url", "email-addr", "file", "network-traffic":
		return true
	}
	return false
}

// refTypes lists the types each reference property may point at (STIX 2.1
// sections 3.2, 4.x, 5.x and 6.x), space-delimited.
var refTypes = map[string]string{
	"created_by_ref":      " identity ",
	"sighting_of_ref":     " indicator malware ",
	"where_sighted_refs":  " identity location ",
	"observed_data_refs":  " observed-data ",
	"object_marking_refs": " marking-definition ",
	"dst_ref":             " ipv4-addr ipv6-addr mac-addr domain-name ",
	"object_refs":         " ipv4-addr ipv6-addr domain-name url email-addr file network-traffic ",
}

// specRelationships are the relationships of STIX 2.1 section 4 that the
// generator uses.
var specRelationships = map[string]bool{}

func init() {
	for _, s := range []string{
		"indicator indicates malware", "indicator indicates threat-actor", "indicator indicates intrusion-set",
		"indicator indicates campaign", "indicator indicates attack-pattern", "indicator based-on observed-data",
		"malware uses attack-pattern", "malware exploits vulnerability", "threat-actor uses malware",
		"threat-actor targets identity", "intrusion-set attributed-to threat-actor", "intrusion-set uses malware",
		"campaign attributed-to intrusion-set", "campaign attributed-to threat-actor", "campaign uses malware",
		"campaign targets vulnerability",
	} {
		specRelationships[s] = true
	}
}

func TestUUID5KnownAnswer(t *testing.T) {
	// RFC 4122 appendix B style check against an independent implementation.
	for _, name := range []string{"", `{"value":"198.51.100.3"}`, "www.example.com"} {
		want := uuid.NewSHA1(uuid.Must(uuid.FromBytes(scoNamespace[:])), []byte(name)).String()
		if got := uuid5(scoNamespace, []byte(name)); got != want {
			t.Errorf("uuid5(%q) = %s, want %s", name, got, want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	g := New(1)
	buf := make([]byte, 0, 4096)
	n := 0
	for b.Loop() {
		buf = g.AppendNext(buf[:0])
		n += len(buf)
	}
	b.SetBytes(int64(n / max(b.N, 1)))
}
