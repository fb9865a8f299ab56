package policy

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"fusion/internal/jsonscan"
)

// This file is a small validating JSON parser (RFC 8259) that builds a
// flat tree of spans over the input. The policy package needs its own for
// two reasons: facts must be read from exactly the bytes that are served
// (so escapes and duplicate names are handled the same way everywhere, and
// a "\u002d" in an id cannot make a TLP:RED marking unrecognisable), and
// redaction rewrites an object by copying untouched spans of it verbatim.

// maxDepth bounds nesting, as stix.MaxDepth does for ingest.
const maxDepth = 64

// maxValues bounds how many JSON values one object may hold, so that a
// hostile object costs bounded memory.
const maxValues = 1 << 20

type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNum
	kStr
	kArr
	kObj
)

// node is one JSON value. Members of objects also carry their name's span.
type node struct {
	start, end   int32 // the value's bytes, quotes included for strings
	kstart, kend int32 // the member name's bytes without quotes; -1 outside objects
	parent       int32 // -1 for the root
	first        int32 // first child, -1 when none
	next         int32 // next sibling, -1 when last
	n            int32 // number of children
	pos          int32 // position among its parent's children
	npos         int32 // position among the children left after redaction
	alive        int32 // children not removed (redaction)
	kind         kind
	esc          bool // the string value contains escapes
	kesc         bool // the member name contains escapes
	gone         bool // removed from the redacted copy
	dirty        bool // a descendant is removed: cannot copy verbatim
	keep         bool // a granular marking's selectors list that keeps a selector
}

type tree struct {
	raw     []byte
	nodes   []node
	scratch []byte
	keys    map[string]struct{}
	// Reused by refs.
	idBuf     []byte
	idSpans   []idSpan
	refStarts []int
	refList   []Ref
	idStrs    []string
	// Indexes of large containers, built on demand so that lookups by
	// name or position stay O(1) on hostile input.
	members map[int32]map[string]int32
	items   map[int32][]int32
}

// bigContainer is the size from which containers get an index.
const bigContainer = 16

var treePool = sync.Pool{New: func() any { return new(tree) }}

func getTree() *tree { return treePool.Get().(*tree) }

func (t *tree) release() {
	if cap(t.nodes) > 1<<16 {
		t.nodes = nil
	}
	if cap(t.scratch) > 1<<16 {
		t.scratch = nil
	}
	// Nothing of this object stays reachable from the pool.
	clear(t.refList)
	clear(t.idStrs)
	if cap(t.idBuf) > 1<<16 || cap(t.idSpans) > 1<<12 || cap(t.refStarts) > 1<<12 || cap(t.refList) > 1<<12 || cap(t.idStrs) > 1<<12 {
		t.idBuf, t.idSpans, t.refStarts, t.refList, t.idStrs = nil, nil, nil, nil, nil
	}
	t.raw = nil
	t.nodes = t.nodes[:0]
	t.members, t.items = nil, nil
	treePool.Put(t)
}

var errTooMany = errors.New("too many JSON values")

// syntaxError says what is wrong and at which byte offset.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.off, e.msg)
}

// parse builds the tree of raw and returns the root's index (always 0).
func (t *tree) parse(raw []byte) error {
	t.raw = raw
	t.nodes = t.nodes[:0]
	if len(raw) > 1<<31-1 {
		return errors.New("object too large")
	}
	if !utf8.Valid(raw) {
		return &syntaxError{0, "invalid UTF-8"}
	}
	p := skipWS(raw, 0)
	end, err := t.value(p, -1, -1, -1, false, 0)
	if err != nil {
		return err
	}
	end = skipWS(raw, end)
	if end != len(raw) {
		return &syntaxError{end, "data after the JSON value"}
	}
	return nil
}

func skipWS(b []byte, p int) int {
	for p < len(b) {
		switch b[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}

// value parses the value at p as a child of parent and returns the offset
// after it.
func (t *tree) value(p int, parent int32, kstart, kend int, kesc bool, depth int) (int, error) {
	b := t.raw
	if p >= len(b) {
		return p, &syntaxError{p, "unexpected end of input"}
	}
	if len(t.nodes) >= maxValues {
		return p, errTooMany
	}
	idx := int32(len(t.nodes))
	t.nodes = append(t.nodes, node{start: int32(p), kstart: int32(kstart), kend: int32(kend), kesc: kesc,
		parent: parent, first: -1, next: -1})
	var (
		end int
		err error
		k   kind
		esc bool
	)
	switch c := b[p]; {
	case c == '{':
		k = kObj
		if depth >= maxDepth {
			return p, &syntaxError{p, "nesting too deep"}
		}
		end, err = t.object(p, idx, depth+1)
	case c == '[':
		k = kArr
		if depth >= maxDepth {
			return p, &syntaxError{p, "nesting too deep"}
		}
		end, err = t.array(p, idx, depth+1)
	case c == '"':
		k = kStr
		end, esc, err = scanString(b, p)
	case c == 't':
		k = kTrue
		end, err = literal(b, p, "true")
	case c == 'f':
		k = kFalse
		end, err = literal(b, p, "false")
	case c == 'n':
		k = kNull
		end, err = literal(b, p, "null")
	case c == '-' || c >= '0' && c <= '9':
		k = kNum
		end, err = scanNumber(b, p)
	default:
		return p, &syntaxError{p, fmt.Sprintf("unexpected %q", c)}
	}
	if err != nil {
		return end, err
	}
	n := &t.nodes[idx]
	n.kind, n.end, n.esc = k, int32(end), esc
	n.alive = n.n
	return end, nil
}

func literal(b []byte, p int, lit string) (int, error) {
	if len(b)-p < len(lit) || string(b[p:p+len(lit)]) != lit {
		return p, &syntaxError{p, "invalid literal"}
	}
	return p + len(lit), nil
}

func scanNumber(b []byte, p int) (int, error) {
	start := p
	if b[p] == '-' {
		p++
	}
	digits := func() int {
		s := p
		for p < len(b) && b[p] >= '0' && b[p] <= '9' {
			p++
		}
		return p - s
	}
	switch {
	case p < len(b) && b[p] == '0':
		p++
	case digits() == 0:
		return p, &syntaxError{start, "invalid number"}
	}
	if p < len(b) && b[p] == '.' {
		p++
		if digits() == 0 {
			return p, &syntaxError{start, "invalid number"}
		}
	}
	if p < len(b) && (b[p] == 'e' || b[p] == 'E') {
		p++
		if p < len(b) && (b[p] == '+' || b[p] == '-') {
			p++
		}
		if digits() == 0 {
			return p, &syntaxError{start, "invalid number"}
		}
	}
	return p, nil
}

// scanString checks the string starting at the quote at p and returns the
// offset after its closing quote and whether it contains escapes.
func scanString(b []byte, p int) (int, bool, error) {
	start := p
	p++
	esc := false
	for p < len(b) {
		p = jsonscan.PlainEnd(b, p)
		if p >= len(b) {
			break
		}
		c := b[p]
		switch {
		case c == '"':
			return p + 1, esc, nil
		case c == '\\':
			esc = true
			if p+1 >= len(b) {
				return p, esc, &syntaxError{p, "unterminated escape"}
			}
			switch b[p+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p += 2
			case 'u':
				r, ok := hex4(b, p+2)
				if !ok {
					return p, esc, &syntaxError{p, "bad \\u escape"}
				}
				p += 6
				if utf16.IsSurrogate(r) {
					// A high surrogate must be followed by an escaped low one.
					r2, ok := rune(0), false
					if r < 0xDC00 && p+1 < len(b) && b[p] == '\\' && b[p+1] == 'u' {
						r2, ok = hex4(b, p+2)
					}
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return p, esc, &syntaxError{p - 6, "unpaired surrogate in \\u escape"}
					}
					p += 6
				}
			default:
				return p, esc, &syntaxError{p, "bad escape"}
			}
		case c < 0x20:
			return p, esc, &syntaxError{p, "control character in string"}
		default:
			p++
		}
	}
	return p, esc, &syntaxError{start, "unterminated string"}
}

func hex4(b []byte, p int) (rune, bool) {
	if p+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[p : p+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// unescape appends the decoded content of a string checked by scanString
// (quotes excluded) to dst.
func unescape(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		switch s[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, _ := hex4(s, i+2)
			if utf16.IsSurrogate(r) {
				r2, _ := hex4(s, i+8)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
			i += 6
			continue
		default: // '"', '\\', '/'
			dst = append(dst, s[i+1])
		}
		i += 2
	}
	return dst
}

func (t *tree) object(p int, idx int32, depth int) (int, error) {
	b := t.raw
	p = skipWS(b, p+1)
	if p < len(b) && b[p] == '}' {
		return p + 1, nil
	}
	last := int32(-1)
	anyEsc := false
	for {
		if p >= len(b) || b[p] != '"' {
			return p, &syntaxError{p, "expected a member name"}
		}
		kend, kesc, err := scanString(b, p)
		if err != nil {
			return kend, err
		}
		anyEsc = anyEsc || kesc
		q := skipWS(b, kend)
		if q >= len(b) || b[q] != ':' {
			return q, &syntaxError{q, "expected ':'"}
		}
		q = skipWS(b, q+1)
		child := int32(len(t.nodes))
		end, err := t.value(q, idx, p+1, kend-1, kesc, depth)
		if err != nil {
			return end, err
		}
		t.link(idx, last, child)
		last = child
		p = skipWS(b, end)
		if p < len(b) && b[p] == ',' {
			p = skipWS(b, p+1)
			continue
		}
		if p < len(b) && b[p] == '}' {
			break
		}
		return p, &syntaxError{p, "expected ',' or '}'"}
	}
	if err := t.checkDuplicates(idx, anyEsc); err != nil {
		return p, err
	}
	return p + 1, nil
}

func (t *tree) array(p int, idx int32, depth int) (int, error) {
	b := t.raw
	p = skipWS(b, p+1)
	if p < len(b) && b[p] == ']' {
		return p + 1, nil
	}
	last := int32(-1)
	for {
		child := int32(len(t.nodes))
		end, err := t.value(p, idx, -1, -1, false, depth)
		if err != nil {
			return end, err
		}
		t.link(idx, last, child)
		last = child
		p = skipWS(b, end)
		if p < len(b) && b[p] == ',' {
			p = skipWS(b, p+1)
			continue
		}
		if p < len(b) && b[p] == ']' {
			return p + 1, nil
		}
		return p, &syntaxError{p, "expected ',' or ']'"}
	}
}

func (t *tree) link(parent, last, child int32) {
	if last < 0 {
		t.nodes[parent].first = child
	} else {
		t.nodes[last].next = child
	}
	t.nodes[child].pos = t.nodes[parent].n
	t.nodes[parent].n++
}

// checkDuplicates rejects an object with two members of the same name
// (after unescaping): readers disagree on which one counts, and a policy
// decision must not depend on which one a reader picks.
func (t *tree) checkDuplicates(obj int32, anyEsc bool) error {
	n := t.nodes[obj].n
	if n < 2 {
		return nil
	}
	if !anyEsc && n <= 16 {
		// A name is compared with the earlier ones only when one of them
		// has the same length, first and last byte (a bit of seen).
		var seen uint64
		first := t.nodes[obj].first
		for c := first; c >= 0; c = t.nodes[c].next {
			k := t.keyBytes(c)
			h := uint(len(k))
			if len(k) > 0 {
				h = h*31 + uint(k[0])*7 + uint(k[len(k)-1])
			}
			bit := uint64(1) << (h & 63)
			if seen&bit != 0 {
				for d := first; d != c; d = t.nodes[d].next {
					if bytes.Equal(t.keyBytes(d), k) {
						return t.firstDuplicate(obj)
					}
				}
			}
			seen |= bit
		}
		return nil
	}
	if t.keys == nil {
		t.keys = make(map[string]struct{}, n)
	}
	clear(t.keys)
	for c := t.nodes[obj].first; c >= 0; c = t.nodes[c].next {
		k := string(t.key(c))
		if _, dup := t.keys[k]; dup {
			return &syntaxError{int(t.nodes[c].kstart), fmt.Sprintf("duplicate member name %q", k)}
		}
		t.keys[k] = struct{}{}
	}
	return nil
}

// firstDuplicate is the error for the first member of obj (no escaped
// names) whose name an earlier member has.
func (t *tree) firstDuplicate(obj int32) error {
	for a := t.nodes[obj].first; a >= 0; a = t.nodes[a].next {
		ka := t.keyBytes(a)
		for b := t.nodes[a].next; b >= 0; b = t.nodes[b].next {
			if bytes.Equal(ka, t.keyBytes(b)) {
				return &syntaxError{int(t.nodes[b].kstart), fmt.Sprintf("duplicate member name %q", ka)}
			}
		}
	}
	return nil
}

// keyBytes is a member name's raw bytes (escapes not decoded).
func (t *tree) keyBytes(i int32) []byte { return t.raw[t.nodes[i].kstart:t.nodes[i].kend] }

// key is a member name, decoded. The result may share t.scratch: use it
// before the next call.
func (t *tree) key(i int32) []byte {
	n := &t.nodes[i]
	if !n.kesc {
		return t.raw[n.kstart:n.kend]
	}
	t.scratch = unescape(t.scratch[:0], t.raw[n.kstart:n.kend])
	return t.scratch
}

// keyIs reports whether member i is named name.
func (t *tree) keyIs(i int32, name string) bool {
	n := &t.nodes[i]
	if n.kstart < 0 {
		return false
	}
	return string(t.key(i)) == name
}

// strBytes is a string value's decoded content, possibly in t.scratch.
func (t *tree) strBytes(i int32) []byte {
	n := &t.nodes[i]
	s := t.raw[n.start+1 : n.end-1]
	if !n.esc {
		return s
	}
	t.scratch = unescape(t.scratch[:0], s)
	return t.scratch
}

// str is a string value's decoded content as a new string.
func (t *tree) str(i int32) string { return string(t.strBytes(i)) }

// get returns the member of object obj named name, or -1.
func (t *tree) get(obj int32, name string) int32 {
	if t.nodes[obj].kind != kObj {
		return -1
	}
	if t.nodes[obj].n > bigContainer {
		idx := t.members[obj]
		if idx == nil {
			if t.members == nil {
				t.members = map[int32]map[string]int32{}
			}
			idx = make(map[string]int32, t.nodes[obj].n)
			for c := t.nodes[obj].first; c >= 0; c = t.nodes[c].next {
				idx[string(t.key(c))] = c
			}
			t.members[obj] = idx
		}
		if c, ok := idx[name]; ok {
			return c
		}
		return -1
	}
	for c := t.nodes[obj].first; c >= 0; c = t.nodes[c].next {
		if t.keyIs(c, name) {
			return c
		}
	}
	return -1
}

// child returns element i of array arr, or -1.
func (t *tree) child(arr int32, i int) int32 {
	if t.nodes[arr].kind != kArr || i < 0 || i >= int(t.nodes[arr].n) {
		return -1
	}
	if t.nodes[arr].n > bigContainer {
		idx := t.items[arr]
		if idx == nil {
			if t.items == nil {
				t.items = map[int32][]int32{}
			}
			idx = make([]int32, 0, t.nodes[arr].n)
			for c := t.nodes[arr].first; c >= 0; c = t.nodes[c].next {
				idx = append(idx, c)
			}
			t.items[arr] = idx
		}
		return idx[i]
	}
	c := t.nodes[arr].first
	for ; i > 0; i-- {
		c = t.nodes[c].next
	}
	return c
}

// index is the position of node i among its parent's children.
func (t *tree) index(i int32) int { return int(t.nodes[i].pos) }

// resolve walks a selector (spec 7.2.3.1) from the root and returns the
// selected node, or -1 when the selector selects nothing.
func (t *tree) resolve(sel string) int32 {
	cur := int32(0)
	for first := true; ; first = false {
		part, rest, more := cut(sel, '.')
		if part != "" && part[0] == '[' {
			if first {
				return -1
			}
			i, ok := parseIndex(part)
			if !ok {
				return -1
			}
			cur = t.child(cur, i)
		} else {
			cur = t.get(cur, part)
		}
		if cur < 0 || !more {
			return cur
		}
		sel = rest
	}
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// parseIndex parses a "[n]" selector component.
func parseIndex(part string) (int, bool) {
	if len(part) < 3 || part[0] != '[' || part[len(part)-1] != ']' {
		return 0, false
	}
	digits := part[1 : len(part)-1]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(digits)
	return n, err == nil
}
