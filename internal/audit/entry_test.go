package audit

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

var update = flag.Bool("update", false, "rewrite golden files")

// sampleEntries has one entry of every kind, with the fields the kind
// uses.
func sampleEntries() []Entry {
	t := FormatTime(t0)
	return []Entry{
		{Kind: KindObjectAccepted, V: 1, Time: t, Actor: "a1", Source: "a1", Collection: "c1", ID: "indicator--" + uuidN(1),
			Version: "2026-03-01T12:00:00.000Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))},
		{Kind: KindObjectDeleted, V: 1, Time: t, Actor: "a1", Collection: "c1", ID: "indicator--" + uuidN(1), Count: 2},
		{Kind: KindCollectionCreated, V: 1, Time: t, Actor: "h", Collection: "c1", APIRoot: "api1", Title: "Ransomware \"2026\"",
			Alias: "ransomware", DefaultTLP: "amber", MediaTypes: []string{"application/stix+json;version=2.1"}},
		{Kind: KindCollectionUpdated, V: 1, Time: t, Actor: "h", Collection: "c1", APIRoot: "api1", Title: "Ransomware"},
		{Kind: KindCollectionDeleted, V: 1, Time: t, Actor: "h", Collection: "c1"},
		{Kind: KindOrgCreated, V: 1, Time: t, Actor: "h", Org: "o1", Name: "de-police", OrgKind: "member", Country: "DE"},
		{Kind: KindTokenCreated, V: 1, Time: t, Actor: "h", Token: "t1", Org: "o1", Role: "read", Expires: FormatTime(t0.Add(time.Hour))},
		{Kind: KindTokenRevoked, V: 1, Time: t, Actor: "h", Token: "t1", Revoked: t},
		{Kind: KindGrantSet, V: 1, Time: t, Actor: "h", Collection: "c1", Org: "o1", Read: true, Write: true},
		{Kind: KindAssetsSet, V: 1, Time: t, Actor: "a1", Org: "a1", SHA256: ObjectSHA256([]byte("list")), Count: 12},
		{Kind: KindServed, V: 1, Time: t, Actor: "o1", Org: "o1", Source: "a1", Path: PathTAXIIObjects, Collection: "c1",
			Objects: []Item{{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"}, {ID: "ipv4-addr--" + uuidN(2)}}},
		{Kind: KindDenied, V: 1, Time: t, Actor: "o1", Org: "o1", Path: PathTAXIIObject, Collection: "c1", Reason: "no read grant"},
		{Kind: KindGuard, V: 1, Time: t, Actor: "a1", Source: "a1", Collection: "c1", ID: "indicator--" + uuidN(3),
			Action: "block", Rules: []string{"cidr", "domain"}},
		// Version 3 (new entries go at the end: the golden file's earlier
		// lines must not change).
		{Kind: KindAccepted, V: 3, Time: t, Actor: "a1", Source: "a1", Collection: "c1", Accepted: AcceptedList{
			{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))},
			{ID: "indicator--" + uuidN(2), Version: "2026-03-01T12:00:00.000000001Z", Added: "2026-03-01T12:00:00.123457Z", SHA256: ObjectSHA256([]byte("[]"))},
			{ID: "ipv4-addr--" + uuidN(3), Added: "2026-03-01T12:00:00.123458Z", SHA256: ObjectSHA256([]byte("1"))},
		}},
		// The objects of served and denied entries: version 3 (arrays),
		// version 4 (packed where every id is a UUID and every version
		// key whole microseconds, else arrays).
		{Kind: KindServed, V: 3, Time: t, Actor: "o1", Org: "o1", Source: "a1", Path: PathTAXIIObjects, Collection: "c1",
			Objects: []Item{{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"}, {ID: "ipv4-addr--" + uuidN(2)}}},
		{Kind: KindServed, V: 4, Time: t, Actor: "o1", Org: "o1", Source: "a1", Path: PathTAXIIVersions, Collection: "c1",
			Objects: []Item{
				{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"},
				{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.001500Z"},
				{ID: "indicator--" + uuidN(4), Version: "1970-01-01T00:00:00.000Z"},
				{ID: "ipv4-addr--" + uuidN(2)},
				{ID: "malware--" + uuidN(5), Version: "2026-03-01T12:00:00.000000001Z"},
				{ID: "malware--" + uuidN(6), Version: "2026-03-01T12:00:00.000Z"},
				{ID: "x-partner--not-a-uuid", Version: "2026-03-01T12:00:00.000Z"},
			}},
		{Kind: KindDenied, V: 4, Time: t, Actor: "o1", Org: "o1", Source: "a1", Path: PathTAXIIObjects, Collection: "c1",
			Reason: ReasonPolicy, Objects: []Item{
				{ID: "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8", Version: "2026-03-01T12:00:00.001500Z"},
				{ID: "indicator--" + strings.ToUpper(uuidN(10)), Version: "2026-03-01T12:00:00.000Z"}, // not canonical: arrays
				{ID: "ipv4-addr--9b2c4a7e-31f0-4d6a-b5e8-0c1d2e3f4a5b"},
			}},
		// Accepted entries of version 4: packed types (with and without
		// version keys) beside list ones (a nanosecond version key, an
		// uppercase digest, an id that is not a UUID).
		{Kind: KindAccepted, V: 4, Time: t, Actor: "a1", Source: "a1", Collection: "c1", Accepted: AcceptedList{
			{ID: "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8", Version: "2026-03-01T12:00:00.001500Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))},
			{ID: "indicator--" + uuidN(2), Added: "2026-03-01T12:00:00.123457Z", SHA256: ObjectSHA256([]byte("[]"))},
			{ID: "ipv4-addr--9b2c4a7e-31f0-4d6a-b5e8-0c1d2e3f4a5b", Added: "2026-03-01T12:00:00.123458Z", SHA256: ObjectSHA256([]byte("1"))},
			{ID: "malware--" + uuidN(5), Version: "2026-03-01T12:00:00.000000001Z", Added: "2026-03-01T12:00:00.123459Z", SHA256: ObjectSHA256([]byte("2"))},
			{ID: "tool--" + uuidN(6), Version: "2026-03-01T12:00:00.000Z", Added: "2026-03-01T12:00:00.123460Z", SHA256: strings.ToUpper(ObjectSHA256([]byte("3")))},
			{ID: "x-partner--not-a-uuid", Version: "2026-03-01T12:00:00.000Z", Added: "2026-03-01T12:00:00.123461Z", SHA256: ObjectSHA256([]byte("4"))},
		}},
		{Kind: KindAccepted, V: 4, Time: t, Actor: "a1", Source: "a1", Collection: "c1", Accepted: AcceptedList{
			{ID: "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8", Version: "2026-03-01T12:00:00.001500Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))},
		}},
	}
}

// The encoding of every kind is fixed: entries already in logs must keep
// their bytes, or they no longer match their leaf hashes.
func TestEncodeGolden(t *testing.T) {
	var b bytes.Buffer
	for _, e := range sampleEntries() {
		b.Write(Encode(&e))
		b.WriteByte('\n')
	}
	path := filepath.Join("testdata", "entries.golden")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("encoding changed (go test -update rewrites %s after a deliberate schema change):\n%s\nwant:\n%s", path, b.Bytes(), want)
	}
}

// canonicalByMap encodes data through a generic map with sorted keys: an
// independent canonicaliser to compare Encode with.
func canonicalByMap(t *rapid.T, data []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
	out, err := json.Marshal(m, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// roundTrip checks that b, an encoded entry, is canonical (as
// canonicalByMap has it), parses, and re-encodes to itself, and returns
// the parsed entry.
func roundTrip(t *rapid.T, b []byte) Entry {
	if got := canonicalByMap(t, b); !bytes.Equal(got, b) {
		t.Fatalf("not canonical:\n%s\n%s", b, got)
	}
	e, err := ParseEntry(b)
	if err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if again := Encode(&e); !bytes.Equal(again, b) {
		t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
	}
	return e
}

func TestEncodeCanonical(t *testing.T) {
	for _, e := range sampleEntries() {
		b := Encode(&e)
		rapid.Check(t, func(rt *rapid.T) {
			if got := canonicalByMap(rt, b); !bytes.Equal(got, b) {
				rt.Fatalf("not canonical:\n%s\n%s", b, got)
			}
		})
		back, err := ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Fatalf("round trip:\n%+v\n%+v", back, e)
		}
	}
}

// Any entry encodes canonically, with keys sorted, and decodes back to
// itself; strings with quotes, backslashes, control characters and
// non-ASCII survive.
func TestEncodeProperty(t *testing.T) {
	str := rapid.OneOf(rapid.String(), rapid.StringMatching(`[a-z"\\\x00-\x1f\x{2028}é✓]{0,12}`), rapid.Just(""))
	rapid.Check(t, func(t *rapid.T) {
		e := Entry{
			Kind: rapid.SampledFrom([]string{KindServed, KindGuard, KindOrgCreated}).Draw(t, "kind"),
			V:    rapid.IntRange(0, 4).Draw(t, "v"), Time: str.Draw(t, "t"),
			Actor: str.Draw(t, "actor"), Source: str.Draw(t, "source"), Org: str.Draw(t, "org"),
			Name: str.Draw(t, "name"), Reason: str.Draw(t, "reason"), ID: str.Draw(t, "id"),
			Count: rapid.Int64Range(-(1<<53), 1<<53).Draw(t, "count"), Read: rapid.Bool().Draw(t, "read"),
			Rules: rapid.SliceOfN(str, 0, 3).Draw(t, "rules"),
		}
		for i := range rapid.IntRange(0, 3).Draw(t, "objects") {
			it := Item{ID: str.Draw(t, "oid"), Version: str.Draw(t, "ov")}
			if rapid.Bool().Draw(t, "stix") { // a STIX id and version key, packable or not
				v := drawVersion(t, []string{"indicator", "ipv4-addr", str.Draw(t, "otype")})
				it.ID = v.ID
				if !v.Modified.IsZero() {
					it.Version = stix.FormatTimestamp(v.Modified)
				}
			}
			e.Objects = append(e.Objects, it)
			_ = i
		}
		if e.Time == "" {
			e.Time = "x"
		}
		if len(e.Rules) == 0 {
			e.Rules = nil
		}
		roundTrip(t, Encode(&e))
	})
}

func TestEncodeInvalidUTF8(t *testing.T) {
	e := Entry{Kind: KindDenied, Time: "x", Reason: "a\xffb\xc3"}
	b := Encode(&e)
	if !strings.Contains(string(b), `"a\uFFFDb\uFFFD"`) && !strings.Contains(string(b), "\"a\uFFFDb\uFFFD\"") {
		t.Fatalf("invalid UTF-8 encoded as %q", b)
	}
	if _, err := ParseEntry(b); err != nil {
		t.Fatalf("encoded invalid UTF-8 does not parse: %v", err)
	}
}

func TestParseEntryRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":     `{`,
		"no kind":      `{"t":"x","v":1}`,
		"no time":      `{"kind":"served","v":1}`,
		"duplicate":    `{"kind":"served","kind":"denied","t":"x","v":1}`,
		"invalid utf8": "{\"kind\":\"served\",\"t\":\"\xff\",\"v\":1}",
		"array":        `[]`,
		"wrong type":   `{"kind":"served","t":"x","v":"1"}`,
	} {
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("%s: accepted %q", name, in)
		}
	}
	// Unknown names are allowed: later kinds may add fields.
	if _, err := ParseEntry([]byte(`{"kind":"request.filed","t":"x","v":2,"ticket":"R-1"}`)); err != nil {
		t.Errorf("unknown field: %v", err)
	}
}

// Served writes one entry per source, so each can be shown to its source
// and the recipient only.
func TestServedPerSource(t *testing.T) {
	vs := []store.Version{
		{ID: "indicator--" + uuidN(1), Source: "acme", Modified: t0},
		{ID: "indicator--" + uuidN(2), Source: "telco", Modified: t0},
		{ID: "ipv4-addr--" + uuidN(3), Source: "acme"},
	}
	out := Served(Access{Time: t0, Actor: "de", Path: PathTAXIIObjects, Collection: "c1"}, vs)
	if len(out) != 2 {
		t.Fatalf("%d entries, want 2", len(out))
	}
	a, _ := ParseEntry(out[0])
	b, _ := ParseEntry(out[1])
	if a.Source != "acme" || len(a.Objects) != 2 || a.Objects[1].Version != "" || a.Org != "de" || a.Actor != "de" {
		t.Errorf("first entry %+v", a)
	}
	if b.Source != "telco" || len(b.Objects) != 1 || b.Objects[0].Version != "2026-03-01T12:00:00.000Z" {
		t.Errorf("second entry %+v", b)
	}
	for _, org := range []string{"acme", "de"} {
		if !a.Concerns(org) {
			t.Errorf("entry does not concern %s", org)
		}
	}
	if a.Concerns("telco") || b.Concerns("acme") || a.Concerns("") {
		t.Error("an entry concerns an organisation whose data it does not hold")
	}
	if Served(Access{Time: t0, Actor: "de"}, nil) != nil {
		t.Error("an empty response made entries")
	}
	d := Denied(Access{Time: t0, Actor: "de", Path: PathTAXIIObject, Reason: "no grant"}, nil)
	if len(d) != 1 {
		t.Fatalf("Denied without objects: %d entries", len(d))
	}
	if e, _ := ParseEntry(d[0]); e.Kind != KindDenied || e.Reason != "no grant" || e.Objects != nil {
		t.Errorf("denied entry %+v", e)
	} else if e.Concerns("de") {
		t.Error("a refusal at the collection is shown to the refused organisation")
	}
	// One response: served entries, then a denied entry per source of
	// what the policy withheld, for that source only.
	r := Response(Access{Time: t0, Actor: "de", Path: PathTAXIIObjects, Collection: "c1"},
		[]store.Version{{ID: "indicator--1", Source: "acme"}},
		[]store.Version{{ID: "indicator--2", Source: "telco"}, {ID: "indicator--3", Source: "acme"}, {ID: "indicator--4", Source: "telco"}})
	if len(r) != 3 {
		t.Fatalf("Response: %d entries, want 3", len(r))
	}
	var kinds, sources []string
	for _, b := range r {
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(Encode(&e), b) {
			t.Errorf("not canonical: %s", b)
		}
		kinds, sources = append(kinds, e.Kind), append(sources, e.Source)
		if e.Kind == KindDenied && (e.Reason != ReasonPolicy || e.Concerns("de") || !e.Concerns(e.Source) || e.Concerns("hub")) {
			t.Errorf("denied entry %+v: reason or visibility", e)
		}
	}
	if !slices.Equal(kinds, []string{KindServed, KindDenied, KindDenied}) || !slices.Equal(sources, []string{"acme", "telco", "acme"}) {
		t.Errorf("Response entries: kinds %v sources %v", kinds, sources)
	}
	if !bytes.Contains(r[1], []byte(`"objects":{"indicator":[["2"],["4"]]}`)) {
		t.Errorf("telco's denied entry %s", r[1])
	}
	if Response(Access{Time: t0, Actor: "de"}, nil, nil) != nil {
		t.Error("an empty response made entries")
	}
	g, _ := ParseEntry(Guard(GuardDecision{Time: t0, Actor: "acme", Collection: "c1", ObjectID: "x--1", Action: "block",
		Rules: []string{"name", "cidr", "name"}}))
	if !reflect.DeepEqual(g.Rules, []string{"cidr", "name"}) || g.Source != "acme" {
		t.Errorf("guard entry %+v", g)
	}
	as, _ := ParseEntry(AssetsSet(t0, "acme", "acme", [32]byte{1}, 3))
	if as.Count != 3 || !strings.HasPrefix(as.SHA256, "01000000") || as.Kind != KindAssetsSet {
		t.Errorf("assets entry %+v", as)
	}
}

// The direct encoding of served and denied entries is Encode's, for any
// mix of sources, versions and strings.
func TestAccessEntriesMatchEncode(t *testing.T) {
	str := rapid.StringMatching(`[a-z"\\\x01é]{0,6}`)
	rapid.Check(t, func(t *rapid.T) {
		a := Access{Time: t0.Add(time.Duration(rapid.Int64Range(0, 1e15).Draw(t, "at"))), Actor: str.Draw(t, "actor"),
			To: str.Draw(t, "to"), Path: str.Draw(t, "path"), Collection: str.Draw(t, "coll"), Reason: str.Draw(t, "reason")}
		var vs []store.Version
		for range rapid.IntRange(0, 6).Draw(t, "n") {
			var v store.Version
			if rapid.Bool().Draw(t, "stix") { // STIX ids, packable or not (version 4)
				v = drawVersion(t, []string{"indicator", "ipv4-addr", "", str.Draw(t, "type")})
			} else {
				v.ID = str.Draw(t, "id")
				switch rapid.IntRange(0, 3).Draw(t, "prec") {
				case 1:
					v.Modified = t0.Add(time.Duration(rapid.Int64Range(0, 1e12).Draw(t, "ms")) * time.Millisecond)
				case 2:
					v.Modified = t0.Add(time.Duration(rapid.Int64Range(0, 1e15).Draw(t, "us")) * time.Microsecond)
				case 3:
					v.Modified = t0.Add(time.Duration(rapid.Int64Range(0, 1e18).Draw(t, "ns")))
				}
			}
			v.Source = rapid.SampledFrom([]string{"", "a", "b\"", "c"}).Draw(t, "src")
			vs = append(vs, v)
		}
		for _, kind := range []string{KindServed, KindDenied} {
			got := accessEntries(kind, a, vs)
			// The reference: group with a map, build Entries, Encode.
			var want [][]byte
			var order []string
			items := map[string][]Item{}
			for _, v := range vs {
				if _, ok := items[v.Source]; !ok {
					order = append(order, v.Source)
				}
				ver := ""
				if !v.Modified.IsZero() {
					ver = stix.FormatTimestamp(v.Modified)
				}
				items[v.Source] = append(items[v.Source], Item{ID: v.ID, Version: ver})
			}
			for _, src := range order {
				e := accessEntry(kind, a, src)
				e.Objects = items[src]
				want = append(want, Encode(&e))
			}
			if len(got) != len(want) {
				t.Fatalf("%s: %d entries, want %d", kind, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("%s entry %d:\n%s\nwant\n%s", kind, i, got[i], want[i])
				}
			}
		}
	})
}

// The hand-written timestamp formatting is the standard library's.
func TestTimestampFormatting(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ts := time.Unix(rapid.Int64Range(-62135596800, 253402300799).Draw(t, "s"), rapid.Int64Range(0, 999999999).Draw(t, "ns")).UTC()
		if got, want := FormatTime(ts), ts.Format("2006-01-02T15:04:05.000000Z"); got != want {
			t.Fatalf("FormatTime %q, want %q", got, want)
		}
		for _, r := range []time.Duration{time.Millisecond, time.Microsecond, 1} {
			tr := ts.Truncate(r)
			if got, want := string(appendVersionKey(nil, tr)), stix.FormatTimestamp(tr); got != want {
				t.Fatalf("appendVersionKey %q, want %q", got, want)
			}
		}
	})
	// Outside four-digit years: the slow path, still the same.
	far := time.Date(12345, 1, 2, 3, 4, 5, 6000, time.UTC)
	if got, want := FormatTime(far), far.Format("2006-01-02T15:04:05.000000Z"); got != want {
		t.Fatalf("year 12345: %q, want %q", got, want)
	}
}

func TestWithheld(t *testing.T) {
	v := func(id string, sec int) store.Version {
		return store.Version{ID: id, Modified: t0.Add(time.Duration(sec) * time.Second), Source: "s", Raw: []byte("{}")}
	}
	page := []store.Version{v("a", 1), v("a", 2), v("b", 1), v("c", 1), v("d", 1)}
	keys := VersionKeys(page)
	if keys[0].Raw != nil || keys[3].ID != "c" {
		t.Fatalf("VersionKeys copied %+v", keys[0])
	}
	kept := append(page[:0], page[1], page[3]) // as a filter compacts in place
	got := Withheld(keys, kept)
	var ids []string
	for _, w := range got {
		ids = append(ids, fmt.Sprintf("%s@%d", w.ID, w.Modified.Sub(t0)/time.Second))
	}
	if want := []string{"a@1", "b@1", "d@1"}; !slices.Equal(ids, want) {
		t.Errorf("Withheld = %v, want %v", ids, want)
	}
	if len(Withheld(keys, nil)) != 5 || len(Withheld(nil, nil)) != 0 {
		t.Error("Withheld of everything or nothing")
	}
}
