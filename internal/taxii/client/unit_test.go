package client

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json/jsontext"
)

func TestCheckTAXIIResponse(t *testing.T) {
	for _, tc := range []struct {
		ct string
		ok bool
	}{
		{"application/taxii+json;version=2.1", true},
		{"application/taxii+json; version=2.1", true},
		{"Application/TAXII+JSON; Version=\"2.1\"", true},
		{"application/taxii+json", true},
		{"application/taxii+json;version=2.0", false},
		{"application/stix+json;version=2.1", false},
		{"text/html; charset=utf-8", false},
		{"application/json", false},
		{"", false},
		{"application/taxii+json;version", false},
	} {
		err := checkTAXIIResponse(tc.ct)
		if (err == nil) != tc.ok {
			t.Errorf("checkTAXIIResponse(%q) = %v, want ok=%v", tc.ct, err, tc.ok)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		v    string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"7", 7 * time.Second},
		{" 120 ", 120 * time.Second},
		{"-1", 0},
		{"1.5", 0},
		{"abc", 0},
		{"99999999999999999999", 0},
		{"999999999", 24 * time.Hour},
		{"Wed, 01 May 2024 12:00:30 GMT", 30 * time.Second},
		{"Wed, 01 May 2024 11:00:00 GMT", 0},
		{"Sun, 06 Nov 2044 08:49:37 GMT", 24 * time.Hour},
	} {
		if got := parseRetryAfter(tc.v, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestRetryDelay(t *testing.T) {
	r := Retry{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	lo := func() float64 { return 0 }
	hi := func() float64 { return 0.999999 }
	for _, tc := range []struct {
		next   int
		lo, hi time.Duration
	}{
		{2, 50 * time.Millisecond, 100 * time.Millisecond},
		{3, 100 * time.Millisecond, 200 * time.Millisecond},
		{4, 200 * time.Millisecond, 400 * time.Millisecond},
		{5, 400 * time.Millisecond, 800 * time.Millisecond},
		{6, 500 * time.Millisecond, time.Second},
		{60, 500 * time.Millisecond, time.Second},
	} {
		if got := r.delay(tc.next, lo); got != tc.lo {
			t.Errorf("delay(%d, 0) = %v, want %v", tc.next, got, tc.lo)
		}
		if got := r.delay(tc.next, hi); got < tc.hi-time.Millisecond || got > tc.hi {
			t.Errorf("delay(%d, ~1) = %v, want about %v", tc.next, got, tc.hi)
		}
	}
	d := Retry{}.withDefaults()
	if d != DefaultRetry {
		t.Errorf("zero Retry with defaults = %+v, want %+v", d, DefaultRetry)
	}
}

func TestEnvelopeBuilder(t *testing.T) {
	objs := [][]byte{
		[]byte(`{"type":"a","id":"1"}`),
		[]byte(`{"type":"b","id":"22"}`),
		[]byte(`{"type":"c","id":"333"}`),
	}
	// Room for exactly the first two objects.
	limit := EnvelopeOverhead + len(objs[0]) + 1 + len(objs[1])
	b := NewEnvelopeBuilder(limit)
	if b.Size() != EnvelopeOverhead || string(b.Bytes()) != `{"objects":[]}` {
		t.Fatalf("empty envelope %q size %d", b.Bytes(), b.Size())
	}
	for i := 0; i < 2; i++ {
		ok, err := b.Add(objs[i])
		if !ok || err != nil {
			t.Fatalf("Add(%d) = %v, %v", i, ok, err)
		}
	}
	if ok, err := b.Add(objs[2]); ok || err != nil {
		t.Fatalf("Add over the limit = %v, %v; want false, nil", ok, err)
	}
	got := b.Bytes()
	if len(got) != limit || b.Size() != limit || b.Len() != 2 {
		t.Fatalf("envelope %d bytes (Size %d, Len %d), want %d", len(got), b.Size(), b.Len(), limit)
	}
	if !jsontext.Value(got).IsValid() {
		t.Fatalf("envelope is not valid JSON: %s", got)
	}
	env, err := decodeEnvelope(bytes.NewReader(got))
	if err != nil || len(env.Objects) != 2 || string(env.Objects[1]) != string(objs[1]) {
		t.Fatalf("decode built envelope: %v %+v", err, env)
	}
	b.Reset()
	if ok, _ := b.Add(objs[2]); !ok || b.Len() != 1 {
		t.Fatal("Add after Reset failed")
	}
	small := NewEnvelopeBuilder(EnvelopeOverhead + 5)
	if _, err := small.Add(objs[0]); !errors.Is(err, ErrObjectTooLarge) {
		t.Fatalf("oversized object: err %v, want ErrObjectTooLarge", err)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		more     bool
		next     string
		n        int
		err      string
	}{
		{"empty", `{}`, false, "", 0, ""},
		{"full", `{"more":true,"next":"abc","objects":[{"id":"x"},{"id":"y","a":[1,{"b":2}]}]}`, true, "abc", 2, ""},
		{"nulls", `{"more":null,"next":null,"objects":null}`, false, "", 0, ""},
		{"unknown members skipped", `{"x":{"deep":[1,2,3]},"objects":[{}],"y":1}`, false, "", 1, ""},
		{"whitespace", " \n{ \"objects\" : [ { } ] }\n ", false, "", 1, ""},
		{"not object", `[]`, false, "", 0, "not a JSON object"},
		{"more string", `{"more":"true"}`, false, "", 0, "more is a string"},
		{"next number", `{"next":5}`, false, "", 0, "next is a number"},
		{"objects object", `{"objects":{}}`, false, "", 0, "objects is not an array"},
		{"element not object", `{"objects":[{},3]}`, false, "", 0, "objects[1] is a number"},
		{"duplicate member", `{"more":true,"more":false}`, false, "", 0, "duplicate"},
		{"truncated", `{"objects":[{"id":"x"},{"id":`, false, "", 0, "unexpected EOF"},
		{"trailing data", `{}{}`, false, "", 0, "data after"},
		{"invalid utf8", "{\"objects\":[{\"a\":\"\xff\"}]}", false, "", 0, "UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, err := decodeEnvelope(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env.More != tc.more || env.Next != tc.next || len(env.Objects) != tc.n {
				t.Fatalf("got more=%v next=%q %d objects", env.More, env.Next, len(env.Objects))
			}
			for _, o := range env.Objects {
				if !jsontext.Value(o).IsValid() || o[0] != '{' {
					t.Fatalf("object %q is not a JSON object", o)
				}
			}
		})
	}
}

// The truncated body of a cut connection must be classed as transient so
// that it is retried.
func TestDecodeEnvelopeTruncatedIsTransient(t *testing.T) {
	r := io.MultiReader(strings.NewReader(`{"objects":[{"id":"x"},`), errReader{io.ErrUnexpectedEOF})
	_, err := decodeEnvelope(r)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want wrapping io.ErrUnexpectedEOF", err)
	}
	if !transient(t.Context(), err) {
		t.Fatalf("truncated body not transient: %v", err)
	}
	_, err = decodeEnvelope(strings.NewReader(`{"objects":[{"id":x}]}`))
	if err == nil || transient(t.Context(), err) {
		t.Fatalf("syntax error %v classed as transient", err)
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestLimitReader(t *testing.T) {
	got, err := io.ReadAll(newLimitReader(strings.NewReader("12345"), 5))
	if err != nil || string(got) != "12345" {
		t.Fatalf("exact limit: %q %v", got, err)
	}
	_, err = io.ReadAll(newLimitReader(strings.NewReader("123456"), 5))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over limit: err %v, want ErrTooLarge", err)
	}
	if transient(t.Context(), err) {
		t.Fatal("ErrTooLarge classed as transient")
	}
	_, err = decodeEnvelope(newLimitReader(strings.NewReader(`{"objects":[{"a":"`+strings.Repeat("x", 1000)+`"}]}`), 100))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("envelope over limit: err %v, want ErrTooLarge", err)
	}
}

func TestDecodeError(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body string
		want           Error
	}{
		{"taxii error", MediaTypeTAXII,
			`{"title":"Not Found","description":"no collection 9","error_id":"e1","error_code":"404.1","http_status":"404","external_details":"https://x/y","details":{"a":1}}`,
			Error{Title: "Not Found", Description: "no collection 9", ErrorID: "e1", ErrorCode: "404.1", HTTPStatus: "404", ExternalDetails: "https://x/y"}},
		{"numeric http_status", "application/taxii+json", `{"title":"Busy","http_status":503}`,
			Error{Title: "Busy", HTTPStatus: "503"}},
		{"html page", "text/html", "<html><body>\x1b[31mBad\tGateway</body></html>",
			Error{Description: "<html><body> [31mBad Gateway</body></html>"}},
		{"taxii type, not an error message", MediaTypeTAXII, `{"foo":1}`,
			Error{Description: `{"foo":1}`}},
		{"malformed json", MediaTypeTAXII, `{"title":`,
			Error{Description: `{"title":`}},
		{"empty", "", "", Error{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeError("GET", "http://h/x/", 502, tc.ct, []byte(tc.body))
			if e.StatusCode != 502 || e.Method != "GET" || e.URL != "http://h/x/" {
				t.Fatalf("request fields %+v", e)
			}
			if e.Title != tc.want.Title || e.Description != tc.want.Description || e.ErrorID != tc.want.ErrorID ||
				e.ErrorCode != tc.want.ErrorCode || e.HTTPStatus != tc.want.HTTPStatus || e.ExternalDetails != tc.want.ExternalDetails {
				t.Fatalf("got %+v\nwant %+v", *e, tc.want)
			}
			if !strings.Contains(e.Error(), "502 Bad Gateway") {
				t.Fatalf("Error() = %q", e.Error())
			}
			var ee *Error
			if !errors.As(error(e), &ee) || StatusOf(e) != 502 {
				t.Fatal("StatusOf/errors.As")
			}
		})
	}
}

func TestCleanBoundsAndStripsControls(t *testing.T) {
	s := clean(strings.Repeat("ab\x00\x1b", 10000))
	if len(s) > maxErrorText+len("…") {
		t.Fatalf("clean kept %d bytes", len(s))
	}
	if strings.ContainsAny(s, "\x00\x1b") {
		t.Fatal("control characters kept")
	}
}

func TestFilterValues(t *testing.T) {
	f := Filter{
		AddedAfter:   time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC),
		Limit:        50,
		Next:         "tok en",
		IDs:          []string{"indicator--1", "malware--2"},
		Types:        []string{"indicator"},
		Versions:     []string{"first", "last"},
		SpecVersions: []string{"2.1"},
	}
	q := f.values()
	want := map[string]string{
		"added_after":         "2024-01-02T03:04:05.123456Z",
		"limit":               "50",
		"next":                "tok en",
		"match[id]":           "indicator--1,malware--2",
		"match[type]":         "indicator",
		"match[version]":      "first,last",
		"match[spec_version]": "2.1",
	}
	if len(q) != len(want) {
		t.Fatalf("values %v", q)
	}
	for k, v := range want {
		if q.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, q.Get(k), v)
		}
	}
	if len((Filter{}).values()) != 0 {
		t.Error("zero filter sends parameters")
	}
}

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		root string
		segs []string
		want string
		err  bool
	}{
		{"https://h/api1", []string{"collections", "c1", "objects"}, "https://h/api1/collections/c1/objects/", false},
		{"https://h/api1/", []string{"status", "s 1"}, "https://h/api1/status/s%201/", false},
		{"http://h:8080/a%2Fb/", []string{"collections"}, "http://h:8080/a%2Fb/collections/", false},
		{"https://h/api1/?x=1#f", nil, "https://h/api1/", false},
		{"h/api1", nil, "", true},
		{"ftp://h/api1", nil, "", true},
		{"https://u:p@h/api1", nil, "", true},
		{"https://h/api1", []string{"collections", ""}, "", true},
	} {
		got, err := endpoint(tc.root, nil, tc.segs...)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("endpoint(%q, %q) = %q, %v; want %q (err %v)", tc.root, tc.segs, got, err, tc.want, tc.err)
		}
	}
}

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{
		200: false, 400: false, 401: false, 403: false, 404: false, 408: true, 413: false, 415: false,
		422: false, 429: true, 500: true, 501: false, 502: true, 503: true, 504: true,
	} {
		if retryableStatus(code) != want {
			t.Errorf("retryableStatus(%d) = %v", code, !want)
		}
	}
	_ = http.StatusOK
}
