package policy

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// isIDSlow is the definition isID implements: the first "--" is followed
// by exactly a hyphenated UUID.
func isIDSlow(s []byte) bool {
	i := bytes.Index(s, []byte("--"))
	if i <= 0 || len(s)-i-2 != 36 {
		return false
	}
	for j, c := range s[i+2:] {
		switch j {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// TestIsID changes every byte of a few identifiers to every value, and
// cuts and extends them, comparing with the definition.
func TestIsID(t *testing.T) {
	for _, base := range []string{
		"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
		"x--8E2E2D2B-17D4-4CBF-938F-98EE46B3CD3F",
		"a-b---8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
		"--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
	} {
		for pos := 0; pos < len(base); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(base)
				b[pos] = byte(c)
				if got, want := isID(b), isIDSlow(b); got != want {
					t.Fatalf("isID(%q) = %v, want %v", b, got, want)
				}
			}
		}
		for n := 0; n <= len(base)+2; n++ {
			b := []byte(base + "ab")[:n]
			if got, want := isID(b), isIDSlow(b); got != want {
				t.Fatalf("isID(%q) = %v, want %v", b, got, want)
			}
			b = append([]byte("--"), b...)
			if got, want := isID(b), isIDSlow(b); got != want {
				t.Fatalf("isID(%q) = %v, want %v", b, got, want)
			}
		}
	}
}

// TestDuplicateNames builds objects of up to 20 members from a few names
// (some of one length, some sharing first and last bytes) and checks the
// duplicate parse reports: up to 16 members, the first member that has a
// later namesake, at that namesake's offset; from 17 on, the first member
// whose name came before.
func TestDuplicateNames(t *testing.T) {
	names := []string{"a", "b", "ab", "ba", "aab", "abb", "type", "tape", "id", "", "x_ref", "y_ref", "created", "crxated"}
	rng := rand.New(rand.NewPCG(5, 6))
	dups := 0
	for n := 0; n < 20000; n++ {
		m := 1 + rng.IntN(20)
		var b bytes.Buffer
		b.WriteByte('{')
		keys := make([]string, m)
		offs := make([]int, m)
		for i := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			if rng.IntN(3) == 0 {
				keys[i] = names[rng.IntN(len(names))]
			} else {
				keys[i] = "k" + strconv.Itoa(rng.IntN(40))
			}
			b.WriteByte('"')
			offs[i] = b.Len()
			b.WriteString(keys[i] + `":0`)
		}
		b.WriteByte('}')
		want := ""
		if m <= 16 {
		search:
			for i := range keys {
				for j := i + 1; j < len(keys); j++ {
					if keys[i] == keys[j] {
						want = (&syntaxError{offs[j], fmt.Sprintf("duplicate member name %q", keys[i])}).Error()
						break search
					}
				}
			}
		} else { // larger objects: the first name seen before
			seen := map[string]bool{}
			for j, k := range keys {
				if seen[k] {
					want = (&syntaxError{offs[j], fmt.Sprintf("duplicate member name %q", k)}).Error()
					break
				}
				seen[k] = true
			}
		}
		tr := getTree()
		err := tr.parse(b.Bytes())
		tr.release()
		got := ""
		if err != nil {
			got = err.Error()
			dups++
		}
		if got != want {
			t.Fatalf("%s: parse error %q, want %q", b.Bytes(), got, want)
		}
	}
	if dups == 0 {
		t.Fatal("no object had a duplicate name")
	}
}
