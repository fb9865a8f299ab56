package client

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkDecodeEnvelope decodes a page of 1000 objects of about 10 KB.
// The page-bytes/op metric is the body size; B/op close to it shows the
// page is held once (objects copied out of a small decoder window), not
// buffered whole and then copied.
func BenchmarkDecodeEnvelope(b *testing.B) {
	pad := strings.Repeat("x", 10000)
	var objs [][]byte
	for i := range 1000 {
		objs = append(objs, []byte(fmt.Sprintf(`{"type":"note","id":"note--%08x-0000-4000-8000-000000000000","content":%q}`, i, pad)))
	}
	eb := NewEnvelopeBuilder(1 << 30)
	for _, o := range objs {
		eb.Add(o)
	}
	body := eb.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		env, err := decodeEnvelope(bytes.NewReader(body))
		if err != nil || len(env.Objects) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(body)), "page-bytes/op")
}

// BenchmarkGetObjectsPage reads a page of 1000 indicators from the real
// server over loopback HTTP.
func BenchmarkGetObjectsPage(b *testing.B) {
	f := newFixture(b, 0)
	var objs [][]byte
	for i := range 1000 {
		objs = append(objs, indicator(i, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)))
	}
	eb := NewEnvelopeBuilder(1 << 30)
	for _, o := range objs {
		eb.Add(o)
	}
	c := New(Options{Token: f.writeToken})
	if _, err := c.AddObjects(b.Context(), f.root, f.coll, eb.Bytes()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		env, err := c.GetObjects(b.Context(), f.root, f.coll, Filter{Limit: 1000})
		if err != nil || len(env.Objects) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "objects/s")
}
