package taxii

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

// FuzzParseFilters feeds arbitrary query strings to the parameter parser
// of every endpoint. It must never panic, must keep limit within
// 1..maxPage, must bound the values of each match filter, and must
// answer bad input with a 400 *Error.
func FuzzParseFilters(f *testing.F) {
	for _, s := range []string{
		"", "limit=10", "limit=0", "limit=99999999999", "added_after=2016-01-01T01:01:01.000Z",
		"match[type]=indicator,malware&match[version]=all", "match[version]=first,last,2016-01-01T01:01:01.123456Z",
		"match[id]=indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "match[spec_version]=2.0,2.1",
		"next=" + encodeCursor(time.Date(2020, 1, 1, 0, 0, 0, 123000, time.UTC)), "next=%%%", "limit=1&limit=2",
		"match[type]=" + strings.Repeat("a,", 150),
	} {
		f.Add(s)
	}
	const maxPage = 50
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, set := range []paramSet{paramsList, paramsObject, paramsVersions, paramsDelete} {
			fl, err := parseFilters(q, set, maxPage)
			if err != nil {
				var te *Error
				if !errors.As(err, &te) || te.Status != http.StatusBadRequest || te.Description == "" {
					t.Fatalf("parseFilters(%q) error %v is not a described 400", raw, err)
				}
				continue
			}
			if fl.limit < 1 || fl.limit > maxPage {
				t.Fatalf("parseFilters(%q): limit %d", raw, fl.limit)
			}
			for _, n := range []int{len(fl.ids), len(fl.types), len(fl.specVersions), len(fl.versions.At)} {
				if n > maxMatchValues {
					t.Fatalf("parseFilters(%q): %d values", raw, n)
				}
			}
		}
	})
}

// FuzzCursor checks that decodeCursor never panics, that whatever it
// accepts encodes back to the same string (cursors are canonical), and
// that encoded times survive the round trip at microsecond precision.
func FuzzCursor(f *testing.F) {
	f.Add("AQAFm7hMhYAA", int64(0))
	f.Add("", int64(1577836800123456))
	f.Add("AgAAAAAAAAAA", int64(-1))
	f.Add("_____________", int64(253402300799999999))
	f.Fuzz(func(t *testing.T, s string, us int64) {
		if tm, err := decodeCursor(s); err == nil {
			if got := encodeCursor(tm); got != s {
				t.Fatalf("cursor %q decodes to %v, which encodes to %q", s, tm, got)
			}
		}
		if us < 0 || us > cursorMax.UnixMicro() {
			return
		}
		tm := time.UnixMicro(us).UTC()
		back, err := decodeCursor(encodeCursor(tm))
		if err != nil || !back.Equal(tm) {
			t.Fatalf("round trip of %v: %v, %v", tm, back, err)
		}
	})
}

// FuzzWalkEnvelope feeds arbitrary bodies to the envelope reader. It must
// never panic; each object it hands over must be one JSON object; errors
// must be *EnvelopeError; and a body it accepts must hold exactly the
// objects it handed over.
func FuzzWalkEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"objects":[]}`,
		`{"objects":[{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}]}`,
		`{"more":false,"next":"x","objects":[{"a":1},{"b":[1,2,{"c":null}]}]}`,
		`{"type":"bundle","id":"bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","objects":[{"x":"y"}]}`,
		`{"objects":[{"a":1,"a":2}]}`, `{"objects":[{"s":"` + "\xff" + `"}]}`,
		`{"objects":[1]}`, `{"objects":{}}`, `[]`, `{"objects":[{}]} x`, `{"objects":[{"deep":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}]}`,
		`{"objects":[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got [][]byte
		err := walkEnvelope(bytes.NewReader(body), func(i int, raw []byte) error {
			if i != len(got) {
				t.Fatalf("index %d after %d objects", i, len(got))
			}
			v := jsontext.Value(raw)
			if v.Kind() != '{' || !v.IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) {
				t.Fatalf("handed over %q, not one JSON object", raw)
			}
			got = append(got, raw)
			return nil
		})
		if err != nil {
			var ee *EnvelopeError
			if !errors.As(err, &ee) || ee.Msg == "" {
				t.Fatalf("error %v (%T) is not a described *EnvelopeError", err, err)
			}
			return
		}
		// Accepted: the body is one JSON object whose objects member (if
		// any) holds exactly what was handed over.
		v := jsontext.Value(body)
		if !v.IsValid(jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)) || v.Kind() != '{' {
			t.Fatalf("accepted %q, which is not one JSON object", body)
		}
		var b bytes.Buffer
		for i, r := range got {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(r)
		}
		if len(got) > 0 && !bytes.Contains(compact(body), compact(b.Bytes())) {
			t.Fatalf("objects handed over do not appear in %q", body)
		}
	})
}

func compact(b []byte) []byte {
	v := jsontext.Value(append([]byte(nil), b...))
	v.Compact()
	return v
}

// FuzzCheckAccept feeds arbitrary Accept headers: no panic, and the
// answer is nil or a 406.
func FuzzCheckAccept(f *testing.F) {
	for _, s := range []string{"application/taxii+json;version=2.1", "*/*", "application/json", "a/b;q=0,c", ";;;", "application/taxii+json;version=2.1;q=0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		r, _ := http.NewRequest("GET", "/taxii2/", nil)
		r.Header.Set("Accept", accept)
		if err := checkAccept(r); err != nil {
			var te *Error
			if !errors.As(err, &te) || te.Status != http.StatusNotAcceptable {
				t.Fatalf("checkAccept(%q) = %v", accept, err)
			}
		}
	})
}
