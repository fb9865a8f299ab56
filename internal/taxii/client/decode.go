package client

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/stix"
)

// ErrTooLarge is returned (wrapped) when a response body is over the
// client's MaxResponseBytes.
var ErrTooLarge = errors.New("response body over the size limit")

// limitReader reads at most limit bytes and fails with ErrTooLarge when
// the body holds more, instead of silently truncating it.
type limitReader struct {
	r     io.Reader
	left  int64 // bytes still allowed
	limit int64
}

func newLimitReader(r io.Reader, limit int64) *limitReader {
	return &limitReader{r: r, left: limit, limit: limit}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// Allowed bytes used up: anything more is an error, EOF is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w (%d bytes)", ErrTooLarge, l.limit)
		}
		return 0, err
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// decodeEnvelope reads an envelope (TAXII 2.1 section 3.7) from r as a
// stream: each object is copied out of the decoder once, so the page is
// held in memory once, not as a body buffer plus objects. Unknown members
// are skipped; more must be a boolean, next a string, objects an array of
// JSON objects (null is read as absent for all three).
func decodeEnvelope(r io.Reader) (*Envelope, error) {
	dec := jsontext.NewDecoder(r)
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if tok.Kind() != '{' {
		return nil, fmt.Errorf("envelope: not a JSON object")
	}
	env := &Envelope{}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, fmt.Errorf("envelope: %w", err)
		}
		switch key := name.String(); key {
		case "more":
			v, err := dec.ReadValue()
			if err != nil {
				return nil, fmt.Errorf("envelope: more: %w", err)
			}
			switch v.Kind() {
			case 't':
				env.More = true
			case 'f', 'n':
			default:
				return nil, fmt.Errorf("envelope: more is %s, want a boolean", kindName(v.Kind()))
			}
		case "next":
			v, err := dec.ReadValue()
			if err != nil {
				return nil, fmt.Errorf("envelope: next: %w", err)
			}
			switch v.Kind() {
			case '"':
				if err := json.Unmarshal(v, &env.Next); err != nil {
					return nil, fmt.Errorf("envelope: next: %w", err)
				}
			case 'n':
			default:
				return nil, fmt.Errorf("envelope: next is %s, want a string", kindName(v.Kind()))
			}
		case "objects":
			if err := readObjects(dec, env); err != nil {
				return nil, err
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, fmt.Errorf("envelope: %s: %w", truncate(key, 40), err)
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	if err := expectEOF(dec); err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return env, nil
}

func readObjects(dec *jsontext.Decoder, env *Envelope) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	default:
		if _, err := dec.ReadValue(); err != nil {
			return fmt.Errorf("envelope: objects: %w", err)
		}
		return fmt.Errorf("envelope: objects is not an array")
	}
	if _, err := dec.ReadToken(); err != nil {
		return fmt.Errorf("envelope: objects: %w", err)
	}
	for i := 0; dec.PeekKind() != ']'; i++ {
		if k := dec.PeekKind(); k != '{' && k != 0 {
			return fmt.Errorf("envelope: objects[%d] is %s, want a JSON object", i, kindName(k))
		}
		v, err := dec.ReadValue()
		if err != nil {
			return fmt.Errorf("envelope: objects[%d]: %w", i, err)
		}
		env.Objects = append(env.Objects, append([]byte(nil), v...))
	}
	_, err := dec.ReadToken()
	return err
}

// expectEOF fails when anything but white space follows the value.
func expectEOF(dec *jsontext.Decoder) error {
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return errors.New("data after the JSON value")
		}
		return err
	}
	return nil
}

// decodeJSON reads one JSON value from r into v.
func decodeJSON(r io.Reader, what string, v any) error {
	if err := json.UnmarshalRead(r, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func kindName(k jsontext.Kind) string {
	switch k {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "not a JSON value"
}

// parseDateAdded parses an X-TAXII-Date-Added-* header. The zero time
// stands for an absent header.
func parseDateAdded(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := stix.ParseTimestamp(v)
	if err != nil {
		// Tolerate other RFC 3339 forms (an offset instead of Z).
		t2, err2 := time.Parse(time.RFC3339Nano, v)
		if err2 != nil {
			return time.Time{}, fmt.Errorf("%s header %q is not a timestamp", name, truncate(v, 60))
		}
		t = t2.UTC()
		if t.Year() < 1 || t.Year() > 9999 {
			return time.Time{}, fmt.Errorf("%s header %q is out of range", name, truncate(v, 60))
		}
	}
	return t, nil
}
