package match

import (
	"bytes"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// scanIndicator reads the top-level members the index needs from the
// JSON of one object (RFC 8259), skipping the rest without decoding it.
// It is the index's hot path at start-up, several times faster than
// decoding into a struct. It rejects malformed JSON, a wanted member of
// the wrong JSON type, and nesting deeper than maxJSONDepth; it does not
// check for duplicate names (the last one wins) or valid UTF-8 (the store
// has validated the object; the pattern parser rejects invalid UTF-8).
func scanIndicator(raw []byte, ind *indicatorJSON) error {
	s := jscan{b: raw}
	s.ws()
	if !s.eat('{') {
		return s.fail("want an object")
	}
	s.ws()
	if s.eat('}') {
		return s.end()
	}
	for {
		s.ws()
		key, err := s.key()
		if err != nil {
			return err
		}
		s.ws()
		if !s.eat(':') {
			return s.fail("want ':'")
		}
		s.ws()
		var dst *string
		switch string(key) {
		case "type":
			dst = &ind.Type
		case "id":
			dst = &ind.ID
		case "pattern":
			dst = &ind.Pattern
		case "pattern_type":
			dst = &ind.PatternType
		case "valid_from":
			dst = &ind.ValidFrom
		case "valid_until":
			dst = &ind.ValidUntil
		case "revoked":
			switch {
			case s.lit("true"):
				ind.Revoked = true
			case s.lit("false"):
				ind.Revoked = false
			case s.lit("null"):
			default:
				return s.fail("revoked must be a boolean")
			}
		default:
			if err := s.skip(0); err != nil {
				return err
			}
		}
		if dst != nil {
			if s.lit("null") {
				*dst = ""
			} else if *dst, err = s.str(); err != nil {
				return fmt.Errorf("%s: %w", string(key), err)
			}
		}
		s.ws()
		if s.eat('}') {
			return s.end()
		}
		if !s.eat(',') {
			return s.fail("want ',' or '}'")
		}
	}
}

const maxJSONDepth = 64

type jscan struct {
	b      []byte
	i      int
	intern map[string]string // decodeObject: member names and short strings seen before
	// src, when not empty, is b as a string: strings without escapes
	// are slices of it instead of copies (decodeObject: one copy per
	// object instead of one per string).
	src string
}

func (s *jscan) fail(msg string) error {
	return fmt.Errorf("malformed JSON at byte %d: %s", s.i, msg)
}

func (s *jscan) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.fail("data after the object")
	}
	return nil
}

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *jscan) eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *jscan) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// key reads a member name; without escapes it is a view of the input.
func (s *jscan) key() ([]byte, error) {
	if !s.eat('"') {
		return nil, s.fail("want a string")
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start : s.i-1], nil
		case c == '\\':
			v, err := s.strEscaped(start)
			return []byte(v), err
		case c < 0x20:
			return nil, s.fail("control character in a string")
		}
		s.i++
	}
	return nil, s.fail("unterminated string")
}

// str reads a string and returns it decoded.
func (s *jscan) str() (string, error) {
	if !s.eat('"') {
		return "", s.fail("want a string")
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			var v string
			if len(s.src) == len(s.b) {
				v = s.src[start:s.i]
			} else {
				v = string(s.b[start:s.i])
			}
			s.i++
			return v, nil
		case c == '\\':
			return s.strEscaped(start)
		case c < 0x20:
			return "", s.fail("control character in a string")
		}
		s.i++
	}
	return "", s.fail("unterminated string")
}

func (s *jscan) strEscaped(start int) (string, error) {
	out := append([]byte(nil), s.b[start:s.i]...)
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return string(out), nil
		case c < 0x20:
			return "", s.fail("control character in a string")
		case c != '\\':
			out = append(out, c)
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := s.hex4()
			if !ok {
				return "", s.fail("bad \\u escape")
			}
			if utf16.IsSurrogate(r) {
				// only a high surrogate followed by a low one
				if s.i+1 >= len(s.b) || s.b[s.i] != '\\' || s.b[s.i+1] != 'u' {
					return "", s.fail("unpaired surrogate escape")
				}
				s.i += 2
				r2, ok := s.hex4()
				if !ok {
					return "", s.fail("bad \\u escape")
				}
				if r = utf16.DecodeRune(r, r2); r == utf8.RuneError {
					return "", s.fail("unpaired surrogate escape")
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", s.fail("bad escape")
		}
	}
	return "", s.fail("unterminated string")
}

func (s *jscan) hex4() (rune, bool) {
	if len(s.b)-s.i < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(s.b[s.i:s.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	s.i += 4
	return rune(v), true
}

// skip passes over one value of any kind.
func (s *jscan) skip(depth int) error {
	if depth > maxJSONDepth {
		return s.fail("nested too deeply")
	}
	if s.i >= len(s.b) {
		return s.fail("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.skipStr()
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		s.i++
		s.ws()
		if s.eat(closer) {
			return nil
		}
		for {
			s.ws()
			if c == '{' {
				if err := s.skipStr(); err != nil {
					return err
				}
				s.ws()
				if !s.eat(':') {
					return s.fail("want ':'")
				}
				s.ws()
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			s.ws()
			if s.eat(closer) {
				return nil
			}
			if !s.eat(',') {
				return s.fail("want ',' or a closing bracket")
			}
		}
	case s.lit("true"), s.lit("false"), s.lit("null"):
		return nil
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	}
	return s.fail("want a value")
}

func (s *jscan) skipStr() error {
	if !s.eat('"') {
		return s.fail("want a string")
	}
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return s.fail("unterminated string")
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				s.i += 2
				if _, ok := s.hex4(); !ok {
					return s.fail("bad \\u escape")
				}
			default:
				return s.fail("bad escape")
			}
			continue
		case c < 0x20:
			return s.fail("control character in a string")
		}
		s.i++
	}
	return s.fail("unterminated string")
}

// skipNumber passes over a number of the JSON grammar.
func (s *jscan) skipNumber() error {
	s.eat('-')
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.eat('0') {
		// no more integer digits after a leading zero
	} else if digits() == 0 {
		return s.fail("bad number")
	}
	if s.eat('.') && digits() == 0 {
		return s.fail("bad number")
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if !s.eat('+') {
			s.eat('-')
		}
		if digits() == 0 {
			return s.fail("bad number")
		}
	}
	return nil
}

// maxIntern bounds the strings one decoder interns.
const maxIntern = 4096

// shortStr reads a member name; names of up to 24 bytes without escapes
// are interned, so that objects of a bundle share them instead of
// allocating each.
func (s *jscan) shortStr() (string, error) {
	if s.intern == nil || s.i >= len(s.b) || s.b[s.i] != '"' {
		return s.str()
	}
	end := s.i + 1
	for end < len(s.b) && end-s.i <= 25 {
		c := s.b[end]
		if c == '"' {
			if v, ok := s.intern[string(s.b[s.i+1:end])]; ok {
				s.i = end + 1
				return v, nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			return s.str()
		}
		end++
	}
	v, err := s.str()
	if err == nil && len(v) <= 24 && len(s.intern) < maxIntern {
		s.intern[v] = v
	}
	return v, err
}

// splitBundle reads a bundle's top level and returns its type and the
// JSON text of each element of its objects list, without decoding them.
func splitBundle(raw []byte) (typ string, objects [][]byte, err error) {
	s := jscan{b: raw}
	s.ws()
	if !s.eat('{') {
		return "", nil, s.fail("want an object")
	}
	s.ws()
	if s.eat('}') {
		return "", nil, s.end()
	}
	for {
		s.ws()
		key, err := s.key()
		if err != nil {
			return "", nil, err
		}
		s.ws()
		if !s.eat(':') {
			return "", nil, s.fail("want ':'")
		}
		s.ws()
		switch string(key) {
		case "type":
			if typ, err = s.str(); err != nil {
				return "", nil, fmt.Errorf("type: %w", err)
			}
		case "objects":
			if !s.eat('[') {
				return "", nil, s.fail("objects must be a list")
			}
			objects = objects[:0]
			s.ws()
			if !s.eat(']') {
				for {
					s.ws()
					start := s.i
					if err := s.skip(1); err != nil {
						return "", nil, err
					}
					objects = append(objects, raw[start:s.i])
					s.ws()
					if s.eat(']') {
						break
					}
					if !s.eat(',') {
						return "", nil, s.fail("want ',' or ']'")
					}
				}
			}
		default:
			if err := s.skip(0); err != nil {
				return "", nil, err
			}
		}
		s.ws()
		if s.eat('}') {
			return typ, objects, s.end()
		}
		if !s.eat(',') {
			return "", nil, s.fail("want ',' or '}'")
		}
	}
}

// decodeObject decodes one JSON object into the form the pattern
// evaluator reads: map[string]any with string, float64, bool, nil, []any
// and map[string]any values. Duplicate member names are rejected.
func decodeObject(b []byte, intern map[string]string) (map[string]any, error) {
	s := jscan{b: b, intern: intern, src: string(b)}
	s.ws()
	if s.i >= len(b) || b[s.i] != '{' {
		return nil, s.fail("want an object")
	}
	v, err := s.value(0)
	if err != nil {
		return nil, err
	}
	if err := s.end(); err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func (s *jscan) value(depth int) (any, error) {
	if depth > maxJSONDepth {
		return nil, s.fail("nested too deeply")
	}
	if s.i >= len(s.b) {
		return nil, s.fail("want a value")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		return s.str()
	case c == '{':
		s.i++
		m := make(map[string]any, 8)
		s.ws()
		if s.eat('}') {
			return m, nil
		}
		for {
			s.ws()
			k, err := s.shortStr()
			if err != nil {
				return nil, err
			}
			s.ws()
			if !s.eat(':') {
				return nil, s.fail("want ':'")
			}
			s.ws()
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			n := len(m)
			if m[k] = v; len(m) == n {
				return nil, s.fail(fmt.Sprintf("duplicate member %q", k))
			}
			s.ws()
			if s.eat('}') {
				return m, nil
			}
			if !s.eat(',') {
				return nil, s.fail("want ',' or '}'")
			}
		}
	case c == '[':
		s.i++
		l := make([]any, 0, 4)
		s.ws()
		if s.eat(']') {
			return l, nil
		}
		for {
			s.ws()
			v, err := s.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			s.ws()
			if s.eat(']') {
				return l, nil
			}
			if !s.eat(',') {
				return nil, s.fail("want ',' or ']'")
			}
		}
	case s.lit("true"):
		return true, nil
	case s.lit("false"):
		return false, nil
	case s.lit("null"):
		return nil, nil
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		if err := s.skipNumber(); err != nil {
			return nil, err
		}
		f, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
		if err != nil {
			return nil, s.fail("number out of range")
		}
		return f, nil
	}
	return nil, s.fail("want a value")
}

// odFields are the properties of a STIX 2.1 observed-data object the
// evaluator needs.
type odFields struct {
	id, first, last string
	number          float64
	hasNumber       bool
	refs            []string
}

// fastObservedData reads a STIX 2.1 observed-data object's id,
// first_observed, last_observed, number_observed and object_refs without
// decoding the rest into maps. ok is false, and the caller must decode b
// with decodeObject and pattern.NewObservation, for anything else: another
// type, the STIX 2.0 "objects" form, a property of an unexpected JSON
// type, a missing timestamp, a duplicate member, malformed JSON. So every
// object it accepts decodes to the same Observation either way, and every
// error comes from the general path.
func fastObservedData(b []byte) (f odFields, ok bool) {
	s := jscan{b: b}
	s.ws()
	if !s.eat('{') {
		return f, false
	}
	var seen [16][]byte
	nseen := 0
	var typ, hasFirst, hasLast bool
	s.ws()
	if s.eat('}') {
		return f, false
	}
	for {
		s.ws()
		k, err := s.key()
		if err != nil {
			return f, false
		}
		for _, x := range seen[:nseen] {
			if string(x) == string(k) {
				return f, false
			}
		}
		if nseen == len(seen) {
			return f, false
		}
		seen[nseen] = k
		nseen++
		s.ws()
		if !s.eat(':') {
			return f, false
		}
		s.ws()
		if s.i >= len(s.b) {
			return f, false
		}
		c := s.b[s.i]
		switch string(k) {
		case "type":
			if c != '"' {
				return f, false
			}
			v, err := s.str()
			if err != nil || v != "observed-data" {
				return f, false
			}
			typ = true
		case "id", "first_observed", "last_observed":
			if c != '"' {
				return f, false
			}
			v, err := s.str()
			if err != nil {
				return f, false
			}
			switch string(k) {
			case "id":
				f.id = v
			case "first_observed":
				f.first, hasFirst = v, true
			default:
				f.last, hasLast = v, true
			}
		case "number_observed":
			if c != '-' && (c < '0' || c > '9') {
				return f, false
			}
			start := s.i
			if s.skipNumber() != nil {
				return f, false
			}
			n, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
			if err != nil {
				return f, false
			}
			f.number, f.hasNumber = n, true
		case "object_refs":
			if !s.eat('[') {
				return f, false
			}
			f.refs = make([]string, 0, 4)
			s.ws()
			if !s.eat(']') {
				for {
					s.ws()
					if s.i >= len(s.b) || s.b[s.i] != '"' {
						return f, false
					}
					v, err := s.str()
					if err != nil {
						return f, false
					}
					f.refs = append(f.refs, v)
					s.ws()
					if s.eat(']') {
						break
					}
					if !s.eat(',') {
						return f, false
					}
				}
			}
		case "objects":
			return f, false // STIX 2.0
		default:
			// Strings without escapes are passed over; anything else is
			// decoded as decodeObject would, so that it fails alike
			// (duplicate members, unpaired surrogates, huge numbers).
			start := s.i
			if c == '"' && s.skipStr() == nil && bytes.IndexByte(s.b[start:s.i], '\\') < 0 {
				break
			}
			s.i = start
			if _, err := s.value(1); err != nil {
				return f, false
			}
		}
		s.ws()
		if s.eat('}') {
			break
		}
		if !s.eat(',') {
			return f, false
		}
	}
	if s.end() != nil || !typ || !hasFirst || !hasLast || f.refs == nil {
		return f, false
	}
	return f, true
}
