package stix

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxObjectSize is the default limit on one object's encoded size.
const MaxObjectSize = 10 << 20

// MaxDepth is the deepest JSON nesting accepted inside one object.
// Real STIX objects rarely pass 10; the limit keeps hostile input from
// costing stack and time.
const MaxDepth = 64

// Object is one version of a STIX object.
type Object struct {
	Type              string
	ID                string
	SpecVersion       string
	Created           time.Time // zero when absent (SCOs)
	Modified          time.Time // zero when absent (SCOs)
	Revoked           bool
	CreatedByRef      string
	ObjectMarkingRefs []string

	// Raw is the object's JSON as received, compacted. It is the
	// authoritative content: everything not typed above lives only here.
	Raw []byte

	// facts caches the facts blob of Raw computed ahead of store.Put
	// (PrepareFacts, FactsBlob in facts.go).
	facts factsCache
}

// Version is the object's version key: modified, else created, else the
// zero time (objects without timestamps, such as SCOs, have one version).
func (o *Object) Version() time.Time {
	if !o.Modified.IsZero() {
		return o.Modified
	}
	return o.Created
}

// Parse decodes one STIX object from raw JSON. It rejects malformed JSON,
// invalid UTF-8 (including unpaired surrogate escapes), duplicate member
// names, nesting deeper than MaxDepth and non-object values, and types the
// common properties. Raw of the result is a compacted copy of raw. Parse
// does not apply the spec's per-type rules: call Validate for that, which
// then uses the JSON tree Parse decoded instead of decoding Raw again
// (handoff.go).
func Parse(raw []byte) (*Object, error) {
	if len(raw) > MaxObjectSize {
		return nil, parseError("", "", "", fmt.Sprintf("object is %d bytes, over the %d byte limit", len(raw), MaxObjectSize))
	}
	if !utf8.Valid(raw) {
		return nil, parseError("", "", "", "malformed JSON: invalid UTF-8")
	}
	// The tree borrows from own, which becomes Raw (or what Raw is
	// compacted from), so that Validate can use it (handoff.go).
	own := bytes.Clone(raw)
	t := treePool.Get().(*tree)
	t.strict = true
	root, err := t.parse(own)
	t.strict = false
	if err != nil {
		t.release()
		return nil, parseError("", "", "", "malformed JSON: "+err.Error())
	}
	o, err := t.commonProps(root)
	if err != nil {
		t.release()
		return nil, err
	}
	if t.spaced {
		o.Raw = compact(own)
	} else {
		o.Raw = own
	}
	if !leaveParsed(o, t, root) {
		t.release()
	}
	return o, nil
}

// commonProps types the common properties of the object at root.
func (t *tree) commonProps(root int32) (*Object, error) {
	if t.nodes[root].kind != jObj {
		return nil, parseError("", "", "", "not a JSON object")
	}
	o := &Object{}
	// str reads a string property. The tree's strings borrow the input:
	// what the Object keeps is copied.
	str := func(key string) (string, error) {
		v := t.get(root, key)
		if v < 0 || t.nodes[v].kind == jNull {
			return "", nil
		}
		if t.nodes[v].kind != jStr {
			return "", parseError(o.ID, o.Type, key, "must be a string, not "+t.nodes[v].kind.String())
		}
		return t.nodes[v].str, nil
	}
	var created, modified string
	var err error
	if o.Type, err = str("type"); err != nil {
		return nil, err
	}
	if spec, ok := specs[o.Type]; ok {
		o.Type = spec.name // the spec's own string: no copy per object
	} else {
		o.Type = strings.Clone(o.Type)
	}
	if o.ID, err = str("id"); err != nil {
		return nil, err
	}
	o.ID = strings.Clone(o.ID)
	if o.SpecVersion, err = str("spec_version"); err != nil {
		return nil, err
	}
	if o.SpecVersion == "2.1" {
		o.SpecVersion = "2.1"
	} else {
		o.SpecVersion = strings.Clone(o.SpecVersion)
	}
	if o.CreatedByRef, err = str("created_by_ref"); err != nil {
		return nil, err
	}
	o.CreatedByRef = strings.Clone(o.CreatedByRef)
	if created, err = str("created"); err != nil {
		return nil, err
	}
	if modified, err = str("modified"); err != nil {
		return nil, err
	}
	if o.Type == "" {
		return nil, parseError("", "", "type", "required")
	}
	if o.ID == "" {
		return nil, parseError("", o.Type, "id", "required")
	}
	if v := t.get(root, "revoked"); v >= 0 && t.nodes[v].kind != jNull {
		if t.nodes[v].kind != jBool {
			return nil, parseError(o.ID, "", "revoked", "must be a boolean, not "+t.nodes[v].kind.String())
		}
		o.Revoked = t.nodes[v].b
	}
	if v := t.get(root, "object_marking_refs"); v >= 0 && t.nodes[v].kind != jNull {
		if t.nodes[v].kind != jArr {
			return nil, parseError(o.ID, "", "object_marking_refs", "must be a list, not "+t.nodes[v].kind.String())
		}
		ms := t.members(v)
		if len(ms) > 0 {
			o.ObjectMarkingRefs = make([]string, 0, len(ms))
		}
		for i, m := range ms {
			s, ok := t.str(m.node)
			if !ok {
				return nil, parseError(o.ID, "", fmt.Sprintf("object_marking_refs[%d]", i), "must be a string")
			}
			o.ObjectMarkingRefs = append(o.ObjectMarkingRefs, strings.Clone(s))
		}
	}
	if created != "" {
		if o.Created, err = ParseTimestamp(created); err != nil {
			return nil, parseError(o.ID, "", "created", err.Error())
		}
	}
	if modified != "" {
		if o.Modified, err = ParseTimestamp(modified); err != nil {
			return nil, parseError(o.ID, "", "modified", err.Error())
		}
	}
	return o, nil
}

// compact returns a copy of the valid JSON text src without whitespace
// outside strings.
func compact(src []byte) []byte {
	out := make([]byte, 0, len(src))
	inStr := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inStr {
			out = append(out, c)
			switch c {
			case '\\':
				i++
				out = append(out, src[i])
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inStr = true
		}
		out = append(out, c)
	}
	return out
}

// jsonErrText shortens the JSON library's errors to what a user needs:
// what was wrong and where.
func jsonErrText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "jsontext: ")
	s = strings.TrimPrefix(s, "json: ")
	return s
}

// ValidationError says which object and which property broke which rule.
// Errors made by this package have Index -1; a caller that knows the
// object's position in a bundle or stream sets Index (0-based) before
// passing the error on.
type ValidationError struct {
	Index int    // position in the bundle or stream, -1 when unknown
	ID    string // the object's id when known
	Type  string // the object's type when the id is not known
	Path  string // JSON path of the property, e.g. "external_references[0].source_name"
	Msg   string
}

// Error formats the error as
//
//	objects[3] (indicator--…): valid_from: required
//
// leaving out the position when Index is negative, the object when
// neither ID nor Type is known, and the path when it is empty.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Index >= 0 {
		b.WriteString("objects[")
		b.WriteString(strconv.Itoa(e.Index))
		b.WriteByte(']')
	}
	who := e.ID
	if who == "" {
		who = e.Type
	}
	if who != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString("(" + who + ")")
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// parseError builds a ValidationError of Parse, with the position unknown.
func parseError(id, typ, path, msg string) *ValidationError {
	return &ValidationError{Index: -1, ID: id, Type: typ, Path: path, Msg: msg}
}

// ErrTimestamp is returned for a timestamp that is not in the STIX form
// YYYY-MM-DDTHH:mm:ss[.s+]Z.
var ErrTimestamp = errors.New("timestamp must be RFC 3339 in UTC with a literal Z, e.g. 2016-05-12T08:17:27.000Z")

// ParseTimestamp parses a STIX 2.1 timestamp (spec 2.14): RFC 3339 in
// UTC, uppercase T and Z, any number of fractional second digits (those
// past nanoseconds are dropped). Fields must be in range for the calendar
// (no February 30th, no leap second 60).
func ParseTimestamp(s string) (time.Time, error) {
	n := len(s)
	if n < 20 || s[n-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, ErrTimestamp
	}
	y1, ok1 := digits2(s, 0)
	y2, ok2 := digits2(s, 2)
	month, ok3 := digits2(s, 5)
	day, ok4 := digits2(s, 8)
	hour, ok5 := digits2(s, 11)
	minute, ok6 := digits2(s, 14)
	sec, ok7 := digits2(s, 17)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return time.Time{}, ErrTimestamp
	}
	nsec := 0
	if n > 20 {
		if s[19] != '.' || n == 21 {
			return time.Time{}, ErrTimestamp
		}
		digits := 0
		for j := 20; j < n-1; j++ {
			c := s[j] - '0'
			if c > 9 {
				return time.Time{}, ErrTimestamp
			}
			if digits < 9 { // digits past nanoseconds are dropped
				nsec = nsec*10 + int(c)
				digits++
			}
		}
		nsec *= pow10[9-digits]
	}
	year := y1*100 + y2
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, ErrTimestamp
	}
	// time.Unix(…).UTC() is the same Time as time.Date(…, time.UTC)
	// for a date already checked, and cheaper.
	secs := daysSinceEpoch(year, month, day)*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(secs, int64(nsec)).UTC(), nil
}

var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// daysSinceEpoch is the number of days from 1970-01-01 to the given date
// of the proleptic Gregorian calendar (year 0 to 9999): the usual count
// in 400-year eras of 146097 days, with years starting in March so that
// the leap day comes last.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := (year+400)/400 - 1              // floor(year/400) for year >= -400
	yoe := year - era*400                  // [0, 399]
	mp := (month + 9) % 12                 // March = 0
	doy := (153*mp+2)/5 + day - 1          // [0, 365]
	doe := yoe*365 + yoe/4 - yoe/100 + doy // [0, 146096]
	return int64(era)*146097 + int64(doe) - 719468
}

// digits2 is the value of the two decimal digits at s[i:i+2].
func digits2(s string, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// FormatTimestamp writes t in STIX form with at least millisecond
// precision and as many more digits as t carries (up to nanoseconds), so
// that a parsed timestamp formats back to an equal instant.
func FormatTimestamp(t time.Time) string {
	t = t.UTC()
	ns := t.Nanosecond()
	switch {
	case ns%1e6 == 0:
		return t.Format("2006-01-02T15:04:05.000Z")
	case ns%1e3 == 0:
		return t.Format("2006-01-02T15:04:05.000000Z")
	default:
		return t.Format("2006-01-02T15:04:05.000000000Z")
	}
}
