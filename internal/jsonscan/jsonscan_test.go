package jsonscan

import (
	"math/rand/v2"
	"testing"
)

// plainEndSlow is PlainEnd one byte at a time: what the word-wise scan
// must agree with.
func plainEndSlow(b []byte, i int) int {
	for i < len(b) && b[i] != '"' && b[i] != '\\' && b[i] >= 0x20 {
		i++
	}
	return i
}

// TestPlainEnd checks the word-wise scan against the bytewise one for
// every byte value at every position of a word, behind every other byte
// value (the borrow of the word-wise test runs from lower bytes to higher
// ones), and on random text with quotes, escapes, controls and UTF-8.
func TestPlainEnd(t *testing.T) {
	buf := make([]byte, 19)
	for c := 0; c < 256; c++ {
		for prev := 0; prev < 256; prev++ {
			for pos := 0; pos < len(buf); pos++ {
				for k := range buf {
					buf[k] = 'a'
				}
				if pos > 0 {
					buf[pos-1] = byte(prev)
				}
				buf[pos] = byte(c)
				for start := 0; start < 3; start++ {
					if got, want := PlainEnd(buf, start), plainEndSlow(buf, start); got != want {
						t.Fatalf("PlainEnd(%q, %d) = %d, want %d", buf, start, got, want)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab\"\\\x00\x1f\x20\x7f\x80\xc3\xa9\xff!#[]~-")
	for n := 0; n < 20000; n++ {
		b := make([]byte, rng.IntN(40))
		for k := range b {
			if rng.IntN(4) == 0 {
				b[k] = byte(rng.IntN(256))
			} else {
				b[k] = alphabet[rng.IntN(len(alphabet))]
			}
		}
		for start := 0; start <= len(b); start++ {
			if got, want := PlainEnd(b, start), plainEndSlow(b, start); got != want {
				t.Fatalf("PlainEnd(%q, %d) = %d, want %d", b, start, got, want)
			}
		}
	}
}

// plainASCIIEndSlow is PlainASCIIEnd one byte at a time.
func plainASCIIEndSlow(s string, i int) int {
	for i < len(s) && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80 {
		i++
	}
	return i
}

// TestPlainASCIIEnd: as TestPlainEnd, for the variant that also stops at
// bytes of 0x80 and above.
func TestPlainASCIIEnd(t *testing.T) {
	buf := make([]byte, 19)
	for c := 0; c < 256; c++ {
		for prev := 0; prev < 256; prev++ {
			for pos := 0; pos < len(buf); pos++ {
				for k := range buf {
					buf[k] = 'a'
				}
				if pos > 0 {
					buf[pos-1] = byte(prev)
				}
				buf[pos] = byte(c)
				s := string(buf)
				for start := 0; start < 3; start++ {
					if got, want := PlainASCIIEnd(s, start), plainASCIIEndSlow(s, start); got != want {
						t.Fatalf("PlainASCIIEnd(%q, %d) = %d, want %d", s, start, got, want)
					}
				}
			}
		}
	}
}
