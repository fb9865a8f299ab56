package stix

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// isUUIDSlow is the definition IsUUID implements.
func isUUIDSlow(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
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
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
		return true
	}
	return false
}

func TestIsUUIDEveryByte(t *testing.T) {
	base := []byte("8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")
	if !IsUUID(string(base)) {
		t.Fatal("valid UUID rejected")
	}
	for pos := range base {
		for c := 0; c < 256; c++ {
			b := append([]byte(nil), base...)
			b[pos] = byte(c)
			if got, want := IsUUID(string(b)), isUUIDSlow(string(b)); got != want {
				t.Fatalf("IsUUID(%q) = %v, want %v", b, got, want)
			}
		}
	}
	for _, s := range []string{"", "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3", "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f0", "8E2E2D2B-17D4-4CBF-B38F-98EE46B3CD3F"} {
		if got, want := IsUUID(s), isUUIDSlow(s); got != want {
			t.Fatalf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

// parseTimestampSlow is the field-by-field definition ParseTimestamp
// implements.
func parseTimestampSlow(s string) (time.Time, error) {
	n := len(s)
	if n < 20 || s[n-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, ErrTimestamp
	}
	var f [6]int
	for i, span := range [6][2]int{{0, 4}, {5, 7}, {8, 10}, {11, 13}, {14, 16}, {17, 19}} {
		v := 0
		for j := span[0]; j < span[1]; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return time.Time{}, ErrTimestamp
			}
			v = v*10 + int(c-'0')
		}
		f[i] = v
	}
	nsec := 0
	if n > 20 {
		if s[19] != '.' || n == 21 {
			return time.Time{}, ErrTimestamp
		}
		for j, scale := 20, 100000000; j < n-1; j++ {
			c := s[j]
			if c < '0' || c > '9' {
				return time.Time{}, ErrTimestamp
			}
			nsec += int(c-'0') * scale
			scale /= 10
		}
	}
	year, month, day := f[0], f[1], f[2]
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return time.Time{}, ErrTimestamp
	}
	return time.Date(year, time.Month(month), day, f[3], f[4], f[5], nsec, time.UTC), nil
}

// TestParseTimestampEveryByte changes every byte of a few timestamps to
// every value and compares with the definition.
func TestParseTimestampEveryByte(t *testing.T) {
	for _, base := range []string{"2016-02-29T23:59:59Z", "2024-12-31T00:00:00.123Z", "1999-01-01T09:09:09.1234567891Z"} {
		for pos := 0; pos < len(base); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(base)
				b[pos] = byte(c)
				s := string(b)
				got, gerr := ParseTimestamp(s)
				want, werr := parseTimestampSlow(s)
				if got != want || gerr != werr {
					t.Fatalf("ParseTimestamp(%q) = %v, %v; want %v, %v", s, got, gerr, want, werr)
				}
			}
		}
	}
}

// TestParseTimestampDates compares ParseTimestamp with time.Date over
// random dates of every year 0000-9999 and every day of a few years
// (leap and not, around the epoch and year 0), with fractions of every
// length.
func TestParseTimestampDates(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	check := func(y, m, d, hh, mm, ss int, frac string) {
		s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, m, d, hh, mm, ss, frac)
		got, err := ParseTimestamp(s)
		want, werr := parseTimestampSlow(s)
		if err != werr || got != want {
			t.Fatalf("ParseTimestamp(%q) = %v, %v; want %v, %v", s, got, err, want, werr)
		}
	}
	fracs := []string{"", ".0", ".5", ".123", ".000001", ".123456789", ".1234567891", ".99999999999"}
	for y := 0; y <= 9999; y++ {
		m := 1 + rng.IntN(12)
		check(y, m, 1+rng.IntN(daysIn(m, y)), rng.IntN(24), rng.IntN(60), rng.IntN(60), fracs[rng.IntN(len(fracs))])
		check(y, 2, daysIn(2, y), 23, 59, 59, ".999")
		check(y, 3, 1, 0, 0, 0, "")
	}
	for _, y := range []int{0, 1, 4, 100, 399, 400, 1600, 1900, 1969, 1970, 2000, 2024, 2100, 9999} {
		for m := 1; m <= 12; m++ {
			for d := 1; d <= daysIn(m, y); d++ {
				check(y, m, d, rng.IntN(24), rng.IntN(60), rng.IntN(60), fracs[rng.IntN(len(fracs))])
			}
		}
	}
}
