package stix

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json"
)

// The OASIS example bundles (testdata/examples, BSD-3-Clause, see LICENSE
// there) are valid STIX 2.1: every object must come through Reader, Parse
// and Validate, and Raw must hold the same JSON as the file.
func TestCorpus(t *testing.T) {
	want := map[string]int{
		"apt1.json":                                      76,
		"indicator-for-c2-ip-address.json":               1,
		"indicator-to-campaign-relationship.json":        3,
		"indicators-for-C2-with-COA.json":                8,
		"infrastructure.json":                            10,
		"interop-objectmarking-test.json":                1,
		"malicious-email-indicator-with-attachment.json": 6,
		"poisonivy.json":                                 155,
	}
	files, err := filepath.Glob("testdata/examples/*.json")
	if err != nil || len(files) != len(want) {
		t.Fatalf("corpus files %v (%v), want %d", files, err, len(want))
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// The objects as a generic JSON decoder sees them.
			var doc any
			if err := json.Unmarshal(data, &doc); err != nil {
				t.Fatal(err)
			}
			var expect []any
			if m, ok := doc.(map[string]any); ok && m["type"] == "bundle" {
				expect = m["objects"].([]any)
			} else {
				expect = []any{doc}
			}

			fh, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			r := NewReader(fh)
			n := 0
			for {
				it, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				if it.Index != n {
					t.Errorf("item index %d, want %d", it.Index, n)
				}
				o, err := Parse(it.Raw)
				if err != nil {
					t.Fatalf("object %d: Parse: %v", n, err)
				}
				if err := Validate(o); err != nil {
					t.Errorf("object %d: Validate: %v", n, err)
				}
				var got any
				if err := json.Unmarshal(o.Raw, &got); err != nil {
					t.Fatalf("object %d: Raw does not decode: %v", n, err)
				}
				if n < len(expect) && !reflect.DeepEqual(got, expect[n]) {
					t.Errorf("object %d: Raw differs from the file:\n got %v\nwant %v", n, got, expect[n])
				}
				if m, _ := got.(map[string]any); m["id"] != o.ID || m["type"] != o.Type {
					t.Errorf("object %d: typed id/type %q/%q differ from Raw", n, o.ID, o.Type)
				}
				n++
			}
			if n != want[name] || n != len(expect) {
				t.Errorf("read %d objects, want %d (file has %d)", n, want[name], len(expect))
			}
		})
	}
}
