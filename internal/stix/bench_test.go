package stix

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// corpusItems reads every object of the example bundles.
func corpusItems(tb testing.TB) [][]byte {
	tb.Helper()
	files, err := filepath.Glob("testdata/examples/*.json")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus: %v", err)
	}
	var out [][]byte
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			tb.Fatal(err)
		}
		r := NewReader(fh)
		for {
			it, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", f, err)
			}
			out = append(out, it.Raw)
		}
		fh.Close()
	}
	return out
}

// BenchmarkParseValidate parses and validates every corpus object once
// per iteration; ns/op is per object.
func BenchmarkParseValidate(b *testing.B) {
	items := corpusItems(b)
	var bytes int64
	for _, it := range items {
		bytes += int64(len(it))
	}
	b.SetBytes(bytes / int64(len(items)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		raw := items[i%len(items)]
		o, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if err := Validate(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate measures Validate alone over the corpus objects.
func BenchmarkValidate(b *testing.B) {
	items := corpusItems(b)
	objs := make([]*Object, len(items))
	for i, raw := range items {
		o, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		objs[i] = o
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Validate(objs[i%len(objs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidateIndicator validates one typical indicator of about
// 1 KB (markings, kill chain, external reference, STIX pattern).
func BenchmarkValidateIndicator(b *testing.B) {
	t := &testing.T{}
	o, err := Parse(build(t, validObjects["indicator"]))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(o.Raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Validate(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseIndicator parses the same indicator.
func BenchmarkParseIndicator(b *testing.B) {
	raw := build(&testing.T{}, validObjects["indicator"])
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
