package audit

import (
	"errors"
	"fmt"
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
// Version 2 entries group them by STIX type (the names of a JSON object,
// so in ascending byte order); under each type, a list of the objects in
// the order served, each an array of the rest of the id (the UUID)
// followed by its versions. Consecutive versions of the same id share
// one array. A version is its version key in Unix microseconds (a JSON
// integer), or the STIX timestamp string when the key is not a whole
// number of microseconds or lies outside ±2^53 µs (the exactly
// representable integers); an object without a version key is its id
// alone:
//
//	"objects":{"indicator":[["<uuid>",1772366400000000,1772366400001500]],"ipv4-addr":[["<uuid>"]]}
//
// An id without "--" (or starting with it) is under the type "". This
// form is about 27 % smaller than version 1's, and a served entry names
// every object of a page, so its size is most of what serving costs the
// log. Only the order across types is not kept.
//
// Decoded, both forms give Items in their written order (version 2: by
// type, then as served), each Version a STIX timestamp (or "").
type Items []Item

// UnmarshalJSON reads either form.
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
	// Duplicate names are rejected by json.Unmarshal.
	var grouped map[string][][]jsontext.Value
	if err := json.Unmarshal(data, &grouped); err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	var out []Item
	for _, typ := range slices.Sorted(mapKeys(grouped)) {
		objs := grouped[typ]
		if len(objs) == 0 {
			return fmt.Errorf("objects: type %q names no objects", typ)
		}
		for i, o := range objs {
			if len(o) == 0 {
				return fmt.Errorf("objects: %q object %d: empty (want [id, versions…])", typ, i)
			}
			var rest string
			if o[0].Kind() != '"' {
				return fmt.Errorf("objects: %q object %d: id %s is not a string", typ, i, o[0])
			}
			if err := json.Unmarshal(o[0], &rest); err != nil {
				return fmt.Errorf("objects: %q object %d: %w", typ, i, err)
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
					return fmt.Errorf("objects: %q version %d: %w", id, j, err)
				}
				out = append(out, Item{ID: id, Version: ver})
			}
		}
	}
	if len(out) == 0 {
		return errors.New("objects: empty")
	}
	*its = out
	return nil
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

// appendGrouped writes keys in the version 2 form: grouped by type, in
// their order within a type.
func appendGrouped(b []byte, keys []objKey) []byte {
	order := byType(len(keys), func(i int) string { return keys[i].typ })
	b = append(b, '{')
	for n, i := range order {
		k := &keys[i]
		var prev *objKey
		if n > 0 {
			prev = &keys[order[n-1]]
		}
		newType := prev == nil || k.typ != prev.typ
		// Consecutive versions of one id share its array; an object
		// without a version key has one of its own.
		newID := newType || k.form == 0 || prev.form == 0 || k.rest != prev.rest
		switch {
		case prev == nil:
		case newType:
			b = append(b, "]],"...)
		case newID:
			b = append(b, "],"...)
		}
		if newType {
			b = appendString(b, k.typ)
			b = append(b, ':', '[')
		}
		if newID {
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
		b = append(b, "]]"...)
	}
	return append(b, '}')
}
