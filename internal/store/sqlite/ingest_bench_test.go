package sqlite

import (
	"context"
	"flag"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/gen"
	"fusion/internal/stix"
	"fusion/internal/store"
)

var (
	benchBatch   = flag.Int("batch", 5000, "objects per Put in BenchmarkIngestWriter")
	benchGrouped = flag.Bool("grouped", true, "BenchmarkIngestWriter puts through PutGrouped, as fusion ingest does")
)

// BenchmarkIngestWriter is the writer side of `fusion ingest`: it puts
// -objects generated objects (internal/gen, seed 1, as in the 1M-object
// ingest of docs/benchmarks.md) into a fresh store in Puts of -batch,
// with the audit recorder installed, and reports the time inside Put per
// object (put-µs/obj: the writer goroutine's share of an ingest) and the
// process CPU per object outside generating and parsing (cpu-µs/obj,
// which includes the background checkpointer). Run it with -benchtime 1x.
func BenchmarkIngestWriter(b *testing.B) {
	for range b.N {
		db := openTemp(b)
		db.SetRecorder(audit.Recorder(nil))
		ctx := context.Background()
		g := gen.New(1)
		var inPut, prep time.Duration
		cpu0 := cpuTime()
		load := func(put func([]*stix.Object) error) error {
			for n := 0; n < *benchObjects; {
				c0 := cpuTime()
				objs := make([]*stix.Object, 0, *benchBatch)
				for ; len(objs) < *benchBatch && n < *benchObjects; n++ {
					o, err := stix.Parse(g.Next())
					if err != nil {
						return err
					}
					objs = append(objs, o)
				}
				prep += cpuTime() - c0
				t1 := time.Now()
				if err := put(objs); err != nil {
					return err
				}
				inPut += time.Since(t1)
			}
			return nil
		}
		var err error
		if *benchGrouped {
			err = db.PutGrouped(ctx, store.DefaultCollectionID, "", func(put func([]*stix.Object) ([]store.PutOutcome, bool, error)) error {
				err := load(func(objs []*stix.Object) error {
					_, _, err := put(objs)
					return err
				})
				t1 := time.Now()
				if err == nil {
					_, _, err = put(nil)
				}
				inPut += time.Since(t1)
				return err
			})
		} else {
			err = load(func(objs []*stix.Object) error {
				_, err := db.Put(ctx, store.DefaultCollectionID, "", objs)
				return err
			})
		}
		if err != nil {
			b.Fatal(err)
		}
		cpu := cpuTime() - cpu0 - prep
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(*benchObjects) }
		b.ReportMetric(per(inPut), "put-µs/obj")
		b.ReportMetric(per(cpu), "cpu-µs/obj")
		b.ReportMetric(float64(*benchObjects)/inPut.Seconds(), "put-objects/s")
	}
}
