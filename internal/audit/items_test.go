package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// The grouped forms of a served entry, written out by hand: types
// sorted, objects in the order served. Version 4 packs attack-pattern and
// ipv4-addr (every id a UUID, every version key whole microseconds or
// none) and keeps indicator, which has a nanosecond version, in the
// array form of versions 2 and 3: consecutive versions of one id
// together (the nanosecond one as a string), an unversioned object as
// its id alone.
func TestItemsGroupedForms(t *testing.T) {
	ms := t0                              // 2026-03-01T12:00:00.000Z
	us := t0.Add(1500 * time.Microsecond) // .001500
	ns := t0.Add(2*time.Millisecond + 7)  // .002000007: not whole microseconds
	vs := []store.Version{
		{ID: "indicator--" + uuidN(2), Source: "acme", Modified: us},
		{ID: "ipv4-addr--" + uuidN(9), Source: "acme"},
		{ID: "indicator--" + uuidN(1), Source: "acme", Modified: ns},
		{ID: "indicator--" + uuidN(1), Source: "acme", Modified: ms},
		{ID: "attack-pattern--" + uuidN(3), Source: "acme", Modified: ms},
		{ID: "attack-pattern--" + uuidN(4), Source: "acme", Modified: us},
	}
	out := Served(Access{Time: t0, Actor: "de", Path: PathTAXIIVersions, Collection: "c1"}, vs)
	if len(out) != 1 {
		t.Fatalf("%d entries", len(out))
	}
	// The records, computed apart from this package: the UUID's bytes,
	// then the microseconds (00064bf535af1000 is 1772366400000000, ...15dc
	// is 1772366400001500, 8000000000000000 is none), in base64url.
	//	00000000000040008000000000000003 00064bf535af1000 → AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA
	//	00000000000040008000000000000004 00064bf535af15dc → AAAAAAAAQACAAAAAAAAABAAGS_U1rxXc
	//	00000000000040008000000000000009 8000000000000000 → AAAAAAAAQACAAAAAAAAACYAAAAAAAAAA
	head := `{"actor":"de","collection":"c1","kind":"served","objects":{`
	tail := `},"org":"de","path":"taxii.versions","source":"acme","t":"2026-03-01T12:00:00.000000Z","v":`
	indicator := `"indicator":[["` + uuidN(2) + `",1772366400001500],["` + uuidN(1) + `","2026-03-01T12:00:00.002000007Z",1772366400000000]]`
	want := head + `"attack-pattern":"AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAAAAAAAAAAQACAAAAAAAAABAAGS_U1rxXc",` + indicator +
		`,"ipv4-addr":"AAAAAAAAQACAAAAAAAAACYAAAAAAAAAA"` + tail + `4}`
	if string(out[0]) != want {
		t.Fatalf("served entry\n%s\nwant\n%s", out[0], want)
	}
	e, err := ParseEntry(out[0])
	if err != nil {
		t.Fatal(err)
	}
	wantItems := Items{
		{ID: "attack-pattern--" + uuidN(3), Version: "2026-03-01T12:00:00.000Z"},
		{ID: "attack-pattern--" + uuidN(4), Version: "2026-03-01T12:00:00.001500Z"},
		{ID: "indicator--" + uuidN(2), Version: "2026-03-01T12:00:00.001500Z"},
		{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.002000007Z"},
		{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"},
		{ID: "ipv4-addr--" + uuidN(9)},
	}
	if !reflect.DeepEqual(e.Objects, wantItems) {
		t.Fatalf("decoded %+v\nwant %+v", e.Objects, wantItems)
	}
	if !bytes.Equal(Encode(&e), out[0]) {
		t.Fatalf("re-encoded differently: %s", Encode(&e))
	}
	// The same items in versions 2 and 3: arrays only.
	for _, v := range []int{2, 3} {
		e.V = v
		old := head + `"attack-pattern":[["` + uuidN(3) + `",1772366400000000],["` + uuidN(4) + `",1772366400001500]],` + indicator +
			`,"ipv4-addr":[["` + uuidN(9) + `"]]` + tail + string(rune('0'+v)) + `}`
		if got := Encode(&e); string(got) != old {
			t.Fatalf("version %d\n%s\nwant\n%s", v, got, old)
		}
		back, err := ParseEntry([]byte(old))
		if err != nil || !reflect.DeepEqual(back.Objects, wantItems) {
			t.Fatalf("version %d decoded %+v, %v", v, back.Objects, err)
		}
	}
}

// The worked example of docs/audit.md, computed apart from this
// package: each record's 24 bytes in hex, and their 32 characters.
func TestItemsPackedVector(t *testing.T) {
	//	6ba7b8109dad41d180b400c04fd430c8 00064bf535af15dc → a6e4EJ2tQdGAtADAT9QwyAAGS_U1rxXc
	//	9b2c4a7e31f04d6ab5e80c1d2e3f4a5b 8000000000000000 → myxKfjHwTWq16AwdLj9KW4AAAAAAAAAA
	vs := []store.Version{
		{ID: "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8", Source: "acme", Modified: time.UnixMicro(1772366400001500)},
		{ID: "ipv4-addr--9b2c4a7e-31f0-4d6a-b5e8-0c1d2e3f4a5b", Source: "acme"},
	}
	want := `{"actor":"de","kind":"served","objects":{"indicator":"a6e4EJ2tQdGAtADAT9QwyAAGS_U1rxXc",` +
		`"ipv4-addr":"myxKfjHwTWq16AwdLj9KW4AAAAAAAAAA"},"org":"de","path":"taxii.objects","source":"acme","t":"2026-03-01T12:00:00.000000Z","v":4}`
	out := Served(Access{Time: t0, Actor: "de", Path: PathTAXIIObjects}, vs)
	if len(out) != 1 || string(out[0]) != want {
		t.Fatalf("served %s\nwant %s", out, want)
	}
	e, err := ParseEntry(out[0])
	if err != nil {
		t.Fatal(err)
	}
	items := Items{{ID: vs[0].ID, Version: "2026-03-01T12:00:00.001500Z"}, {ID: vs[1].ID}}
	if !reflect.DeepEqual(e.Objects, items) {
		t.Fatalf("decoded %+v", e.Objects)
	}
}

// Entries written before version 2 stay readable, and encode to their
// exact bytes again (their leaf hashes in the tree depend on it).
func TestItemsV1StillDecoded(t *testing.T) {
	old := `{"actor":"o1","collection":"c1","kind":"served","objects":[["indicator--` + uuidN(2) +
		`","2026-03-01T12:00:00.000Z"],["ipv4-addr--` + uuidN(1) + `"],["indicator--` + uuidN(1) +
		`","2026-03-01T12:00:00.000001Z"]],"org":"o1","path":"taxii.objects","source":"a1","t":"2026-03-01T12:00:00.000000Z","v":1}`
	e, err := ParseEntry([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	want := Items{{ID: "indicator--" + uuidN(2), Version: "2026-03-01T12:00:00.000Z"}, {ID: "ipv4-addr--" + uuidN(1)},
		{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000001Z"}}
	if e.V != 1 || !reflect.DeepEqual(e.Objects, want) {
		t.Fatalf("decoded %+v", e)
	}
	if got := Encode(&e); string(got) != old {
		t.Fatalf("an old entry re-encodes as\n%s\nwant\n%s", got, old)
	}
	// The same objects in version 2 name the same versions.
	e.V = SchemaVersion
	back, err := ParseEntry(Encode(&e))
	if err != nil {
		t.Fatal(err)
	}
	if !sameItems(back.Objects, want) {
		t.Fatalf("version 2 of the old entry names %+v", back.Objects)
	}
}

func sameItems(a, b []Item) bool {
	cmpItem := func(x, y Item) int {
		return strings.Compare(x.ID+"\x00"+x.Version, y.ID+"\x00"+y.Version)
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmpItem)
	slices.SortFunc(b, cmpItem)
	return slices.Equal(a, b)
}

// Any set of STIX ids and version keys survives version 2: the decoded
// items are the versions served (each key exact to the nanosecond), and
// the encoding is canonical and stable.
func TestItemsV2RoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var vs []store.Version
		var want []Item
		for range rapid.IntRange(1, 12).Draw(t, "n") {
			id := rapid.SampledFrom([]string{"indicator", "ipv4-addr", "x-a--b", "malware"}).Draw(t, "type") + "--" +
				uuidN(rapid.IntRange(0, 5).Draw(t, "uuid"))
			var mod time.Time
			switch rapid.IntRange(0, 3).Draw(t, "prec") {
			case 1:
				mod = t0.Add(time.Duration(rapid.Int64Range(-1e12, 1e12).Draw(t, "ms")) * time.Millisecond)
			case 2:
				mod = t0.Add(time.Duration(rapid.Int64Range(-1e15, 1e15).Draw(t, "us")) * time.Microsecond)
			case 3:
				mod = t0.Add(time.Duration(rapid.Int64Range(-1e18, 1e18).Draw(t, "ns")))
			}
			vs = append(vs, store.Version{ID: id, Modified: mod, Source: "s"})
			ver := ""
			if !mod.IsZero() {
				ver = stix.FormatTimestamp(mod)
			}
			want = append(want, Item{ID: id, Version: ver})
		}
		e := roundTrip(t, Denied(Access{Time: t0, Actor: "a", Path: PathTAXIIObjects}, vs)[0])
		if !sameItems(e.Objects, want) {
			t.Fatalf("decoded %v\nwant %v", e.Objects, want)
		}
		for i, it := range e.Objects {
			if it.Version == "" {
				continue
			}
			if _, err := stix.ParseTimestamp(it.Version); err != nil {
				t.Fatalf("item %d version %q: %v", i, it.Version, err)
			}
		}
	})
}

func TestItemsRejects(t *testing.T) {
	for name, objs := range map[string]string{
		"empty":             `{}`,
		"empty type":        `{"indicator":[]}`,
		"empty object":      `{"indicator":[[]]}`,
		"number id":         `{"indicator":[[1,2]]}`,
		"null version":      `{"indicator":[["x",null]]}`,
		"fraction":          `{"indicator":[["x",1.5]]}`,
		"exponent":          `{"indicator":[["x",1e6]]}`,
		"beyond 2^53":       `{"indicator":[["x",9007199254740993]]}`,
		"bool":              `{"indicator":[["x",true]]}`,
		"not a list":        `{"indicator":{"x":[1]}}`,
		"duplicate type":    `{"indicator":[["x",1]],"indicator":[["y",2]]}`,
		"v1 too long":       `[["a","b","c"]]`,
		"v1 number version": `[["a",1]]`,
		"string":            `"indicator--x"`,
	} {
		in := `{"kind":"served","objects":` + objs + `,"t":"x","v":2}`
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

// Each schema version shrinks a served page of 1,000 indicators: version
// 2 (grouped, the same objects form as 3) to at most 75 % of version 1's
// bytes, version 4 (packed) to at most 60 % of version 3's.
func TestItemsSize(t *testing.T) {
	vs := make([]store.Version, 1000)
	for i := range vs {
		vs[i] = store.Version{ID: "indicator--" + uuidN(i*7919), Source: "acme",
			Modified: t0.Add(time.Duration(i) * 1234567 * time.Microsecond).Truncate(time.Millisecond)}
	}
	e, err := ParseEntry(Served(Access{Time: t0, Actor: "de", Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}, vs)[0])
	if err != nil {
		t.Fatal(err)
	}
	size := map[int]int{}
	for _, v := range []int{1, 3, 4} {
		e.V = v
		size[v] = len(Encode(&e))
	}
	t.Logf("1,000 indicators: version 1 %d bytes, version 3 %d, version 4 %d", size[1], size[3], size[4])
	if size[3]*4 > size[1]*3 {
		t.Errorf("version 3 entry %d bytes, version 1 %d: not grouped", size[3], size[1])
	}
	if size[4]*10 > size[3]*6 {
		t.Errorf("version 4 entry %d bytes, version 3 %d: not packed", size[4], size[3])
	}
}

// Receipts prove entries of both forms: a third party checks each and
// reads the object versions it names.
func TestReceiptsBothForms(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t testing.TB) *testDB) {
		ctx := context.Background()
		db := open(t)
		k := testKey(t, "test")
		l := New(db.lg, k, Config{})
		old := Entry{Kind: KindServed, V: 1, Time: FormatTime(t0), Actor: "de", Org: "de", Source: "acme",
			Path: PathTAXIIObjects, Objects: Items{{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"}}}
		entries := [][]byte{Encode(&old)}
		entries = append(entries, Served(Access{Time: t0, Actor: "de", Path: PathTAXIIObject},
			[]store.Version{{ID: "indicator--" + uuidN(1), Modified: t0.Add(time.Microsecond), Source: "acme"},
				{ID: "indicator--" + uuidN(1), Modified: t0, Source: "acme"}})...)
		if err := l.Append(ctx, entries); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		cp, err := l.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wants := []Items{old.Objects, {{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000001Z"},
			{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z"}}}
		for i, want := range wants {
			idx := cp.Size - 2 + int64(i)
			r, err := l.Receipt(ctx, idx, cp)
			if err != nil {
				t.Fatal(err)
			}
			e, err := CheckReceipt(r, k.Verifier)
			if err != nil {
				t.Fatalf("entry %d: %v", idx, err)
			}
			if e.V != []int{1, SchemaVersion}[i] || !reflect.DeepEqual(e.Objects, want) {
				t.Errorf("entry %d (v%d): objects %+v, want %+v", idx, e.V, e.Objects, want)
			}
			// A changed version breaks the proof.
			orig := slices.Clone(r.Entry)
			r.Entry = bytes.Replace(r.Entry, []byte("00.000Z"), []byte("00.001Z"), 1)
			if i := bytes.Index(r.Entry, []byte(`"indicator":"`)); i >= 0 {
				// The last character of the first packed record holds
				// the low 6 bits of its version.
				r.Entry[i+len(`"indicator":"`)+packedChars-1] ^= 'A' ^ 'B'
			}
			if tampered, err := ParseEntry(r.Entry); err != nil || reflect.DeepEqual(tampered.Objects, want) {
				t.Fatalf("entry %d: the version did not change: %s (%v)", idx, r.Entry, err)
			}
			if bytes.Equal(r.Entry, orig) {
				t.Fatalf("entry %d unchanged", idx)
			}
			if _, err := CheckReceipt(r, k.Verifier); err == nil {
				t.Errorf("entry %d: a receipt with a changed version verifies", idx)
			}
		}
	})
}

// uuidText is the canonical text of 16 bytes.
func uuidText(u []byte) string { return string(appendUUIDText(nil, u)) }

// A generated version: a STIX id (a canonical UUID, its uppercase form,
// or not a UUID) and a version key (none, ms, µs, ns, or micros at and
// beyond ±2^53).
func drawVersion(t *rapid.T, types []string) store.Version {
	typ := rapid.SampledFrom(types).Draw(t, "type")
	rest := uuidText(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "uuid"))
	switch rapid.IntRange(0, 9).Draw(t, "idform") {
	case 0:
		rest = strings.ToUpper(rest)
	case 1:
		rest = rest[:35]
	case 2:
		rest = strings.ReplaceAll(rest, "-", "")
	}
	v := store.Version{ID: typ + "--" + rest, Source: "s"}
	switch rapid.IntRange(0, 6).Draw(t, "prec") {
	case 1:
		v.Modified = t0.Add(time.Duration(rapid.Int64Range(-1e12, 1e12).Draw(t, "ms")) * time.Millisecond)
	case 2:
		v.Modified = t0.Add(time.Duration(rapid.Int64Range(-1e15, 1e15).Draw(t, "us")) * time.Microsecond)
	case 3:
		v.Modified = t0.Add(time.Duration(rapid.Int64Range(-1e18, 1e18).Draw(t, "ns")))
	case 4: // at and just beyond the exact range
		us := maxExactMicros + rapid.Int64Range(-1, 1).Draw(t, "edge")
		if rapid.Bool().Draw(t, "neg") {
			us = -us
		}
		v.Modified = time.UnixMicro(us)
	}
	return v
}

// packableWant is the rule of version 4, stated apart from the code: a
// canonical lowercase UUID, and no version key or one of whole
// microseconds within ±2^53.
var canonicalUUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func packableWant(v store.Version) bool {
	typ, rest, ok := strings.Cut(v.ID, "--")
	if !ok || typ == "" || !canonicalUUID.MatchString(rest) {
		return false
	}
	if v.Modified.IsZero() {
		return true
	}
	us := v.Modified.UnixMicro()
	return v.Modified.Nanosecond()%1000 == 0 && us >= -(1<<53) && us <= 1<<53
}

// Any mix of versions survives version 4: each type is packed exactly
// when all its versions are packable, the decoded items are the versions
// served (by type, then in the order served; each key exact to the
// nanosecond), and the encoding is canonical and stable.
func TestItemsV4RoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var vs []store.Version
		for range rapid.IntRange(1, 12).Draw(t, "n") {
			vs = append(vs, drawVersion(t, []string{"indicator", "ipv4-addr", "malware", "x-a--b"}))
		}
		b := Denied(Access{Time: t0, Actor: "a", Path: PathTAXIIObjects}, vs)[0]
		if got := canonicalByMap(t, b); !bytes.Equal(got, b) {
			t.Fatalf("not canonical:\n%s\n%s", b, got)
		}
		// Which types are packed.
		var raw struct {
			Objects map[string]jsontext.Value `json:"objects"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		packable := map[string]bool{}
		for _, v := range vs {
			typ, _ := splitID(v.ID)
			p, seen := packable[typ]
			packable[typ] = packableWant(v) && (p || !seen)
		}
		for typ, val := range raw.Objects {
			if (val.Kind() == '"') != packable[typ] {
				t.Fatalf("type %q written as %s, packable %v", typ, val, packable[typ])
			}
		}
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		var want []Item
		for _, v := range vs {
			ver := ""
			if !v.Modified.IsZero() {
				ver = stix.FormatTimestamp(v.Modified)
			}
			want = append(want, Item{ID: v.ID, Version: ver})
		}
		slices.SortStableFunc(want, func(x, y Item) int {
			tx, _ := splitID(x.ID)
			ty, _ := splitID(y.ID)
			return strings.Compare(tx, ty)
		})
		if !reflect.DeepEqual([]Item(e.Objects), want) {
			t.Fatalf("decoded %v\nwant %v\nfrom %s", e.Objects, want, b)
		}
		if again := Encode(&e); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
		}
	})
}

func TestItemsPackedRejects(t *testing.T) {
	rec := "AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA" // 24 bytes
	for name, objs := range map[string]string{
		"empty string":    `{"indicator":""}`,
		"bad character":   `{"indicator":"` + rec[:31] + `!"}`,
		"standard base64": `{"indicator":"` + rec[:31] + `+"}`,
		"padding":         `{"indicator":"` + rec + `AAAAAAAAQACAAAAAAAAAAwAGS_U1rx=="}`,
		"23-byte tail":    `{"indicator":"` + rec + `AAAAAAAAQACAAAAAAAAAAwAGS_U1rxA"}`,
		"3 bytes":         `{"indicator":"AAAA"}`,
		"trailing bits":   `{"indicator":"` + rec + `AB"}`,
		"line break":      `{"indicator":"` + rec[:16] + `\n` + rec[16:] + `"}`,
		"beyond 2^53":     `{"indicator":"AAAAAAAAQACAAAAAAAAAAwAgAAAAAAAB"}`,
		"below -2^53":     `{"indicator":"AAAAAAAAQACAAAAAAAAAA__f________"}`,
		"type empty":      `{"":"` + rec + `"}`,
		"number":          `{"indicator":1}`,
		"null":            `{"indicator":null}`,
	} {
		in := `{"kind":"served","objects":` + objs + `,"t":"x","v":4}`
		if e, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s as %+v", name, in, e.Objects)
		} else if !strings.Contains(err.Error(), "objects") {
			t.Errorf("%s: error %q does not say where", name, err)
		}
	}
	// The edges of the range are allowed: ±2^53 µs.
	for _, s := range []string{"AAAAAAAAQACAAAAAAAAAAwAgAAAAAAAA", "AAAAAAAAQACAAAAAAAAAA__gAAAAAAAA"} {
		if _, err := ParseEntry([]byte(`{"kind":"served","objects":{"indicator":"` + s + `"},"t":"x","v":4}`)); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
}

// Which form each type takes is part of the canonical encoding: an entry
// in the other form parses, names the same versions, and re-encodes
// differently, so comparing Encode with the bytes finds it.
func TestItemsFormNotCanonical(t *testing.T) {
	a := Access{Time: t0, Actor: "de", Path: PathTAXIIObjects}
	upper := "indicator--" + strings.ToUpper("6ba7b810-9dad-41d1-80b4-00c04fd430c8")
	served := Served(a, []store.Version{{ID: upper, Modified: t0, Source: "s"}})[0]
	arrays := `{"indicator":[["6BA7B810-9DAD-41D1-80B4-00C04FD430C8",1772366400000000]]}`
	if !bytes.Contains(served, []byte(arrays)) {
		t.Fatalf("an uppercase UUID was packed: %s", served)
	}
	// The uppercase UUID forced into a record reads back lowercase: a
	// different id, and so a different entry.
	forced := bytes.Replace(served, []byte(arrays), []byte(`{"indicator":"a6e4EJ2tQdGAtADAT9QwyAAGS_U1rxAA"}`), 1)
	e, err := ParseEntry(forced)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Objects) != 1 || e.Objects[0].ID == upper || !strings.EqualFold(e.Objects[0].ID, upper) ||
		e.Objects[0].Version != "2026-03-01T12:00:00.000Z" {
		t.Fatalf("forced record decoded as %+v", e.Objects)
	}
	if e.Objects = (Items{{ID: upper, Version: e.Objects[0].Version}}); bytes.Equal(Encode(&e), forced) {
		t.Fatalf("an uppercase id re-encodes packed: %s", forced)
	}
	for _, c := range []struct {
		v         int
		from, to  string
		canonical bool
	}{
		// A packable type left as arrays in version 4.
		{4, `"AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA"`, `[["00000000-0000-4000-8000-000000000003",1772366400000000]]`, false},
		// A packed type in version 3.
		{3, `[["00000000-0000-4000-8000-000000000003",1772366400000000]]`, `"AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA"`, false},
		{4, `"AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA"`, `"AAAAAAAAQACAAAAAAAAAAwAGS_U1rxAA"`, true},
	} {
		canon := `{"kind":"served","objects":{"indicator":` + c.from + `},"t":"x","v":` + strconv.Itoa(c.v) + `}`
		other := strings.Replace(canon, c.from, c.to, 1)
		e, err := ParseEntry([]byte(other))
		if err != nil {
			t.Fatalf("%s: %v", other, err)
		}
		want := Items{{ID: "indicator--" + uuidN(3), Version: "2026-03-01T12:00:00.000Z"}}
		if !reflect.DeepEqual(e.Objects, want) {
			t.Errorf("%s decoded %+v", other, e.Objects)
		}
		if got := string(Encode(&e)); got != canon || (got == other) != c.canonical {
			t.Errorf("%s re-encodes as %s", other, got)
		}
	}
}

// The hand-written encoder is the standard library's base64url.
func TestAppendRecords(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		recs := rapid.SliceOfN(rapid.Byte(), 0, 5*packedRecord).Draw(t, "bytes")
		recs = recs[:len(recs)/packedRecord*packedRecord]
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 3).Draw(t, "prefix")
		got := appendRecords(slices.Clone(prefix), recs)
		want := base64.RawURLEncoding.AppendEncode(slices.Clone(prefix), recs)
		if !bytes.Equal(got, want) {
			t.Fatalf("%x: %q, want %q", recs, got, want)
		}
	})
}

// parseUUID accepts exactly the canonical text, and gives back the bytes
// that print as it.
func TestParseUUID(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// A UUID's text, sometimes with one byte changed.
		b := []byte(uuidText(rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "uuid")))
		if rapid.Bool().Draw(t, "change") {
			b[rapid.IntRange(0, 35).Draw(t, "at")] = rapid.SampledFrom([]byte("0af-gAF/:`G\x00\xff")).Draw(t, "to")
		}
		s := string(b)
		var u [16]byte
		ok := parseUUID(u[:], s)
		if ok != canonicalUUID.MatchString(s) {
			t.Fatalf("parseUUID(%q) = %v", s, ok)
		}
		if ok && uuidText(u[:]) != s {
			t.Fatalf("parseUUID(%q) gave %x", s, u)
		}
	})
}
