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
