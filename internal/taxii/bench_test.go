package taxii_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
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
// (-benchtime 200x sets the number of pages, POSTs or polling rounds.)
// BenchmarkConcurrentPolling is described at its declaration.
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
			objects, walked := 0, 0
			start := time.Now()
			// b.Loop runs this function once, so the seeding above is not
			// repeated for each round of b.N.
			for i := 0; b.Loop(); i++ {
				t0 := time.Now()
				env, err := getSkimmed(client, next, token)
				if err != nil {
					b.Fatalf("page %d: %v", i, err)
				}
				lat = append(lat, time.Since(t0))
				objects += env.n
				walked += env.n
				if !env.more {
					if walked != n {
						b.Fatalf("a walk of the collection saw %d objects, want %d", walked, n)
					}
					walked = 0
				}
				next = f.nextPage(env, first)
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

// BenchmarkConcurrentPolling is the hub's daily load in miniature: 200
// clients (member countries and partners), caught up with a collection of
// 10,000 objects, each poll it once per interval (default 1 s, spread
// evenly) with added_after=their last X-TAXII-Date-Added-Last, following
// next until done, while 5 partners each post an envelope of
// FUSION_BENCH_POST_RATE indicators (default 100) per second. One
// iteration is one poll interval. It reports the p50/p99 latency of the
// poll requests, requests/s, objects served/s and posted/s, and fails on
// any error. Every object posted is read by all 200 clients, so the
// objects served are 200 times those posted.
func BenchmarkConcurrentPolling(b *testing.B) {
	const pollers, posters = 200, 5
	pollEvery := time.Second
	if s := os.Getenv("FUSION_BENCH_POLL_EVERY"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("FUSION_BENCH_POLL_EVERY=%q", s)
		}
		pollEvery = d
	}
	postRate := 100
	if s := os.Getenv("FUSION_BENCH_POST_RATE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			b.Fatalf("FUSION_BENCH_POST_RATE=%q", s)
		}
		postRate = n
	}
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be.open, server.Config{})
			seedCollection(b, f, 10000)
			tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}
			client := &http.Client{Transport: tr, Timeout: time.Minute}
			defer tr.CloseIdleConnections()
			token := f.tokens["member"]

			// Pollers start caught up: at the collection's last date_added.
			latest := ""
			for u := f.objectsPath() + "?limit=1000"; ; {
				r := f.get(token, u, 200)
				var env envelopeResource
				r.json(b, &env)
				if h := r.header.Get("X-TAXII-Date-Added-Last"); h != "" {
					latest = h
				}
				if !env.More {
					break
				}
				u = f.objectsPath() + "?limit=1000&next=" + url.QueryEscape(env.Next)
			}

			stop := make(chan struct{})
			var failed atomic.Value
			var posted, served, requests atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			var wg sync.WaitGroup
			for p := 0; p < posters; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(time.Second)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						objs := make([]string, postRate)
						base := int(postSeq.Add(1)) * 1000
						for j := range objs {
							objs[j] = indicator(base+j, "2024-01-01T00:00:00.000Z")
						}
						req, _ := http.NewRequest("POST", f.srv.URL+f.objectsPath(), strings.NewReader(envelope(objs...)))
						req.Header.Set("Authorization", "Bearer "+f.tokens["partner-write"])
						req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
						res, err := client.Do(req)
						if err != nil {
							failed.Store(err)
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						if res.StatusCode != 202 {
							failed.Store(fmt.Errorf("POST: %d", res.StatusCode))
							return
						}
						posted.Add(int64(postRate))
					}
				}()
			}
			for p := 0; p < pollers; p++ {
				wg.Add(1)
				go func(p int) {
					defer wg.Done()
					after := latest
					// Spread the pollers evenly over the interval.
					select {
					case <-stop:
						return
					case <-time.After(pollEvery * time.Duration(p) / pollers):
					}
					tick := time.NewTicker(pollEvery)
					defer tick.Stop()
					for {
						next := ""
						for { // one poll: follow next until more is false
							u := f.srv.URL + f.objectsPath() + "?limit=1000&added_after=" + url.QueryEscape(after)
							if next != "" {
								u += "&next=" + url.QueryEscape(next)
							}
							req, _ := http.NewRequest("GET", u, nil)
							req.Header.Set("Authorization", "Bearer "+token)
							req.Header.Set("Accept", "application/taxii+json;version=2.1")
							t0 := time.Now()
							res, err := client.Do(req)
							if err != nil {
								failed.Store(err)
								return
							}
							env, err := skimEnvelope(res.Body)
							res.Body.Close()
							d := time.Since(t0)
							if err != nil || res.StatusCode != 200 {
								failed.Store(fmt.Errorf("GET: %d %v", res.StatusCode, err))
								return
							}
							requests.Add(1)
							served.Add(int64(env.n))
							mu.Lock()
							lat = append(lat, d)
							mu.Unlock()
							if last := res.Header.Get("X-TAXII-Date-Added-Last"); last != "" && !env.more {
								after = last
							}
							if !env.more {
								break
							}
							next = env.next
						}
						select {
						case <-stop:
							return
						case <-tick.C:
						}
					}
				}(p)
			}
			start := time.Now()
			for b.Loop() {
				time.Sleep(pollEvery)
				if failed.Load() != nil {
					break
				}
			}
			elapsed := time.Since(start)
			close(stop)
			wg.Wait()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(lat) == 0 {
				b.Fatal("no polls completed")
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(requests.Load())/elapsed.Seconds(), "polls/s")
			b.ReportMetric(float64(served.Load())/elapsed.Seconds(), "served-objects/s")
			b.ReportMetric(float64(posted.Load())/elapsed.Seconds(), "posted-objects/s")
		})
	}
}

type skimmed struct {
	more bool
	next string
	n    int // objects
}

// getSkimmed fetches one page of objects at u as token and skims it
// (skimEnvelope); a status other than 200 is an error.
func getSkimmed(client *http.Client, u, token string) (skimmed, error) {
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	res, err := client.Do(req)
	if err != nil {
		return skimmed{}, err
	}
	defer res.Body.Close()
	env, err := skimEnvelope(res.Body)
	if err == nil && res.StatusCode != 200 {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return env, err
}

// nextPage is the URL of the page after env of the fixture's objects
// (limit 1000), or first when env was the last.
func (f *fixture) nextPage(env skimmed, first string) string {
	if !env.more {
		return first
	}
	return f.srv.URL + f.objectsPath() + "?limit=1000&next=" + url.QueryEscape(env.next)
}

// skimEnvelope reads an envelope as a lean client would: more, next, and
// each object read as a JSON value and dropped.
func skimEnvelope(r io.Reader) (skimmed, error) {
	var e skimmed
	dec := jsontext.NewDecoder(r)
	if _, err := dec.ReadToken(); err != nil {
		return e, err
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return e, err
		}
		switch name.String() {
		case "more":
			t, err := dec.ReadToken()
			if err != nil {
				return e, err
			}
			e.more = t.Kind() == 't'
		case "next":
			t, err := dec.ReadToken()
			if err != nil {
				return e, err
			}
			e.next = t.String()
		case "objects":
			if _, err := dec.ReadToken(); err != nil {
				return e, err
			}
			for dec.PeekKind() == '{' {
				if err := dec.SkipValue(); err != nil {
					return e, err
				}
				e.n++
			}
			if _, err := dec.ReadToken(); err != nil {
				return e, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return e, err
			}
		}
	}
	_, err := dec.ReadToken()
	return e, err
}

// BenchmarkPostParallel is BenchmarkPost with four partners posting at
// once (b.RunParallel with 2 goroutines per CPU): one POST waits on its
// store transaction, so concurrent POSTs are how a hub takes in more.
func BenchmarkPostParallel(b *testing.B) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			f := newFixture(b, be.open, server.Config{})
			tr := &http.Transport{MaxIdleConnsPerHost: 16}
			client := &http.Client{Transport: tr}
			defer tr.CloseIdleConnections()
			var posted atomic.Int64
			var failed atomic.Value
			b.SetParallelism(2)
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					objs := make([]string, 1000)
					base := int(postSeq.Add(1)) * 1000
					for j := range objs {
						objs[j] = indicator(base+j, "2024-01-01T00:00:00.000Z")
					}
					req, _ := http.NewRequest("POST", f.srv.URL+f.objectsPath(), strings.NewReader(envelope(objs...)))
					req.Header.Set("Authorization", "Bearer "+f.tokens["partner-write"])
					req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
					res, err := client.Do(req)
					if err != nil {
						failed.Store(err)
						return
					}
					var st struct {
						Status       string `json:"status"`
						SuccessCount int    `json:"success_count"`
					}
					err = json.UnmarshalRead(res.Body, &st)
					res.Body.Close()
					if err != nil || res.StatusCode != 202 || st.Status != "complete" || st.SuccessCount != 1000 {
						failed.Store(fmt.Errorf("POST: %d %+v %v", res.StatusCode, st, err))
						return
					}
					posted.Add(1000)
				}
			})
			elapsed := time.Since(start)
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(posted.Load())/elapsed.Seconds(), "objects/s")
		})
	}
}
