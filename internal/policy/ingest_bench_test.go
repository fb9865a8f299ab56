package policy

import (
	"testing"

	stixgen "fusion/internal/gen"
	"fusion/internal/stix"
)

// genObjects returns n generated objects (internal/gen, seed 1): the mix
// fusion ingest sees in load tests.
func genObjects(n int) [][]byte {
	g := stixgen.New(1)
	out := make([][]byte, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// BenchmarkIngestObject is what an ingest worker does per object
// (cmd/fusion parseValid): stix.Parse, then ValidateObject (stix.Validate,
// FactsOf, the facts blob). ns/op is per object.
func BenchmarkIngestObject(b *testing.B) {
	items := genObjects(10000)
	var size int64
	for _, it := range items {
		size += int64(len(it))
	}
	b.SetBytes(size / int64(len(items)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		o, err := stix.Parse(items[i%len(items)])
		if err != nil {
			b.Fatal(err)
		}
		if err := ValidateObject(o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFactsOfGenerated is FactsOf alone over the generated objects.
func BenchmarkFactsOfGenerated(b *testing.B) {
	items := genObjects(10000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := FactsOf(items[i%len(items)]); err != nil {
			b.Fatal(err)
		}
	}
}
