package match

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentLookupsAndWrites runs lookups (single, batch, bundle) on
// several goroutines while a writer adds, supersedes, revokes and removes
// indicators, with compactions forced often. Readers check that stable
// indicators always match exactly once; the writer checks that each of
// its writes is visible to its next lookup. Run it with -race.
func TestConcurrentLookupsAndWrites(t *testing.T) {
	x, _ := newTestIndex(t, Options{CompactAt: 64})
	var stable []spec
	for i := range 100 {
		stable = append(stable, spec{n: i, pattern: fmt.Sprintf("[ipv4-addr:value = '10.0.0.%d']", i)})
	}
	if _, err := x.Build(seq(items(stable...), -1)); err != nil {
		t.Fatal(err)
	}
	var lines strings.Builder
	for i := range 100 {
		fmt.Fprintf(&lines, "10.0.0.%d\nchurn%d.example\n", i, i)
	}
	text := []byte(lines.String())
	raw := bundleOf(group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{`"type":"ipv4-addr","value":"10.0.0.42"`}})
	obs, _, err := ObservationsFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
		stop.Store(true)
	}
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := x.NewMatcher()
			var dst []Hit
			for k := 0; !stop.Load(); k++ {
				i := (k*7 + r) % 100
				dst, _ = m.LookupString(fmt.Sprintf("10.0.0.%d", i), dst[:0])
				if len(dst) != 1 || dst[0].Ref.ID != id(i) || dst[0].Kind != KindExact {
					fail("reader %d: 10.0.0.%d: %+v", r, i, dst)
					return
				}
				dst, _ = m.LookupString(fmt.Sprintf("churn%d.example", i), dst[:0])
				for _, h := range dst {
					if h.Ref.ID != id(1000+i) {
						fail("reader %d: churn%d: foreign hit %+v", r, i, h)
						return
					}
				}
				if k%50 == 0 {
					hits, rec := x.LookupLines(text)
					stableHits := 0
					for _, h := range hits {
						if h.Input%2 == 0 {
							stableHits++
						}
					}
					if rec != 200 || stableHits != 100 {
						fail("reader %d: batch: %d recognised, %d stable hits", r, rec, stableHits)
						return
					}
					if h := x.MatchObservations(obs); len(h) != 1 || h[0].Ref.ID != id(42) {
						fail("reader %d: observations: %+v", r, h)
						return
					}
				}
			}
		}()
	}
	writes := 0
	for step := 0; step < 1500 && !stop.Load(); step++ {
		n := step % 100
		d := fmt.Sprintf("churn%d.example", n)
		mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(step) * time.Second).Format(time.RFC3339)
		switch step % 4 {
		case 0, 1:
			mustUpdate(t, x, spec{n: 1000 + n, pattern: fmt.Sprintf("[domain-name:value = '%s']", d), modified: mod})
			if got := lookupS(t, x, d); !eq(got, []string{fmt.Sprint(1000+n, ":exact")}) {
				fail("writer step %d: %s after update: %v", step, d, got)
			}
		case 2:
			mustUpdate(t, x, spec{n: 1000 + n, pattern: "[domain-name:value = 'x.example']", modified: mod, revoked: true})
			if got := lookupS(t, x, d); got != nil {
				fail("writer step %d: %s after revocation: %v", step, d, got)
			}
		case 3:
			x.Remove("c1", id(1000+n))
			if got := lookupS(t, x, d); got != nil {
				fail("writer step %d: %s after removal: %v", step, d, got)
			}
		}
		writes++
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if in := x.Info(); in.Compactions == 0 {
		t.Errorf("no compaction during the test (%d writes): %+v", writes, in)
	}
}
