package jsonscan

import (
	"math/rand/v2"
	"testing"
)

// plainEndSlow is PlainEnd one byte at a time: what the word-wise scan
// must agree with.
func plainEndSlow(s string, i int) int {
	for i < len(s) && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 {
		i++
	}
	return i
}

// plainASCIIEndSlow is PlainASCIIEnd one byte at a time.
func plainASCIIEndSlow(s string, i int) int {
	for i < len(s) && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 && s[i] < 0x80 {
		i++
	}
	return i
}

// checkScan compares a word-wise scan with its bytewise definition for
// every byte value at every position of a word, behind every other byte
// value (the borrow of the word-wise test runs from lower bytes to higher
// ones), and on random text with quotes, escapes, controls and UTF-8.
func checkScan(t *testing.T, fast, slow func(s string, i int) int) {
	t.Helper()
	check := func(s string, start int) {
		t.Helper()
		if got, want := fast(s, start), slow(s, start); got != want {
			t.Fatalf("scan(%q, %d) = %d, want %d", s, start, got, want)
		}
	}
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
					check(string(buf), start)
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
			check(string(b), start)
		}
	}
}

func TestPlainEnd(t *testing.T) {
	checkScan(t, func(s string, i int) int { return PlainEnd([]byte(s), i) }, plainEndSlow)
}

func TestPlainASCIIEnd(t *testing.T) {
	checkScan(t, PlainASCIIEnd, plainASCIIEndSlow)
}
