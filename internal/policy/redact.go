package policy

import (
	"strconv"
	"unicode/utf8"

	"fusion/internal/store"
)

// Redact returns the copy of version v that caller gets, once CanRead has
// allowed it. It removes
//
//   - every property (or list item) selected by a TLP granular marking
//     (STIX 2.1 section 7.2.3) above what the caller may see, with
//     everything below it;
//   - every reference, outside relationship and sighting endpoints, to an
//     object the caller may not see: a single reference (created_by_ref,
//     sample_ref, ...) loses its property, a list (object_refs, ...) loses
//     the item.
//
// A list or object emptied by removals is removed too (STIX lists must not
// be empty), and the remaining granular markings' selectors are rewritten
// to the positions of the content they selected (dropping selectors whose
// content is gone, and markings left without selectors). Markings
// themselves (object_marking_refs, marking_ref) are never removed.
//
// The source and hub admins get v.Raw unchanged; so does anyone when
// nothing needs removing, without allocating. ok is false when v must not
// be sent at all: facts that are nil, broken or not v's, or a removal that
// would take the object's id or type.
func Redact(c Caller, v *store.Version, f *Facts, refs Lookup) (out []byte, ok bool) {
	if v == nil {
		return nil, false
	}
	if (c.Org.ID != "" && c.Org.ID == v.Source) || c.IsHubAdmin() {
		return v.Raw, true
	}
	if f == nil || f.Broken {
		return nil, false
	}
	if !needsRedaction(&c, f, refs) {
		return v.Raw, true
	}
	return redact(&c, v.Raw, f, refs)
}

func needsRedaction(c *Caller, f *Facts, refs Lookup) bool {
	for i := range f.Granular {
		if !tlpAllows(c, f.Granular[i].Level, &f.Restrictions) {
			return true
		}
	}
	for i := range f.Refs {
		r := &f.Refs[i]
		if r.Required {
			continue
		}
		for _, id := range r.IDs {
			if id != "" && !refVisible(c, id, refs, 0) {
				return true
			}
		}
	}
	return false
}

func redact(c *Caller, raw []byte, f *Facts, refs Lookup) ([]byte, bool) {
	t := getTree()
	defer t.release()
	if t.parse(raw) != nil || t.nodes[0].kind != kObj {
		return nil, false
	}
	idNode, typeNode := t.get(0, "id"), t.get(0, "type")
	if f.ID != "" && (idNode < 0 || t.nodes[idNode].kind != kStr || string(t.strBytes(idNode)) != f.ID) {
		return nil, false // facts of another object
	}

	// Resolve every granular marking's selectors before anything moves.
	gm := t.get(0, "granular_markings")
	var sels []selTarget
	if gm >= 0 && t.nodes[gm].kind == kArr {
		for e := t.nodes[gm].first; e >= 0; e = t.nodes[e].next {
			s := t.get(e, "selectors")
			if s < 0 || t.nodes[s].kind != kArr {
				continue
			}
			for x := t.nodes[s].first; x >= 0; x = t.nodes[x].next {
				target := int32(-1)
				if t.nodes[x].kind == kStr {
					target = t.resolve(t.str(x))
				}
				sels = append(sels, selTarget{x, target})
			}
		}
	} else {
		gm = -1
	}

	for i := range f.Granular {
		g := &f.Granular[i]
		if tlpAllows(c, g.Level, &f.Restrictions) {
			continue
		}
		for _, sel := range g.Selectors {
			if n := t.resolve(sel); n >= 0 {
				t.remove(n)
			}
		}
	}
	for i := range f.Refs {
		r := &f.Refs[i]
		if r.Required {
			continue
		}
		prop := t.resolve(r.Path)
		if prop < 0 || r.List != (t.nodes[prop].kind == kArr) || r.List && int(t.nodes[prop].n) != len(r.IDs) {
			return nil, false // facts do not match the object
		}
		n := prop
		if r.List {
			n = t.nodes[prop].first
		}
		for _, id := range r.IDs {
			if id != "" && !refVisible(c, id, refs, 0) {
				if t.nodes[n].kind != kStr || string(t.strBytes(n)) != id {
					return nil, false // facts do not match the object
				}
				t.remove(n)
			}
			n = t.nodes[n].next
		}
	}
	if idNode >= 0 && t.gone(idNode) || typeNode >= 0 && t.gone(typeNode) {
		return nil, false
	}

	// Granular markings whose content is all gone go too.
	if gm >= 0 && !t.nodes[gm].gone {
		t.nodes[gm].dirty = true
		for k := range sels {
			s := &sels[k]
			if s.target >= 0 && (t.gone(s.target) || t.within(s.target, gm)) {
				s.target = -1
			}
		}
		for k := range sels {
			if sels[k].target >= 0 && !t.nodes[sels[k].sel].gone {
				t.nodes[t.nodes[sels[k].sel].parent].keep = true
			}
		}
		for e := t.nodes[gm].first; e >= 0; e = t.nodes[e].next {
			s := t.get(e, "selectors")
			if s < 0 || t.nodes[s].kind != kArr || t.nodes[s].n == 0 || t.nodes[e].gone {
				continue
			}
			if t.nodes[s].keep {
				t.nodes[e].dirty = true
			} else {
				t.remove(e)
			}
		}
		t.renumber()
	}

	w := writer{t: t, gm: gm, sels: sels, out: make([]byte, 0, len(raw))}
	w.write(0)
	return w.out, true
}

// selTarget is one selector string of a granular marking and the node it
// selected in the original object (-1: nothing, or dropped).
type selTarget struct{ sel, target int32 }

// remove takes node i out of the copy. A container left with no children
// by removals goes too; the root stays.
func (t *tree) remove(i int32) {
	for i > 0 && !t.nodes[i].gone {
		t.nodes[i].gone = true
		p := t.nodes[i].parent
		t.nodes[p].alive--
		for a := p; a >= 0 && !t.nodes[a].dirty; a = t.nodes[a].parent {
			t.nodes[a].dirty = true
		}
		if p == 0 || t.nodes[p].alive > 0 {
			return
		}
		i = p
	}
}

// gone reports whether node i or one of its ancestors was removed.
func (t *tree) gone(i int32) bool {
	for ; i >= 0; i = t.nodes[i].parent {
		if t.nodes[i].gone {
			return true
		}
	}
	return false
}

// within reports whether node i is a or below it.
func (t *tree) within(i, a int32) bool {
	for ; i >= 0; i = t.nodes[i].parent {
		if i == a {
			return true
		}
	}
	return false
}

// newPath is node i's selector in the redacted copy: list indexes count
// only the items that remain.
func (t *tree) newPath(dst []byte, i int32) []byte {
	p := t.nodes[i].parent
	if p > 0 {
		dst = t.newPath(dst, p)
		dst = append(dst, '.')
	}
	if t.nodes[i].kstart >= 0 {
		return append(dst, t.key(i)...)
	}
	dst = append(dst, '[')
	dst = strconv.AppendInt(dst, int64(t.nodes[i].npos), 10)
	return append(dst, ']')
}

// renumber sets every node's npos: its position among the siblings left
// after removals.
func (t *tree) renumber() {
	for p := range t.nodes {
		k := int32(0)
		for c := t.nodes[p].first; c >= 0; c = t.nodes[c].next {
			t.nodes[c].npos = k
			if !t.nodes[c].gone {
				k++
			}
		}
	}
}

type writer struct {
	t    *tree
	gm   int32
	sels []selTarget
	cur  int // sels before cur are written or skipped
	out  []byte
	buf  []byte
}

// write appends node i as it appears in the copy.
func (w *writer) write(i int32) {
	t := w.t
	n := &t.nodes[i]
	if !n.dirty {
		w.out = append(w.out, t.raw[n.start:n.end]...)
		return
	}
	open, close := byte('['), byte(']')
	if n.kind == kObj {
		open, close = '{', '}'
	}
	w.out = append(w.out, open)
	first := true
	for c := n.first; c >= 0; c = t.nodes[c].next {
		if t.nodes[c].gone {
			continue
		}
		if !first {
			w.out = append(w.out, ',')
		}
		first = false
		if n.kind == kObj {
			w.out = append(w.out, t.raw[t.nodes[c].kstart-1:t.nodes[c].kend+1]...)
			w.out = append(w.out, ':')
		}
		if w.gm >= 0 && n.parent == w.gm && n.kind == kObj && t.nodes[c].kind == kArr && t.keyIs(c, "selectors") {
			w.selectors(c)
			continue
		}
		w.write(c)
	}
	w.out = append(w.out, close)
}

// selectors writes a granular marking's selectors list with the new
// paths of what its selectors still select.
func (w *writer) selectors(s int32) {
	t := w.t
	w.out = append(w.out, '[')
	first := true
	// sels are in document order (node indexes are pre-order) and lists
	// are written in document order: skip what lies before this list.
	for w.cur < len(w.sels) && w.sels[w.cur].sel < s {
		w.cur++
	}
	for ; w.cur < len(w.sels) && t.nodes[w.sels[w.cur].sel].parent == s; w.cur++ {
		st := &w.sels[w.cur]
		if st.target < 0 || t.nodes[st.sel].gone {
			continue
		}
		if !first {
			w.out = append(w.out, ',')
		}
		first = false
		w.buf = t.newPath(w.buf[:0], st.target)
		w.out = appendJSONString(w.out, w.buf)
	}
	w.out = append(w.out, ']')
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			dst = append(dst, c)
		default:
			_, size := utf8.DecodeRune(s[i:])
			dst = append(dst, s[i:i+size]...)
			i += size
			continue
		}
		i++
	}
	return append(dst, '"')
}
