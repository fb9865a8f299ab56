package postgres

import (
	"bytes"
	"context"
	"fmt"
	"sync"
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

// TestAppendLogGroupCommit: AppendLog calls from many goroutines on two
// nodes are committed in groups, each call's entries contiguous at the
// index it got; a call whose context has ended appends nothing.
func TestAppendLogGroupCommit(t *testing.T) {
	cfg := newSchema(t)
	nodes := []*DB{openOn(t, cfg), openOn(t, cfg)}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	type call struct {
		first   int64
		entries [][]byte
	}
	const goroutines, rounds = 32, 10
	results := make([][]call, goroutines)
	errs := make(chan error, goroutines*rounds)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := nodes[g%2]
			for r := range rounds {
				es := make([][]byte, 1+(g+r)%3)
				for j := range es {
					es[j] = fmt.Appendf(nil, "g%d r%d e%d", g, r, j)
				}
				if r%4 == 3 {
					if _, err := db.AppendLog(cancelled, [][]byte{fmt.Appendf(nil, "cancelled g%d r%d", g, r)}); err == nil {
						errs <- fmt.Errorf("AppendLog with an ended context: no error")
					}
				}
				first, err := db.AppendLog(context.Background(), es)
				if err != nil {
					errs <- err
					return
				}
				results[g] = append(results[g], call{first, es})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ctx := context.Background()
	n, err := nodes[0].LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	all, err := nodes[1].ReadLog(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	total, calls := 0, 0
	for _, rs := range results {
		for _, c := range rs {
			calls++
			total += len(c.entries)
			for j, e := range c.entries {
				if got := all[c.first+int64(j)]; !bytes.Equal(got, e) {
					t.Errorf("entry %d of a call is %q at index %d, want %q", j, got, c.first+int64(j), e)
				}
			}
		}
	}
	if int64(total) != n {
		t.Errorf("log size %d, %d entries appended", n, total)
	}
	for _, e := range all {
		if bytes.HasPrefix(e, []byte("cancelled")) {
			t.Errorf("a call with an ended context appended %q", e)
		}
	}
	var txs int
	if err := nodes[0].pool.QueryRow(ctx, `SELECT count(DISTINCT xmin::text) FROM log_entries`).Scan(&txs); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d calls appended %d entries in %d transactions", calls, total, txs)
	if txs >= calls {
		t.Errorf("%d calls took %d transactions: no group commit", calls, txs)
	}
}

// Entries are kept out of line uncompressed (migration 0010): pglz spends
// the server's CPU on base64 and hex it barely shrinks.
func TestLogEntriesUncompressed(t *testing.T) {
	db := openTest(t)
	var storage string
	err := db.pool.QueryRow(context.Background(),
		`SELECT attstorage FROM pg_attribute WHERE attrelid = 'log_entries'::regclass AND attname = 'data'`).Scan(&storage)
	if err != nil {
		t.Fatal(err)
	}
	if storage != "e" {
		t.Fatalf("log_entries.data storage is %q, want e (EXTERNAL)", storage)
	}
}
