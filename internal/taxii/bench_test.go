package taxii_test

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/server"
	"fusion/internal/stix"
)

// Benchmarks of the TAXII API over real HTTP, on SQLite and (with
// FUSION_TEST_POSTGRES_URL) PostgreSQL:
//
//	go test -run '^$' -bench . -benchtime 200x ./internal/taxii
//	FUSION_BENCH_OBJECTS=1000000 go test -run '^$' -bench Paging -benchtime 2000x -timeout 1h ./internal/taxii
//
// (-benchtime 200x sets the number of pages or POSTs.)
//
// BenchmarkPaging walks a collection of FUSION_BENCH_OBJECTS objects
// (default 100,000) with limit=1000 and next, one page per iteration,
// and reports objects/s and the p50/p99 page latency. BenchmarkPost
// posts envelopes of 1,000 new indicators, one per iteration, and
// reports objects/s accepted (status complete).

func benchObjects(b *testing.B) int {
	n := 100000
	if s := os.Getenv("FUSION_BENCH_OBJECTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 {
			b.Fatalf("FUSION_BENCH_OBJECTS=%q: want a number >= 1000", s)
		}
		n = v
	}
	return n
}

// seedCollection stores n indicators in the fixture's collection through
// the store directly (this is not what is measured).
func seedCollection(b *testing.B, f *fixture, n int) {
	ctx := context.Background()
	const batch = 5000
	start := time.Now()
	for i := 0; i < n; i += batch {
		objs := make([]*stix.Object, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			o, err := stix.Parse([]byte(indicator(j, "2024-01-01T00:00:00.000Z")))
			if err != nil {
				b.Fatal(err)
			}
			objs = append(objs, o)
		}
		if _, err := f.st.Put(ctx, f.coll, "", objs); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("seeded %d objects in %v", n, time.Since(start).Round(time.Millisecond))
}

func BenchmarkPaging(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			n := benchObjects(b)
			f := newFixture(b, be.open, server.Config{})
			seedCollection(b, f, n)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			token := f.tokens["member"]
			first := f.srv.URL + f.objectsPath() + "?limit=1000"
			next := first
			var lat []time.Duration
			objects := 0
			start := time.Now()
			// b.Loop runs this function once, so the seeding above is not
			// repeated for each round of b.N.
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				req, _ := http.NewRequest("GET", next, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Accept", "application/taxii+json;version=2.1")
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var env struct {
					More    bool             `json:"more"`
					Next    string           `json:"next"`
					Objects []jsontext.Value `json:"objects"`
				}
				err = json.UnmarshalRead(res.Body, &env)
				res.Body.Close()
				if err != nil || res.StatusCode != 200 {
					b.Fatalf("page %d: %d %v", i, res.StatusCode, err)
				}
				lat = append(lat, time.Since(t0))
				objects += len(env.Objects)
				if env.More {
					next = f.srv.URL + f.objectsPath() + "?limit=1000&next=" + url.QueryEscape(env.Next)
				} else {
					next = first
				}
			}
			elapsed := time.Since(start)
			slices.Sort(lat)
			b.ReportMetric(float64(objects)/elapsed.Seconds(), "objects/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

var postSeq atomic.Int64

func BenchmarkPost(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be.open, server.Config{})
			client := &http.Client{}
			var elapsed time.Duration
			posted := 0
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				objs := make([]string, 1000)
				base := int(postSeq.Add(1)) * 1000
				for j := range objs {
					objs[j] = indicator(base+j, "2024-01-01T00:00:00.000Z")
				}
				body := envelope(objs...)
				b.StartTimer()
				t0 := time.Now()
				req, _ := http.NewRequest("POST", f.srv.URL+f.objectsPath(), strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+f.tokens["partner-write"])
				req.Header.Set("Accept", "application/taxii+json;version=2.1")
				req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				var st struct {
					Status       string `json:"status"`
					SuccessCount int    `json:"success_count"`
				}
				err = json.UnmarshalRead(res.Body, &st)
				res.Body.Close()
				if err != nil || res.StatusCode != 202 || st.Status != "complete" || st.SuccessCount != 1000 {
					b.Fatalf("POST %d: %d %+v %v", i, res.StatusCode, st, err)
				}
				elapsed += time.Since(t0)
				posted += 1000
			}
			b.ReportMetric(float64(posted)/elapsed.Seconds(), "objects/s")
		})
	}
}
