package postgres

import (
	"os"
	"strconv"
	"testing"

	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

// TestConformance runs the backend-independent store suite, each test on
// a fresh schema of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

// BenchmarkStore runs the shared store benchmarks. FUSION_BENCH_LIST_OBJECTS
// sets how many objects ListPage1000 pages through (storetest's default
// otherwise), e.g. 1000000.
func BenchmarkStore(b *testing.B) {
	if s := os.Getenv("FUSION_BENCH_LIST_OBJECTS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("FUSION_BENCH_LIST_OBJECTS=%q: want a positive number", s)
		}
		storetest.BenchListObjects = n
	}
	// storetest.Bench keeps the ListPage1000 store across the runs of that
	// sub-benchmark (b.N = 1, then larger), so the store must live until
	// BenchmarkStore ends, not until the sub-benchmark run that opened it.
	storetest.Bench(b, func(sb *testing.B) store.Store { return openTestCleanup(sb, b.Cleanup) })
}
