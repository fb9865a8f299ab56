package guard

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time. The machines these
// benchmarks run on are shared, so besides wall-clock throughput the
// benchmarks report objects per CPU-second: what one uncontended core
// would do.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchSetup returns a scanner over the corpus list plus 100,000 mixed
// assets (40 % ranges, 30 % domains, 10 % mail, 15 % names, 4 % ASNs,
// 1 % regexes), and objects read from a corpus file.
func benchSetup(b *testing.B, file string, opts Options) (*Scanner, [][]byte, int64) {
	b.Helper()
	assets, err := os.ReadFile("testdata/assets.txt")
	if err != nil {
		b.Fatal(err)
	}
	list, err := ParseList(strings.NewReader(string(assets) + bigList(100_000, 7)))
	if err != nil {
		b.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	var objs [][]byte
	var total int64
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) > 0 {
			objs = append(objs, l)
			total += int64(len(l))
		}
	}
	return NewScanner(list, opts), objs, total / int64(len(objs))
}

// BenchmarkScan measures Scan over the clean corpus (1,400 realistic
// objects, the common case) and the leaky corpus, with 100,028 assets.
// "serial" is one goroutine (one core); "parallel" runs GOMAXPROCS
// goroutines. The objects/s metric is the throughput.
func BenchmarkScan(b *testing.B) {
	for _, c := range []struct {
		name string
		file string
		opts Options
	}{
		{"clean", "testdata/corpus/clean.jsonl", Options{}},
		{"leaky", "testdata/corpus/leaky.jsonl", Options{}},
		{"leaky-redact", "testdata/corpus/leaky.jsonl", Options{Redact: true}},
	} {
		sc, objs, avg := benchSetup(b, c.file, c.opts)
		b.Run(c.name+"/serial", func(b *testing.B) {
			b.SetBytes(avg)
			b.ReportAllocs()
			i := 0
			cpu0 := cpuTime()
			for b.Loop() {
				sc.Scan(objs[i%len(objs)])
				i++
			}
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "objects/cpu-s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			b.SetBytes(avg)
			b.ReportAllocs()
			var next atomic.Int64
			cpu0 := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				i := int(next.Add(7919))
				for pb.Next() {
					sc.Scan(objs[i%len(objs)])
					i++
				}
			})
			b.ReportMetric(float64(b.N)/(cpuTime()-cpu0).Seconds(), "objects/cpu-s")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}

// BenchmarkScanBatch measures ScanBatch on batches of 100 clean objects,
// reference resolution included.
func BenchmarkScanBatch(b *testing.B) {
	sc, objs, avg := benchSetup(b, "testdata/corpus/clean.jsonl", Options{})
	prior := BlockedSet{"identity--00000000-0000-4000-8000-000000000000": true}
	b.SetBytes(avg * 100)
	b.ReportAllocs()
	i := 0
	cpu0 := cpuTime()
	for b.Loop() {
		start := (i * 100) % (len(objs) - 100)
		if _, err := sc.ScanBatch(context.Background(), objs[start:start+100], prior); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*100)/(cpuTime()-cpu0).Seconds(), "objects/cpu-s")
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "objects/s")
}
