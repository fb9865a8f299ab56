package pattern

import (
	"errors"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are
// *SyntaxError with an offset inside the input, that every accepted
// pattern's canonical form re-parses to an equal tree and is a fixed
// point, and that evaluating an accepted pattern does not panic.
// Seeds: testdata/fuzz/FuzzParse plus the OASIS corpus.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"valid-2.1.txt", "invalid-2.1.txt"} {
		lines, _ := corpusLines(f, name)
		for _, l := range lines {
			f.Add(l)
		}
	}
	obs := []Observation{
		od(f, "2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z", 2,
			`{"type":"file","name":"a","size":1,"hashes":{"MD5":"cead3f77f6cda6ec00f57d76c9a6879f"},"parent_directory_ref":"1"}`,
			`{"type":"directory","path":"C:\\Windows"}`,
			`{"type":"ipv4-addr","value":"10.0.0.1"}`),
		od(f, "2024-01-01T00:01:00Z", "2024-01-01T00:01:00Z", 1,
			`{"type":"network-traffic","src_ref":"1","dst_port":443,"protocols":["tcp","tls"]}`,
			`{"type":"ipv4-addr","value":"192.168.0.7"}`),
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("%q: error %T, want *SyntaxError", src, err)
			}
			if se.Offset < 0 || se.Offset > len(src) || se.Line < 1 || se.Column < 1 {
				t.Fatalf("%q: bad position %+v", src, se)
			}
			return
		}
		canon := p.String()
		q, err := Parse(canon)
		if err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", src, canon, err)
		}
		if !Equal(p, q) {
			t.Fatalf("%q: canonical form %q parses to a different tree", src, canon)
		}
		if q.String() != canon {
			t.Fatalf("%q: canonical form not a fixed point: %q then %q", src, canon, q.String())
		}
		p.Match(obs)
	})
}

// FuzzObservationFromJSON checks that building observations from
// arbitrary observed-data and SCO JSON never panics, and that evaluating
// patterns with references, lists and binary properties against the
// result does not either. Seeds: testdata/fuzz/FuzzObservationFromJSON.
func FuzzObservationFromJSON(f *testing.F) {
	f.Add(`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":2,"object_refs":["network-traffic--1"]}`,
		`{"type":"network-traffic","id":"network-traffic--1","src_ref":"ipv4-addr--1","dst_ref":"ipv4-addr--1"}`,
		`{"type":"ipv4-addr","id":"ipv4-addr--1","value":"10.0.0.1","resolves_to_refs":["network-traffic--1"]}`)
	f.Add(`{"first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","objects":{"0":{"type":"file","hashes":{"MD5":"00"},"magic_number_hex":"zz"},"1":{"type":"directory","contains_refs":["0","1"]}}}`, `{}`, `[]`)
	pats := []*Pattern{
		MustParse("[network-traffic:src_ref.value ISSUBSET '10.0.0.0/8' AND ipv4-addr:resolves_to_refs[*].dst_ref.value = '10.0.0.1']"),
		MustParse("[file:hashes[*] = h'00' OR file:magic_number_hex LIKE '%' OR directory:contains_refs[1].contains_refs[0].hashes.MD5 MATCHES '0'] REPEATS 2 TIMES"),
		MustParse("[EXISTS x:a[0][*].b] FOLLOWEDBY [x:c_bin = b'AAAA'] WITHIN 1 SECONDS"),
	}
	f.Fuzz(func(t *testing.T, odJSON, sco1, sco2 string) {
		o, err := ObservationFromJSON([]byte(odJSON), []byte(sco1), []byte(sco2))
		if err != nil {
			return
		}
		if o.NumberObserved < 1 {
			t.Fatalf("NumberObserved %d", o.NumberObserved)
		}
		for _, p := range pats {
			p.Match([]Observation{o, o})
		}
	})
}
