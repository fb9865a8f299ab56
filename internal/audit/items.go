package audit

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/stix"
)

// Items are the object versions a served or denied entry names. Version
// 1 entries write them as a list of [id, version] pairs, in the order
// served:
//
//	"objects":[["indicator--<uuid>","2026-03-01T12:00:00.000Z"],["ipv4-addr--<uuid>"]]
//
// Version 2 and 3 entries group them by STIX type (the names of a JSON
// object, so in ascending byte order); under each type, a list of the
// objects in the order served, each an array of the rest of the id (the
// UUID) followed by its versions. Consecutive versions of the same id
// share one array. A version is its version key in Unix microseconds (a
// JSON integer), or the STIX timestamp string when the key is not a
// whole number of microseconds or lies outside ±2^53 µs (the exactly
// representable integers); an object without a version key is its id
// alone:
//
//	"objects":{"indicator":[["<uuid>",1772366400000000,1772366400001500]],"ipv4-addr":[["<uuid>"]]}
//
// Version 4 entries write the versions of a type as one string instead
// (packed) when every one of them is packable: the rest of its id is a
// canonical UUID (36 characters, lowercase hexadecimal, hyphens after
// the 8th, 12th, 16th and 20th digit) and it has no version key or one
// that the array form would write as an integer. The string is the
// unpadded base64url (RFC 4648 section 5) of one 24-byte record per
// version, in the order served: the UUID's 16 bytes, then the version
// key in Unix microseconds as a big-endian int64, or math.MinInt64 for
// none. A record is 32 characters, about 55 % of the array form. Types
// with any other item keep the array form, so one entry may mix both:
//
//	"objects":{"indicator":"a6e4EJ2tQdGAtADAT9QwyAAGS_U1rxXc","x-partner":[["not-a-uuid",1772366400000000]]}
//
// An id without "--" (or starting with it) is under the type "", which
// is never packed. Only the order across types is not kept. Grouping
// makes version 2 about 27 % smaller than version 1, and packing makes
// version 4 about half the size of version 2 again; a served entry names
// every object of a page, so its size is most of what serving costs the
// log.
//
// Decoded, all forms give Items in their written order (versions 2 to 4:
// by type, then as served), each Version a STIX timestamp (or ""). A
// type's value may be a string or an array whatever the entry's "v": the
// form is checked only by comparing Encode with the bytes (Encode packs
// exactly the types it can when v >= 4).
type Items []Item

// UnmarshalJSON reads any form.
func (its *Items) UnmarshalJSON(data []byte) error {
	data = []byte(strings.TrimLeft(string(data), " \t\r\n"))
	if len(data) > 0 && data[0] == '[' {
		var l []Item
		if err := json.Unmarshal(data, &l); err != nil {
			return err
		}
		*its = l
		return nil
	}
	out, err := decodeGrouped(data, "objects", decodePacked, decodeTypeList)
	if err != nil {
		return err
	}
	*its = out
	return nil
}

// decodeTypeList appends the items of one type in the array form
// (versions 2 to 4).
func decodeTypeList(out []Item, typ string, v jsontext.Value) ([]Item, error) {
	var objs [][]jsontext.Value
	if err := json.Unmarshal(v, &objs); err != nil {
		return nil, fmt.Errorf("objects: type %q: %w", typ, err)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("objects: type %q names no objects", typ)
	}
	for i, o := range objs {
		if len(o) == 0 {
			return nil, fmt.Errorf("objects: %q object %d: empty (want [id, versions…])", typ, i)
		}
		var rest string
		if o[0].Kind() != '"' {
			return nil, fmt.Errorf("objects: %q object %d: id %s is not a string", typ, i, o[0])
		}
		if err := json.Unmarshal(o[0], &rest); err != nil {
			return nil, fmt.Errorf("objects: %q object %d: %w", typ, i, err)
		}
		id := rest
		if typ != "" {
			id = typ + "--" + rest
		}
		if len(o) == 1 {
			out = append(out, Item{ID: id})
			continue
		}
		for j, v := range o[1:] {
			ver, err := decodeVersion(v)
			if err != nil {
				return nil, fmt.Errorf("objects: %q version %d: %w", id, j, err)
			}
			out = append(out, Item{ID: id, Version: ver})
		}
	}
	return out, nil
}

// Packed records (version 4): 16 bytes of UUID, 8 of version key.
const (
	packedRecord = 24
	packedChars  = 32 // packedRecord in base64, no padding needed
	// noVersionKey is the version of an object without a version key.
	noVersionKey = math.MinInt64
)

var packedEncoding = base64.RawURLEncoding.Strict()

// decodePacked appends the items of one type in the packed form (a JSON
// string, version 4).
func decodePacked(out []Item, typ string, v jsontext.Value) ([]Item, error) {
	raw, err := unpackRecords("objects", typ, v, packedRecord)
	if err != nil {
		return nil, err
	}
	for r := 0; len(raw) > 0; r++ {
		rec := raw[:packedRecord]
		raw = raw[packedRecord:]
		ver, err := packedVersion(rec[16:24])
		if err != nil {
			return nil, fmt.Errorf("objects: type %q: record %d: %w", typ, r, err)
		}
		out = append(out, Item{ID: packedID(typ, rec[:16]), Version: ver})
	}
	return out, nil
}

// packedID is the STIX id of a packed record: typ, "--" and the text of
// the record's 16 UUID bytes.
func packedID(typ string, uuid []byte) string {
	id := make([]byte, 0, len(typ)+2+36)
	id = append(id, typ...)
	id = append(id, '-', '-')
	return string(appendUUIDText(id, uuid))
}

// packedVersion is the version key of a packed record's 8 bytes: a STIX
// timestamp, or "" for noVersionKey; an error outside ±2^53 µs.
func packedVersion(b []byte) (string, error) {
	switch us := int64(binary.BigEndian.Uint64(b)); {
	case us == noVersionKey:
		return "", nil
	case us > maxExactMicros || us < -maxExactMicros:
		return "", fmt.Errorf("version %d µs is outside ±2^53", us)
	default:
		return stix.FormatTimestamp(time.UnixMicro(us)), nil
	}
}

// unpackRecords decodes the packed string v of type typ (a JSON string)
// into whole records of size bytes, strictly: the unpadded base64url of
// at least one record, without line breaks, with zero trailing bits.
// Errors start with what (the entry's member) and name the type and the
// record where decoding failed.
func unpackRecords(what, typ string, v jsontext.Value, size int) ([]byte, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("%s: type %q: %w", what, typ, err)
	}
	switch {
	case typ == "":
		return nil, fmt.Errorf(`%s: the type "" is never packed`, what)
	case s == "":
		return nil, fmt.Errorf("%s: type %q: empty packed string", what, typ)
	}
	// The record a character at i belongs to: 6 bits per character.
	record := func(i int) int { return i * 6 / 8 / size }
	// The decoder skips line breaks; the alphabet has none.
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("%s: type %q: record %d: a line break is not base64url", what, typ, record(i))
	}
	raw, err := packedEncoding.DecodeString(s)
	if err != nil {
		var ce base64.CorruptInputError
		if errors.As(err, &ce) {
			if i := int(ce); i > 0 && i < len(s) && s[i] == '=' { // after the record it pads
				return nil, fmt.Errorf("%s: type %q: record %d: = padding is not unpadded base64url", what, typ, record(i-1))
			}
			return nil, fmt.Errorf("%s: type %q: record %d: not unpadded base64url: %w", what, typ, record(int(ce)), err)
		}
		return nil, fmt.Errorf("%s: type %q: %w", what, typ, err)
	}
	if len(raw)%size != 0 {
		return nil, fmt.Errorf("%s: type %q: record %d has %d bytes, not %d", what, typ, len(raw)/size, len(raw)%size, size)
	}
	return raw, nil
}

// hexValue is each byte's value as a lowercase hexadecimal digit, 0xff
// for any other byte.
var hexValue = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 16 {
		t[hexDigits[i]] = byte(i)
	}
	return t
}()

// parseUUID writes the 16 bytes of s to dst (at least 16 long) when s is
// a canonical UUID: 36 characters, hyphens at 8, 13, 18 and 23, lowercase
// hexadecimal digits elsewhere.
func parseUUID(dst []byte, s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	dst = dst[:16]
	bad := hexBytes(dst[0:4], s[0:8]) | hexBytes(dst[4:6], s[9:13]) | hexBytes(dst[6:8], s[14:18]) |
		hexBytes(dst[8:10], s[19:23]) | hexBytes(dst[10:16], s[24:36])
	return bad&0xf0 == 0 // every digit below 16
}

// hexBytes decodes the lowercase hexadecimal s (2×len(dst) digits) into
// dst, returning the values looked up ORed: 0xff somewhere if a byte of s
// is not a digit.
func hexBytes(dst []byte, s string) (bad byte) {
	s = s[:2*len(dst)]
	for k := range dst {
		hi, lo := hexValue[s[2*k]], hexValue[s[2*k+1]]
		bad |= hi | lo
		dst[k] = hi<<4 | lo&0xf
	}
	return bad
}

func appendUUIDText(b []byte, u []byte) []byte {
	for i, c := range u[:16] {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

// appendRecord appends the packed record of a version whose id ends in
// the canonical UUID rest (parseUUID(rest) holds) and whose version key
// is us (Unix microseconds, or noVersionKey).
func appendRecord(b []byte, rest string, us int64) []byte {
	var rec [packedRecord]byte
	putRecord(&rec, rest, us)
	return appendRecords(b, rec[:])
}

// putRecord fills rec for a version whose id ends in rest and whose
// version key is us, and reports whether rest is a canonical UUID.
func putRecord(rec *[packedRecord]byte, rest string, us int64) bool {
	binary.BigEndian.PutUint64(rec[16:], uint64(us))
	return parseUUID(rec[:16], rest)
}

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// appendRecords appends whole records in base64url (TestAppendRecords).
func appendRecords(b []byte, recs []byte) []byte {
	return appendBase64URL(b, recs[:len(recs)/packedRecord*packedRecord])
}

// appendBase64URL appends src in unpadded base64url: what
// packedEncoding.AppendEncode does, without its per-call work, as
// records are encoded one or a few at a time.
func appendBase64URL(b []byte, src []byte) []byte {
	n := (len(src)*8 + 5) / 6
	b = slices.Grow(b, n)
	out := b[len(b) : len(b)+n]
	for len(src) >= 3 && len(out) >= 4 {
		v := uint(src[0])<<16 | uint(src[1])<<8 | uint(src[2])
		out[0], out[1], out[2], out[3] = base64URL[v>>18&63], base64URL[v>>12&63], base64URL[v>>6&63], base64URL[v&63]
		src, out = src[3:], out[4:]
	}
	switch len(src) {
	case 2:
		v := uint(src[0])<<16 | uint(src[1])<<8
		out[0], out[1], out[2] = base64URL[v>>18&63], base64URL[v>>12&63], base64URL[v>>6&63]
	case 1:
		v := uint(src[0]) << 16
		out[0], out[1] = base64URL[v>>18&63], base64URL[v>>12&63]
	}
	return b[:len(b)+n]
}

// decodeGrouped reads a JSON object of STIX types (ascending) whose
// values are a packed string or a list, appending each type's items with
// packed or list; what names the member in errors. Duplicate names are
// rejected by json.Unmarshal; no items at all is an error.
func decodeGrouped[S ~[]T, T any](data []byte, what string, packed, list func(S, string, jsontext.Value) (S, error)) (S, error) {
	var grouped map[string]jsontext.Value
	if err := json.Unmarshal(data, &grouped); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var out S
	for _, typ := range slices.Sorted(mapKeys(grouped)) {
		var err error
		switch v := grouped[typ]; v.Kind() {
		case '"':
			out, err = packed(out, typ, v)
		case '[':
			out, err = list(out, typ, v)
		default:
			err = fmt.Errorf("%s: type %q: %s is neither a packed string nor a list", what, typ, v)
		}
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: empty", what)
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// maxExactMicros bounds the integers written: I-JSON (RFC 7493) numbers
// are exact only within ±2^53.
const maxExactMicros = 1 << 53

func decodeVersion(v jsontext.Value) (string, error) { return decodeTime(v, stix.FormatTimestamp) }

// objKey is one item prepared for the version 2 form.
type objKey struct {
	typ, rest string
	form      uint8 // 0: no version key, 1: micros, 2: str
	micros    int64
	str       string
}

func splitID(id string) (typ, rest string) {
	if i := strings.Index(id, "--"); i > 0 {
		return id[:i], id[i+2:]
	}
	return "", id
}

// versionObjKey is the key of a stored version (modified zero: none).
func versionObjKey(id string, modified time.Time) objKey {
	k := objKey{}
	k.typ, k.rest = splitID(id)
	if !modified.IsZero() {
		k.setTime(modified, "")
	}
	return k
}

// exactMicros returns t in Unix microseconds, and whether that is exact
// and within ±2^53 (so that a JSON integer holds it).
func exactMicros(t time.Time) (int64, bool) {
	us := t.UnixMicro()
	return us, t.Nanosecond()%1000 == 0 && us <= maxExactMicros && us >= -maxExactMicros
}

func (k *objKey) setTime(t time.Time, s string) {
	if us, ok := exactMicros(t); ok {
		k.form, k.micros = 1, us
		return
	}
	if s == "" {
		s = stix.FormatTimestamp(t)
	}
	k.form, k.str = 2, s
}

// itemKeys prepares Items decoded or built by hand: a Version that is a
// STIX timestamp of whole microseconds becomes an integer, any other
// string stays as it is.
func itemKeys(its []Item) []objKey {
	keys := make([]objKey, len(its))
	for i, it := range its {
		k := &keys[i]
		k.typ, k.rest = splitID(it.ID)
		if it.Version == "" {
			continue
		}
		if t, err := stix.ParseTimestamp(it.Version); err == nil {
			k.setTime(t, it.Version)
		} else {
			k.form, k.str = 2, it.Version
		}
	}
	return keys
}

// byType returns the indexes of n keys ordered by type (typ(i)), keeping
// their order within a type: the order the grouped forms write them in.
// A page or a batch holds few types, so this is a bucket per type rather
// than a sort of the (large) keys.
func byType(n int, typ func(i int) string) []int {
	var types []string
	which := make([]int, n)
	for i := range n {
		t := typ(i)
		j := slices.Index(types, t)
		if j < 0 {
			j = len(types)
			types = append(types, t)
		}
		which[i] = j
	}
	rank := make([]int, len(types)) // type index → position in sorted order
	sorted := slices.Clone(types)
	slices.Sort(sorted)
	for j, t := range types {
		rank[j], _ = slices.BinarySearch(sorted, t)
	}
	start := make([]int, len(types)+1) // by rank
	for _, j := range which {
		start[rank[j]+1]++
	}
	for r := range len(types) {
		start[r+1] += start[r]
	}
	order := make([]int, n)
	for i, j := range which {
		order[start[rank[j]]] = i
		start[rank[j]]++
	}
	return order
}

// packable reports whether k can go in a packed record.
func (k *objKey) packable() bool {
	var u [16]byte
	return k.typ != "" && k.form != 2 && parseUUID(u[:], k.rest)
}

// packedMicros is the version key of a packed record.
func (k *objKey) packedMicros() int64 {
	if k.form == 0 {
		return noVersionKey
	}
	return k.micros
}

// appendGrouped writes keys grouped by type, in their order within a
// type: the version 2 form, or with pack (version 4) each type whose keys
// are all packable as one packed string.
func appendGrouped(b []byte, keys []objKey, pack bool) []byte {
	order := byType(len(keys), func(i int) string { return keys[i].typ })
	sorted := make([]objKey, len(keys))
	for n, i := range order {
		sorted[n] = keys[i]
	}
	b = append(b, '{')
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].typ == sorted[start].typ {
			end++
		}
		run := sorted[start:end]
		if start > 0 {
			b = append(b, ',')
		}
		b = appendString(b, run[0].typ)
		b = append(b, ':')
		packed := pack
		for i := 0; packed && i < len(run); i++ {
			packed = run[i].packable()
		}
		if packed {
			b = append(b, '"')
			for i := range run {
				b = appendRecord(b, run[i].rest, run[i].packedMicros())
			}
			b = append(b, '"')
		} else {
			b = appendTypeList(b, run)
		}
		start = end
	}
	return append(b, '}')
}

// appendTypeList writes the keys of one type in the array form: an array
// per object, consecutive versions of one id sharing it.
func appendTypeList(b []byte, keys []objKey) []byte {
	b = append(b, '[')
	for n := range keys {
		k := &keys[n]
		// An object without a version key has an array of its own.
		newID := n == 0 || k.form == 0 || keys[n-1].form == 0 || k.rest != keys[n-1].rest
		if newID {
			if n > 0 {
				b = append(b, "],"...)
			}
			b = append(b, '[')
			b = appendString(b, k.rest)
		}
		switch k.form {
		case 1:
			b = append(b, ',')
			b = strconv.AppendInt(b, k.micros, 10)
		case 2:
			b = append(b, ',')
			b = appendString(b, k.str)
		}
	}
	if len(keys) > 0 {
		b = append(b, ']')
	}
	return append(b, ']')
}
