package stix

import (
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// Item is one object read from a stream, not yet parsed or validated.
type Item struct {
	Index  int    // 0-based position among the objects of the stream
	Offset int64  // byte offset of the object's first byte in the stream
	Raw    []byte // the object's JSON, owned by the caller
}

// StreamError is a fault in the stream itself (malformed JSON, a truncated
// file, an object over the size limit, a bundle of the wrong shape). It
// ends the stream: objects read before it stay valid.
type StreamError struct {
	Offset int64
	Msg    string
}

func (e *StreamError) Error() string { return fmt.Sprintf("byte %d: %s", e.Offset, e.Msg) }

// Reader reads STIX objects one at a time from a stream holding any mix
// of: STIX bundles, JSON arrays of objects, and bare objects (one after
// another, as in JSON lines). Only one object is held in memory at a time,
// so bundles of any size can be read.
type Reader struct {
	src   *countingReader
	dec   *jsontext.Decoder
	limit int64
	index int
	state int // 0 top level, 1 inside a bundle's objects array, 2 inside a top-level array
	// bundle members seen so far, checked when the bundle closes
	bundleType, bundleID string
	bundleStart          int64
	sawObjects           bool
	objStart             int64 // offset of the object being read, for size errors
	err                  error
}

// NewReader reads from r with the default per-object size limit.
func NewReader(r io.Reader) *Reader {
	c := &countingReader{r: r}
	rd := &Reader{src: c, limit: MaxObjectSize}
	rd.dec = jsontext.NewDecoder(c)
	return rd
}

// SetLimit changes the per-object size limit in bytes.
func (r *Reader) SetLimit(n int64) { r.limit = n }

// Next returns the next object. At the end of the stream it returns
// io.EOF; on a fault in the stream it returns a *StreamError, after which
// every call returns the same error.
func (r *Reader) Next() (Item, error) {
	if r.err != nil {
		return Item{}, r.err
	}
	it, err := r.next()
	if err != nil {
		if err != io.EOF {
			var se *StreamError
			if !errors.As(err, &se) {
				off := r.dec.InputOffset()
				var syn *jsontext.SyntacticError
				switch {
				case errors.Is(err, errTooLarge):
					off = r.objStart
				case errors.As(err, &syn):
					off = syn.ByteOffset
				}
				err = &StreamError{Offset: off, Msg: r.describe(err)}
			}
		}
		r.err = err
	}
	return it, err
}

func (r *Reader) describe(err error) string {
	if errors.Is(err, errTooLarge) {
		return fmt.Sprintf("object %d is over the %d byte limit", r.index, r.limit)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of input (truncated file?)"
	}
	return jsonErrText(err)
}

func (r *Reader) next() (Item, error) {
	for {
		switch r.state {
		case 0:
			switch r.dec.PeekKind() {
			case 0:
				_, err := r.dec.ReadToken()
				return Item{}, err // io.EOF at a clean end
			case '[':
				if _, err := r.dec.ReadToken(); err != nil {
					return Item{}, err
				}
				r.state = 2
			case '{':
				it, isBundle, err := r.topObject()
				if err != nil || !isBundle {
					return it, err
				}
			default:
				off := r.nextOffset()
				if _, err := r.dec.ReadValue(); err != nil {
					return Item{}, err
				}
				return Item{}, &StreamError{Offset: off, Msg: "expected a STIX object, bundle or array of objects"}
			}
		case 1, 2:
			if r.dec.PeekKind() == ']' {
				if _, err := r.dec.ReadToken(); err != nil {
					return Item{}, err
				}
				if r.state == 1 {
					r.state = 0
					if err := r.finishBundle(); err != nil {
						return Item{}, err
					}
					continue
				}
				r.state = 0
				continue
			}
			return r.element()
		}
	}
}

// element reads one array element that must be an object.
func (r *Reader) element() (Item, error) {
	k := r.dec.PeekKind()
	off := r.nextOffset()
	if k != '{' && k != 0 {
		if _, err := r.dec.ReadValue(); err != nil {
			return Item{}, err
		}
		return Item{}, &StreamError{Offset: off, Msg: fmt.Sprintf("objects[%d] is not a JSON object", r.index)}
	}
	r.objStart = off
	r.src.mark(r.limit)
	v, err := r.dec.ReadValue()
	r.src.unmark()
	if err != nil {
		return Item{}, err
	}
	if int64(len(v)) > r.limit {
		return Item{}, &StreamError{Offset: off, Msg: fmt.Sprintf("object %d is %d bytes, over the %d byte limit", r.index, len(v), r.limit)}
	}
	it := Item{Index: r.index, Offset: off, Raw: append([]byte(nil), v...)}
	r.index++
	return it, nil
}

// nextOffset returns the offset of the first byte of the value that
// PeekKind has just looked at: InputOffset points just past the previous
// token, before any whitespace and separator.
func (r *Reader) nextOffset() int64 {
	off := r.dec.InputOffset()
	for _, c := range r.dec.UnreadBuffer() {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != ':' {
			break
		}
		off++
	}
	return off
}

// topObject reads a top-level JSON object. A bundle is opened for
// streaming (isBundle true, and its objects come from later calls); any
// other object is returned whole as an item.
func (r *Reader) topObject() (it Item, isBundle bool, err error) {
	if _, err := r.dec.ReadToken(); err != nil { // '{'
		return Item{}, false, err
	}
	start := r.dec.InputOffset() - 1
	r.objStart = start
	r.src.mark(r.limit)
	defer r.src.unmark()
	// Rebuild the object member by member so that a bundle's "objects"
	// array can be streamed instead of read whole.
	buf := []byte{'{'}
	var typ, id string
	objectsNotArray := false
	for r.dec.PeekKind() != '}' {
		name, err := r.dec.ReadToken()
		if err != nil {
			return Item{}, false, err
		}
		key := name.String()
		if key == "objects" && r.dec.PeekKind() == '[' {
			if typ != "" && typ != "bundle" {
				return Item{}, false, &StreamError{Offset: start, Msg: fmt.Sprintf("a %q object cannot hold an objects array", typ)}
			}
			if _, err := r.dec.ReadToken(); err != nil {
				return Item{}, false, err
			}
			r.state, r.bundleType, r.bundleID, r.bundleStart, r.sawObjects = 1, typ, id, start, true
			r.src.unmark()
			return Item{}, true, nil
		}
		val, err := r.dec.ReadValue()
		if err != nil {
			return Item{}, false, err
		}
		switch key {
		case "type":
			typ = stringValue(val)
		case "id":
			id = stringValue(val)
		case "objects":
			objectsNotArray = true
		}
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		nb, _ := jsontext.AppendQuote(nil, key)
		buf = append(buf, nb...)
		buf = append(buf, ':')
		buf = append(buf, val...)
		if int64(len(buf)) > r.limit {
			return Item{}, false, errTooLarge
		}
	}
	if _, err := r.dec.ReadToken(); err != nil { // '}'
		return Item{}, false, err
	}
	buf = append(buf, '}')
	if typ == "bundle" {
		if objectsNotArray {
			return Item{}, false, &StreamError{Offset: start, Msg: "bundle objects must be an array"}
		}
		// A bundle without objects (allowed: objects is optional), or with
		// its objects array seen earlier; either way nothing to yield.
		r.bundleType, r.bundleID, r.bundleStart = typ, id, start
		return Item{}, true, r.checkBundle()
	}
	it = Item{Index: r.index, Offset: start, Raw: buf}
	r.index++
	return it, false, nil
}

// finishBundle reads the members after a bundle's objects array.
func (r *Reader) finishBundle() error {
	for r.dec.PeekKind() != '}' {
		name, err := r.dec.ReadToken()
		if err != nil {
			return err
		}
		key := name.String() // the token is voided by the next read
		val, err := r.dec.ReadValue()
		if err != nil {
			return err
		}
		switch key {
		case "type":
			r.bundleType = stringValue(val)
		case "id":
			r.bundleID = stringValue(val)
		case "objects":
			return &StreamError{Offset: r.bundleStart, Msg: "bundle has two objects members"}
		}
	}
	if _, err := r.dec.ReadToken(); err != nil {
		return err
	}
	return r.checkBundle()
}

// checkBundle applies the bundle rules of spec section 8: type "bundle"
// and an id of the form bundle--UUID.
func (r *Reader) checkBundle() error {
	if r.bundleType != "bundle" {
		return &StreamError{Offset: r.bundleStart, Msg: fmt.Sprintf("top-level object with an objects array has type %q, want \"bundle\"", r.bundleType)}
	}
	if err := checkID(r.bundleID, "bundle"); err != nil {
		return &StreamError{Offset: r.bundleStart, Msg: "bundle id: " + err.Error()}
	}
	return nil
}

func stringValue(v jsontext.Value) string {
	if v.Kind() != '"' {
		return ""
	}
	var s string
	if err := jsonUnmarshalString(v, &s); err != nil {
		return ""
	}
	return s
}

var errTooLarge = errors.New("object over the size limit")

// countingReader counts bytes read and, while marked, fails once more
// than a limit has been read since the mark, so that one giant value
// cannot make the decoder buffer gigabytes.
type countingReader struct {
	r      io.Reader
	n      int64
	marked bool
	from   int64
	limit  int64
}

// slack covers the decoder's read-ahead beyond the value itself.
const slack = 1 << 20

func (c *countingReader) mark(limit int64) { c.marked, c.from, c.limit = true, c.n, limit }
func (c *countingReader) unmark()          { c.marked = false }

func (c *countingReader) Read(p []byte) (int, error) {
	if c.marked && c.n-c.from > c.limit+slack {
		return 0, errTooLarge
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
