package pattern

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// od builds a STIX 2.0-form observation (embedded objects keyed "0", "1",
// …) from JSON object literals.
func od(t testing.TB, first, last string, n int, objs ...string) Observation {
	t.Helper()
	raw := fmt.Sprintf(`{"type":"observed-data","first_observed":%q,"last_observed":%q,"number_observed":%d,"objects":{`, first, last, n)
	for i, o := range objs {
		if i > 0 {
			raw += ","
		}
		raw += fmt.Sprintf(`"%d":%s`, i, o)
	}
	raw += "}}"
	o, err := ObservationFromJSON([]byte(raw))
	if err != nil {
		t.Fatalf("building observation: %v\n%s", err, raw)
	}
	return o
}

const t0 = "2024-01-01T00:00:00Z"

// one is a single observation at t0 holding the given objects.
func one(t testing.TB, objs ...string) []Observation {
	return []Observation{od(t, t0, t0, 1, objs...)}
}

type matchCase struct {
	pattern string
	want    bool
}

func runMatch(t *testing.T, obs []Observation, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		p, err := Parse(c.pattern)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.pattern, err)
			continue
		}
		if got := p.Match(obs); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.pattern, got, c.want)
		}
	}
}

const fileObj = `{"type":"file","name":"report.exe","size":1024,"mime_type":"application/x-dosexec",
	"hashes":{"MD5":"cead3f77f6cda6ec00f57d76c9a6879f","SHA-256":"aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f"},
	"magic_number_hex":"ffd8","ctime":"2014-01-13T07:03:17Z","x_flag":true,"x_ratio":0.5,
	"extensions":{"windows-pebinary-ext":{"sections":[{"name":".text","entropy":6.2},{"name":".rsrc","entropy":7.9}]}}}`

func TestMatchOperators(t *testing.T) {
	obs := one(t, fileObj,
		`{"type":"ipv4-addr","value":"198.51.100.7"}`,
		`{"type":"ipv6-addr","value":"2001:db8:dead:beef::1"}`,
		`{"type":"ipv4-addr","value":"10.0.0.0/16"}`,
		`{"type":"artifact","payload_bin":"1MOyoQIABAA=","mime_type":"application/vnd.tcpdump.pcap"}`,
	)
	runMatch(t, obs, []matchCase{
		// = and != on each JSON kind
		{"[file:name = 'report.exe']", true},
		{"[file:name = 'other.exe']", false},
		{"[file:name != 'other.exe']", true},
		{"[file:name != 'report.exe']", false},
		{"[file:name NOT = 'report.exe']", false},
		{"[file:name NOT != 'report.exe']", true},
		{"[file:size = 1024]", true},
		{"[file:size = 1024.0]", true},
		{"[file:size = 1025]", false},
		{"[file:size = '1024']", false}, // a string never equals a number
		{"[file:x_flag = true]", true},
		{"[file:x_flag = false]", false},
		{"[file:x_ratio = 0.5]", true},
		{"[file:ctime = t'2014-01-13T07:03:17Z']", true},
		{"[file:ctime = t'2014-01-13T07:03:17.000Z']", true},
		{"[file:ctime = t'2014-01-13T07:03:18Z']", false},
		// missing properties never match, negated or not
		{"[file:nosuch != 'x']", false},
		{"[file:nosuch NOT = 'x']", false},
		// ordering
		{"[file:size > 1000]", true},
		{"[file:size > 1024]", false},
		{"[file:size >= 1024]", true},
		{"[file:size < 1024]", false},
		{"[file:size <= 1024]", true},
		{"[file:size < 1024.5]", true},
		{"[file:size NOT < 1024]", true},
		{"[file:name > 'a']", true},
		{"[file:name < 'a']", false},
		{"[file:ctime < t'2015-01-01T00:00:00Z']", true},
		{"[file:ctime > t'2015-01-01T00:00:00Z']", false},
		{"[file:size > 'a']", false},     // cannot be ordered
		{"[file:size NOT > 'a']", false}, // cannot be ordered, even with NOT
		{"[file:magic_number_hex > h'ff00']", true},
		{"[file:magic_number_hex < h'ff00']", false},
		// IN
		{"[file:size IN (1, 1024, 'x')]", true},
		{"[file:size IN (1, 2)]", false},
		{"[file:size NOT IN (1, 2)]", true},
		{"[file:name IN ('a', 'report.exe')]", true},
		{"[file:name IN ()]", false},
		// LIKE
		{"[file:name LIKE 'report%']", true},
		{"[file:name LIKE '%.exe']", true},
		{"[file:name LIKE 'report.ex_']", true},
		{"[file:name LIKE 'report.e_']", false},
		{"[file:name LIKE 'REPORT%']", false},
		{"[file:name LIKE 'rep.rt%']", false}, // '.' is literal
		{"[file:name NOT LIKE 'x%']", true},
		// MATCHES (unanchored RE2 search)
		{"[file:name MATCHES '^rep.*\\\\.exe$']", true},
		{"[file:name MATCHES 'port']", true},
		{"[file:name MATCHES '^port']", false},
		{"[file:name NOT MATCHES '^port']", true},
		{"[file:name MATCHES '(?=report)']", false}, // look-ahead: not RE2, never matches
		{"[file:name NOT MATCHES '(?=report)']", false},
		{"[artifact:payload_bin MATCHES '\\\\xd4\\\\xc3\\\\xb2\\\\xa1']", true},
		{"[artifact:payload_bin MATCHES '^\\\\xd4\\\\xc3\\\\xb2\\\\xa2']", false},
		// ISSUBSET / ISSUPERSET
		{"[ipv4-addr:value ISSUBSET '198.51.100.0/24']", true},
		{"[ipv4-addr:value ISSUBSET '198.51.101.0/24']", false},
		{"[ipv4-addr:value NOT ISSUBSET '198.51.101.0/24']", true},
		{"[ipv4-addr:value ISSUBSET '10.0.0.0/8']", true}, // 10.0.0.0/16 is in 10/8
		{"[ipv4-addr:value ISSUBSET '10.0.0.0/24']", false},
		{"[ipv4-addr:value ISSUPERSET '10.0.3.0/24']", true},
		{"[ipv4-addr:value ISSUPERSET '10.1.0.0/24']", false},
		{"[ipv4-addr:value ISSUPERSET '10.0.0.0/8']", false},
		{"[ipv6-addr:value ISSUBSET '2001:0db8:dead:beef:0000:0000:0000:0000/64']", true},
		{"[ipv6-addr:value ISSUBSET '2001:db8:dead:bef0::/64']", false},
		{"[ipv4-addr:value ISSUBSET '2001:db8::/32']", false}, // families differ
		{"[ipv4-addr:value ISSUBSET 'not a cidr']", false},
		// EXISTS
		{"[EXISTS file:name]", true},
		{"[EXISTS file:nosuch]", false},
		{"[EXISTS file:extensions.'windows-pebinary-ext'.sections[1].name]", true},
		{"[EXISTS file:extensions.'windows-pebinary-ext'.sections[2].name]", false},
		// binary and hex constants
		{"[file:magic_number_hex = h'ffd8']", true},
		{"[file:magic_number_hex = h'FFD8']", true},
		{"[file:magic_number_hex = h'ffd9']", false},
		{"[file:magic_number_hex = b'/9g=']", true},
		{"[artifact:payload_bin = b'1MOyoQIABAA=']", true},
		{"[artifact:payload_bin = h'd4c3b2a102000400']", true},
		{"[artifact:payload_bin = h'd4c3b2a102000401']", false},
		{"[file:hashes.MD5 = h'cead3f77f6cda6ec00f57d76c9a6879f']", true},
		{"[file:hashes.MD5 = h'cead3f77f6cda6ec00f57d76c9a6879e']", false},
		// list indexes and dictionaries
		{"[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 7.0]", true},
		{"[file:extensions.'windows-pebinary-ext'.sections[*].entropy > 8.0]", false},
		{"[file:extensions.'windows-pebinary-ext'.sections[0].entropy > 7.0]", false},
		{"[file:extensions.'windows-pebinary-ext'.sections[1].entropy > 7.0]", true},
		{"[file:extensions.'windows-pebinary-ext'.sections[-1].entropy > 7.0]", false},
		{"[file:hashes[*] = 'cead3f77f6cda6ec00f57d76c9a6879f']", true},
		{"[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']", true},
		{"[file:hashes.'SHA-1' = 'aec070645fe53ee3b3763059376134f058cc3372']", false},
		// the object type must agree
		{"[process:name = 'report.exe']", false},
	})
}

func TestMatchComparisonBoolean(t *testing.T) {
	obs := one(t,
		`{"type":"person","name":"alice","age":10}`,
		`{"type":"person","name":"bob","age":15}`,
		`{"type":"user-account","user_id":"root"}`,
		`{"type":"network-traffic","src_port":37020,"protocols":["tcp"]}`,
	)
	runMatch(t, obs, []matchCase{
		// same object type: AND binds to one object
		{"[person:name = 'alice' AND person:age < 20]", true},
		{"[person:name = 'alice' AND person:age > 10]", false},
		{"[person:name = 'alice' OR person:age > 20]", true},
		{"[person:name = 'carol' OR person:age > 20]", false},
		{"[person:name = 'alice' OR person:age > 1000 AND person:age < 0]", true},
		{"[(person:name = 'carol' OR person:name = 'bob') AND person:age > 10]", true},
		{"[(person:name = 'darlene' OR person:name = 'carol') AND (person:age < 0 OR person:age > 5)]", false},
		// different object types: each binds to its own object
		{"[network-traffic:src_port = 37020 AND user-account:user_id = 'root']", true},
		{"[network-traffic:src_port = 37021 AND user-account:user_id = 'root']", false},
		{"[network-traffic:src_port = 37021 OR user-account:user_id = 'root']", true},
		{"[person:name = 'bob' AND person:age = 15 AND user-account:user_id = 'root']", true},
		{"[person:name = 'bob' AND person:age = 10 AND user-account:user_id = 'root']", false},
		{"[(person:name = 'bob' OR user-account:user_id = 'x') AND (person:age = 10 OR user-account:user_id = 'root')]", true},
		{"[(person:name = 'bob' AND user-account:user_id = 'x') OR (person:age = 99 AND user-account:user_id = 'root')]", false},
		{"[network-traffic:protocols[*] = 'tcp' AND process:name = 'x']", false}, // no process at all
	})
}

func TestMatchReferences21(t *testing.T) {
	odJSON := `{"type":"observed-data","id":"observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
		"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,
		"object_refs":["network-traffic--1","domain-name--1","email-message--1"]}`
	objs := []string{
		`{"type":"network-traffic","id":"network-traffic--1","src_ref":"ipv4-addr--1","dst_ref":"ipv4-addr--2","dst_port":443}`,
		`{"type":"ipv4-addr","id":"ipv4-addr--1","value":"203.0.113.33"}`,
		`{"type":"ipv4-addr","id":"ipv4-addr--2","value":"198.51.100.1"}`,
		`{"type":"domain-name","id":"domain-name--1","value":"www.5z8.info","resolves_to_refs":["ipv4-addr--1","ipv4-addr--2"]}`,
		`{"type":"email-message","id":"email-message--1","from_ref":"email-addr--1","is_multipart":true,
			"body_multipart":[{"body":"hi"},{"body_raw_ref":"file--1"}]}`,
		`{"type":"email-addr","id":"email-addr--1","value":"jdoe@example.com"}`,
		`{"type":"file","id":"file--1","name":"Final Report 2024.exe"}`,
	}
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raws[i] = []byte(o)
	}
	o, err := ObservationFromJSON([]byte(odJSON), raws...)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Objects) != 3 {
		t.Errorf("Objects: got %d, want the 3 of object_refs", len(o.Objects))
	}
	if len(o.ByRef) != 7 {
		t.Errorf("ByRef: got %d objects, want 7 (refs followed transitively)", len(o.ByRef))
	}
	runMatch(t, []Observation{o}, []matchCase{
		{"[network-traffic:src_ref.value = '203.0.113.33']", true},
		{"[network-traffic:src_ref.value = '198.51.100.1']", false},
		{"[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24']", true},
		{"[network-traffic:src_ref = 'ipv4-addr--1']", true},
		{"[domain-name:value = 'www.5z8.info' AND domain-name:resolves_to_refs[*].value = '198.51.100.1']", true},
		{"[domain-name:resolves_to_refs[0].value = '198.51.100.1']", false},
		{"[domain-name:resolves_to_refs[1].value = '198.51.100.1']", true},
		{"[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.com$' AND email-message:body_multipart[*].body_raw_ref.name MATCHES '^Final Report.+\\\\.exe$']", true},
		{"[email-message:from_ref.value MATCHES '.+\\\\@example\\\\.org$']", false},
		// objects reachable only by reference are not roots
		{"[ipv4-addr:value = '203.0.113.33']", false},
		{"[file:name LIKE 'Final%']", false},
	})
}

// obsAt is an observation at [first, first+dur] of one object.
func obsAt(t testing.TB, first string, dur time.Duration, n int, obj string) Observation {
	f, err := time.Parse(time.RFC3339, first)
	if err != nil {
		t.Fatal(err)
	}
	return od(t, first, f.Add(dur).Format(time.RFC3339Nano), n, obj)
}

func TestMatchObservationOperators(t *testing.T) {
	a := `{"type":"file","name":"a"}`
	b := `{"type":"file","name":"b"}`
	c := `{"type":"process","name":"c"}`
	obs := []Observation{
		obsAt(t, "2024-01-01T00:00:00Z", 0, 1, a),
		obsAt(t, "2024-01-01T00:01:00Z", 0, 1, b),
		obsAt(t, "2024-01-01T00:10:00Z", 10*time.Second, 3, c),
	}
	runMatch(t, obs, []matchCase{
		{"[file:name = 'a'] AND [file:name = 'b']", true},
		{"[file:name = 'a'] AND [file:name = 'z']", false},
		{"[file:name = 'a'] OR [file:name = 'z']", true},
		{"[file:name = 'y'] OR [file:name = 'z']", false},
		// AND needs distinct observations: one 'a' observation cannot serve twice
		{"[file:name = 'a'] AND [file:name = 'a']", false},
		{"[file:name = 'a'] AND [file:name LIKE '%']", true},
		// ... but number_observed 3 gives three
		{"[process:name = 'c'] AND [process:name = 'c'] AND [process:name = 'c']", true},
		{"[process:name = 'c'] AND [process:name = 'c'] AND [process:name = 'c'] AND [process:name = 'c']", false},
		// FOLLOWEDBY
		{"[file:name = 'a'] FOLLOWEDBY [file:name = 'b']", true},
		{"[file:name = 'b'] FOLLOWEDBY [file:name = 'a']", false},
		{"[file:name = 'a'] FOLLOWEDBY [file:name = 'b'] FOLLOWEDBY [process:name = 'c']", true},
		{"[file:name = 'a'] FOLLOWEDBY [process:name = 'c'] FOLLOWEDBY [file:name = 'b']", false},
		{"[process:name = 'c'] FOLLOWEDBY [process:name = 'c']", true}, // same interval: may be ordered
		{"([file:name = 'a'] OR [file:name = 'b']) FOLLOWEDBY [file:name = 'a']", false},
		// precedence: AND binds tighter than OR, OR tighter than FOLLOWEDBY
		{"[file:name = 'z'] AND [file:name = 'a'] OR [file:name = 'b']", true},
		{"[file:name = 'z'] AND ([file:name = 'a'] OR [file:name = 'b'])", false},
		{"[file:name = 'b'] FOLLOWEDBY [file:name = 'z'] OR [file:name = 'a']", false},
		{"[file:name = 'a'] OR [file:name = 'z'] FOLLOWEDBY [file:name = 'b']", true},
		// WITHIN: intervals must fit one window
		{"([file:name = 'a'] AND [file:name = 'b']) WITHIN 60 SECONDS", true},
		{"([file:name = 'a'] AND [file:name = 'b']) WITHIN 59 SECONDS", false},
		{"([file:name = 'a'] AND [file:name = 'b']) WITHIN 59.999 SECONDS", false},
		{"([file:name = 'a'] AND [file:name = 'b']) WITHIN 60.5 SECONDS", true},
		{"([file:name = 'a'] FOLLOWEDBY [process:name = 'c']) WITHIN 600 SECONDS", true},
		{"([file:name = 'a'] FOLLOWEDBY [process:name = 'c']) WITHIN 599 SECONDS", false},
		{"[file:name = 'a'] WITHIN 1 SECONDS", true},
		{"[file:name = 'a'] WITHIN 0 SECONDS", false}, // non-positive window never matches
		// the qualifier applies only to the expression it follows
		{"[file:name = 'a'] AND [process:name = 'c'] WITHIN 1 SECONDS", true},
		// REPEATS
		{"[process:name = 'c'] REPEATS 3 TIMES", true},
		{"[process:name = 'c'] REPEATS 4 TIMES", false},
		{"[file:name = 'a'] REPEATS 2 TIMES", false},
		{"[file:name LIKE '_'] REPEATS 2 TIMES", true},
		{"[file:name LIKE '_'] REPEATS 2 TIMES WITHIN 60 SECONDS", true},
		{"[file:name LIKE '_'] REPEATS 2 TIMES WITHIN 30 SECONDS", false},
		{"([file:name LIKE '_'] REPEATS 2 TIMES) REPEATS 2 TIMES", false},
		{"([process:name = 'c'] OR [file:name = 'a']) REPEATS 4 TIMES", true},
		{"[process:name = 'c'] REPEATS 1000000000 TIMES", false},
		{"[file:name = 'a'] REPEATS 0 TIMES", false},
		// START/STOP: the observation interval must overlap [start, stop)
		{"[file:name = 'a'] START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:00:01Z'", true},
		{"[file:name = 'a'] START t'2023-12-31T00:00:00Z' STOP t'2024-01-01T00:00:00Z'", false}, // stop excluded
		{"[file:name = 'b'] START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:00:30Z'", false},
		{"[process:name = 'c'] START t'2024-01-01T00:10:05Z' STOP t'2024-01-01T00:20:00Z'", true}, // overlaps
		{"[process:name = 'c'] START t'2024-01-01T00:10:11Z' STOP t'2024-01-01T00:20:00Z'", false},
		{"[file:name = 'a'] START t'2024-01-02T00:00:00Z' STOP t'2024-01-01T00:00:00Z'", false}, // start after stop
		{"([file:name = 'a'] AND [file:name = 'b']) START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:00:30Z'", false},
		{"([file:name = 'a'] AND [file:name = 'b']) START t'2024-01-01T00:00:00Z' STOP t'2024-01-01T00:02:00Z'", true},
	})
}

func TestMatchEmptyAndNoObservations(t *testing.T) {
	p := MustParse("[file:name = 'a'] OR [file:name = 'b'] REPEATS 2 TIMES")
	if p.Match(nil) {
		t.Error("matched no observations")
	}
	if p.Match([]Observation{{}}) {
		t.Error("matched an empty observation")
	}
}

func TestObservationFromJSONErrors(t *testing.T) {
	for _, c := range []struct{ od, want string }{
		{`[]`, "observed-data"},
		{`{"first_observed":"2024-01-01T00:00:00Z"}`, "last_observed"},
		{`{"first_observed":"yesterday","last_observed":"2024-01-01T00:00:00Z"}`, "first_observed"},
		{`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":0}`, "number_observed"},
		{`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1.5}`, "number_observed"},
		{`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":"3"}`, "number_observed"},
		{`{"a":1,"a":2}`, "observed-data"},
	} {
		_, err := ObservationFromJSON([]byte(c.od))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.od, err, c.want)
		}
	}
	_, err := ObservationFromJSON([]byte(`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","object_refs":["x--1"]}`), []byte(`{"id":`))
	if err == nil || !strings.Contains(err.Error(), "object 0") {
		t.Errorf("bad SCO JSON: error %v, want one naming object 0", err)
	}
}

// TestMatchDecodedWithLibrary checks that values decoded by the JSON
// library the rest of Fusion uses (not only ObservationFromJSON) match.
func TestMatchDecodedWithLibrary(t *testing.T) {
	var obj map[string]any
	if err := json.Unmarshal([]byte(`{"type":"url","value":"http://example.com/foo"}`), &obj); err != nil {
		t.Fatal(err)
	}
	o := Observation{Objects: []map[string]any{obj}}
	if !MustParse("[url:value = 'http://example.com/foo' OR url:value = 'http://example.com/bar']").MatchObservation(&o) {
		t.Error("no match")
	}
}

func TestMatchHandBuiltTree(t *testing.T) {
	// A tree built without Parse has no compiled forms; Match still works.
	p := &Pattern{Root: &ObsBracket{Comparison: &CompBinary{Op: And,
		Left:  &Comparison{Path: ObjectPath{ObjectType: "file", Steps: []PathStep{{Kind: StepKey, Key: "name"}}}, Op: OpLike, Value: Value{Kind: ValString, Str: "r%"}},
		Right: &Comparison{Path: ObjectPath{ObjectType: "ipv4-addr", Steps: []PathStep{{Kind: StepKey, Key: "value"}}}, Op: OpIsSubset, Value: Value{Kind: ValString, Str: "198.51.100.0/24"}},
	}}}
	obs := one(t, fileObj, `{"type":"ipv4-addr","value":"198.51.100.7"}`)
	if !p.Match(obs) {
		t.Errorf("%s: no match", p)
	}
	if p.Match(one(t, fileObj, `{"type":"ipv4-addr","value":"198.51.101.7"}`)) {
		t.Errorf("%s: matched outside the CIDR", p)
	}
}

func TestMatchHashCase(t *testing.T) {
	runMatch(t, one(t, fileObj), []matchCase{
		{"[file:hashes.MD5 = 'CEAD3F77F6CDA6EC00F57D76C9A6879F']", true},
		{"[file:name = 'REPORT.EXE']", false}, // other strings are case-sensitive
	})
}

// TestMatchManyObservations runs observation-level patterns over 300
// observations (every file matches size > 0), where partial matches are
// many and the evaluator's bounds come into play.
func TestMatchManyObservations(t *testing.T) {
	obs := benchObservations(&testing.B{}, 300)
	runMatch(t, obs, []matchCase{
		{strings.Repeat("[file:size > 0] AND ", 7) + "[file:size > 0]", true},
		{"(" + strings.Repeat("[file:size > 0] FOLLOWEDBY ", 7) + "[file:size > 0]) WITHIN 10 SECONDS", true},
		{"[file:size > 0] REPEATS 20 TIMES", true},
		{"[file:size > 0] REPEATS 300 TIMES", true},
		{"[file:size > 0] REPEATS 301 TIMES", false},
		{"([file:size > 1290] OR [ipv4-addr:value = '10.0.0.7']) REPEATS 10 TIMES", true},
		{"([file:size > 1290] OR [ipv4-addr:value = '10.0.0.7']) REPEATS 11 TIMES", false},
		{"([file:size > 0] OR [ipv4-addr:value LIKE '%']) REPEATS 250 TIMES WITHIN 5 SECONDS", true},
		{"[file:size > 1290] AND [file:size > 1290] AND [network-traffic:dst_ref.value = '10.0.0.9']", true},
		{"[file:size > 1297] AND [file:size > 1297]", true},
		{"[file:size > 1298] AND [file:size > 1298]", false},
		{"[file:size > 1297] AND [file:size > 1297] AND [file:size > 1297]", false},
	})
	// Pathological patterns finish (bounded by MaxWork); their result may
	// be a missed match but never a false one.
	for _, src := range []string{
		strings.Repeat("[file:size > 0] AND ", 60) + "[file:size > 0]",
		strings.Repeat("[file:size > 0] FOLLOWEDBY ", 60) + "[file:size > 0]",
		"(([file:size > 0] REPEATS 10 TIMES) REPEATS 10 TIMES) REPEATS 3 TIMES",
	} {
		MustParse(src).Match(obs)
	}
	if MustParse(strings.Repeat("[file:size > 1298] AND ", 30) + "[file:size > 1298]").Match(obs) {
		t.Error("a 31-fold AND over one matching observation matched")
	}
}
