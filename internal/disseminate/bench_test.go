package disseminate_test

import (
	"context"
	"fmt"
	"fusion/internal/store/testdb"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/disseminate"
	"fusion/internal/gen"
	"fusion/internal/geoip"
	"fusion/internal/geoip/geoiptest"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// benchCountries are the member countries of the benchmark: every /8 of
// IPv4 and every IPv6 network internal/gen uses is placed in one of them,
// and RU, CN and CO also own ccTLDs the generated domains use.
var benchCountries = []string{"FR", "DE", "GB", "IT", "ES", "NL", "BE", "PL", "SE", "NO", "FI", "DK", "AT", "CH", "PT",
	"IE", "CZ", "RO", "HU", "GR", "US", "CA", "MX", "BR", "AR", "CL", "CO", "RU", "CN", "JP", "KR", "IN", "ID", "SG",
	"AU", "NZ", "ZA", "NG", "EG", "TR"}

func benchDB(tb testing.TB) *geoip.DB {
	nets := map[string]string{}
	for i := 1; i < 224; i++ {
		nets[fmt.Sprintf("%d.0.0.0/8", i)] = benchCountries[i%len(benchCountries)]
	}
	for i, p := range []string{"2001:db8::/32", "2a01:4f8::/32", "2604:a880::/32", "2a03:b0c0::/32", "2001:67c::/32", "2a0e:97c0::/32"} {
		nets[p] = benchCountries[(i*7)%len(benchCountries)]
	}
	db, err := geoip.Parse("bench.mmdb", geoiptest.Build(tb, nets, geoiptest.Options{}))
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// benchStore fills a store with n generated indicators (and the
// identities and marking definition they reference), submitted by one
// partner, and creates the hub and one member organisation per benchmark
// country.
func benchStore(b *testing.B, open opener, n int) store.Store {
	ctx := context.Background()
	st := open(b)
	orgs := []store.Org{{ID: hubID, Name: "hub", Kind: store.KindHub}, {ID: partnerID, Name: "acme", Kind: store.KindPartner}}
	for i, cc := range benchCountries {
		orgs = append(orgs, store.Org{ID: fmt.Sprintf("44444444-0000-4000-8000-%012d", i), Name: "police-" + cc, Kind: store.KindMember, Country: cc})
	}
	for _, o := range orgs {
		if err := st.CreateOrg(ctx, o); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.CreateCollection(ctx, store.Collection{ID: intelColl, APIRoot: store.DefaultAPIRoot, Title: "intel"}); err != nil {
		b.Fatal(err)
	}
	g := gen.New(1)
	batch := make([]*stix.Object, 0, 5000)
	flush := func() {
		if _, err := st.Put(ctx, intelColl, partnerID, batch); err != nil {
			b.Fatal(err)
		}
		batch = batch[:0]
	}
	var head struct {
		Type string `json:"type"`
	}
	for got := 0; got < n; {
		raw := g.Next()
		if err := json.Unmarshal(raw, &head); err != nil {
			b.Fatal(err)
		}
		switch head.Type {
		case "indicator":
			got++
		case "identity", "marking-definition":
		default:
			continue
		}
		o, err := stix.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if batch = append(batch, o); len(batch) == cap(batch) {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return st
}

// BenchmarkDisseminate times one dissemination run over a collection of
// FUSION_BENCH_INDICATORS generated indicators (default 20,000; the
// target is 1,000,000 in 60 s), on SQLite and, with
// FUSION_TEST_POSTGRES_URL, PostgreSQL. Each iteration fills a fresh
// store first (not timed); run it with -benchtime 1x:
//
//	FUSION_BENCH_INDICATORS=1000000 go test -run '^$' -bench Disseminate -benchtime 1x -timeout 60m ./internal/disseminate
func BenchmarkDisseminate(b *testing.B) {
	n := 20000
	if s := os.Getenv("FUSION_BENCH_INDICATORS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("FUSION_BENCH_INDICATORS=%q: want a positive number", s)
		}
		n = v
	}
	geo := benchDB(b)
	run := func(b *testing.B, open opener) {
		var total, cpu time.Duration
		var res disseminate.Result
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			st := benchStore(b, open, n)
			b.StartTimer()
			start, cpu0 := time.Now(), cpuTime()
			var err error
			res, err = disseminate.Run(context.Background(), st, disseminate.Config{Geo: geo})
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			cpu += cpuTime() - cpu0
		}
		b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "indicators/s")
		b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		b.ReportMetric(float64(res.Added), "copies")
		b.ReportMetric(float64(res.Reports), "reports")
		b.Logf("%d indicators: examined %d, %d members, %d reports, %d stored, %d withheld, in %v",
			n, res.Examined, len(res.Members), res.Reports, res.Added, res.Withheld, res.Finished.Sub(res.Started))
	}
	for _, be := range testdb.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			run(b, func(tb testing.TB) store.Store { return withRecorder(be.Open(tb)) })
		})
	}
}

// cpuTime is the process's user and system CPU time so far (the store's
// background work included, the machine's other load not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
