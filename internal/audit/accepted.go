package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
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
// version 3 and later): the versions one store change stored for one
// source, grouped by STIX type like the objects of served entries
// (Items). In version 3, under each type, one array per version, in the
// order stored:
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
// Version 4 writes a type as one string instead (packed) when every
// version of it is packable: a canonical UUID (as for Items), added and
// version key (if any) whole microseconds within ±2^53, and a digest of
// exactly 64 lowercase hexadecimal digits. The string is the unpadded
// base64url of the concatenated 64-byte records, one per version in the
// order stored: the UUID's 16 bytes, added in Unix microseconds
// (big-endian int64), the 32 bytes of the SHA-256, the version key in
// Unix microseconds or math.MinInt64 for none. 64 bytes are not a whole
// number of base64 groups, so the string is encoded and decoded whole
// (n records take ceil(256n/3) characters) and must decode to a whole
// number of records. A record is about 60 % of the array form; other
// types keep the array form, so one entry may mix both:
//
//	"accepted":{"indicator":"a6e4EJ2tQdGAtADAT9QwyAAGS_U1sPJARBNvo1WzZ4oRRq0W9-hknpT7T8If536DEMBg9hyq_4oABkv1Na8V3A","x-partner":[["not-a-uuid",1772366400123461,"4b22…bf8a",1772366400000000]]}
//
// Decoding reads either form under any type whatever the entry's "v";
// only comparing Encode with the bytes checks the form (Encode packs
// exactly the types it can when v >= 4).
//
// Version 1 and 2 logs record each version as its own object.accepted
// entry instead; the version 3 form is about 60 % smaller per version
// and makes one tree leaf of a whole batch.
type AcceptedList []Accepted

// maxAcceptedPerEntry bounds the versions one accepted entry names (an
// entry of about 150 KB); a larger change writes several.
const maxAcceptedPerEntry = 1000

// UnmarshalJSON reads the grouped form, each type's value a list or a
// packed string whatever the entry's "v" (as Items does).
func (l *AcceptedList) UnmarshalJSON(data []byte) error {
	out, err := decodeGrouped(data, "accepted", decodeAcceptedPacked, decodeAcceptedList)
	if err != nil {
		return err
	}
	*l = out
	return nil
}

// decodeAcceptedList appends the versions of one type in the list form
// (an array per version).
func decodeAcceptedList(out AcceptedList, typ string, data jsontext.Value) (AcceptedList, error) {
	var vs [][]jsontext.Value
	if err := json.Unmarshal(data, &vs); err != nil {
		return nil, fmt.Errorf("accepted: type %q: %w", typ, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("accepted: type %q names no versions", typ)
	}
	for i, v := range vs {
		if len(v) != 3 && len(v) != 4 {
			return nil, fmt.Errorf("accepted: %q version %d: %d members, want [id, added, sha256] or [id, added, sha256, version]", typ, i, len(v))
		}
		var rest, sum string
		if v[0].Kind() != '"' || json.Unmarshal(v[0], &rest) != nil {
			return nil, fmt.Errorf("accepted: %q version %d: id %s is not a string", typ, i, v[0])
		}
		a := Accepted{ID: rest}
		if typ != "" {
			a.ID = typ + "--" + rest
		}
		added, err := decodeTime(v[1], FormatTime)
		if err != nil {
			return nil, fmt.Errorf("accepted: %s added: %w", a.ID, err)
		}
		a.Added = added
		if v[2].Kind() != '"' || json.Unmarshal(v[2], &sum) != nil {
			return nil, fmt.Errorf("accepted: %s: sha256 %s is not a string", a.ID, v[2])
		}
		a.SHA256 = sum
		if len(v) == 4 {
			if a.Version, err = decodeVersion(v[3]); err != nil {
				return nil, fmt.Errorf("accepted: %s version: %w", a.ID, err)
			}
		}
		out = append(out, a)
	}
	return out, nil
}

// Packed accepted records (version 4): 16 bytes of UUID, 8 of date_added,
// 32 of SHA-256, 8 of version key. 64 bytes are not a whole number of
// base64 quanta, so a type's records are encoded (and decoded) together.
const acceptedRecord = 64

// decodeAcceptedPacked appends the versions of one type in the packed
// form (a JSON string, version 4).
func decodeAcceptedPacked(out AcceptedList, typ string, v jsontext.Value) (AcceptedList, error) {
	raw, err := unpackRecords("accepted", typ, v, acceptedRecord)
	if err != nil {
		return nil, err
	}
	for r := 0; len(raw) > 0; r++ {
		rec := raw[:acceptedRecord]
		raw = raw[acceptedRecord:]
		added := int64(binary.BigEndian.Uint64(rec[16:24]))
		if added > maxExactMicros || added < -maxExactMicros {
			return nil, fmt.Errorf("accepted: type %q: record %d: added %d µs is outside ±2^53", typ, r, added)
		}
		ver, err := packedVersion(rec[56:64])
		if err != nil {
			return nil, fmt.Errorf("accepted: type %q: record %d: %w", typ, r, err)
		}
		out = append(out, Accepted{ID: packedID(typ, rec[:16]), Version: ver,
			Added: FormatTime(time.UnixMicro(added)), SHA256: hex.EncodeToString(rec[24:56])})
	}
	return out, nil
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

// putAcceptedRecord writes the packed record of k to rec (at least
// acceptedRecord long) and reports whether k is packable: a canonical
// UUID, added and version key (if any) whole microseconds within ±2^53
// (form 1), and a SHA-256 of 64 lowercase hexadecimal digits when given
// as text.
func putAcceptedRecord(rec []byte, k *acceptedKey) bool {
	rec = rec[:acceptedRecord]
	if k.added.form != 1 || k.version.form == 2 || !parseUUID(rec[:16], k.rest) {
		return false
	}
	binary.BigEndian.PutUint64(rec[16:24], uint64(k.added.micros))
	if k.sumHex != "" {
		if len(k.sumHex) != 2*sha256.Size || hexBytes(rec[24:56], k.sumHex)&0xf0 != 0 {
			return false
		}
	} else {
		copy(rec[24:56], k.sum[:])
	}
	us := int64(noVersionKey)
	if k.version.form == 1 {
		us = k.version.micros
	}
	binary.BigEndian.PutUint64(rec[56:], uint64(us))
	return true
}

// acceptedPlan is how appendAccepted writes a list of keys: by type, and
// which types are packed.
type acceptedPlan struct {
	order []int         // indexes of the keys by type, in their order within a type
	runs  []acceptedRun // one per type, in ascending order
	recs  []byte        // the record of keys[order[n]] at n*acceptedRecord, in packed runs
}

type acceptedRun struct {
	start, end int // order[start:end]
	packed     bool
}

// planAccepted groups keys by type and, with pack (version 4), writes
// the records of each type to recs (reused when large enough) as long as
// all its keys are packable.
func planAccepted(keys []acceptedKey, pack bool, recs []byte) acceptedPlan {
	p := acceptedPlan{order: byType(len(keys), func(i int) string { return keys[i].typ })}
	if pack {
		if cap(recs) < acceptedRecord*len(keys) {
			recs = make([]byte, acceptedRecord*len(keys))
		}
		p.recs = recs[:acceptedRecord*len(keys)]
	}
	for start := 0; start < len(p.order); {
		typ := keys[p.order[start]].typ
		end := start + 1
		for end < len(p.order) && keys[p.order[end]].typ == typ {
			end++
		}
		packed := pack && typ != ""
		for n := start; packed && n < end; n++ {
			packed = putAcceptedRecord(p.recs[n*acceptedRecord:], &keys[p.order[n]])
		}
		p.runs = append(p.runs, acceptedRun{start: start, end: end, packed: packed})
		start = end
	}
	return p
}

// size is about the bytes appendTo writes (exact for packed types).
func (p *acceptedPlan) size(keys []acceptedKey) int {
	n := 2
	for _, r := range p.runs {
		n += len(keys[p.order[r.start]].typ) + 4
		if r.packed {
			n += ((r.end-r.start)*acceptedRecord*8 + 5) / 6
		} else {
			n += 150 * (r.end - r.start)
		}
	}
	return n
}

// appendTo writes the keys grouped by type: each packed type as one
// string of its records, any other as a list of one array per version.
func (p *acceptedPlan) appendTo(b []byte, keys []acceptedKey) []byte {
	b = append(b, '{')
	for i, r := range p.runs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, keys[p.order[r.start]].typ)
		b = append(b, ':')
		if r.packed {
			b = append(b, '"')
			b = appendBase64URL(b, p.recs[r.start*acceptedRecord:r.end*acceptedRecord])
			b = append(b, '"')
			continue
		}
		b = append(b, '[')
		for n := r.start; n < r.end; n++ {
			if n > r.start {
				b = append(b, ',')
			}
			b = appendAcceptedArray(b, &keys[p.order[n]])
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendAcceptedArray writes one version in the list form.
func appendAcceptedArray(b []byte, k *acceptedKey) []byte {
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
	return append(b, ']')
}

// appendAccepted writes keys in the grouped form, packing (pack: version
// 4) each type whose keys are all packable.
func appendAccepted(b []byte, keys []acceptedKey, pack bool) []byte {
	p := planAccepted(keys, pack, nil)
	return p.appendTo(b, keys)
}

// acceptedEntries encodes the accepted entries of one put directly from
// the keys, at most maxAcceptedPerEntry versions each, in order. The
// bytes are Encode's of the same entry (TestRecordAccepted). This runs
// for every batch stored: each UUID and digest goes straight into one
// records buffer, reused across entries, and each entry's bytes are one
// allocation of about the right size.
func acceptedEntries(actor, t, collection, source string, keys []acceptedKey) [][]byte {
	var (
		out  [][]byte
		recs []byte
	)
	for len(keys) > 0 {
		chunk := keys[:min(maxAcceptedPerEntry, len(keys))]
		keys = keys[len(chunk):]
		p := planAccepted(chunk, SchemaVersion >= 4, recs)
		recs = p.recs
		w := objWriter{b: make([]byte, 0, 128+len(actor)+len(t)+len(collection)+len(source)+p.size(chunk))}
		w.b = append(w.b, '{')
		w.key("accepted")
		w.b = p.appendTo(w.b, chunk)
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
