package pattern

import (
	"fmt"
	"testing"
)

func BenchmarkParse(b *testing.B) {
	lines, _ := corpusLines(b, "valid-2.1.txt")
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l))
	}
	b.SetBytes(bytes / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Parse(lines[i%len(lines)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "patterns/s")
}

// benchObservations builds n STIX 2.1 observed-data instances, each with a
// file (name, size, two hashes), an IPv4 address and a network-traffic
// object referring to it.
func benchObservations(b *testing.B, n int) []Observation {
	obs := make([]Observation, n)
	for i := range obs {
		odJSON := fmt.Sprintf(`{"type":"observed-data","id":"observed-data--%08d-0000-4000-8000-000000000000",
			"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:01Z","number_observed":1,
			"object_refs":["file--%[1]d","network-traffic--%[1]d","ipv4-addr--%[1]d"]}`, i)
		objs := [][]byte{
			fmt.Appendf(nil, `{"type":"file","id":"file--%d","name":"sample-%d.exe","size":%d,
				"hashes":{"MD5":"%032x","SHA-256":"%064x"}}`, i, i, 1000+i, i, i),
			fmt.Appendf(nil, `{"type":"network-traffic","id":"network-traffic--%d","dst_ref":"ipv4-addr--%d","dst_port":443,"protocols":["tcp"]}`, i, i),
			fmt.Appendf(nil, `{"type":"ipv4-addr","id":"ipv4-addr--%d","value":"10.%d.%d.%d"}`, i, i>>16&255, i>>8&255, i&255),
		}
		o, err := ObservationFromJSON([]byte(odJSON), objs...)
		if err != nil {
			b.Fatal(err)
		}
		obs[i] = o
	}
	return obs
}

// BenchmarkMatchSingleComparison matches single-comparison patterns
// against one observed-data instance per iteration (already decoded); the
// obs/s metric is observed-data instances checked per second.
func BenchmarkMatchSingleComparison(b *testing.B) {
	obs := benchObservations(b, 1000)
	for _, c := range []struct{ name, pattern string }{
		{"hash-eq", "[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']"},
		{"ipv4-ref-subset", "[network-traffic:dst_ref.value ISSUBSET '198.51.100.0/24']"},
		{"name-like", "[file:name LIKE '%.dll']"},
		{"name-matches", "[file:name MATCHES '^invoice-[0-9]+\\\\.exe$']"},
	} {
		p := MustParse(c.pattern)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			one := make([]Observation, 1)
			matched := 0
			for i := 0; i < b.N; i++ {
				one[0] = obs[i%len(obs)]
				if p.Match(one) {
					matched++
				}
			}
			if matched != 0 {
				b.Fatalf("%d unexpected matches", matched)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
		})
	}
}

// BenchmarkDecodeAndMatch includes building each Observation from JSON
// (observed-data plus its three SCOs) before a single-comparison match.
func BenchmarkDecodeAndMatch(b *testing.B) {
	p := MustParse("[file:hashes.MD5 = 'cead3f77f6cda6ec00f57d76c9a6879f']")
	odJSON := []byte(`{"type":"observed-data","id":"observed-data--00000001-0000-4000-8000-000000000000",
		"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:01Z","number_observed":1,
		"object_refs":["file--1","network-traffic--1","ipv4-addr--1"]}`)
	objs := [][]byte{
		[]byte(`{"type":"file","id":"file--1","name":"sample-1.exe","size":1001,"hashes":{"MD5":"00000000000000000000000000000001"}}`),
		[]byte(`{"type":"network-traffic","id":"network-traffic--1","dst_ref":"ipv4-addr--1","dst_port":443,"protocols":["tcp"]}`),
		[]byte(`{"type":"ipv4-addr","id":"ipv4-addr--1","value":"10.0.0.1"}`),
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		o, err := ObservationFromJSON(odJSON, objs...)
		if err != nil {
			b.Fatal(err)
		}
		if p.MatchObservation(&o) {
			b.Fatal("unexpected match")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkMatchMulti evaluates an observation-level pattern (AND,
// FOLLOWEDBY, WITHIN) over 1000 observations at once.
func BenchmarkMatchMulti(b *testing.B) {
	obs := benchObservations(b, 1000)
	p := MustParse("([file:size > 1990] FOLLOWEDBY [network-traffic:dst_ref.value = '10.0.3.231']) WITHIN 60 SECONDS")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if !p.Match(obs) {
			b.Fatal("no match")
		}
	}
}
