package stix

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCommonProperties(t *testing.T) {
	in := `{ "type": "indicator", "spec_version": "2.1",
	  "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	  "created": "2016-04-06T20:03:48.123Z", "modified": "2016-04-07T20:03:48.123456Z",
	  "revoked": true, "created_by_ref": "` + idIdentity + `",
	  "object_marking_refs": ["` + idTLPWhite + `"],
	  "name": "a \"quoted\"\tname \u00e9",
	  "pattern": "[ipv4-addr:value = '10.0.0.1']", "pattern_type": "stix", "valid_from": "2016-01-01T00:00:00Z" }`
	o, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if o.Type != "indicator" || o.ID != idIndic || o.SpecVersion != "2.1" || !o.Revoked ||
		o.CreatedByRef != idIdentity || len(o.ObjectMarkingRefs) != 1 || o.ObjectMarkingRefs[0] != idTLPWhite {
		t.Errorf("typed fields wrong: %+v", o)
	}
	if !o.Created.Equal(time.Date(2016, 4, 6, 20, 3, 48, 123e6, time.UTC)) ||
		!o.Modified.Equal(time.Date(2016, 4, 7, 20, 3, 48, 123456e3, time.UTC)) || o.Version() != o.Modified {
		t.Errorf("timestamps wrong: %v %v", o.Created, o.Modified)
	}
	want := `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` +
		`"created":"2016-04-06T20:03:48.123Z","modified":"2016-04-07T20:03:48.123456Z","revoked":true,` +
		`"created_by_ref":"` + idIdentity + `","object_marking_refs":["` + idTLPWhite + `"],` +
		`"name":"a \"quoted\"\tname \u00e9","pattern":"[ipv4-addr:value = '10.0.0.1']","pattern_type":"stix",` +
		`"valid_from":"2016-01-01T00:00:00Z"}`
	if string(o.Raw) != want {
		t.Errorf("Raw not compacted as expected:\n got %s\nwant %s", o.Raw, want)
	}
	// Raw is a copy: changing the input does not change the object.
	b := []byte(rdA)
	o2, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	b[10] = 'X'
	if string(o2.Raw) != rdA || o2.Type != "url" {
		t.Errorf("Raw or Type alias the input")
	}
	if err := Validate(o); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, in, path, msg string
	}{
		{"not json", `{"type":`, "", "unexpected end of input at byte 8"},
		{"trailing data", rdA + `x`, "", "data after the JSON value"},
		{"array", `[` + rdA + `]`, "", "not a JSON object"},
		{"string", `"x"`, "", "not a JSON object"},
		{"invalid utf-8", "{\"type\":\"u\xffrl\"}", "", "invalid UTF-8"},
		{"lone surrogate", `{"type":"url","id":"x","name":"\ud800"}`, "", "unpaired surrogate"},
		{"duplicate", `{"type":"url","id":"a","type":"url"}`, "", `duplicate member name "type" at byte 23`},
		{"escaped duplicate", `{"type":"url","id":"a","\u0074ype":"url"}`, "", `duplicate member name "type"`},
		{"duplicate in nested", `{"type":"url","id":"a","x_a":{"k":1,"k":2}}`, "", `duplicate member name "k"`},
		{"deep", `{"type":"url","id":"a","x":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + `}`, "", "nested deeper than 64"},
		{"control char", "{\"type\":\"u\nrl\"}", "", "control character"},
		{"bad number", `{"type":"url","id":"a","n":01}`, "", "expected ',' or '}'"},
		{"no type", `{"id":"url--c1477287-23ac-5971-a010-5c287877fa60"}`, "type", "required"},
		{"no id", `{"type":"url"}`, "id", "required"},
		{"type not string", `{"type":5,"id":"a"}`, "type", "must be a string, not number"},
		{"bad created", `{"type":"tool","id":"tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2016-01-01"}`, "created", "RFC 3339"},
		{"bad modified", `{"type":"tool","id":"tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","modified":"2016-01-01T00:00:00.Z"}`, "modified", "RFC 3339"},
		{"marking ref not string", `{"type":"tool","id":"t","object_marking_refs":[1]}`, "object_marking_refs[0]", "must be a string"},
		{"too large", `{"type":"url","id":"a","x":"` + strings.Repeat("a", MaxObjectSize) + `"}`, "", "over the"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse = %v, want a *ValidationError", err)
			}
			if ve.Path != tc.path || !strings.Contains(ve.Msg, tc.msg) || ve.Index != -1 {
				t.Errorf("Parse = %+v, want path %q, msg containing %q, Index -1", ve, tc.path, tc.msg)
			}
		})
	}
	// A nesting depth of exactly MaxDepth is fine.
	ok := `{"type":"x-deep","id":"x-deep--4527e5de-8572-546a-a57a-706f15467461","x_deep":` +
		strings.Repeat("[", MaxDepth-1) + "1" + strings.Repeat("]", MaxDepth-1) + `}`
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestValidationErrorFormat(t *testing.T) {
	cases := []struct {
		e    ValidationError
		want string
	}{
		{ValidationError{Index: 3, ID: idIndic, Path: "valid_from", Msg: "required"}, "objects[3] (" + idIndic + "): valid_from: required"},
		{ValidationError{Index: 0, ID: idIndic, Path: "valid_from", Msg: "required"}, "objects[0] (" + idIndic + "): valid_from: required"},
		{ValidationError{Index: -1, ID: idIndic, Path: "valid_from", Msg: "required"}, "(" + idIndic + "): valid_from: required"},
		{ValidationError{Index: -1, Type: "url", Path: "id", Msg: "required"}, "(url): id: required"},
		{ValidationError{Index: 7, Msg: "not a JSON object"}, "objects[7]: not a JSON object"},
		{ValidationError{Index: -1, Msg: "not a JSON object"}, "not a JSON object"},
		{ValidationError{Index: -1, Path: "type", Msg: "required"}, "type: required"},
		{ValidationError{Index: 2, ID: idIndic, Msg: "one of x is required"}, "objects[2] (" + idIndic + "): one of x is required"},
	}
	for _, tc := range cases {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
	// What Validate returns formats with the position once a caller sets it.
	o := mustParse(t, build(t, validObjects["indicator"], del("valid_from")))
	err := Validate(o)
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatal(err)
	}
	if got, want := err.Error(), "("+idIndic+"): valid_from: required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	ve.Index = 3
	if got, want := err.Error(), "objects[3] ("+idIndic+"): valid_from: required"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestTimestamps(t *testing.T) {
	good := []string{"2016-01-20T12:31:12Z", "2016-01-20T12:31:12.123Z", "2016-01-20T12:31:12.123456789Z", "2016-02-29T00:00:00.1Z"}
	for _, s := range good {
		ts, err := ParseTimestamp(s)
		if err != nil {
			t.Errorf("ParseTimestamp(%q): %v", s, err)
			continue
		}
		back, err := ParseTimestamp(FormatTimestamp(ts))
		if err != nil || !back.Equal(ts) {
			t.Errorf("%q does not round-trip through FormatTimestamp (%q)", s, FormatTimestamp(ts))
		}
	}
	bad := []string{"2016-01-20", "2016-01-20T12:31:12", "2016-01-20t12:31:12Z", "2016-01-20T12:31:12z",
		"2016-01-20T12:31:12+00:00", "2016-01-20T12:31:12.Z", "2016-13-20T12:31:12Z", "2015-02-29T00:00:00Z",
		"2016-01-20T25:31:12Z", "20160-01-20T12:31:12Z", "2016-01-20T12:31:1xZ"}
	for _, s := range bad {
		if _, err := ParseTimestamp(s); !errors.Is(err, ErrTimestamp) {
			t.Errorf("ParseTimestamp(%q) = %v, want ErrTimestamp", s, err)
		}
	}
}

func TestTLPLevel(t *testing.T) {
	if l, v, ok := TLPLevel(idTLPWhite); !ok || l != "white" || v != 1 {
		t.Errorf("TLP 1.0 white: %q %d %v", l, v, ok)
	}
	if l, v, ok := TLPLevel("marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"); !ok || l != "amber+strict" || v != 2 {
		t.Errorf("TLP 2.0 amber+strict: %q %d %v", l, v, ok)
	}
	if _, _, ok := TLPLevel(idStmt); ok {
		t.Error("a statement marking is not TLP")
	}
}

// Validate reads only Raw and reports what is wrong with a hand-built one.
func TestValidateRawOnly(t *testing.T) {
	cases := []struct{ raw, msg string }{
		{`{"type":"url"`, "malformed JSON: unexpected end of input at byte 13"},
		{`[1]`, "not a JSON object"},
		{" { \"type\" : \"url\", \"id\": \"url--c1477287-23ac-5971-a010-5c287877fa60\" } ", "value: required"},
	}
	for _, tc := range cases {
		err := Validate(&Object{Raw: []byte(tc.raw)})
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Validate(%q) = %v, want %q", tc.raw, err, tc.msg)
		}
	}
	if err := Validate(nil); err == nil {
		t.Error("Validate(nil) = nil")
	}
}
