package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"fusion/internal/store"
)

// BenchmarkIngestAudit measures what the audit log costs `fusion ingest`
// into SQLite: each iteration loads the same generated file
// (FUSION_BENCH_OBJECTS objects, default 200,000) into two fresh stores,
// one opened as the command opens it (openStore: the audit recorder
// writes entries in every batch's transaction) and one without the
// recorder, in alternating order, through the command's own pipeline
// (parse and validate on every core, write check, group commit). It
// reports both rates (objects per wall second and per CPU second of this
// process) and the overhead, logged CPU per object over the unlogged,
// minus 1.
//
//	FUSION_BENCH_OBJECTS=1000000 go test -run '^$' -bench IngestAudit -benchtime 2x ./cmd/fusion
func BenchmarkIngestAudit(b *testing.B) {
	n := 200000
	if s := os.Getenv("FUSION_BENCH_OBJECTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			b.Fatalf("FUSION_BENCH_OBJECTS=%q: want a positive number", s)
		}
	}
	p := benchFileOf(b, n)
	ctx := context.Background()
	load := func(logged bool) (wall, cpu time.Duration) {
		dir := b.TempDir()
		var st store.Store
		var err error
		if logged {
			st, err = openStore(ctx, "", dir)
		} else {
			st, err = openBackend(ctx, "", dir)
		}
		if err != nil {
			b.Fatal(err)
		}
		defer func() {
			st.Close()
			os.RemoveAll(dir)
		}()
		in := &ingester{st: st, coll: store.DefaultCollectionID, batch: 5000, workers: runtime.GOMAXPROCS(0)}
		if in.wc, err = newWriteCheck(ctx, st, in.coll, ""); err != nil {
			b.Fatal(err)
		}
		in.con = newConsole(io.Discard, &in.objects)
		runtime.GC()
		cpu0, t0 := processCPU(), time.Now()
		if err := in.file(ctx, p); err != nil {
			b.Fatal(err)
		}
		wall, cpu = time.Since(t0), processCPU()-cpu0
		if in.stored+in.unchanged != n || in.rejected != 0 {
			b.Fatalf("stored %d, unchanged %d, rejected %d of %d", in.stored, in.unchanged, in.rejected, n)
		}
		return wall, cpu
	}
	var wall, cpu [2]time.Duration // [unlogged, logged]
	b.ResetTimer()
	for i := range b.N {
		for k := range 2 {
			logged := (i+k)%2 == 1
			w, c := load(logged)
			wall[boolIndex(logged)] += w
			cpu[boolIndex(logged)] += c
		}
	}
	b.StopTimer()
	objs := float64(n * b.N)
	b.ReportMetric(objs/wall[0].Seconds(), "plain-objects/s")
	b.ReportMetric(objs/wall[1].Seconds(), "logged-objects/s")
	b.ReportMetric(objs/cpu[0].Seconds(), "plain-objects/cpu-s")
	b.ReportMetric(objs/cpu[1].Seconds(), "logged-objects/cpu-s")
	b.ReportMetric(100*(cpu[1].Seconds()/cpu[0].Seconds()-1), "cpu-overhead-%")
	b.ReportMetric(100*(wall[1].Seconds()/wall[0].Seconds()-1), "wall-overhead-%")
}

func boolIndex(v bool) int {
	if v {
		return 1
	}
	return 0
}

// processCPU is this process's user+system CPU time (the SQLite store
// runs in it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
