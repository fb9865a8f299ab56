package main

import (
	stdjson "encoding/json"
	"strconv"
	"strings"
	"testing"
)

// FuzzJSONField: jsonField never panics, and what it returns is the
// string or number at the path as an independent decoder
// (encoding/json) reads the same line; a string value appears quoted in
// the line when the line has no escapes.
func FuzzJSONField(f *testing.F) {
	f.Add([]byte(`{"src":{"ip":"198.51.100.7"},"dst":"evil.example"}`), "src.ip")
	f.Add([]byte(`{"src":{"ip":"198.51.100.7"},"dst":"evil.example"}`), "dst")
	f.Add([]byte(`{"port":443,"n":1e21,"neg":-0.5}`), "port")
	f.Add([]byte(`{"port":443,"n":1e21,"neg":-0.5}`), "n")
	f.Add([]byte(`{"a":{"b":{"c":"deep"}}}`), "a.b.c")
	f.Add([]byte(`{"a":"x","a":"y"}`), "a")
	f.Add([]byte(`{"a.b":"dotted"}`), "a.b")
	f.Add([]byte(`{"":{"":"empty"}}`), ".")
	f.Add([]byte(`{"u":"\u0041\ud83d\ude00"}`), "u")
	f.Add([]byte(`["not","an","object"]`), "0")
	f.Add([]byte(`{"s":"\xff"}`), "s")
	f.Add([]byte(`{"b":true,"z":null}`), "b")
	f.Fuzz(func(t *testing.T, line []byte, path string) {
		v, ok := jsonField(line, path)
		if !ok {
			if v != "" {
				t.Fatalf("not ok but %q", v)
			}
			return
		}
		var obj map[string]any
		if err := stdjson.Unmarshal(line, &obj); err != nil {
			t.Fatalf("jsonField read %q from a line encoding/json rejects: %v", v, err)
		}
		var cur any = obj
		for _, k := range strings.Split(path, ".") {
			m, isObj := cur.(map[string]any)
			if !isObj {
				t.Fatalf("path %q: not an object at %q for encoding/json", path, k)
			}
			if cur, isObj = m[k]; !isObj {
				t.Fatalf("path %q: no %q for encoding/json", path, k)
			}
		}
		switch x := cur.(type) {
		case string:
			if x != v {
				t.Fatalf("path %q: %q, encoding/json reads %q", path, v, x)
			}
			if !strings.Contains(string(line), `\`) && !strings.Contains(string(line), `"`+v+`"`) {
				t.Fatalf("value %q does not appear in the line %q", v, line)
			}
		case float64:
			if want := strconv.FormatFloat(x, 'f', -1, 64); want != v {
				t.Fatalf("path %q: %q, encoding/json reads %s", path, v, want)
			}
		default:
			t.Fatalf("path %q: %q for a %T", path, v, cur)
		}
	})
}
