package audit

import (
	"bytes"
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// The version 2 form of a served entry, written out by hand: types
// sorted, objects in the order served, consecutive versions of one id
// together (the nanosecond one as a string), an unversioned object as its
// id alone.
func TestItemsV2Form(t *testing.T) {
	ms := t0                              // 2026-03-01T12:00:00.000Z
	us := t0.Add(1500 * time.Microsecond) // .001500
	ns := t0.Add(2*time.Millisecond + 7)  // .002000007: not whole microseconds
	vs := []store.Version{
		{ID: "indicator--" + uuidN(2), Source: "acme", Modified: us},
		{ID: "ipv4-addr--" + uuidN(9), Source: "acme"},
		{ID: "indicator--" + uuidN(1), Source: "acme", Modified: ns},
		{ID: "indicator--" + uuidN(1), Source: "acme", Modified: ms},
		{ID: "attack-pattern--" + uuidN(3), Source: "acme", Modified: ms},
	}
	out := Served(Access{Time: t0, Actor: "de", Path: PathTAXIIVersions, Collection: "c1"}, vs)
	if len(out) != 1 {
		t.Fatalf("%d entries", len(out))
	}
	want := `{"actor":"de","collection":"c1","kind":"served","objects":{` +
		`"attack-pattern":[["` + uuidN(3) + `",1772366400000000]],` +
		`"indicator":[["` + uuidN(2) + `",1772366400001500],["` + uuidN(1) + `","2026-03-01T12:00:00.002000007Z",1772366400000000]],` +
		`"ipv4-addr":[["` + uuidN(9) + `"]]},` +
		`"org":"de","path":"taxii.versions","source":"acme","t":"2026-03-01T12:00:00.000000Z","v":3}`
	if string(out[0]) != want {
		t.Fatalf("served entry\n%s\nwant\n%s", out[0], want)
	}
	e, err := ParseEntry(out[0])
	if err != nil {
		t.Fatal(err)
	}
	wantItems := Items{
		{ID: "attack-pattern--" + uuidN(3), Version: "2026-03-01T12:00:00.000Z"},
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
		b := Denied(Access{Time: t0, Actor: "a", Path: PathTAXIIObjects}, vs)[0]
		if got := canonicalByMap(t, b); !bytes.Equal(got, b) {
			t.Fatalf("not canonical:\n%s\n%s", b, got)
		}
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
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
		if again := Encode(&e); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
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

// Version 2 is what makes serving cheap enough: a page of 1,000
// indicators must take at most 75 % of version 1's bytes.
func TestItemsV2Size(t *testing.T) {
	vs := make([]store.Version, 1000)
	for i := range vs {
		vs[i] = store.Version{ID: "indicator--" + uuidN(i*7919), Source: "acme",
			Modified: t0.Add(time.Duration(i) * 1234567 * time.Microsecond).Truncate(time.Millisecond)}
	}
	a := Access{Time: t0, Actor: "de", Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}
	v2 := Served(a, vs)[0]
	e, err := ParseEntry(v2)
	if err != nil {
		t.Fatal(err)
	}
	e.V = 1
	v1 := Encode(&e)
	t.Logf("1,000 indicators: version 1 %d bytes, version 2 %d bytes (%.0f %%)", len(v1), len(v2), 100*float64(len(v2))/float64(len(v1)))
	if len(v2)*4 > len(v1)*3 {
		t.Errorf("version 2 entry %d bytes, version 1 %d: not compact", len(v2), len(v1))
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
		if _, err := l.Append(ctx, entries); err != nil {
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
			r.Entry = bytes.Replace(r.Entry, []byte("1772366400000001"), []byte("1772366400000002"), 1)
			r.Entry = bytes.Replace(r.Entry, []byte("00.000Z"), []byte("00.001Z"), 1)
			if _, err := CheckReceipt(r, k.Verifier); err == nil {
				t.Errorf("entry %d: a receipt with a changed version verifies", idx)
			}
		}
	})
}
