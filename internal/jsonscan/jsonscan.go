// Package jsonscan holds the byte-level scanning that Fusion's JSON
// readers and writers share (internal/stix decodes whole objects,
// internal/policy reads their sharing facts, internal/audit writes
// canonical entries): finding where the plain part of a JSON string
// ends, eight bytes at a time. Strings are most of a STIX object's and
// an audit entry's bytes, so this is their inner loop.
package jsonscan

import (
	"encoding/binary"
	"math/bits"
)

// PlainEnd returns the offset of the first byte at or after i that can
// end the plain run of a JSON string (a quote, a backslash or a control
// character below 0x20), or len(b). Every other byte, UTF-8 included, is
// plain.
func PlainEnd(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		if m := stopMask(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 {
			return i
		}
	}
	return i
}

// PlainASCIIEnd is PlainEnd that also stops at bytes of 0x80 and above:
// where a writer of JSON strings (which must check UTF-8 there) has to
// look at the bytes one by one.
func PlainASCIIEnd(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if m := stopMask(w) | w&highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// stopMask has the high bit set in the lowest byte of w (little endian)
// that is a quote, a backslash or below 0x20; the bits above it may be
// wrong. Each term is the "has a zero byte" test (x - 0x01…) &^ x & 0x80…
// on w^'"', w^'\\' and (with 0x20 for 0x01) w: a term misfires only above
// a byte it rightly flags, as the borrow runs upwards.
func stopMask(w uint64) uint64 {
	q := w ^ (ones * '"')
	s := w ^ (ones * '\\')
	return ((q-ones)&^q | (s-ones)&^s | (w-ones*0x20)&^w) & highs
}
