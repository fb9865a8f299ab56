package audit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

func acceptedIndicator(t testing.TB, n int, modified time.Time) *stix.Object {
	t.Helper()
	ts := stix.FormatTimestamp(modified)
	o, err := stix.Parse([]byte(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2026-01-01T00:00:00Z","modified":%q,"pattern":"[ipv4-addr:value = '10.0.0.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`,
		uuidN(n), ts, n%250)))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// The recorder names every version a put stored (and no unchanged one)
// in accepted entries of at most maxAcceptedPerEntry versions, each the
// canonical encoding of what it decodes to.
func TestRecordAccepted(t *testing.T) {
	ip, err := stix.Parse([]byte(`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--` + uuidN(7) + `","value":"192.0.2.1"}`))
	if err != nil {
		t.Fatal(err)
	}
	n := maxAcceptedPerEntry + 5
	c := store.Change{Op: store.OpPut, Collection: "c1", Source: "acme"}
	var want []Accepted
	for i := range n {
		mod := t0.Add(time.Duration(i) * time.Millisecond)
		if i == 3 {
			mod = mod.Add(7) // not whole microseconds: written as a string
		}
		o := acceptedIndicator(t, i, mod)
		if i == 2 {
			o = ip
		}
		added := t0.Add(time.Hour + time.Duration(i)*time.Microsecond)
		unchanged := i == 5
		c.Objects = append(c.Objects, o)
		c.Outcomes = append(c.Outcomes, store.PutOutcome{Added: !unchanged, DateAdded: added})
		if unchanged {
			continue
		}
		a := Accepted{ID: o.ID, Added: FormatTime(added), SHA256: ObjectSHA256(o.Raw)}
		if !o.Version().IsZero() {
			a.Version = stix.FormatTimestamp(o.Version())
		}
		want = append(want, a)
	}
	out, err := record("de", FormatTime(t0), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 {
		t.Fatalf("%d entries for %d versions, want 2", len(out), n-1)
	}
	var got []Accepted
	for i, b := range out {
		e, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("entry %d: %v\n%s", i, err, b)
		}
		if !bytes.Equal(Encode(&e), b) {
			t.Fatalf("entry %d is not what Encode writes:\n%s\n%s", i, b, Encode(&e))
		}
		if e.Kind != KindAccepted || e.V != SchemaVersion || e.Actor != "de" || e.Source != "acme" || e.Collection != "c1" || !e.Concerns("acme") || e.Concerns("telco") {
			t.Errorf("entry %d: %+v", i, e)
		}
		got = append(got, e.AcceptedVersions()...)
	}
	// Entries group by type; compare as sets keyed by id.
	byID := func(l []Accepted) map[string]Accepted {
		m := map[string]Accepted{}
		for _, a := range l {
			m[a.ID] = a
		}
		return m
	}
	if len(got) != len(want) || !reflect.DeepEqual(byID(got), byID(want)) {
		t.Fatalf("entries name %d versions, want %d; first %+v", len(got), len(want), got[:3])
	}
	// The first entry's indicators stay arrays (one version key has
	// nanoseconds); its one ipv4-addr, without a version key, is packed,
	// and so are the second entry's four indicators.
	ipRec := acceptedRec(t, uuidN(7), t0.Add(time.Hour+2*time.Microsecond).UnixMicro(), ObjectSHA256(ip.Raw), math.MinInt64)
	if !strings.Contains(string(out[0]), `"indicator":[["`+uuidN(0)+`",`) || strings.Count(string(out[0]), `"2026-03-01T12:00:00.003000007Z"`) != 1 ||
		!strings.Contains(string(out[0]), `,"ipv4-addr":"`+base64.RawURLEncoding.EncodeToString(ipRec)+`"},`) {
		t.Errorf("unversioned object or nanosecond version not in the expected form:\n%.600s", out[0])
	}
	var recs []byte
	for i := n - 4; i < n; i++ {
		o := c.Objects[i]
		recs = append(recs, acceptedRec(t, uuidN(i), c.Outcomes[i].DateAdded.UnixMicro(), ObjectSHA256(o.Raw), o.Version().UnixMicro())...)
	}
	if want := `{"accepted":{"indicator":"` + base64.RawURLEncoding.EncodeToString(recs) + `"},"actor":"de",`; !strings.HasPrefix(string(out[1]), want) {
		t.Errorf("second entry:\n%s\nwant it to start\n%s", out[1], want)
	}
}

// acceptedRec is the packed record of one version, built from its parts
// with encoding/hex and encoding/binary rather than the package's own
// parsers.
func acceptedRec(t testing.TB, uuid string, added int64, sum string, version int64) []byte {
	t.Helper()
	u, err := hex.DecodeString(strings.ReplaceAll(uuid, "-", ""))
	if err != nil || len(u) != 16 {
		t.Fatalf("uuid %q: %v", uuid, err)
	}
	d, err := hex.DecodeString(sum)
	if err != nil || len(d) != 32 {
		t.Fatalf("sha256 %q: %v", sum, err)
	}
	rec := binary.BigEndian.AppendUint64(u, uint64(added))
	rec = append(rec, d...)
	return binary.BigEndian.AppendUint64(rec, uint64(version))
}

// Any accepted list encodes canonically and decodes back to itself.
func TestAcceptedProperty(t *testing.T) {
	str := rapid.OneOf(rapid.String(), rapid.StringMatching(`[a-z"\\\x00-\x1f-]{0,12}`), rapid.Just("indicator--x"))
	tm := rapid.OneOf(str, rapid.Just("2026-03-01T12:00:00.123456Z"), rapid.Just("2026-03-01T12:00:00.000Z"),
		rapid.Just("2026-03-01T12:00:00.1Z"), rapid.Just("2026-03-01T12:00:00.000000001Z"))
	rapid.Check(t, func(t *rapid.T) {
		e := Entry{Kind: KindAccepted, V: 3, Time: "x", Source: str.Draw(t, "source")}
		for range rapid.IntRange(1, 5).Draw(t, "n") {
			e.Accepted = append(e.Accepted, Accepted{ID: str.Draw(t, "id"), Version: rapid.OneOf(tm, rapid.Just("")).Draw(t, "version"),
				Added: tm.Draw(t, "added"), SHA256: str.Draw(t, "sha")})
		}
		b := Encode(&e)
		if got := canonicalByMap(t, b); !bytes.Equal(got, b) {
			t.Fatalf("not canonical:\n%s\n%s", b, got)
		}
		back, err := ParseEntry(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if again := Encode(&back); !bytes.Equal(again, b) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b, again)
		}
		if len(back.Accepted) != len(e.Accepted) {
			t.Fatalf("%d versions back, want %d", len(back.Accepted), len(e.Accepted))
		}
	})
}

func TestAcceptedRejects(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          `{}`,
		"empty type":     `{"indicator":[]}`,
		"too short":      `{"indicator":[["u",1]]}`,
		"too long":       `{"indicator":[["u",1,"s",2,3]]}`,
		"id not string":  `{"indicator":[[1,1,"s"]]}`,
		"sha not string": `{"indicator":[["u",1,2]]}`,
		"added object":   `{"indicator":[["u",{},"s"]]}`,
		"added too big":  `{"indicator":[["u",9007199254740993,"s"]]}`,
		"version bool":   `{"indicator":[["u",1,"s",true]]}`,
		"not an object":  `[]`,
	} {
		in := `{"accepted":` + in + `,"kind":"accepted","t":"x","v":3}`
		if _, err := ParseEntry([]byte(in)); err == nil {
			t.Errorf("%s: accepted %s", name, in)
		}
	}
}

// A logged put and a v2 object.accepted entry both answer
// AcceptedVersions, through the store's recorder.
func TestAcceptedVersionsBothForms(t *testing.T) {
	old := Entry{Kind: KindObjectAccepted, V: 2, Time: "x", ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z",
		Added: "2026-03-01T12:00:00.123456Z", SHA256: "ab"}
	if got := old.AcceptedVersions(); len(got) != 1 || got[0] != (Accepted{ID: old.ID, Version: old.Version, Added: old.Added, SHA256: "ab"}) {
		t.Errorf("object.accepted: %+v", got)
	}
	if got := (&Entry{Kind: KindServed}).AcceptedVersions(); got != nil {
		t.Errorf("served: %+v", got)
	}
	eachBackend(t, func(t *testing.T, open func(t testing.TB) *testDB) {
		db := open(t)
		db.lg.SetRecorder(Recorder(nil))
		objs := []*stix.Object{acceptedIndicator(t, 1, t0), acceptedIndicator(t, 2, t0)}
		out, err := db.Put(WithActor(context.Background(), "acme"), store.DefaultCollectionID, "acme", objs)
		if err != nil {
			t.Fatal(err)
		}
		raw := readAll(t, db.lg)
		e, err := ParseEntry(raw[len(raw)-1])
		if err != nil {
			t.Fatal(err)
		}
		got := e.AcceptedVersions()
		if len(got) != 2 {
			t.Fatalf("last entry names %d versions: %s", len(got), raw[len(raw)-1])
		}
		for i, o := range objs {
			if got[i].ID != o.ID || got[i].SHA256 != ObjectSHA256(o.Raw) || got[i].Added != FormatTime(out[i].DateAdded) {
				t.Errorf("version %d: %+v", i, got[i])
			}
		}
	})
}

// byType orders like a stable sort by type.
func TestByTypeIsStableSort(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		types := rapid.SliceOfN(rapid.SampledFrom([]string{"", "indicator", "ipv4-addr", "x-a", "attack-pattern", "Indicator"}), 0, 40).Draw(t, "types")
		want := make([]int, len(types))
		for i := range want {
			want[i] = i
		}
		slices.SortStableFunc(want, func(a, b int) int { return strings.Compare(types[a], types[b]) })
		if got := byType(len(types), func(i int) string { return types[i] }); !slices.Equal(got, want) {
			t.Fatalf("byType %v, want %v", got, want)
		}
	})
}
