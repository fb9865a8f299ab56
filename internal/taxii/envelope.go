package taxii

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/go-json-experiment/json/jsontext"
)

// EnvelopeError is a fault in the structure of a posted envelope
// (malformed or truncated JSON, wrong shape). Objects handed to the
// callback before it stay handed over.
type EnvelopeError struct {
	Offset int64
	Msg    string
	// Shape is true when the body is well-formed JSON but not an
	// envelope (a 422); false for malformed or truncated JSON (a 400).
	Shape bool
}

func (e *EnvelopeError) Error() string { return fmt.Sprintf("envelope byte %d: %s", e.Offset, e.Msg) }

// walkEnvelope streams a TAXII envelope (section 3.7: an object with
// optional more, next and objects members) and calls fn with the index
// and raw JSON of each element of objects, one at a time, so that an
// envelope of any size is never held whole. Other members are read and
// ignored, which also lets a STIX bundle through (it has the same objects
// member). Each element must be a JSON object; its size and content are
// for fn to judge. fn's error ends the walk and is returned as is; structural faults are *EnvelopeError; a body over its
// http.MaxBytesReader limit returns the *http.MaxBytesError.
func walkEnvelope(r io.Reader, fn func(i int, raw []byte) error) error {
	// Duplicate names and invalid UTF-8 inside an object are that
	// object's fault, not the envelope's: let them through here and let
	// the per-object check reject only that object.
	// (The decoder bounds nesting at 10,000; stix.Parse then rejects an
	// object nested deeper than stix.MaxDepth.)
	dec := jsontext.NewDecoder(r, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	fault := func(err error) error {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return mbe
		}
		msg := err.Error()
		if errors.Is(err, io.ErrUnexpectedEOF) {
			msg = "unexpected end of input (truncated body?)"
		}
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			msg = se.Err.Error()
			if errors.Is(se.Err, io.ErrUnexpectedEOF) {
				msg = "unexpected end of input (truncated body?)"
			}
		}
		return &EnvelopeError{Offset: dec.InputOffset(), Msg: msg}
	}
	if k := dec.PeekKind(); k != '{' {
		if k == 0 {
			_, err := dec.ReadToken()
			if err == io.EOF {
				return &EnvelopeError{Offset: 0, Msg: "empty body; expected a TAXII envelope {\"objects\": [...]}"}
			}
			return fault(err)
		}
		off := dec.InputOffset()
		if err := dec.SkipValue(); err != nil {
			return fault(err)
		}
		return &EnvelopeError{Offset: off, Msg: "expected a TAXII envelope {\"objects\": [...]}", Shape: true}
	}
	if _, err := dec.ReadToken(); err != nil {
		return fault(err)
	}
	sawObjects := false
	index := 0
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return fault(err)
		}
		if name.String() != "objects" {
			if err := dec.SkipValue(); err != nil {
				return fault(err)
			}
			continue
		}
		if sawObjects {
			return &EnvelopeError{Offset: dec.InputOffset(), Msg: "the envelope has two objects members", Shape: true}
		}
		sawObjects = true
		if dec.PeekKind() != '[' {
			off := dec.InputOffset()
			if err := dec.SkipValue(); err != nil {
				return fault(err)
			}
			return &EnvelopeError{Offset: off, Msg: "objects must be an array", Shape: true}
		}
		if _, err := dec.ReadToken(); err != nil {
			return fault(err)
		}
		for dec.PeekKind() != ']' {
			off := dec.InputOffset()
			k := dec.PeekKind()
			v, err := dec.ReadValue()
			if err != nil {
				return fault(err)
			}
			if k != '{' {
				return &EnvelopeError{Offset: off, Msg: fmt.Sprintf("objects[%d] is not a JSON object", index), Shape: true}
			}
			if err := fn(index, append([]byte(nil), v...)); err != nil {
				return err
			}
			index++
		}
		if _, err := dec.ReadToken(); err != nil {
			return fault(err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return fault(err)
	}
	// Nothing may follow the envelope.
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			return &EnvelopeError{Offset: dec.InputOffset(), Msg: "data after the envelope"}
		}
		return fault(err)
	}
	return nil
}
