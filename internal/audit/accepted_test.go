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

	"github.com/go-json-experiment/json"
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
func acceptedRec(t interface {
	Helper()
	Fatalf(string, ...any)
}, uuid string, added int64, sum string, version int64) []byte {
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
		back := roundTrip(t, b)
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

// drawAccepted is one stored version for an accepted entry: an id and
// version key as drawVersion makes them (packable or not), and a
// date_added and digest that are usually packable (whole microseconds
// within ±2^53 in FormatTime's form; 64 lowercase hex digits) and
// sometimes not (a time string of another form, an uppercase digest).
func drawAccepted(t *rapid.T, types []string) (Accepted, bool) {
	v := drawVersion(t, types)
	a := Accepted{ID: v.ID}
	if !v.Modified.IsZero() {
		a.Version = stix.FormatTimestamp(v.Modified)
	}
	ok := packableWant(v)
	var added int64
	switch rapid.IntRange(0, 5).Draw(t, "addedform") {
	case 0: // at and just beyond the exact range
		added = maxExactMicros + rapid.Int64Range(-1, 1).Draw(t, "addededge")
		if rapid.Bool().Draw(t, "addedneg") {
			added = -added
		}
	case 1: // a STIX timestamp, not FormatTime's form
		a.Added = stix.FormatTimestamp(t0.Add(time.Duration(rapid.Int64Range(0, 1e9).Draw(t, "addedms")) * time.Millisecond))
		ok = false
	default:
		added = t0.UnixMicro() + rapid.Int64Range(-1e15, 1e15).Draw(t, "addedus")
	}
	if a.Added == "" {
		a.Added = FormatTime(time.UnixMicro(added))
		ok = ok && added >= -maxExactMicros && added <= maxExactMicros
	}
	a.SHA256 = hex.EncodeToString(rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "sha256"))
	if rapid.IntRange(0, 9).Draw(t, "shaform") == 0 {
		a.SHA256 = strings.ToUpper(a.SHA256)
		ok = ok && a.SHA256 == strings.ToLower(a.SHA256) // all digits
	}
	return a, ok
}

// Any mix of versions survives version 4: each type is packed exactly
// when all its versions are packable, a packed type's string is the
// base64url of the records built from each version's parts, the decoded
// list is the input by type (in input order within a type), and the
// encoding is canonical and stable. Version 3 never packs.
func TestAcceptedV4RoundTrip(t *testing.T) {
	types := []string{"indicator", "ipv4-addr", "malware", ""}
	rapid.Check(t, func(t *rapid.T) {
		e := Entry{Kind: KindAccepted, V: rapid.IntRange(3, 4).Draw(t, "v"), Time: "x", Source: "s"}
		packable := map[string]bool{}
		for range rapid.IntRange(1, 12).Draw(t, "n") {
			a, ok := drawAccepted(t, types)
			typ, _ := splitID(a.ID)
			if p, seen := packable[typ]; !seen || p {
				packable[typ] = ok && typ != ""
			}
			e.Accepted = append(e.Accepted, a)
		}
		b := Encode(&e)
		back := roundTrip(t, b)
		want := slices.Clone(e.Accepted)
		slices.SortStableFunc(want, func(x, y Accepted) int {
			tx, _ := splitID(x.ID)
			ty, _ := splitID(y.ID)
			return strings.Compare(tx, ty)
		})
		if !reflect.DeepEqual(back.Accepted, want) {
			t.Fatalf("decoded\n%+v\nwant\n%+v", back.Accepted, want)
		}
		// Each type's form, and a packed string's bytes.
		var raw struct {
			Accepted map[string]any `json:"accepted"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		for typ, v := range raw.Accepted {
			s, packed := v.(string)
			if packed != (e.V >= 4 && packable[typ]) {
				t.Fatalf("v%d type %q packed %v, want %v:\n%s", e.V, typ, packed, !packed, b)
			}
			if !packed {
				continue
			}
			var recs []byte
			for _, a := range want {
				if ty, rest := splitID(a.ID); ty == typ {
					added, _ := time.Parse(time.RFC3339Nano, a.Added)
					ver := int64(math.MinInt64)
					if a.Version != "" {
						vt, _ := time.Parse(time.RFC3339Nano, a.Version)
						ver = vt.UnixMicro()
					}
					recs = append(recs, acceptedRec(t, rest, added.UnixMicro(), a.SHA256, ver)...)
				}
			}
			if w := base64.RawURLEncoding.EncodeToString(recs); s != w {
				t.Fatalf("type %q: %q, want %q", typ, s, w)
			}
		}
	})
}

// The worked example of docs/audit.md ("The versions of accepted
// entries"): one indicator version, 64 bytes, 86 characters.
func TestAcceptedPackedExample(t *testing.T) {
	e := Entry{Kind: KindAccepted, V: 4, Time: "x", Accepted: AcceptedList{{ID: "indicator--6ba7b810-9dad-41d1-80b4-00c04fd430c8",
		Version: "2026-03-01T12:00:00.001500Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))}}}
	const (
		rec = "6ba7b8109dad41d180b400c04fd430c8" + "00064bf535b0f240" +
			"44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" + "00064bf535af15dc"
		str = "a6e4EJ2tQdGAtADAT9QwyAAGS_U1sPJARBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4oABkv1Na8V3A"
	)
	raw, _ := hex.DecodeString(rec)
	if got := base64.RawURLEncoding.EncodeToString(raw); got != str || len(str) != 86 {
		t.Fatalf("the example's record is %q (%d), want %q", got, len(got), str)
	}
	if want := `{"accepted":{"indicator":"` + str + `"},"kind":"accepted","t":"x","v":4}`; string(Encode(&e)) != want {
		t.Fatalf("got  %s\nwant %s", Encode(&e), want)
	}
}

func TestAcceptedPackedRejects(t *testing.T) {
	sum := ObjectSHA256([]byte("{}"))
	rec := func(added, version int64) []byte { return acceptedRec(t, uuidN(1), added, sum, version) }
	good := rec(1772366400123456, 1772366400000000)
	two := base64.RawURLEncoding.EncodeToString(append(slices.Clone(good), good...)) // 171 characters
	one := base64.RawURLEncoding.EncodeToString(good)                                // 86, the last with 4 unused bits
	for name, tc := range map[string]struct{ in, want string }{
		"empty string":      {`{"indicator":""}`, `accepted: type "indicator": empty packed string`},
		"padding":           {`{"indicator":"` + one + `=="}`, `accepted: type "indicator": record 0: = padding`},
		"padding, second":   {`{"indicator":"` + base64.URLEncoding.EncodeToString(append(slices.Clone(good), good...)) + `"}`, `accepted: type "indicator": record 1: = padding`},
		"standard alphabet": {`{"indicator":"` + two[:100] + "+" + two[101:] + `"}`, `accepted: type "indicator": record 1: not unpadded base64url`},
		"line break":        {`{"indicator":"` + one[:40] + `\n` + one[40:] + `"}`, `accepted: type "indicator": record 0: a line break is not base64url`},
		"trailing bits":     {`{"indicator":"` + one[:85] + "B" + `"}`, `accepted: type "indicator": record 0: not unpadded base64url`},
		"incomplete":        {`{"indicator":"` + base64.RawURLEncoding.EncodeToString(good[:63]) + `"}`, `accepted: type "indicator": record 0 has 63 bytes, not 64`},
		"incomplete second": {`{"indicator":"` + base64.RawURLEncoding.EncodeToString(append(slices.Clone(good), good[:24]...)) + `"}`, `accepted: type "indicator": record 1 has 24 bytes, not 64`},
		"served record":     {`{"indicator":"AAAAAAAAQACAAAAAAAAAAQAGS_U1rxAA"}`, `accepted: type "indicator": record 0 has 24 bytes, not 64`},
		"added too big": {`{"indicator":"` + base64.RawURLEncoding.EncodeToString(append(slices.Clone(good), rec(maxExactMicros+1, math.MinInt64)...)) + `"}`,
			`accepted: type "indicator": record 1: added 9007199254740993 µs is outside ±2^53`},
		"added none":      {`{"indicator":"` + base64.RawURLEncoding.EncodeToString(rec(math.MinInt64, 0)) + `"}`, `accepted: type "indicator": record 0: added -9223372036854775808 µs is outside ±2^53`},
		"version too low": {`{"indicator":"` + base64.RawURLEncoding.EncodeToString(rec(0, -maxExactMicros-1)) + `"}`, `accepted: type "indicator": record 0: version -9007199254740993 µs is outside ±2^53`},
		"type empty":      {`{"":"` + one + `"}`, `accepted: the type "" is never packed`},
		"neither":         {`{"indicator":5}`, `accepted: type "indicator": 5 is neither a packed string nor a list`},
	} {
		in := `{"accepted":` + tc.in + `,"kind":"accepted","t":"x","v":4}`
		_, err := ParseEntry([]byte(in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	// The edges themselves are accepted.
	edges := append(rec(maxExactMicros, -maxExactMicros), rec(-maxExactMicros, maxExactMicros)...)
	in := `{"accepted":{"indicator":"` + base64.RawURLEncoding.EncodeToString(edges) + `"},"kind":"accepted","t":"x","v":4}`
	e, err := ParseEntry([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(Encode(&e)) != in || len(e.Accepted) != 2 || e.Accepted[1].Added != FormatTime(time.UnixMicro(-maxExactMicros)) {
		t.Errorf("edges: %+v\n%s", e.Accepted, Encode(&e))
	}
}

// Each type has one form: a packable type written as a list in version
// 4, or packed in version 3, parses to the same versions but does not
// re-encode to its own bytes.
func TestAcceptedWrongForm(t *testing.T) {
	a := Accepted{ID: "indicator--" + uuidN(1), Version: "2026-03-01T12:00:00.000Z", Added: "2026-03-01T12:00:00.123456Z", SHA256: ObjectSHA256([]byte("{}"))}
	v3 := Entry{Kind: KindAccepted, V: 3, Time: "x", Accepted: AcceptedList{a}}
	v4 := v3
	v4.V = 4
	list, packed := string(Encode(&v3)), string(Encode(&v4))
	if !strings.Contains(list, `"indicator":[[`) || !strings.Contains(packed, `"indicator":"`) {
		t.Fatalf("forms: %s %s", list, packed)
	}
	for name, in := range map[string]string{
		"list in v4":   strings.Replace(list, `"v":3`, `"v":4`, 1),
		"packed in v3": strings.Replace(packed, `"v":4`, `"v":3`, 1),
	} {
		e, err := ParseEntry([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := e.AcceptedVersions(); len(got) != 1 || got[0] != a {
			t.Errorf("%s: %+v", name, got)
		}
		if string(Encode(&e)) == in {
			t.Errorf("%s re-encodes to its own bytes: %s", name, in)
		}
	}
}

// appendBase64URL is encoding/base64's unpadded URL encoding, for any
// length (accepted records are not a whole number of 3-byte groups).
func TestAppendBase64URL(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		src := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "bytes")
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 3).Draw(t, "prefix")
		got := appendBase64URL(slices.Clone(prefix), src)
		if want := base64.RawURLEncoding.AppendEncode(slices.Clone(prefix), src); !bytes.Equal(got, want) {
			t.Fatalf("%x: %q, want %q", src, got, want)
		}
	})
}
