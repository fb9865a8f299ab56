package stix

import (
	"fmt"
	"strconv"
	"sync"
	"unicode/utf8"
	"unsafe"

	"fusion/internal/jsonscan"
)

// This file holds the small JSON tree that Validate walks. Validate is on
// the ingest hot path, so an object is decoded once into a flat arena of
// nodes (no maps, no interface values) that is reused across calls.
//
// Strings without escapes borrow the bytes of Object.Raw instead of being
// copied: they are only valid while Validate runs, and anything that
// outlives the call (error paths and messages, warnings) is cloned first.
// The input is expected to be what Parse produced (valid, compacted UTF-8
// JSON); the decoder still rejects malformed input instead of trusting it,
// so a hand-built Object cannot make Validate panic.

// jkind is the JSON type of a node.
type jkind uint8

const (
	jNull jkind = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

func (k jkind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "boolean"
	case jNum:
		return "number"
	case jStr:
		return "string"
	case jArr:
		return "array"
	case jObj:
		return "object"
	}
	return "?"
}

// node is one JSON value. For strings str is the unescaped value, for
// numbers the literal. Arrays and objects own kids[first:first+n].
type node struct {
	kind  jkind
	b     bool
	str   string
	first int32
	n     int32
}

// kid is one member of an object (key set) or element of an array.
type kid struct {
	key  string
	node int32
}

type tree struct {
	src   []byte
	pos   int
	depth int
	// strict rejects duplicate member names and unpaired surrogate
	// escapes, as Parse must; Validate reads Raw that Parse already checked.
	strict bool
	// spaced is set when whitespace was skipped outside strings.
	spaced bool
	nodes  []node
	kids   []kid
	stack  []kid
}

var treePool = sync.Pool{New: func() any { return &tree{} }}

// syntaxError is a fault in the JSON text at byte Offset.
type syntaxError struct {
	Offset int
	Msg    string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset) }

// syntax returns a syntaxError at the current position.
func (t *tree) syntax(msg string) error {
	if t.pos >= len(t.src) {
		return &syntaxError{Offset: len(t.src), Msg: "unexpected end of input"}
	}
	return &syntaxError{Offset: t.pos, Msg: msg}
}

// parseTree decodes src into t, returning the root node index.
func (t *tree) parse(src []byte) (int32, error) {
	t.src, t.pos, t.depth, t.spaced = src, 0, 0, false
	t.nodes, t.kids, t.stack = t.nodes[:0], t.kids[:0], t.stack[:0]
	root, err := t.value()
	if err != nil {
		return 0, err
	}
	t.ws()
	if t.pos != len(t.src) {
		return 0, t.syntax("data after the JSON value")
	}
	return root, nil
}

// release returns t to the pool. Its slices keep borrowed strings of the
// last input (harmless: nothing reads them before the next parse resets
// the slices); clearing them would cost more than the parse. Trees grown
// by unusually large objects are dropped instead of pinning their memory.
func (t *tree) release() {
	t.src = nil
	if cap(t.nodes) > 1<<14 || cap(t.kids) > 1<<14 || cap(t.stack) > 1<<12 {
		return
	}
	treePool.Put(t)
}

func (t *tree) ws() {
	for t.pos < len(t.src) {
		switch t.src[t.pos] {
		case ' ', '\t', '\n', '\r':
			t.pos++
			t.spaced = true
		default:
			return
		}
	}
}

func (t *tree) add(n node) int32 {
	t.nodes = append(t.nodes, n)
	return int32(len(t.nodes) - 1)
}

func (t *tree) value() (int32, error) {
	t.ws()
	if t.pos >= len(t.src) {
		return 0, t.syntax("")
	}
	switch c := t.src[t.pos]; {
	case c == '{':
		return t.object()
	case c == '[':
		return t.array()
	case c == '"':
		s, err := t.string()
		if err != nil {
			return 0, err
		}
		return t.add(node{kind: jStr, str: s}), nil
	case c == 't':
		return t.literal("true", node{kind: jBool, b: true})
	case c == 'f':
		return t.literal("false", node{kind: jBool})
	case c == 'n':
		return t.literal("null", node{kind: jNull})
	case c == '-' || c >= '0' && c <= '9':
		return t.number()
	}
	return 0, t.syntax(fmt.Sprintf("unexpected character %q", t.src[t.pos]))
}

func (t *tree) literal(lit string, n node) (int32, error) {
	if len(t.src)-t.pos < len(lit) || string(t.src[t.pos:t.pos+len(lit)]) != lit {
		return 0, t.syntax("invalid literal")
	}
	t.pos += len(lit)
	return t.add(n), nil
}

func (t *tree) number() (int32, error) {
	start := t.pos
	if t.src[t.pos] == '-' {
		t.pos++
	}
	digits := func() int {
		n := 0
		for t.pos < len(t.src) && t.src[t.pos] >= '0' && t.src[t.pos] <= '9' {
			t.pos++
			n++
		}
		return n
	}
	if t.pos < len(t.src) && t.src[t.pos] == '0' {
		t.pos++
	} else if digits() == 0 {
		return 0, t.syntax("invalid number")
	}
	if t.pos < len(t.src) && t.src[t.pos] == '.' {
		t.pos++
		if digits() == 0 {
			return 0, t.syntax("invalid number")
		}
	}
	if t.pos < len(t.src) && (t.src[t.pos] == 'e' || t.src[t.pos] == 'E') {
		t.pos++
		if t.pos < len(t.src) && (t.src[t.pos] == '+' || t.src[t.pos] == '-') {
			t.pos++
		}
		if digits() == 0 {
			return 0, t.syntax("invalid number")
		}
	}
	return t.add(node{kind: jNum, str: t.borrow(t.src[start:t.pos])}), nil
}

// borrow returns b as a string without copying; see the file comment.
func (t *tree) borrow(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (t *tree) string() (string, error) {
	t.pos++ // opening quote
	start := t.pos
	src := t.src
	i := jsonscan.PlainEnd(src, t.pos)
	t.pos = i
	switch {
	case i >= len(src):
		return "", t.syntax("")
	case src[i] == '"':
		t.pos++
		return t.borrow(src[start:i]), nil
	case src[i] == '\\':
		return t.escaped(start)
	}
	return "", t.syntax("control character in string")
}

// escaped finishes a string that contains escapes, building a copy.
func (t *tree) escaped(start int) (string, error) {
	buf := make([]byte, 0, t.pos-start+16)
	buf = append(buf, t.src[start:t.pos]...)
	for t.pos < len(t.src) {
		c := t.src[t.pos]
		switch {
		case c == '"':
			t.pos++
			return string(buf), nil
		case c < 0x20:
			return "", t.syntax("control character in string")
		case c != '\\':
			buf = append(buf, c)
			t.pos++
			continue
		}
		t.pos++
		if t.pos >= len(t.src) {
			return "", t.syntax("")
		}
		e := t.src[t.pos]
		t.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := t.hex4()
			if !ok {
				return "", t.syntax("invalid \\u escape")
			}
			switch {
			case r >= 0xD800 && r < 0xDC00:
				// A high surrogate must be followed by an escaped low one.
				r2 := rune(-1)
				if t.pos+1 < len(t.src) && t.src[t.pos] == '\\' && t.src[t.pos+1] == 'u' {
					t.pos += 2
					if r2, ok = t.hex4(); !ok {
						return "", t.syntax("invalid \\u escape")
					}
				}
				if r2 >= 0xDC00 && r2 < 0xE000 {
					r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
				} else if t.strict {
					return "", t.syntax("unpaired surrogate in \\u escape")
				} else {
					r = utf8.RuneError
				}
			case r >= 0xDC00 && r < 0xE000:
				if t.strict {
					return "", t.syntax("unpaired surrogate in \\u escape")
				}
				r = utf8.RuneError
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", t.syntax("invalid escape")
		}
	}
	return "", t.syntax("")
}

func (t *tree) hex4() (rune, bool) {
	if len(t.src)-t.pos < 4 {
		return 0, false
	}
	var r rune
	for i := 0; i < 4; i++ {
		c := t.src[t.pos+i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	t.pos += 4
	return r, true
}

func (t *tree) enter() error {
	t.depth++
	if t.depth > MaxDepth {
		return t.syntax(fmt.Sprintf("nested deeper than %d", MaxDepth))
	}
	return nil
}

func (t *tree) object() (int32, error) {
	if err := t.enter(); err != nil {
		return 0, err
	}
	t.pos++ // '{'
	base := len(t.stack)
	var seen map[string]struct{}
	t.ws()
	if t.pos < len(t.src) && t.src[t.pos] == '}' {
		t.pos++
	} else {
		for {
			t.ws()
			if t.pos >= len(t.src) || t.src[t.pos] != '"' {
				return 0, t.syntax("expected a member name")
			}
			keyAt := t.pos
			key, err := t.string()
			if err != nil {
				return 0, err
			}
			if t.strict && t.duplicate(base, key, &seen) {
				return 0, &syntaxError{Offset: keyAt, Msg: fmt.Sprintf("duplicate member name %q", key)}
			}
			t.ws()
			if t.pos >= len(t.src) || t.src[t.pos] != ':' {
				return 0, t.syntax("expected ':'")
			}
			t.pos++
			v, err := t.value()
			if err != nil {
				return 0, err
			}
			t.stack = append(t.stack, kid{key: key, node: v})
			t.ws()
			if t.pos >= len(t.src) {
				return 0, t.syntax("")
			}
			if t.src[t.pos] == ',' {
				t.pos++
				continue
			}
			if t.src[t.pos] == '}' {
				t.pos++
				break
			}
			return 0, t.syntax("expected ',' or '}'")
		}
	}
	t.depth--
	return t.close(jObj, base), nil
}

func (t *tree) array() (int32, error) {
	if err := t.enter(); err != nil {
		return 0, err
	}
	t.pos++ // '['
	base := len(t.stack)
	t.ws()
	if t.pos < len(t.src) && t.src[t.pos] == ']' {
		t.pos++
	} else {
		for {
			v, err := t.value()
			if err != nil {
				return 0, err
			}
			t.stack = append(t.stack, kid{node: v})
			t.ws()
			if t.pos >= len(t.src) {
				return 0, t.syntax("")
			}
			if t.src[t.pos] == ',' {
				t.pos++
				continue
			}
			if t.src[t.pos] == ']' {
				t.pos++
				break
			}
			return 0, t.syntax("expected ',' or ']'")
		}
	}
	t.depth--
	return t.close(jArr, base), nil
}

// duplicate reports whether key is already a member of the object whose
// members start at stack[base]. Small objects are scanned; from 32
// members on, *seen (one map per object) keeps the check linear.
func (t *tree) duplicate(base int, key string, seen *map[string]struct{}) bool {
	members := t.stack[base:]
	if len(members) < 32 {
		for _, m := range members {
			if m.key == key {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, 2*len(members))
		for _, m := range members {
			(*seen)[m.key] = struct{}{}
		}
	}
	if _, dup := (*seen)[key]; dup {
		return true
	}
	(*seen)[key] = struct{}{}
	return false
}

// close moves the children collected on the stack since base into kids
// and adds the container node.
func (t *tree) close(k jkind, base int) int32 {
	first := int32(len(t.kids))
	n := int32(len(t.stack) - base)
	t.kids = append(t.kids, t.stack[base:]...)
	t.stack = t.stack[:base]
	return t.add(node{kind: k, first: first, n: n})
}

// members returns the members of an object or elements of an array.
func (t *tree) members(i int32) []kid {
	if i < 0 {
		return nil
	}
	n := &t.nodes[i]
	if n.kind != jObj && n.kind != jArr {
		return nil
	}
	return t.kids[n.first : n.first+n.n]
}

// get returns the member key of object i, or -1.
func (t *tree) get(i int32, key string) int32 {
	if i < 0 || t.nodes[i].kind != jObj {
		return -1
	}
	for _, k := range t.members(i) {
		if k.key == key {
			return k.node
		}
	}
	return -1
}

// str returns the string value of node i and whether it is a string.
func (t *tree) str(i int32) (string, bool) {
	if i < 0 || t.nodes[i].kind != jStr {
		return "", false
	}
	return t.nodes[i].str, true
}

// getStr returns the string member key of object i ("" when absent or not
// a string).
func (t *tree) getStr(i int32, key string) string {
	s, _ := t.str(t.get(i, key))
	return s
}

// integer returns the value of a JSON number that is a whole number.
func (t *tree) integer(i int32) (int64, bool) {
	n := &t.nodes[i]
	if n.kind != jNum {
		return 0, false
	}
	if v, err := strconv.ParseInt(n.str, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(n.str, 64)
	if err != nil || f != float64(int64(f)) {
		return 0, false
	}
	return int64(f), true
}

// float returns the value of a JSON number.
func (t *tree) float(i int32) (float64, bool) {
	n := &t.nodes[i]
	if n.kind != jNum {
		return 0, false
	}
	f, err := strconv.ParseFloat(n.str, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}
