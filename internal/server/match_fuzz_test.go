package server

import (
	"bytes"
	"testing"
)

// FuzzBodyKind: bodyKind never panics, returns one of the three kinds or
// an error only for a body that starts with '{' and is not JSON, and the
// Content-Type decides alone when it names a kind.
func FuzzBodyKind(f *testing.F) {
	f.Add("", []byte("198.51.100.1\nexample.com\n"))
	f.Add("text/plain; charset=utf-8", []byte("evil.example\n"))
	f.Add("", []byte(`{"type":"bundle","id":"bundle--1","objects":[]}`))
	f.Add("", []byte("\ufeff {\"type\":\"domain-name\",\"value\":\"a.example\"}\n{\"type\":\"ipv4-addr\",\"value\":\"1.2.3.4\"}\n"))
	f.Add("application/stix+json;version=2.1", []byte("not json"))
	f.Add("application/x-ndjson", []byte("{"))
	f.Add("", []byte("{\"type\":"))
	f.Add("multipart/form-data; boundary=\x00", []byte("{}"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		kind, err := bodyKind(ctype, body)
		if err != nil {
			rest := bytes.TrimLeft(body, " \t\r\n\ufeff")
			if len(rest) == 0 || rest[0] != '{' {
				t.Fatalf("error %v for a body that does not start with '{'", err)
			}
			return
		}
		if kind != bodyValues && kind != bodyJSONLines && kind != bodyBundle {
			t.Fatalf("kind %d", kind)
		}
		// The media type alone decides for the named types.
		if k2, err := bodyKind(ctype, []byte("x")); err == nil && k2 != bodyValues && k2 != kind {
			t.Fatalf("Content-Type %q gives %d for one body and %d for another", ctype, k2, kind)
		}
	})
}

// FuzzJSONLineObservables: no panic; on success every observable comes
// from a line of the body that is not blank, in line order, and every
// line it names exists.
func FuzzJSONLineObservables(f *testing.F) {
	f.Add([]byte("{\"type\":\"domain-name\",\"value\":\"evil.example\"}\n"))
	f.Add([]byte("\n\n{\"type\":\"ipv4-addr\",\"value\":\"198.51.100.7\"}\r\n  \n{\"type\":\"file\",\"hashes\":{\"SHA-256\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"},\"name\":\"x.exe\"}"))
	f.Add([]byte("{\"type\":\"email-message\",\"from_ref\":\"email-addr--1\",\"subject\":\"hi\",\"additional_header_fields\":{\"X\":[\"a\"]}}\n"))
	f.Add([]byte("{\"value\":\"no type\"}\n"))
	f.Add([]byte("[1,2]\n"))
	f.Add([]byte("{\"type\":\"url\",\"value\":\"http://a\\u0000b\"}\n{\"type\":\"url\",\"value\":\"x\",\"value\":\"y\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		obs, lineOf, err := jsonLineObservables(body)
		if err != nil {
			if obs != nil || lineOf != nil {
				t.Fatalf("error %v with results", err)
			}
			return
		}
		if len(obs) != len(lineOf) {
			t.Fatalf("%d observables, %d line numbers", len(obs), len(lineOf))
		}
		lines := bytes.Split(body, []byte{'\n'})
		for i, l := range lineOf {
			if l < 0 || l >= len(lines) {
				t.Fatalf("observable %d from line %d of %d", i, l, len(lines))
			}
			if i > 0 && l < lineOf[i-1] {
				t.Fatalf("line numbers out of order: %v", lineOf)
			}
			if len(bytes.TrimSpace(lines[l])) == 0 {
				t.Fatalf("observable %d from blank line %d", i, l)
			}
			if obs[i].Type == "" {
				t.Fatalf("observable %d without a type: %+v", i, obs[i])
			}
		}
	})
}
