package match

import (
	"bytes"
	"fmt"
	"iter"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The benchmarks use a generated, deterministic set of indicators with the
// mix the issue names: 40 % file hashes (of them 30 % MD5, 20 % SHA-1,
// 50 % SHA-256), 25 % addresses (90 % IPv4), 10 % CIDR blocks (ISSUBSET;
// 90 % IPv4 /20 to /30, 10 % IPv6 /48 to /64), 15 % domain names, 10 %
// URLs. Indicator addresses and blocks lie in 1.0.0.0–99.255.255.255 and
// 2001:db8::/32; the screened stream's misses lie outside, so its hit
// rate is the share of indicator values mixed in.

const benchN = 1_000_000

var tlds = []string{"com", "net", "org", "info", "ru", "cn", "xyz", "top", "io", "de"}

type gen struct {
	r   *rand.Rand
	buf []byte
}

func newGen(seed uint64) *gen { return &gen{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))} }

func (g *gen) hex(n int) string {
	const d = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = d[g.r.IntN(16)]
	}
	return string(b)
}

func (g *gen) label(n int) string {
	const d = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = d[g.r.IntN(len(d))]
	}
	b[0] = d[g.r.IntN(26)]
	return string(b)
}

func (g *gen) domain() string {
	d := g.label(6+g.r.IntN(8)) + "." + tlds[g.r.IntN(len(tlds))]
	if g.r.IntN(3) == 0 {
		d = g.label(3+g.r.IntN(5)) + "." + d
	}
	return d
}

// value returns the pattern and a screenable value of indicator i.
func (g *gen) value(i int) (pat, val string) {
	switch k := i % 100; {
	case k < 40:
		var alg, h string
		switch r := g.r.IntN(10); {
		case r < 3:
			alg, h = "MD5", g.hex(32)
		case r < 5:
			alg, h = "'SHA-1'", g.hex(40)
		default:
			alg, h = "'SHA-256'", g.hex(64)
		}
		return fmt.Sprintf("[file:hashes.%s = '%s']", alg, h), h
	case k < 65:
		if g.r.IntN(10) == 0 {
			a := fmt.Sprintf("2001:db8:%x:%x::%x", g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536))
			return fmt.Sprintf("[ipv6-addr:value = '%s']", a), a
		}
		a := fmt.Sprintf("%d.%d.%d.%d", 1+g.r.IntN(99), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256))
		return fmt.Sprintf("[ipv4-addr:value = '%s']", a), a
	case k < 75:
		if g.r.IntN(10) == 0 {
			bits := 48 + g.r.IntN(17)
			a := fmt.Sprintf("2001:db8:%x:%x::", g.r.IntN(65536), g.r.IntN(65536))
			return fmt.Sprintf("[ipv6-addr:value ISSUBSET '%s/%d']", a, bits), a + "1"
		}
		bits := 20 + g.r.IntN(11)
		a := uint32(1+g.r.IntN(99))<<24 | uint32(g.r.IntN(1<<24))
		a &^= 1<<(32-bits) - 1
		ip := fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
		in := a | 1
		return fmt.Sprintf("[ipv4-addr:value ISSUBSET '%s/%d']", ip, bits),
			fmt.Sprintf("%d.%d.%d.%d", in>>24, in>>16&255, in>>8&255, in&255)
	case k < 90:
		d := g.domain()
		return fmt.Sprintf("[domain-name:value = '%s']", d), d
	default:
		u := fmt.Sprintf("http://%s/%s/%s.php?id=%d", g.domain(), g.label(5), g.label(8), g.r.IntN(100000))
		return fmt.Sprintf("[url:value = '%s']", u), u
	}
}

func benchID(i int) string { return fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", i, i) }

// benchItems yields n generated indicators; every every-th indicator's
// value goes to hits (when not nil).
func benchItems(n, every int, hits *[]string) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		g := newGen(1)
		mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		var raw []byte
		for i := range n {
			pat, val := g.value(i)
			if hits != nil && i%every == 0 {
				*hits = append(*hits, val)
			}
			id := benchID(i)
			raw = fmt.Appendf(raw[:0], `{"type":"indicator","spec_version":"2.1","id":"%s","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"generated %d","indicator_types":["malicious-activity"],"pattern":%q,"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`, id, i, pat)
			if !yield(Item{Ref: Ref{Collection: "bench", ID: id, Modified: mod}, Raw: raw}, nil) {
				return
			}
		}
	}
}

// missValue returns a value that matches no generated indicator, in the
// stream's mix: 40 % IPv4, 5 % IPv6, 25 % domains, 15 % URLs, 15 % hashes.
func (g *gen) missValue() string {
	switch k := g.r.IntN(100); {
	case k < 40:
		return fmt.Sprintf("%d.%d.%d.%d", 100+g.r.IntN(124), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256))
	case k < 45:
		return fmt.Sprintf("2a00:%x:%x::%x", g.r.IntN(65536), g.r.IntN(65536), g.r.IntN(65536))
	case k < 70:
		return g.domain()
	case k < 85:
		return fmt.Sprintf("https://%s/%s?q=%d", g.domain(), g.label(6), g.r.IntN(1000))
	default:
		if g.r.IntN(2) == 0 {
			return g.hex(32)
		}
		return g.hex(64)
	}
}

type benchIndex struct {
	x           *Index
	hits        []string
	buildTime   time.Duration
	buildCPU    time.Duration
	bytesPerInd float64
}

var (
	benchOnce   sync.Once
	benchShared benchIndex
)

// benchCorpus is the generated indicators' JSON, made once.
type benchCorpus struct {
	raw  []byte
	ends []int
	hits []string
}

var (
	corpusOnce sync.Once
	corpus     benchCorpus
)

func getCorpus() *benchCorpus {
	corpusOnce.Do(func() {
		corpus.raw = make([]byte, 0, 300*benchN)
		for it := range benchItems(benchN, 997, &corpus.hits) {
			corpus.raw = append(corpus.raw, it.Raw...)
			corpus.ends = append(corpus.ends, len(corpus.raw))
		}
	})
	return &corpus
}

func (c *benchCorpus) items() iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		mod := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		start := 0
		for i, end := range c.ends {
			if !yield(Item{Ref: Ref{Collection: "bench", ID: benchID(i), Modified: mod}, Raw: c.raw[start:end]}, nil) {
				return
			}
			start = end
		}
	}
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// buildBench builds the 1M-indicator index from the pre-generated JSON
// and measures its time, CPU time and heap growth (HeapAlloc after a GC,
// minus HeapAlloc after a GC before the build).
func buildBench(tb testing.TB, opts Options) benchIndex {
	c := getCorpus()
	bi := benchIndex{hits: c.hits}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start, cpu0 := time.Now(), cpuTime()
	x := New(opts)
	st, err := x.Build(c.items())
	if err != nil {
		tb.Fatal(err)
	}
	bi.buildTime, bi.buildCPU = time.Since(start), cpuTime()-cpu0
	if st.Indicators != benchN {
		tb.Fatalf("built %d indicators, want %d: %+v", st.Indicators, benchN, st)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	bi.bytesPerInd = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / benchN
	bi.x = x
	return bi
}

func sharedBench(b *testing.B) benchIndex {
	benchOnce.Do(func() { benchShared = buildBench(b, Options{}) })
	return benchShared
}

// BenchmarkBuild builds the 1,000,000-indicator index from JSON (decode,
// pattern parse, keys, tables, filter) and reports the heap it keeps.
func BenchmarkBuild(b *testing.B) {
	for b.Loop() {
		bi := buildBench(b, Options{})
		b.ReportMetric(bi.buildTime.Seconds(), "s/build")
		b.ReportMetric(bi.buildCPU.Seconds(), "cpu-s/build")
		b.ReportMetric(bi.bytesPerInd, "heap-B/indicator")
		runtime.KeepAlive(bi.x)
	}
}

// screenStream returns n newline-separated values with one hit every
// 1000 (0.1 %).
func screenStream(hits []string, n int) []byte {
	g := newGen(2)
	var buf bytes.Buffer
	for i := range n {
		if i%1000 == 500 {
			buf.WriteString(hits[(i/1000)%len(hits)])
		} else {
			buf.WriteString(g.missValue())
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkScreen screens 1,048,576 untyped values (0.1 % hits) against
// the 1,000,000-indicator index over all cores (LookupLines); obs/s is
// values screened per second of wall time, obs/cpu-s per second of
// process CPU time (the machine is shared: wall time depends on the other
// load, CPU time much less). The nofilter variant builds a second index
// without the binary fuse prefilter.
func BenchmarkScreen(b *testing.B) {
	b.Run("filter", func(b *testing.B) { benchScreen(b, sharedBench(b)) })
	b.Run("nofilter", func(b *testing.B) {
		bi := buildBench(b, Options{NoFilter: true})
		b.ReportMetric(bi.bytesPerInd, "heap-B/indicator")
		benchScreen(b, bi)
	})
}

func benchScreen(b *testing.B, bi benchIndex) {
	const n = 1 << 20
	text := screenStream(bi.hits, n)
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	var hits, rec int
	cpu0 := cpuTime()
	for b.Loop() {
		h, r := bi.x.LookupLines(text)
		hits, rec = len(h), r
	}
	cpu := cpuTime() - cpu0
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "obs/s")
	b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "obs/cpu-s")
	if rec != n || hits < n/1000 {
		b.Fatalf("recognised %d of %d, %d hits", rec, n, hits)
	}
	b.ReportMetric(float64(hits), "hits")
}

// BenchmarkLookupString is the single-goroutine cost of one untyped
// lookup on a Matcher (mostly misses).
func BenchmarkLookupString(b *testing.B) {
	bi := sharedBench(b)
	g := newGen(3)
	vals := make([]string, 1<<16)
	for i := range vals {
		vals[i] = g.missValue()
	}
	m := bi.x.NewMatcher()
	var dst []Hit
	i := 0
	for b.Loop() {
		dst, _ = m.LookupString(vals[i&(len(vals)-1)], dst[:0])
		i++
	}
}

// benchBundle returns a bundle of n STIX 2.1 observed-data, each with a
// file (name, size, MD5 and SHA-256), an IPv4 address and a
// network-traffic object to it; one in 1000 files carries an indicator's
// hash.
func benchBundle(hits []string, n int) []byte {
	g := newGen(4)
	var b bytes.Buffer
	b.WriteString(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[`)
	var hashHits []string
	for _, h := range hits {
		if len(h) == 32 {
			hashHits = append(hashHits, h)
		}
	}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		md5 := g.hex(32)
		if i%1000 == 500 {
			md5 = hashHits[(i/1000)%len(hashHits)]
		}
		fmt.Fprintf(&b, `{"type":"observed-data","spec_version":"2.1","id":"observed-data--%08x-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:01Z","number_observed":1,"object_refs":["file--%08x-0000-4000-8000-000000000000","ipv4-addr--%08x-0000-4000-8000-000000000000","network-traffic--%08x-0000-4000-8000-000000000000"]},`, i, i, i, i)
		fmt.Fprintf(&b, `{"type":"file","spec_version":"2.1","id":"file--%08x-0000-4000-8000-000000000000","name":"sample-%d.exe","size":%d,"hashes":{"MD5":"%s","SHA-256":"%s"}},`, i, i, 1000+i, md5, g.hex(64))
		fmt.Fprintf(&b, `{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--%08x-0000-4000-8000-000000000000","value":"%d.%d.%d.%d"},`, i, 100+g.r.IntN(124), g.r.IntN(256), g.r.IntN(256), g.r.IntN(256))
		fmt.Fprintf(&b, `{"type":"network-traffic","spec_version":"2.1","id":"network-traffic--%08x-0000-4000-8000-000000000000","dst_ref":"ipv4-addr--%08x-0000-4000-8000-000000000000","dst_port":443,"protocols":["tcp"]}`, i, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// keylessPatterns are single-comparison patterns the index cannot key;
// they are evaluated for every observation holding their object type.
var keylessPatterns = []string{
	"[file:name LIKE '%.scr']",
	"[file:size > 100000000]",
	"[file:name MATCHES '^invoice-[0-9]+\\\\.pdf\\\\.exe$']",
	"[network-traffic:dst_port = 4444]",
	"[network-traffic:dst_port IN (6667, 6697)]",
	"[ipv4-addr:value ISSUPERSET '100.0.0.0/32']",
}

func addKeyless(x *Index) {
	var items []Item
	for i, p := range keylessPatterns {
		id := fmt.Sprintf("indicator--%08x-1111-4000-8000-000000000000", i)
		items = append(items, Item{Ref: Ref{Collection: "bench", ID: id},
			Raw: fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"%s","pattern":%q,"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`, id, p)})
	}
	if st := x.Update(items...); st.Indicators != len(items) {
		panic(fmt.Sprintf("%+v", st))
	}
}

var keylessOnce sync.Once

// BenchmarkMatchObservations matches 10,000 observed-data (one file,
// address and network-traffic each; 0.1 % carry an indicator's hash)
// against the 1,000,000 single-comparison indicators plus six keyless
// single-comparison patterns (LIKE, >, MATCHES, port equality, IN,
// ISSUPERSET) evaluated on every observation. "decoded" starts from
// Observations, "bundle" from the bundle's JSON (ObservationsFromBundle).
func BenchmarkMatchObservations(b *testing.B) {
	bi := sharedBench(b)
	keylessOnce.Do(func() { addKeyless(bi.x) })
	const n = 10000
	raw := benchBundle(bi.hits, n)
	obs, _, err := ObservationsFromBundle(raw)
	if err != nil {
		b.Fatal(err)
	}
	check := func(hits []Hit) {
		exact := 0
		for _, h := range hits {
			if h.Kind == KindExact {
				exact++
			}
		}
		if exact != n/1000 {
			b.Fatalf("%d exact hits, want %d", exact, n/1000)
		}
	}
	b.Run("decoded", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			check(bi.x.MatchObservations(obs))
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "observed-data/s")
		b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "observed-data/cpu-s")
	})
	b.Run("decode-only", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		cpu0 := cpuTime()
		for b.Loop() {
			if _, _, err := ObservationsFromBundle(raw); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "observed-data/s")
		b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "observed-data/cpu-s")
	})
	b.Run("bundle", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		cpu0 := cpuTime()
		for b.Loop() {
			obs, _, err := ObservationsFromBundle(raw)
			if err != nil {
				b.Fatal(err)
			}
			check(bi.x.MatchObservations(obs))
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "observed-data/s")
		b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "observed-data/cpu-s")
	})
}

// BenchmarkUpdate adds one new indicator per Update to the
// 1,000,000-indicator index (delta segments, merged as they grow; no
// compaction within the run) and reports the latency distribution: a
// version is visible to lookups once Update returns.
func BenchmarkUpdate(b *testing.B) {
	bi := sharedBench(b)
	g := newGen(5)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		pat, _ := g.value(i)
		idn := fmt.Sprintf("indicator--%08x-2222-4000-8000-%012x", i, i)
		it := Item{Ref: Ref{Collection: "bench", ID: idn},
			Raw: fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"%s","pattern":%q,"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`, idn, pat)}
		t0 := time.Now()
		if st := bi.x.Update(it); st.Indicators != 1 {
			b.Fatalf("%+v", st)
		}
		lat = append(lat, time.Since(t0))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
	b.ReportMetric(float64(bi.x.Info().Deltas), "deltas")
}

// BenchmarkCompact rebuilds the 1,000,000-indicator index from itself
// (what an Update does when the delta segments pass their bound, with
// writers waiting and lookups going on).
func BenchmarkCompact(b *testing.B) {
	bi := sharedBench(b)
	cpu0 := cpuTime()
	for b.Loop() {
		bi.x.Compact()
	}
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkObservationsFromBundle decodes a bundle of 10,000 observed-data
// (40,000 objects, 12 MB) into Observations.
func BenchmarkObservationsFromBundle(b *testing.B) {
	const n = 10000
	raw := benchBundle([]string{strings.Repeat("0", 32)}, n)
	b.SetBytes(int64(len(raw)))
	cpu0 := cpuTime()
	for b.Loop() {
		if _, _, err := ObservationsFromBundle(raw); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "observed-data/s")
	b.ReportMetric(float64(n*b.N)/(cpuTime()-cpu0).Seconds(), "observed-data/cpu-s")
}
