package audit

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// benchEntries sets how many entries BenchmarkVerify verifies (env
// FUSION_AUDIT_BENCH_ENTRIES, default 1,000,000).
func benchEntries() int64 {
	if s := os.Getenv("FUSION_AUDIT_BENCH_ENTRIES"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 1_000_000
}

// acceptedEntry is a version 2 object.accepted entry (419 bytes),
// distinct per i: the size of a small entry (an admin change, a guard
// decision, a one-object served entry).
func acceptedEntry(i int64) []byte {
	e := Entry{Kind: KindObjectAccepted, V: 2, Time: FormatTime(t0.Add(time.Duration(i) * time.Microsecond)),
		Actor: "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f", Source: "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f",
		Collection: store.DefaultCollectionID, ID: "indicator--" + uuidN(int(i)), Version: "2026-03-01T12:00:00.000Z",
		Added: FormatTime(t0.Add(time.Duration(i) * time.Microsecond)), SHA256: ObjectSHA256([]byte(strconv.FormatInt(i, 10)))}
	return Encode(&e)
}

// verifyStore builds a SQLite store in dir holding n entries integrated
// every 5000 (one checkpoint each, as a hub ingesting 10,000 objects/s
// with the default 500 ms interval would have).
func verifyStore(b *testing.B, dir string, n int64) (string, *Key) {
	path, key := filepath.Join(dir, "fusion.db"), testKey(b, "bench")
	ctx := context.Background()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l := New(db, key, Config{MaxBatch: 5000})
	start := time.Now()
	const batch = 5000
	es := make([][]byte, 0, batch)
	for i := int64(0); i < n; i += batch {
		es = es[:0]
		for j := i; j < min(n, i+batch); j++ {
			es = append(es, acceptedEntry(j))
		}
		if _, err := db.AppendLog(ctx, es); err != nil {
			b.Fatal(err)
		}
		if _, err := l.Integrate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("built %d entries (appended and integrated) in %v", n, time.Since(start))
	return path, key
}

// BenchmarkVerify verifies a log of FUSION_AUDIT_BENCH_ENTRIES entries
// (default 1,000,000) on SQLite: read, hash, compare with the stored
// hashes, check every checkpoint.
//
//	go test ./internal/audit -run XXX -bench Verify -benchtime 1x
func BenchmarkVerify(b *testing.B) {
	n := benchEntries()
	// The parent benchmark runs once: the store is built once, in a
	// directory removed at the end.
	path, key := verifyStore(b, b.TempDir(), n)
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ResetTimer()
			for range b.N {
				res, err := Verify(context.Background(), db, key.Verifier, VerifyOptions{Workers: workers})
				if err != nil {
					b.Fatal(err)
				}
				if res.Tree != n {
					b.Fatalf("verified %d of %d", res.Tree, n)
				}
			}
			rate := float64(n) * float64(b.N) / b.Elapsed().Seconds()
			b.ReportMetric(rate, "entries/s")
			b.ReportMetric(1e7/rate, "s/10M-entries")
		})
	}
}

// BenchmarkIntegrate is the integrator's throughput on each backend:
// entries appended in batches of 1000 (not timed), integrated after each
// (read back, hashed, stored hashes and a checkpoint written).
//
//	go test ./internal/audit -run XXX -bench Integrate -benchtime 200x
//
// With cached=true the entries go in through Log.Append, which keeps
// their leaf hashes, so that only the tree's storage (the frontier read,
// ExtendTree) is timed.
func BenchmarkIntegrate(b *testing.B) {
	for _, be := range backends(b) {
		for _, cached := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/cached=%v", be.name, cached), func(b *testing.B) { benchIntegrate(b, be, cached) })
		}
	}
}

func benchIntegrate(b *testing.B, be backend, cached bool) {
	db := storeLog(be.open(b))
	l := New(db, testKey(b, "bench"), Config{})
	ctx := context.Background()
	es := make([][]byte, 1000)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		for j := range es {
			es[j] = acceptedEntry(int64(i*1000 + j))
		}
		var err error
		if cached {
			err = l.Append(ctx, es)
		} else {
			_, err = db.AppendLog(ctx, es)
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := l.Integrate(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// cpuTime is the process's user+system CPU time: on a machine shared
// with other work, objects per CPU second is steadier than per wall
// second (the store is in-process, so its work counts too).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storeLog is the one value a testDB's Store and Log are.
func storeLog(t *testDB) interface {
	store.Store
	store.Log
} {
	return t.Store.(interface {
		store.Store
		store.Log
	})
}

// benchObjects makes batch new indicator versions for round r.
func benchObjects(b *testing.B, r, batch int) []*stix.Object {
	objs := make([]*stix.Object, batch)
	mod := t0.Add(time.Duration(r) * time.Second)
	for i := range objs {
		objs[i] = indicator(b, i, mod)
	}
	return objs
}

// BenchmarkPut measures store Put throughput on SQLite without the audit
// log, with the Recorder (entries written in Put's transaction), and with
// the Recorder and the integrator running in the background as serve
// runs it. Batches of 1000 objects, each a new version.
//
//	go test ./internal/audit -run XXX -bench Put -benchtime 200x
func BenchmarkPut(b *testing.B) {
	for _, be := range backends(b) {
		for _, mode := range []string{"plain", "recorder", "recorder+integrate"} {
			b.Run(be.name+"/"+mode, func(b *testing.B) { benchPut(b, be, mode) })
		}
	}
}

func benchPut(b *testing.B, be backend, mode string) {
	db := storeLog(be.open(b))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if mode != "plain" {
		db.SetRecorder(Recorder(nil))
	}
	if mode == "recorder+integrate" {
		l := New(db, testKey(b, "bench"), Config{})
		wg.Add(1)
		go func() { defer wg.Done(); l.Run(ctx) }()
	}
	const batch = 1000
	actx := WithActor(context.Background(), "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f")
	batches := make([][]*stix.Object, b.N)
	for i := range batches {
		batches[i] = benchObjects(b, i, batch)
	}
	runtime.GC()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		if _, err := db.Put(actx, store.DefaultCollectionID, "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f", batches[i]); err != nil {
			b.Fatal(err)
		}
	}
	// Let the integrator catch up: its work is part of the cost.
	if mode == "recorder+integrate" {
		for {
			ts, _ := db.TreeSize(ctx)
			ls, _ := db.LogSize(ctx)
			if ts == ls {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "objects/s")
	b.ReportMetric(float64(batch*b.N)/cpu.Seconds(), "objects/cpu-s")
	cancel()
	wg.Wait()
}

// BenchmarkServe approximates TAXII paging: 4 concurrent pollers each
// List 1000 versions with their content from the store (work=list), and for
// work=page also apply the policy to the page as a member country
// (policy.Filter) and write the TAXII envelope to io.Discard, as the
// objects endpoint does. audited then records what was served (one
// served entry per source) through Log.Append with the integrator
// running, and waits for the integrator to catch up before the clock
// stops.
//
//	go test ./internal/audit -run XXX -bench Serve -benchtime 400x
func BenchmarkServe(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) { benchServe(b, be) })
	}
}

func benchServe(b *testing.B, be backend) {
	db := storeLog(be.open(b))
	ctx := context.Background()
	const pages = 20
	for r := range pages {
		if _, err := db.Put(ctx, store.DefaultCollectionID, "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f", benchObjects(b, r, 1000)); err != nil {
			b.Fatal(err)
		}
	}
	coll, err := db.GetCollection(ctx, store.DefaultCollectionID)
	if err != nil {
		b.Fatal(err)
	}
	member := policy.Caller{Org: store.Org{ID: "de", Kind: store.KindMember, Country: "DE"}, Role: store.RoleRead}
	for _, work := range []string{"list", "page"} {
		for _, mode := range []string{"plain", "audited"} {
			b.Run("work="+work+"/"+mode, func(b *testing.B) {
				rctx, cancel := context.WithCancel(ctx)
				defer cancel()
				l := New(db, testKey(b, "bench"), Config{})
				if mode == "audited" {
					go l.Run(rctx)
				}
				b.SetParallelism(2) // 2 × GOMAXPROCS goroutines
				var served sync.Map
				runtime.GC()
				cpu0 := cpuTime()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var after time.Time
					n := 0
					var env []byte
					for pb.Next() {
						page, err := db.List(ctx, store.DefaultCollectionID, store.Query{AddedAfter: after, Limit: 1000})
						if err != nil {
							b.Error(err)
							return
						}
						after = page.Versions[len(page.Versions)-1].DateAdded
						if !page.More {
							after = time.Time{}
						}
						vs := page.Versions
						if work == "page" {
							if vs, err = policy.NewFilter(db, member, coll).Visible(ctx, vs); err != nil {
								b.Error(err)
								return
							}
							env = append(env[:0], `{"more":true,"next":"x","objects":[`...)
							for i := range vs {
								if i > 0 {
									env = append(env, ',')
								}
								env = append(env, vs[i].Raw...)
							}
							env = append(env, "]}"...)
							io.Discard.Write(env)
						}
						if mode == "audited" {
							es := Served(Access{Time: time.Now(), Actor: member.Org.ID, Path: PathTAXIIObjects, Collection: coll.ID}, vs)
							if err := l.Append(ctx, es); err != nil {
								b.Error(err)
								return
							}
						}
						n += len(vs)
					}
					served.Store(&n, n)
				})
				if mode == "audited" {
					for {
						ts, _ := db.TreeSize(ctx)
						ls, _ := db.LogSize(ctx)
						if ts == ls {
							break
						}
						time.Sleep(time.Millisecond)
					}
				}
				b.StopTimer()
				cpu := cpuTime() - cpu0
				total := 0
				served.Range(func(_, v any) bool { total += v.(int); return true })
				b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "objects/s")
				b.ReportMetric(float64(total)/cpu.Seconds(), "objects/cpu-s")
			})
		}
	}
}

// BenchmarkServedEntry is what recording one served page of 1000 objects
// costs, all included: building the entry, Log.Append (one transaction)
// and integrating it into the tree (stored hashes, a signed checkpoint).
// integrate=1 integrates after every page (the worst case); integrate=50
// after every 50 pages, about what Run does under load (it integrates at
// most every 100 ms). cpu-µs/page is this process's CPU (with SQLite, all
// of it; with PostgreSQL the server's own work is not counted: see
// ns/op, the wall time of one page, sequentially).
//
//	go test ./internal/audit -run XXX -bench ServedEntry -benchtime 500x
func BenchmarkServedEntry(b *testing.B) {
	vs := make([]store.Version, 1000)
	for i := range vs {
		vs[i] = store.Version{ID: "indicator--" + uuidN(i), Modified: t0, Source: "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f"}
	}
	for _, be := range backends(b) {
		for _, every := range []int{1, 50} {
			b.Run(fmt.Sprintf("%s/integrate=%d", be.name, every), func(b *testing.B) {
				db := storeLog(be.open(b))
				l := New(db, testKey(b, "bench"), Config{})
				ctx := context.Background()
				size := 0
				runtime.GC()
				cpu0 := cpuTime()
				b.ResetTimer()
				for i := range b.N {
					es := Served(Access{Time: time.Now(), Actor: "de", Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}, vs)
					size = len(es[0])
					if err := l.Append(ctx, es); err != nil {
						b.Fatal(err)
					}
					if (i+1)%every == 0 || i == b.N-1 {
						if _, err := l.Integrate(ctx); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/page")
				b.ReportMetric(float64(size), "entry-bytes")
			})
		}
	}
}

// BenchmarkPutPaired measures what the audit log costs ingest, in a way
// that a busy machine disturbs less than BenchmarkPut's separate runs:
// two fresh stores of the same backend, one plain and one with the
// Recorder and the integrator running (as serve runs it), take batches of
// 1000 new objects in turn, and each store's wall time is summed (the
// logged one's including the integrator catching up at the end).
// overhead-% is logged time / plain time - 1.
//
//	go test ./internal/audit -run XXX -bench PutPaired -benchtime 100x -count 3
func BenchmarkPutPaired(b *testing.B) {
	for _, be := range backends(b) {
		b.Run(be.name, func(b *testing.B) {
			plain, logged := storeLog(be.open(b)), storeLog(be.open(b))
			logged.SetRecorder(Recorder(nil))
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			l := New(logged, testKey(b, "bench"), Config{})
			wg.Add(1)
			go func() { defer wg.Done(); l.Run(ctx) }()
			defer func() { cancel(); wg.Wait() }()
			const batch, src = 1000, "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f"
			actx := WithActor(context.Background(), src)
			var tPlain, tLogged time.Duration
			b.ResetTimer()
			for i := range b.N {
				objs := benchObjects(b, i, batch)
				for k := range 2 {
					st, acc := plain, &tPlain
					if (i+k)%2 == 1 {
						st, acc = logged, &tLogged
					}
					t0 := time.Now()
					if _, err := st.Put(actx, store.DefaultCollectionID, src, objs); err != nil {
						b.Fatal(err)
					}
					*acc += time.Since(t0)
				}
			}
			t0 := time.Now()
			for {
				ts, _ := logged.TreeSize(ctx)
				ls, _ := logged.LogSize(ctx)
				if ts == ls {
					break
				}
				time.Sleep(time.Millisecond)
			}
			tLogged += time.Since(t0)
			b.StopTimer()
			b.ReportMetric(float64(batch*b.N)/tPlain.Seconds(), "plain-objects/s")
			b.ReportMetric(float64(batch*b.N)/tLogged.Seconds(), "logged-objects/s")
			b.ReportMetric(100*(tLogged.Seconds()/tPlain.Seconds()-1), "overhead-%")
		})
	}
}

// BenchmarkResponseEntries is the encoding alone of one page's entries
// (Response): 1000 versions served and 333 withheld, of one source, in
// four types, one of them (ipv4-addr) without version keys.
//
//	go test ./internal/audit -run XXX -bench ResponseEntries -count 5
func BenchmarkResponseEntries(b *testing.B) {
	types := []string{"indicator", "indicator", "malware", "ipv4-addr", "indicator", "relationship"}
	page := func(n, first int) []store.Version {
		vs := make([]store.Version, n)
		for i := range vs {
			typ := types[(first+i)%len(types)]
			vs[i] = store.Version{ID: typ + "--" + uuidN(first+i), Source: "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f"}
			if typ != "ipv4-addr" {
				vs[i].Modified = t0.Add(time.Duration(first+i) * 1234567 * time.Microsecond).Truncate(time.Millisecond)
			}
		}
		return vs
	}
	served, withheld := page(1000, 0), page(333, 1000)
	a := Access{Time: t0, Actor: "de", Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		es := Response(a, served, withheld)
		size = len(es[0]) + len(es[1])
	}
	b.ReportMetric(float64(size), "entry-bytes")
}

// BenchmarkAcceptedEntries is the encoding alone of one full accepted
// entry (acceptedEntries, as the Recorder calls it for every batch
// stored): 1000 versions of three types, one of them (ipv4-addr)
// without version keys, prepared as record prepares them.
//
//	go test ./internal/audit -run XXX -bench AcceptedEntries -count 5
func BenchmarkAcceptedEntries(b *testing.B) {
	types := []string{"indicator", "ipv4-addr", "malware"}
	keys := make([]acceptedKey, maxAcceptedPerEntry)
	for i := range keys {
		typ := types[i%len(types)]
		k := acceptedKey{typ: typ, rest: uuidN(i), added: timeKey(t0.Add(time.Hour+time.Duration(i)*time.Microsecond), FormatTime),
			sum: sha256.Sum256([]byte(strconv.Itoa(i)))}
		if typ != "ipv4-addr" {
			k.version = timeKey(t0.Add(time.Duration(i)*1234567*time.Microsecond).Truncate(time.Millisecond), stix.FormatTimestamp)
		}
		keys[i] = k
	}
	const src = "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f"
	t := FormatTime(t0)
	size := 0
	b.ReportAllocs()
	for b.Loop() {
		es := acceptedEntries(src, t, store.DefaultCollectionID, src, keys)
		size = len(es[0])
	}
	b.ReportMetric(float64(size), "entry-bytes")
}
