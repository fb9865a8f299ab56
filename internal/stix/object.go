package stix

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
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
}

// Version is the object's version key: modified, else created, else the
// zero time (objects without timestamps, such as SCOs, have one version).
func (o *Object) Version() time.Time {
	if !o.Modified.IsZero() {
		return o.Modified
	}
	return o.Created
}

// common is the typed view of the common properties; unknown members are
// ignored here and kept in Raw.
type common struct {
	Type              string   `json:"type"`
	ID                string   `json:"id"`
	SpecVersion       string   `json:"spec_version"`
	Created           string   `json:"created"`
	Modified          string   `json:"modified"`
	Revoked           bool     `json:"revoked"`
	CreatedByRef      string   `json:"created_by_ref"`
	ObjectMarkingRefs []string `json:"object_marking_refs"`
}

// Parse decodes one STIX object from raw JSON. It rejects malformed JSON,
// invalid UTF-8, duplicate member names, nesting deeper than MaxDepth and
// non-object values, and types the common properties. It does not apply
// the spec's per-type rules: call Validate for that.
func Parse(raw []byte) (*Object, error) {
	if len(raw) > MaxObjectSize {
		return nil, &ValidationError{Msg: fmt.Sprintf("object is %d bytes, over the %d byte limit", len(raw), MaxObjectSize)}
	}
	v := jsontext.Value(bytes.Clone(raw))
	if err := v.Compact(); err != nil {
		return nil, &ValidationError{Msg: "malformed JSON: " + jsonErrText(err)}
	}
	if v.Kind() != '{' {
		return nil, &ValidationError{Msg: "not a JSON object"}
	}
	if d := depth(v); d > MaxDepth {
		return nil, &ValidationError{Msg: fmt.Sprintf("JSON nested %d deep, over the limit of %d", d, MaxDepth)}
	}
	var c common
	if err := json.Unmarshal(v, &c); err != nil {
		return nil, &ValidationError{Msg: jsonErrText(err)}
	}
	o := &Object{
		Type:              c.Type,
		ID:                c.ID,
		SpecVersion:       c.SpecVersion,
		Revoked:           c.Revoked,
		CreatedByRef:      c.CreatedByRef,
		ObjectMarkingRefs: c.ObjectMarkingRefs,
		Raw:               v,
	}
	if o.Type == "" {
		return nil, &ValidationError{Path: "type", Msg: "required"}
	}
	if o.ID == "" {
		return nil, &ValidationError{Type: o.Type, Path: "id", Msg: "required"}
	}
	var err error
	if c.Created != "" {
		if o.Created, err = ParseTimestamp(c.Created); err != nil {
			return nil, &ValidationError{ID: o.ID, Path: "created", Msg: err.Error()}
		}
	}
	if c.Modified != "" {
		if o.Modified, err = ParseTimestamp(c.Modified); err != nil {
			return nil, &ValidationError{ID: o.ID, Path: "modified", Msg: err.Error()}
		}
	}
	return o, nil
}

// depth returns the deepest nesting of objects and arrays in a valid JSON
// value, skipping over string contents.
func depth(v []byte) int {
	d, maxd := 0, 0
	inStr := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			d++
			if d > maxd {
				maxd = d
			}
		case '}', ']':
			d--
		}
	}
	return maxd
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
type ValidationError struct {
	Index int    // position in the bundle or stream, -1 when unknown
	ID    string // the object's id when known
	Type  string // the object's type when the id is not known
	Path  string // JSON path of the property, e.g. "external_references[0].source_name"
	Msg   string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Index > 0 || (e.Index == 0 && (e.ID != "" || e.Type != "")) {
		fmt.Fprintf(&b, "objects[%d] ", e.Index)
	}
	switch {
	case e.ID != "":
		fmt.Fprintf(&b, "(%s): ", e.ID)
	case e.Type != "":
		fmt.Fprintf(&b, "(%s): ", e.Type)
	case b.Len() > 0:
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrTimestamp is returned for a timestamp that is not in the STIX form
// YYYY-MM-DDTHH:mm:ss[.s+]Z.
var ErrTimestamp = errors.New("timestamp must be RFC 3339 in UTC with a literal Z, e.g. 2016-05-12T08:17:27.000Z")

// ParseTimestamp parses a STIX 2.1 timestamp (spec 3.2): RFC 3339, UTC,
// uppercase T and Z, any number of fractional second digits.
func ParseTimestamp(s string) (time.Time, error) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[10] != 'T' || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, ErrTimestamp
	}
	for i := 0; i < 19; i++ {
		if i == 4 || i == 7 || i == 10 || i == 13 || i == 16 {
			continue
		}
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, ErrTimestamp
		}
	}
	if len(s) > 20 {
		if s[19] != '.' || len(s) == 21 {
			return time.Time{}, ErrTimestamp
		}
		for i := 20; i < len(s)-1; i++ {
			if s[i] < '0' || s[i] > '9' {
				return time.Time{}, ErrTimestamp
			}
		}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, ErrTimestamp
	}
	return t.UTC(), nil
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
