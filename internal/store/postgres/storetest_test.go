package postgres

import (
	"testing"

	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

// TestConformance runs the backend-independent store suite, each test on
// a fresh schema of its own.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTest(t) })
}

// BenchmarkStore runs the shared store benchmarks.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return openTest(b) })
}
