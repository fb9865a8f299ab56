package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

// TestLogTwoNodes appends through two DBs (two nodes, each with its own
// pool) on one schema at once: the indexes stay dense and unique.
func TestLogTwoNodes(t *testing.T) {
	cfg := newSchema(t)
	storetest.ConcurrentAppends(t, []store.Store{openOn(t, cfg), openOn(t, cfg)})
}

func BenchmarkLog(b *testing.B) {
	storetest.BenchLog(b, func(b *testing.B) store.Store { return openTest(b) })
}

// BenchmarkLogLock measures what the total order costs small appends:
// one-entry AppendLogs from many goroutines on two nodes, against the
// same inserts numbered by a sequence (no lock, gaps possible), which is
// what the log would cost without dense indexes.
func BenchmarkLogLock(b *testing.B) {
	b.Run("AppendLog", func(b *testing.B) {
		cfg := newSchema(b)
		storetest.BenchAppendParallel(b, []store.Store{openOn(b, cfg), openOn(b, cfg)})
	})
	b.Run("SequenceInsert", func(b *testing.B) {
		cfg := newSchema(b)
		nodes := []*DB{openOn(b, cfg), openOn(b, cfg)}
		if _, err := nodes[0].pool.Exec(context.Background(),
			`CREATE TABLE seq_entries (idx BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data BYTEA NOT NULL)`); err != nil {
			b.Fatal(err)
		}
		entry := []byte(fmt.Sprintf("%200s", "x"))
		var next atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			ctx := context.Background()
			for pb.Next() {
				db := nodes[next.Add(1)%2]
				if _, err := db.pool.Exec(ctx, `INSERT INTO seq_entries (data) VALUES ($1)`, entry); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
	})
}
