package match

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json"

	"fusion/internal/stix/pattern"
)

// fuzzIndex is a small index with one indicator of each kind.
func fuzzIndex(t testing.TB) *Index {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[ipv4-addr:value = '198.51.100.7']"},
		spec{n: 2, pattern: "[ipv4-addr:value ISSUBSET '203.0.113.0/24']"},
		spec{n: 3, pattern: "[ipv6-addr:value = '2001:db8::1']"},
		spec{n: 4, pattern: "[domain-name:value = 'evil.example']"},
		spec{n: 5, pattern: "[url:value = 'http://evil.example/a?b=c']"},
		spec{n: 6, pattern: "[email-addr:value = 'bad@evil.example']"},
		spec{n: 7, pattern: "[file:hashes.MD5 = '" + md5A + "']"},
		spec{n: 8, pattern: "[network-traffic:dst_ref.value = '192.0.2.7' AND network-traffic:dst_port = 443]"},
		spec{n: 9, pattern: "[domain-name:value = 'bücher.example']"},
	)
	return x
}

// FuzzLookupString checks, for any string, that LookupString agrees with
// Detect, that the detected observable is a fixed point of Detect, that
// every hit carries it, and that looking up the normalised value, or the
// typed observable, gives the same hits.
// Seeds: testdata/fuzz/FuzzLookupString.
func FuzzLookupString(f *testing.F) {
	for _, s := range []string{"198.51.100.7", "203.0.113.9", "EVIL.example.", "x.evil.example", "hxxp://evil[.]example/a?b=c",
		"bad[at]evil[.]example", md5A, "2001:DB8::1", "bücher.example", "192.0.2.7", "http://[::1]:80/%7e/../a#x", "a@b@c"} {
		f.Add(s)
	}
	x := fuzzIndex(f)
	f.Fuzz(func(t *testing.T, s string) {
		hits, ok := x.LookupString(s)
		o, err := Detect(s)
		if ok != (err == nil) {
			t.Fatalf("%q: LookupString ok=%v, Detect err=%v", s, ok, err)
		}
		if !ok {
			if len(hits) != 0 {
				t.Fatalf("%q: hits without detection: %v", s, hits)
			}
			return
		}
		again, err := Detect(o.Value)
		if err != nil || again != o {
			t.Fatalf("%q: Detect gives %v; Detect(%q) gives %v, %v", s, o, o.Value, again, err)
		}
		for _, h := range hits {
			if h.Observable != o {
				t.Fatalf("%q: hit observable %v, detected %v", s, h.Observable, o)
			}
		}
		want := strings.Join(summary(hits), " ")
		h2, _ := x.LookupString(o.Value)
		if got := strings.Join(summary(h2), " "); got != want {
			t.Fatalf("%q: hits %s; for %q: %s", s, want, o.Value, got)
		}
		h3, err := x.Lookup(o)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(summary(h3), " "); got != want {
			t.Fatalf("%q: hits %s; for %v: %s", s, want, o, got)
		}
	})
}

// FuzzExtract checks that the extractor never panics and that what it
// extracts is in canonical form: Detect gives it back unchanged.
// Seeds: testdata/fuzz/FuzzExtract.
func FuzzExtract(f *testing.F) {
	for _, s := range []string{
		`Jan  1 12:00:00 fw01 DROP src=203.0.113.5:51234 dst=198.51.100.7:443`,
		`"GET http://Evil.Example.com:80/p?id=1 HTTP/1.1" 200`,
		`hxxps://bad[.]example[.]org/dl admin[at]bad[.]example[.]org`,
		`md5=D41D8CD98F00B204E9800998ECF8427E report.pdf README.md`,
		`[2001:DB8::1]:443 fe80::1%eth0 ::ffff:192.0.2.1 192.0.2.0/24`,
		`From: "Bob" <Bob.Smith@Example.COM> bücher.de x.duckdns.org`,
		`(see https://en.wikipedia.org/wiki/Foo_(bar)).`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		var ex Extractor
		for _, o := range ex.ExtractString(line) {
			d, err := Detect(o.Value)
			if err != nil || d != o {
				t.Fatalf("%q: extracted %v; Detect gives %v, %v", line, o, d, err)
			}
		}
	})
}

// FuzzScanIndicator checks the indicator scanner against a full JSON
// decoder: whatever the decoder reads, the scanner reads the same way.
// Seeds: testdata/fuzz/FuzzScanIndicator.
func FuzzScanIndicator(f *testing.F) {
	for _, s := range []string{
		string(spec{n: 1, pattern: "[domain-name:value = 'evil.example']"}.item().Raw),
		`{"type":"indicator","pattern":"[a:b = 'c\\'d']","x":[1,-2.5e+3,{"y":null}],"revoked":false}`,
		`{"pattern":"\u00e9\ud83d\ude00\ud800x","pattern_type":null}`,
		`{"type":"indicator","id":1}`,
		`{}`, `[]`, `{"a":}`, `{"a":"b",}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var a, b indicatorJSON
		errA := scanIndicator([]byte(raw), &a)
		errB := json.Unmarshal([]byte(raw), &b)
		if strings.Trim(raw, " \t\r\n") == "null" {
			return // the decoder leaves a struct alone for null; an indicator is an object
		}
		if errB == nil && (errA != nil || a != b) {
			t.Fatalf("%q: scanner %+v, %v; decoder %+v", raw, a, errA, b)
		}
	})
}

// FuzzUpdate indexes an indicator with any pattern text and looks its
// string constants up: no panics, and a pattern that parses is held.
// Seeds: testdata/fuzz/FuzzUpdate and the OASIS valid patterns.
func FuzzUpdate(f *testing.F) {
	for _, s := range []string{
		"[ipv4-addr:value = '198.51.100.7']",
		"[network-traffic:dst_ref.value ISSUBSET '10.0.0.0/8'] FOLLOWEDBY [url:value = 'http://x.example/']",
		"[file:hashes[*] = 'd41d8cd98f00b204e9800998ecf8427e' OR email-message:to_refs[*].value IN ('a@b.example')]",
		"[x:a.'b-c'.d = 'v'] REPEATS 2 TIMES WITHIN 5 SECONDS",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pat string) {
		x, _ := newTestIndex(t, Options{})
		st := x.Update(spec{n: 1, pattern: pat}.item())
		if st.Indicators+st.Tombstones+st.Invalid != 1 {
			t.Fatalf("%q: %+v", pat, st)
		}
		for _, c := range strings.Split(pat, "'") {
			x.LookupString(c)
			x.Lookup(Observable{"domain-name", "value", c})
			x.Lookup(Observable{"x", "a.'b-c'.d", c})
		}
		obs, _, err := ObservationsFromBundle(bundleOf(group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
			`"type":"ipv4-addr","value":"198.51.100.7"`, `"type":"url","value":"http://x.example/"`,
		}}))
		if err != nil {
			t.Fatal(err)
		}
		x.MatchObservations(obs)
	})
}

// FuzzDecodeObject checks the bundle's object decoder against a full
// JSON decoder: the same maps for every object the decoder accepts, and
// no object accepted that the decoder rejects for anything but invalid
// UTF-8 (which ObservationsFromBundle rejects for the whole bundle).
// Seeds: testdata/fuzz/FuzzDecodeObject.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{
		`{"type":"file","name":"a.exe","size":1280,"hashes":{"MD5":"d41d8cd98f00b204e9800998ecf8427e"}}`,
		`{"a":[1,-2.5e+3,true,false,null,{"b":"\u00e9\ud83d\ude00"}],"c":""}`,
		`{"a":1,"a":2}`, `{"a":01}`, `{"a":1e400}`, `{}`, ` {"x" : [ ] } `, `{"a":"\ud800"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := decodeObject([]byte(raw), map[string]string{})
		var want map[string]any
		werr := json.Unmarshal([]byte(raw), &want)
		switch {
		case werr == nil && want == nil:
			if err == nil {
				t.Fatalf("%q: decoded %v, want an error (null)", raw, got)
			}
		case werr == nil:
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("%q: %v, %v; want %v", raw, got, err, want)
			}
		case err == nil && utf8.ValidString(raw):
			t.Fatalf("%q: decoded %v; the JSON decoder says %v", raw, got, werr)
		}
	})
}

// FuzzFastObservedData checks the observed-data fast path against the
// general one: whenever fastObservedData accepts a text, decodeObject
// decodes it too, and NewObservationRefs over what the fast path read
// gives the Observation (or the error) NewObservation gives over the
// decoded object. Seeds: testdata/fuzz/FuzzFastObservedData.
func FuzzFastObservedData(f *testing.F) {
	for _, s := range []string{
		`{"type":"observed-data","id":"observed-data--1","first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:01Z","number_observed":3,"object_refs":["file--1","ipv4-addr--1"]}`,
		`{"object_refs":[],"last_observed":"2024-01-01T00:00:01.5Z","first_observed":"2024-01-01T00:00:00Z","type":"observed-data","created":"x\u00e9","extensions":{"a":{"b":[1,2]}}}`,
		`{"type":"observed-data","first_observed":"2024-01-01T00:00:00Z","last_observed":"nope","object_refs":["file--1"]}`,
		`{"type":"observed-data","first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":0.5,"object_refs":["file--1"]}`,
		`{"type":"observed-data","first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","x":1,"x":2,"object_refs":[]}`,
	} {
		f.Add(s)
	}
	objs := map[string]map[string]any{
		"file--1":      {"type": "file", "id": "file--1", "name": "a.exe", "parent_directory_ref": "directory--1"},
		"directory--1": {"type": "directory", "id": "directory--1", "path": "/tmp"},
		"ipv4-addr--1": {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "192.0.2.1"},
	}
	resolve := func(id string) map[string]any { return objs[id] }
	f.Fuzz(func(t *testing.T, raw string) {
		if !utf8.ValidString(raw) {
			return // ObservationsFromBundle rejects the whole bundle first
		}
		fd, ok := fastObservedData([]byte(raw))
		if !ok {
			return
		}
		od, err := decodeObject([]byte(raw), map[string]string{})
		if err != nil {
			t.Fatalf("fast path accepted what decodeObject rejects (%v): %s", err, raw)
		}
		if od["type"] != "observed-data" {
			t.Fatalf("fast path accepted type %v", od["type"])
		}
		if id, _ := od["id"].(string); id != fd.id {
			t.Errorf("id %q, decoded %q", fd.id, id)
		}
		got, gerr := pattern.NewObservationRefs(fd.first, fd.last, fd.number, fd.hasNumber, fd.refs, resolve)
		want, werr := pattern.NewObservation(od, resolve)
		if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
			t.Fatalf("errors differ: fast %v, general %v", gerr, werr)
		}
		if gerr == nil && !reflect.DeepEqual(got, want) {
			t.Errorf("observations differ:\nfast    %+v\ngeneral %+v", got, want)
		}
	})
}
