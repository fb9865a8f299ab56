package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/stix"
)

// Accepted is one object version an accepted entry records as stored.
type Accepted struct {
	ID      string
	Version string // STIX timestamp of the version key; "" for objects without one
	Added   string // its date_added, in FormatTime's form
	SHA256  string // hex SHA-256 of the object's stored bytes (ObjectSHA256)
}

// AcceptedList is the "accepted" member of an accepted entry (schema
// version 3): the versions one store change stored for one source,
// grouped by STIX type like the objects of served entries (Items). Under
// each type, one array per version, in the order stored:
//
//	[uuid, added, sha256]           an object without a version key
//	[uuid, added, sha256, version]  any other
//
// where uuid is the id after "type--", added and version are Unix
// microseconds (JSON integers; the STIX timestamp string instead when not
// a whole number of microseconds within ±2^53), and sha256 is hex:
//
//	"accepted":{"indicator":[["<uuid>",1772366400123456,"2694…d086",1772366400000000]]}
//
// Version 1 and 2 logs record each version as its own object.accepted
// entry instead; this form is about 60 % smaller per version and makes one
// tree leaf of a whole batch.
type AcceptedList []Accepted

// maxAcceptedPerEntry bounds the versions one accepted entry names (an
// entry of about 150 KB); a larger change writes several.
const maxAcceptedPerEntry = 1000

// UnmarshalJSON reads the grouped form.
func (l *AcceptedList) UnmarshalJSON(data []byte) error {
	var grouped map[string][][]jsontext.Value
	if err := json.Unmarshal(data, &grouped); err != nil {
		return fmt.Errorf("accepted: %w", err)
	}
	var out AcceptedList
	for _, typ := range slices.Sorted(mapKeys(grouped)) {
		vs := grouped[typ]
		if len(vs) == 0 {
			return fmt.Errorf("accepted: type %q names no versions", typ)
		}
		for i, v := range vs {
			if len(v) != 3 && len(v) != 4 {
				return fmt.Errorf("accepted: %q version %d: %d members, want [id, added, sha256] or [id, added, sha256, version]", typ, i, len(v))
			}
			var rest, sum string
			if v[0].Kind() != '"' || json.Unmarshal(v[0], &rest) != nil {
				return fmt.Errorf("accepted: %q version %d: id %s is not a string", typ, i, v[0])
			}
			a := Accepted{ID: rest}
			if typ != "" {
				a.ID = typ + "--" + rest
			}
			added, err := decodeTime(v[1], FormatTime)
			if err != nil {
				return fmt.Errorf("accepted: %s added: %w", a.ID, err)
			}
			a.Added = added
			if v[2].Kind() != '"' || json.Unmarshal(v[2], &sum) != nil {
				return fmt.Errorf("accepted: %s: sha256 %s is not a string", a.ID, v[2])
			}
			a.SHA256 = sum
			if len(v) == 4 {
				if a.Version, err = decodeVersion(v[3]); err != nil {
					return fmt.Errorf("accepted: %s version: %w", a.ID, err)
				}
			}
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		return errors.New("accepted: empty")
	}
	*l = out
	return nil
}

// acceptedKey is one Accepted prepared for encoding.
type acceptedKey struct {
	typ, rest string
	added     objKey // form 1 or 2 (micros or the string)
	version   objKey // form 0: none
	sum       [sha256.Size]byte
	sumHex    string // when set, written instead of sum (decoded entries)
}

// keys prepares a decoded or hand-built list for encoding.
func (l AcceptedList) keys() []acceptedKey {
	out := make([]acceptedKey, len(l))
	for i, a := range l {
		k := &out[i]
		k.typ, k.rest = splitID(a.ID)
		k.added = stringTimeKey(a.Added, FormatTime)
		if a.Version != "" {
			k.version = stringTimeKey(a.Version, stix.FormatTimestamp)
		}
		k.sumHex = a.SHA256
	}
	return out
}

// stringTimeKey is the key of time string s: micros when format gives s
// back from them, the string itself otherwise, so that decoding gives s.
func stringTimeKey(s string, format func(time.Time) string) objKey {
	if t, err := stix.ParseTimestamp(s); err == nil {
		if us, ok := exactMicros(t); ok && format(time.UnixMicro(us)) == s {
			return objKey{form: 1, micros: us}
		}
	}
	return objKey{form: 2, str: s}
}

// timeKey is the key of an instant (stored times: date_added, version
// keys); decoding gives format(t).
func timeKey(t time.Time, format func(time.Time) string) objKey {
	if us, ok := exactMicros(t); ok {
		return objKey{form: 1, micros: us}
	}
	return objKey{form: 2, str: format(t)}
}

// decodeTime reads an integer of microseconds (as format writes that
// instant) or a string.
func decodeTime(v jsontext.Value, format func(time.Time) string) (string, error) {
	switch v.Kind() {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", err
		}
		return s, nil
	case '0':
		us, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || us > maxExactMicros || us < -maxExactMicros {
			return "", fmt.Errorf("%s is not an integer number of microseconds within ±2^53", v)
		}
		return format(time.UnixMicro(us)), nil
	}
	return "", fmt.Errorf("%s is not a time (integer microseconds or a string)", v)
}

func appendTimeKey(b []byte, k *objKey) []byte {
	if k.form == 1 {
		return strconv.AppendInt(b, k.micros, 10)
	}
	return appendString(b, k.str)
}

// appendAccepted writes keys in the grouped form: grouped by type, in
// their order within a type.
func appendAccepted(b []byte, keys []acceptedKey) []byte {
	b = append(b, '{')
	prev := ""
	for n, i := range byType(len(keys), func(i int) string { return keys[i].typ }) {
		k := &keys[i]
		switch {
		case n == 0:
		case k.typ != prev:
			b = append(b, "],"...)
		default:
			b = append(b, ',')
		}
		if n == 0 || k.typ != prev {
			b = appendString(b, k.typ)
			b = append(b, ':', '[')
			prev = k.typ
		}
		b = append(b, '[')
		b = appendString(b, k.rest)
		b = append(b, ',')
		b = appendTimeKey(b, &k.added)
		b = append(b, ',')
		if k.sumHex != "" {
			b = appendString(b, k.sumHex)
		} else {
			b = append(b, '"')
			b = hex.AppendEncode(b, k.sum[:])
			b = append(b, '"')
		}
		if k.version.form != 0 {
			b = append(b, ',')
			b = appendTimeKey(b, &k.version)
		}
		b = append(b, ']')
	}
	if len(keys) > 0 {
		b = append(b, ']')
	}
	return append(b, '}')
}

// acceptedEntries encodes the accepted entries of one put directly from
// the keys, at most maxAcceptedPerEntry versions each, in order. The
// bytes are Encode's of the same entry (TestRecordAccepted).
func acceptedEntries(actor, t, collection, source string, keys []acceptedKey) [][]byte {
	var out [][]byte
	for len(keys) > 0 {
		chunk := keys[:min(maxAcceptedPerEntry, len(keys))]
		keys = keys[len(chunk):]
		w := objWriter{b: make([]byte, 0, 200+150*len(chunk))}
		w.b = append(w.b, '{')
		w.key("accepted")
		w.b = appendAccepted(w.b, chunk)
		w.str("actor", actor)
		w.str("collection", collection)
		w.key("kind")
		w.b = appendString(w.b, KindAccepted)
		w.str("source", source)
		w.key("t")
		w.b = appendString(w.b, t)
		w.int("v", SchemaVersion, true)
		out = append(out, append(w.b, '}'))
	}
	return out
}

// AcceptedVersions returns the object versions e records as stored,
// whatever its schema version: the list of an accepted entry, or the one
// version of an object.accepted entry (versions 1 and 2); none for other
// kinds.
func (e *Entry) AcceptedVersions() []Accepted {
	switch e.Kind {
	case KindAccepted:
		return e.Accepted
	case KindObjectAccepted:
		return []Accepted{{ID: e.ID, Version: e.Version, Added: e.Added, SHA256: e.SHA256}}
	}
	return nil
}
