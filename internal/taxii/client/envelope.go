package client

import (
	"errors"
	"fmt"
)

// envelope framing: {"objects":[ … ]}
const (
	envPrefix = `{"objects":[`
	envSuffix = `]}`
	// EnvelopeOverhead is the size of an envelope with no objects.
	EnvelopeOverhead = len(envPrefix) + len(envSuffix)
)

// ErrObjectTooLarge: one object alone makes an envelope over the limit.
var ErrObjectTooLarge = errors.New("object too large for one envelope")

// EnvelopeBuilder packs objects into envelopes (TAXII 2.1 section 3.7)
// whose encoded size never exceeds a byte limit, such as an API root's
// max_content_length. The size is that of the exact bytes Bytes returns,
// which are the bytes posted.
type EnvelopeBuilder struct {
	limit int
	buf   []byte
	n     int
}

// NewEnvelopeBuilder returns a builder for envelopes of at most limit
// bytes. limit must be larger than EnvelopeOverhead.
func NewEnvelopeBuilder(limit int) *EnvelopeBuilder {
	b := &EnvelopeBuilder{limit: limit}
	b.Reset()
	return b
}

// Limit is the byte limit the builder was made with.
func (b *EnvelopeBuilder) Limit() int { return b.limit }

// Size returns the encoded size of the envelope as it stands.
func (b *EnvelopeBuilder) Size() int { return len(b.buf) + len(envSuffix) }

// Len returns the number of objects in the envelope.
func (b *EnvelopeBuilder) Len() int { return b.n }

// SizeWith returns the encoded size the envelope would have with obj
// added.
func (b *EnvelopeBuilder) SizeWith(obj []byte) int {
	s := b.Size() + len(obj)
	if b.n > 0 {
		s++ // the comma
	}
	return s
}

// Add appends obj, which must be one compact or indented JSON object, and
// reports true; or, when obj would take the envelope over the limit,
// leaves the envelope unchanged and reports false, and the caller sends
// the envelope, resets it and adds obj again. When obj does not fit even
// in an empty envelope, Add returns ErrObjectTooLarge.
func (b *EnvelopeBuilder) Add(obj []byte) (bool, error) {
	if EnvelopeOverhead+len(obj) > b.limit {
		return false, fmt.Errorf("%w: %d bytes, envelope limit %d bytes", ErrObjectTooLarge, EnvelopeOverhead+len(obj), b.limit)
	}
	if b.SizeWith(obj) > b.limit {
		return false, nil
	}
	if b.n > 0 {
		b.buf = append(b.buf, ',')
	}
	b.buf = append(b.buf, obj...)
	b.n++
	return true, nil
}

// Bytes returns the finished envelope. The slice is valid until the next
// Add or Reset.
func (b *EnvelopeBuilder) Bytes() []byte {
	out := append(b.buf, envSuffix...)
	return out[:len(out):len(out)]
}

// Reset empties the envelope, keeping its buffer.
func (b *EnvelopeBuilder) Reset() {
	b.buf = append(b.buf[:0], envPrefix...)
	b.n = 0
}
