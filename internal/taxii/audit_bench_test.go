package taxii_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// processCPU is this process's user+system CPU time (with SQLite the
// store's work is in it; with PostgreSQL the database server's is not).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the CPU time of the whole machine (every process: with
// PostgreSQL on the same machine, its server's work too), from
// /proc/stat; false where that cannot be read.
func machineCPU() (time.Duration, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user, nice, system, irq, softirq
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, true // USER_HZ is 100 on Linux
}

// seedMarked stores n indicators of acme in the fixture's collection
// through the store (not measured), every fourth TLP:RED.
func seedMarked(b *testing.B, f *fixture, n int) {
	ctx := context.Background()
	acme, err := f.st.GetOrgByName(ctx, "acme")
	if err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	for i := 0; i < n; i += batch {
		objs := make([]*stix.Object, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			m := policy.TLP2ClearID
			if j%4 == 0 {
				m = policy.TLP2RedID
			}
			o, err := stix.Parse([]byte(markedIndicator(j, m)))
			if err != nil {
				b.Fatal(err)
			}
			objs = append(objs, o)
		}
		if _, err := f.st.Put(ctx, f.coll, acme.ID, objs); err != nil {
			b.Fatal(err)
		}
	}
}

// newServeLog is the audit log as fusion serve runs it: entries of
// responses go through a spool file (audit.Log.OpenSpool).
func newServeLog(b *testing.B, st store.Log, key *audit.Key) *audit.Log {
	lg := audit.New(st, key, audit.Config{})
	if err := lg.OpenSpool(context.Background(), filepath.Join(b.TempDir(), "audit.spool")); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := lg.CloseSpool(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return lg
}

// BenchmarkPagingAudit is BenchmarkPaging (limit=1000, next, one page
// per iteration, FUSION_BENCH_OBJECTS objects, default 100,000) as the
// member country, with the audit log off (plain) and on (audited: every
// page's served and denied entries appended before it is sent, the
// integrator running), so that the two can be compared on the same
// store. A quarter of the objects are TLP:RED, hidden from the member,
// so that audited pages carry denied entries too. FUSION_BENCH_PAGERS
// clients (default 1) page at once, each with its own cursor, b.N pages
// in all: with several, concurrent pages' entries share a commit (group
// commit). It reports objects/s (wall), objects per CPU-second of this
// process, and objects per CPU-second of the whole machine (with
// PostgreSQL on the same machine, its server's work counts there).
//
//	go test -run '^$' -bench PagingAudit -benchtime 200x -count 3 ./internal/taxii
//	FUSION_BENCH_PAGERS=4 go test -run '^$' -bench 'PagingAudit$' -benchtime 400x ./internal/taxii
func BenchmarkPagingAudit(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			n := benchObjects(b)
			pagers := 1
			if s := os.Getenv("FUSION_BENCH_PAGERS"); s != "" {
				var err error
				if pagers, err = strconv.Atoi(s); err != nil || pagers < 1 {
					b.Fatalf("FUSION_BENCH_PAGERS=%q: want a positive number", s)
				}
			}
			st := be.open(b)
			key, _, err := audit.LoadOrCreateKey(filepath.Join(b.TempDir(), "audit.key"), audit.OriginPrefix+"bench")
			if err != nil {
				b.Fatal(err)
			}
			lg := newServeLog(b, st, key)
			plain := newFixture(b, func(testing.TB) store.Store { return st }, server.Config{})
			seedMarked(b, plain, n)
			audited := &fixture{tb: b, st: st, coll: plain.coll, tokens: plain.tokens}
			audited.srv = httptest.NewServer(server.New(st, server.Config{Rate: -1, Audit: lg,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
			b.Cleanup(audited.srv.Close)
			// One untimed pass over the collection first, so that neither
			// mode pays for what follows the seeding (the store's
			// checkpoint of it, PostgreSQL's autovacuum of the new rows,
			// cold caches): without it the plain mode, timed first, ran
			// up to 12 % slower than the audited one on SQLite.
			warm := &http.Client{}
			for next, first := "", plain.srv.URL+plain.objectsPath()+"?limit=1000"; next != first; {
				if next == "" {
					next = first
				}
				env, err := getSkimmed(warm, next, plain.tokens["member"])
				if err != nil {
					b.Fatalf("warm-up: %v", err)
				}
				next = plain.nextPage(env, first)
			}
			time.Sleep(2 * time.Second)
			for _, mode := range []string{"plain", "audited"} {
				f := plain
				if mode == "audited" {
					f = audited
				}
				b.Run(mode, func(b *testing.B) {
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					if mode == "audited" {
						go lg.Run(ctx)
					}
					first := f.srv.URL + f.objectsPath() + "?limit=1000"
					// Each pager follows its own cursor; b.N pages in all.
					var pages, objects atomic.Int64
					var failed atomic.Value
					var wg sync.WaitGroup
					cpu0 := processCPU()
					machine0, machineOK := machineCPU()
					start := time.Now()
					b.ResetTimer()
					for range pagers {
						wg.Add(1)
						go func() {
							defer wg.Done()
							client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
							next := first
							for i := pages.Add(1); i <= int64(b.N); i = pages.Add(1) {
								env, err := getSkimmed(client, next, f.tokens["member"])
								if err != nil {
									failed.Store(fmt.Errorf("page %d: %w", i, err))
									return
								}
								objects.Add(int64(env.n))
								next = f.nextPage(env, first)
							}
						}()
					}
					wg.Wait()
					b.StopTimer()
					if err := failed.Load(); err != nil {
						b.Fatal(err)
					}
					elapsed, cpu := time.Since(start), processCPU()-cpu0
					b.ReportMetric(float64(objects.Load())/elapsed.Seconds(), "objects/s")
					b.ReportMetric(float64(objects.Load())/cpu.Seconds(), "objects/cpu-s")
					if machine1, ok := machineCPU(); ok && machineOK && machine1 > machine0 {
						b.ReportMetric(float64(objects.Load())/(machine1-machine0).Seconds(), "objects/machine-cpu-s")
					}
				})
			}
		})
	}
}

// BenchmarkPagingAuditPaired measures what the audit log costs TAXII
// paging in a way a busy machine disturbs less than BenchmarkPagingAudit's
// separate runs: two stores of the same backend, seeded alike, one served
// without the log (plain) and one with it (audited, integrator running),
// are paged in turn, one page of each per iteration (limit=1000, as the
// member country, a quarter of the objects hidden from it), and this
// process's CPU time is charged to whichever page was being fetched.
// Separate stores matter on SQLite: a commit to a database empties the
// page caches of that database's readers, so the audited store's commits
// must not slow the plain one's reads. overhead-% is the audited CPU per
// object over the plain one, minus 1. The integrator runs in the
// background (at most every 100 ms), so a little of its work may be
// charged to plain pages; with PostgreSQL, the database server's CPU is
// not counted.
//
//	FUSION_BENCH_OBJECTS=20000 go test -run '^$' -bench PagingAuditPaired -benchtime 300x -count 3 ./internal/taxii
//
// log=separate keeps the audit log in a third store (another database),
// not the one the audited server reads its objects from: not how serve
// runs, but it shows what the log's writes cost the reads of the same
// database (on SQLite, the readers' page caches that every commit
// empties).
func BenchmarkPagingAuditPaired(b *testing.B) {
	for _, be := range backends() {
		for _, logIn := range []string{"same", "separate"} {
			b.Run(be.name+"/log="+logIn, func(b *testing.B) { benchPagingPaired(b, be, logIn == "separate") })
		}
	}
}

func benchPagingPaired(b *testing.B, be backend, separateLog bool) {
	{
		{
			n := benchObjects(b)
			plainSt := be.open(b)
			plain := newFixture(b, func(testing.TB) store.Store { return plainSt }, server.Config{})
			seedMarked(b, plain, n)
			auditSt := be.open(b)
			key, _, err := audit.LoadOrCreateKey(filepath.Join(b.TempDir(), "audit.key"), audit.OriginPrefix+"bench")
			if err != nil {
				b.Fatal(err)
			}
			logSt := auditSt
			if separateLog {
				logSt = be.open(b)
			}
			lg := newServeLog(b, logSt, key)
			audited := newFixture(b, func(testing.TB) store.Store { return auditSt }, server.Config{Audit: lg})
			seedMarked(b, audited, n)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go lg.Run(ctx)

			type pager struct {
				f       *fixture
				client  *http.Client
				first   string
				next    string
				objects int
				cpu     time.Duration
			}
			newPager := func(f *fixture) *pager {
				first := f.srv.URL + f.objectsPath() + "?limit=1000"
				return &pager{f: f, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, first: first, next: first}
			}
			page := func(p *pager, i int) {
				cpu0 := processCPU()
				env, err := getSkimmed(p.client, p.next, p.f.tokens["member"])
				if err != nil {
					b.Fatalf("page %d: %v", i, err)
				}
				p.cpu += processCPU() - cpu0
				p.objects += env.n
				p.next = p.f.nextPage(env, p.first)
			}
			pp, pa := newPager(plain), newPager(audited)
			for i := 0; b.Loop(); i++ {
				// Alternate which goes first, so neither always follows the
				// other's garbage.
				if i%2 == 0 {
					page(pp, i)
					page(pa, i)
				} else {
					page(pa, i)
					page(pp, i)
				}
			}
			perPlain := pp.cpu.Seconds() / float64(pp.objects)
			perAudited := pa.cpu.Seconds() / float64(pa.objects)
			b.ReportMetric(1/perPlain, "plain-objects/cpu-s")
			b.ReportMetric(1/perAudited, "audited-objects/cpu-s")
			b.ReportMetric(100*(perAudited/perPlain-1), "overhead-%")
		}
	}
}
