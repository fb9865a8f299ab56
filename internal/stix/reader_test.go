package stix

import (
	"errors"
	"io"
	"strings"
	"testing"
)

const (
	bundleID = "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"
	rdA      = `{"type":"url","id":"url--c1477287-23ac-5971-a010-5c287877fa60","value":"https://a.example/"}`
	rdB      = `{"type":"mutex","id":"mutex--eba44954-d4e4-5d3b-814c-2b17dd8de300","name":"m"}`
)

// readAll reads r to its end and returns the items and the final error
// (nil for a clean io.EOF).
func readAll(t *testing.T, r *Reader) ([]Item, error) {
	t.Helper()
	var items []Item
	for i := 0; i < 1000; i++ {
		it, err := r.Next()
		if err == io.EOF {
			return items, nil
		}
		if err != nil {
			// A stream error is sticky.
			if _, err2 := r.Next(); err2 != err {
				t.Errorf("second Next after error = %v, want the same error %v", err2, err)
			}
			return items, err
		}
		items = append(items, it)
	}
	t.Fatal("reader does not end")
	return nil, nil
}

func TestReaderShapes(t *testing.T) {
	type want struct {
		raw    string
		offset int64
		index  int
	}
	at := func(in, obj string) int64 { return int64(strings.Index(in, obj)) }
	cases := []struct {
		name string
		in   string
	}{
		{"bundle", `{"type":"bundle","id":"` + bundleID + `","objects":[` + rdA + `,` + rdB + `]}`},
		{"bundle pretty", "{\n  \"type\": \"bundle\",\n  \"id\": \"" + bundleID + "\",\n  \"objects\": [\n    " + rdA + ",\n    " + rdB + "\n  ]\n}\n"},
		{"bundle objects first", `{"objects":[` + rdA + `, ` + rdB + `],"type":"bundle","id":"` + bundleID + `"}`},
		{"bundle objects between", `{"type":"bundle","objects":[` + rdA + `,` + rdB + `],"id":"` + bundleID + `","spec_version":"2.0"}`},
		{"json array", `[` + rdA + ` , ` + rdB + `]`},
		{"json lines", rdA + "\n" + rdB + "\n"},
		{"mixed stream", rdA + "\n[" + rdB + "]\n" + `{"type":"bundle","id":"` + bundleID + `","objects":[]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			items, err := readAll(t, NewReader(strings.NewReader(tc.in)))
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			wants := []want{{rdA, at(tc.in, rdA), 0}, {rdB, at(tc.in, rdB), 1}}
			if len(items) != len(wants) {
				t.Fatalf("got %d items, want %d", len(items), len(wants))
			}
			for i, w := range wants {
				if string(items[i].Raw) != w.raw || items[i].Offset != w.offset || items[i].Index != w.index {
					t.Errorf("item %d = {%d %d %s}, want {%d %d %s}", i, items[i].Index, items[i].Offset, items[i].Raw, w.index, w.offset, w.raw)
				}
			}
		})
	}
}

func TestReaderBareObjectAndEmpty(t *testing.T) {
	pretty := "  {\"type\": \"url\",\n \"id\": \"url--c1477287-23ac-5971-a010-5c287877fa60\", \"value\": \"https://a.example/\"}"
	items, err := readAll(t, NewReader(strings.NewReader(pretty)))
	if err != nil || len(items) != 1 {
		t.Fatalf("items %d, err %v", len(items), err)
	}
	if items[0].Offset != 2 || string(items[0].Raw) != rdA {
		t.Errorf("bare object = %d %s, want offset 2 and the compacted object", items[0].Offset, items[0].Raw)
	}
	for _, in := range []string{
		"",
		"  \n",
		`{"type":"bundle","id":"` + bundleID + `"}`,
		`{"type":"bundle","id":"` + bundleID + `","objects":[]}`,
		`[]`,
	} {
		items, err := readAll(t, NewReader(strings.NewReader(in)))
		if err != nil || len(items) != 0 {
			t.Errorf("%q: items %d, err %v; want none and io.EOF", in, len(items), err)
		}
	}
}

func TestReaderErrors(t *testing.T) {
	bundle := func(objs ...string) string {
		return `{"type":"bundle","id":"` + bundleID + `","objects":[` + strings.Join(objs, ",") + `]}`
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	deepObj := `{"type":"x-deep","id":"x-deep--4527e5de-8572-546a-a57a-706f15467461","x_deep":` + deep + `}`
	big := `{"type":"mutex","id":"mutex--eba44954-d4e4-5d3b-814c-2b17dd8de300","name":"` + strings.Repeat("m", 200) + `"}`
	cases := []struct {
		name   string
		in     string
		limit  int64
		nItems int
		offset int64 // want StreamError.Offset
		msg    string
	}{
		{"truncated bundle", bundle(rdA, rdB)[:len(bundle(rdA))+20], 0, 1, -1, "unexpected end of input"},
		{"truncated after object", bundle(rdA, rdB)[:len(bundle(rdA))], 0, 1, -1, "unexpected end of input"},
		{"truncated bare object", rdA[:30], 0, 0, -1, "unexpected end of input"},
		{"invalid utf-8", bundle(rdA, strings.Replace(rdB, `"m"`, "\"m\xff\"", 1)), 0, 1, int64(strings.Index(bundle(rdA, rdB), `"m"}`)) + 2, "UTF-8"},
		{"duplicate keys in element", bundle(rdA, strings.Replace(rdB, `"name":"m"`, `"name":"m","name":"n"`, 1)), 0, 1, int64(strings.Index(bundle(rdA, rdB), `"name":"m"`)) + 11, "duplicate"},
		{"duplicate keys in bare object", rdA + `{"type":"url","type":"url"}`, 0, 1, int64(len(rdA)) + 14, "duplicate"},
		{"non-object element", bundle(rdA, `5`, rdB), 0, 1, int64(strings.Index(bundle(rdA, "5"), ",5]")) + 1, "objects[1] is not a JSON object"},
		{"null element", `[` + rdA + `, null]`, 0, 1, int64(len(rdA)) + 3, "objects[1] is not a JSON object"},
		{"top-level scalar", rdA + "\n\"hello\"", 0, 1, int64(len(rdA)) + 1, "expected a STIX object"},
		{"oversize element", bundle(rdA, big), 150, 1, int64(strings.Index(bundle(rdA, big), big)), "over the 150 byte limit"},
		{"oversize bare object", rdA + "\n" + big, 150, 1, int64(len(rdA)) + 1, "over the 150 byte limit"},
		{"deep nesting", bundle(rdA, deepObj), 0, 1, -1, "exceeded max depth"},
		{"wrong bundle type before objects", `{"type":"bundel","id":"` + bundleID + `","objects":[` + rdA + `]}`, 0, 0, 0, `"bundel" object cannot hold an objects array`},
		{"wrong bundle type after objects", `{"objects":[` + rdA + `],"type":"report","id":"` + bundleID + `"}`, 0, 1, 0, `has type "report", want "bundle"`},
		{"bundle without type", ` {"id":"` + bundleID + `","objects":[` + rdA + `]}`, 0, 1, 1, `has type "", want "bundle"`},
		{"wrong bundle id", `{"type":"bundle","id":"bundle--123","objects":[` + rdA + `]}`, 0, 1, 0, "bundle id:"},
		{"bundle id of another type", `{"type":"bundle","id":"report--5d0092c5-5f74-4287-9642-33f4c354e56d"}`, 0, 0, 0, "must be a bundle identifier"},
		{"bundle objects not an array", `{"type":"bundle","id":"` + bundleID + `","objects":{"a":1}}`, 0, 0, 0, "objects must be an array"},
		{"two objects arrays", `{"type":"bundle","id":"` + bundleID + `","objects":[` + rdA + `],"objects":[]}`, 0, 1, -1, "duplicate"},
		{"garbage after object", rdA + `}`, 0, 1, int64(len(rdA)), "invalid character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(strings.NewReader(tc.in))
			if tc.limit > 0 {
				r.SetLimit(tc.limit)
			}
			items, err := readAll(t, r)
			if len(items) != tc.nItems {
				t.Errorf("got %d items before the error, want %d", len(items), tc.nItems)
			}
			if len(items) > 0 && string(items[0].Raw) != rdA {
				t.Errorf("first item = %s, want %s", items[0].Raw, rdA)
			}
			var se *StreamError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want a *StreamError", err)
			}
			wantOff := tc.offset
			if wantOff < 0 { // errors at the end of the input
				wantOff = int64(len(tc.in))
			}
			if tc.name == "deep nesting" {
				// The decoder allows 10000 levels; the bundle, its objects
				// array and the element take the first three.
				wantOff = int64(strings.Index(tc.in, deep)) + 10000 - 3
			}
			if tc.name == "two objects arrays" {
				wantOff = int64(strings.LastIndex(tc.in, `"objects"`))
			}
			if se.Offset != wantOff || !strings.Contains(se.Msg, tc.msg) {
				t.Errorf("err = %v (offset %d), want offset %d and %q", se, se.Offset, wantOff, tc.msg)
			}
		})
	}
}

// A deeply nested object below the decoder's own limit reaches Parse,
// which rejects it without ending the stream.
func TestReaderNestingLeftToParse(t *testing.T) {
	nested := `{"type":"x-deep","id":"x-deep--4527e5de-8572-546a-a57a-706f15467461","x_deep":` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	items, err := readAll(t, NewReader(strings.NewReader("["+nested+","+rdA+"]")))
	if err != nil || len(items) != 2 {
		t.Fatalf("items %d err %v", len(items), err)
	}
	_, err = Parse(items[0].Raw)
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(ve.Msg, "nested deeper than 64") {
		t.Fatalf("Parse = %v, want nesting error", err)
	}
	if _, err := Parse(items[1].Raw); err != nil {
		t.Fatalf("Parse of the next object: %v", err)
	}
}
