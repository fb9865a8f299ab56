package match

import (
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
	b []byte
	i int
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
			v := string(s.b[start:s.i])
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
				r2 := rune(-1)
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					save := s.i
					s.i += 2
					var ok2 bool
					if r2, ok2 = s.hex4(); !ok2 {
						return "", s.fail("bad \\u escape")
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
					} else {
						r = utf8.RuneError
						s.i = save
					}
				} else {
					r = utf8.RuneError
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
