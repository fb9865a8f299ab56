package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// benchIndicators is how many indicators BenchmarkMatchAPI stores
// (FUSION_BENCH_INDICATORS, default 100,000), in the mix: 40 %
// SHA-256 hashes, 25 % IPv4 addresses, 10 % CIDR blocks (ISSUBSET), 15 %
// domains, 10 % URLs.
var benchIndicators = func() int {
	if n, err := strconv.Atoi(os.Getenv("FUSION_BENCH_INDICATORS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}()

// benchValue is the value indicator i names (a block for a CIDR one).
func benchValue(i int) string {
	switch i % 20 {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		return fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15)
	case 8, 9, 10, 11, 12:
		return fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	case 13, 14:
		return fmt.Sprintf("%d.%d.%d.0/24", 100+(i>>16&63), i>>8&255, i&255)
	case 15, 16, 17:
		return fmt.Sprintf("host%d.bench-evil.com", i)
	default:
		return fmt.Sprintf("http://bench-bad.net/p/%d", i)
	}
}

// benchProbe is an observable that matches indicator i.
func benchProbe(i int) string {
	if i%20 == 13 || i%20 == 14 {
		return fmt.Sprintf("%d.%d.%d.7", 100+(i>>16&63), i>>8&255, i&255)
	}
	return benchValue(i)
}

func benchPattern(i int) string {
	v := benchValue(i)
	switch i % 20 {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		return "[file:hashes.'SHA-256' = '" + v + "']"
	case 8, 9, 10, 11, 12:
		return "[ipv4-addr:value = '" + v + "']"
	case 13, 14:
		return "[ipv4-addr:value ISSUBSET '" + v + "']"
	case 15, 16, 17:
		return "[domain-name:value = '" + v + "']"
	default:
		return "[url:value = '" + v + "']"
	}
}

// matchBenchServer stores benchIndicators GREEN indicators from a
// partner in SQLite, starts a server over loopback (for the whole
// benchmark, sub-benchmarks included) and waits until the index holds
// them.
func matchBenchServer(b *testing.B) (string, string) {
	var matchBench struct {
		url, token string
		err        error
	}
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		dir := b.TempDir()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "fusion.db"))
		if err != nil {
			matchBench.err = err
			return
		}
		b.Cleanup(func() { st.Close() })
		now := time.Now()
		if _, err := server.Bootstrap(ctx, st, dir, adminToken, now); err != nil {
			matchBench.err = err
			return
		}
		partner := store.Org{ID: "0a1b2c3d-0000-4000-8000-0000000000b1", Name: "acme", Kind: store.KindPartner, Created: now}
		member := store.Org{ID: "0a1b2c3d-0000-4000-8000-0000000000b2", Name: "de-police", Kind: store.KindMember, Country: "DE", Created: now}
		for _, o := range []store.Org{partner, member} {
			if err := st.CreateOrg(ctx, o); err != nil {
				matchBench.err = err
				return
			}
		}
		secret, hash := server.NewToken()
		if err := st.CreateToken(ctx, store.Token{ID: "0f0f0f0f-0000-4000-8000-0000000000b2", OrgID: member.ID, Role: store.RoleRead, Hash: hash, Created: now}); err != nil {
			matchBench.err = err
			return
		}
		if err := st.SetGrant(ctx, store.Grant{Collection: store.DefaultCollectionID, OrgID: member.ID, Read: true}); err != nil {
			matchBench.err = err
			return
		}
		for lo := 0; lo < benchIndicators; lo += 5000 {
			var objs []*stix.Object
			for i := lo; i < min(lo+5000, benchIndicators); i++ {
				raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
					`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"bench %d","pattern":%q,`+
					`"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":[%q]}`, i, i, benchPattern(i), policy.TLP2GreenID)
				o, err := stix.Parse([]byte(raw))
				if err != nil {
					matchBench.err = err
					return
				}
				objs = append(objs, o)
			}
			if _, err := st.Put(ctx, store.DefaultCollectionID, partner.ID, objs); err != nil {
				matchBench.err = err
				return
			}
		}
		srv := server.New(st, server.Config{Logger: quietLogger(), Rate: -1})
		start := time.Now()
		srv.StartMatching(ctx)
		hs := httptest.NewServer(srv.Handler())
		b.Cleanup(hs.Close)
		matchBench.url, matchBench.token = hs.URL, secret
		last := benchProbe(benchIndicators - 1)
		for {
			body, err := postMatch(hs.URL, secret, last+"\n")
			if err != nil {
				matchBench.err = err
				return
			}
			if strings.Contains(body, "indicator--") {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		b.Logf("%d indicators indexed %v after the server started", benchIndicators, time.Since(start).Round(time.Millisecond))
	}()
	if matchBench.err != nil {
		b.Fatal(matchBench.err)
	}
	return matchBench.url, matchBench.token
}

// benchCPU is the process's user and system CPU time so far.
func benchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func postMatch(url, token, body string) (string, error) {
	req, _ := http.NewRequest("POST", url+"/api/v1/match", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "text/plain")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return "", fmt.Errorf("match: %d %s", res.StatusCode, b)
	}
	return string(b), err
}

// benchBody returns n values of which about one in a thousand match
// (the others are addresses, domains and hashes no indicator names).
func benchBody(n, seed int) string {
	var sb strings.Builder
	for i := range n {
		k := seed*n + i
		if k%1000 == 0 {
			sb.WriteString(benchProbe(k % benchIndicators))
		} else {
			switch k % 3 {
			case 0:
				fmt.Fprintf(&sb, "172.%d.%d.%d", k>>16&255, k>>8&255, k&255)
			case 1:
				fmt.Fprintf(&sb, "www%d.clean-site.org", k)
			default:
				fmt.Fprintf(&sb, "%064x", uint64(k)*0xbf58476d1ce4e5b9+1)
			}
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// BenchmarkMatchAPI measures POST /api/v1/match over loopback against
// benchIndicators indicators in SQLite, as a member country (every hit
// checked by the policy): "1000" sends 1,000-value requests one after the
// other (p99 latency), "200000" sends 200,000-value requests
// (observables/s). The 1,000,000-indicator run of docs/benchmarks.md:
//
//	FUSION_BENCH_INDICATORS=1000000 go test ./internal/server -run '^$' -bench 'BenchmarkMatchAPI' -benchtime 2000x -timeout 30m
//
// (-benchtime applies to both sub-benchmarks; 2000x of 200,000 values is
// 400 M observables: pass -bench 'BenchmarkMatchAPI/200000' -benchtime 40x
// for that one.)
func BenchmarkMatchAPI(b *testing.B) {
	url, tok := matchBenchServer(b)
	for _, n := range []int{1000, 200_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			bodies := make([]string, 8)
			for i := range bodies {
				bodies[i] = benchBody(n, i)
			}
			lat := make([]time.Duration, 0, b.N)
			hits := 0
			b.ResetTimer()
			cpu0 := benchCPU()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				out, err := postMatch(url, tok, bodies[i%len(bodies)])
				if err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(t0))
				hits += strings.Count(out, "\n")
			}
			cpu := benchCPU() - cpu0
			b.StopTimer()
			slices.Sort(lat)
			// CPU of the whole process (server and client): what a request
			// costs whatever else runs on the machine.
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/req")
			b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "observables/cpu-s")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "observables/s")
			b.ReportMetric(float64(hits)/float64(b.N), "hits/req")
		})
	}
}
