package policy

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unsafe"

	"fusion/internal/stix"
)

// Facts are the policy facts of one object version: everything CanRead
// and Redact need to know about the object, read once from its JSON by
// FactsOf. Facts are small and serialisable (MarshalBinary, or JSON with
// encoding/json), so they can be computed at read time or stored beside
// the version at write time.
type Facts struct {
	ID   string `json:"id,omitempty"`
	Type string `json:"type,omitempty"`

	// TLP are the TLP markings in object_marking_refs; empty when there is
	// none (the collection default applies).
	TLP Levels `json:"tlp,omitempty"`
	// Floor are the TLP granular markings on the object's id or type:
	// content no reader can be given without, so they apply to the whole
	// object as well.
	Floor Levels `json:"floor,omitempty"`
	// Broken is set when the facts could not be read (malformed JSON, a
	// malformed Fusion extension or granular marking): only the source and
	// hub admins may see such a version.
	Broken bool `json:"broken,omitempty"`

	// Restrictions from the Fusion sharing extension.
	Restrictions

	// Granular are the object's granular markings that reference a TLP
	// marking definition; others (statements, lang) do not restrict.
	Granular []Granular `json:"granular,omitempty"`

	// Refs are the object's references to other objects: every property
	// named *_ref or *_refs holding STIX identifiers, at any depth, except
	// object_marking_refs and granular markings' marking_ref (handling
	// instructions travel with the data).
	Refs []Ref `json:"refs,omitempty"`

	// CreatedByRef is the created_by_ref property (also listed in Refs).
	CreatedByRef string `json:"created_by_ref,omitempty"`
}

// Granular is one TLP granular marking (STIX 2.1 section 7.2.3).
type Granular struct {
	Level     Level    `json:"level"`
	Selectors []string `json:"selectors"`
}

// Ref is one property holding references.
type Ref struct {
	// Path is the property's selector (spec 7.2.3.1 syntax), e.g.
	// "object_refs" or "body_multipart.[0].body_raw_ref".
	Path string `json:"path"`
	// IDs are the referenced identifiers. For a list (List) they are
	// aligned with the list's elements, "" for elements that are not
	// identifiers.
	IDs  []string `json:"ids"`
	List bool     `json:"list,omitempty"`
	// Required: the object is visible only when every id here is
	// (relationship source_ref/target_ref; sighting sighting_of_ref,
	// observed_data_refs and where_sighted_refs; language-content
	// object_ref). Other references are
	// removed from the copy a reader gets when they name an object that
	// reader may not see.
	Required bool `json:"required,omitempty"`
}

// requiredRefs lists, per type, the properties whose targets must be
// visible for the object to be.
func isRequired(typ, path string) bool {
	switch typ {
	case "relationship":
		return path == "source_ref" || path == "target_ref"
	case "sighting":
		return path == "sighting_of_ref" || path == "observed_data_refs" || path == "where_sighted_refs"
	case "language-content":
		// Translations of an object's text are that object's content.
		return path == "object_ref"
	}
	return false
}

// brokenFacts are what FactsOf returns with an error: visible to the
// source and hub admins only.
func brokenFacts(id, typ string) Facts {
	return Facts{ID: id, Type: typ, TLP: LevelsOf(LevelRed), Broken: true}
}

// FactsOf reads the policy facts of one STIX object version from its JSON.
// It rejects what would make a decision ambiguous or unenforceable:
// malformed JSON (including duplicate member names and unpaired surrogate
// escapes), a malformed Fusion sharing extension (unknown properties, bad
// country codes, contradictory lists), a TLP granular marking without
// valid selectors, and a reference at a path selectors cannot express.
// The error is a *stix.ValidationError naming the property. With an error
// the returned Facts are still usable and fail closed (Broken: only the
// source and hub admins may read).
//
// FactsOf does not check the rest of the object against the STIX
// specification: stix.Validate does that at ingest.
func FactsOf(raw []byte) (Facts, error) {
	t := getTree()
	defer t.release()
	return t.facts(raw, nil, false)
}

// blobOf returns the facts blob of o (what StoredFacts returns) and the
// error of FactsOf(o.Raw). Only the encoding of the facts is kept, so
// they are read into the tree's buffers (borrow).
func blobOf(o *stix.Object) ([]byte, error) {
	t := getTree()
	defer t.release()
	f, err := t.facts(o.Raw, o, true)
	return storedBlob(&f, o), err
}

// facts is FactsOf on t. When o is not nil, raw is o.Raw, and the id,
// type and created_by_ref read are o's strings when equal, not copies.
// With borrow, the references' IDs live in t's buffers: the result must
// not be used after t is released.
func (t *tree) facts(raw []byte, o *stix.Object, borrow bool) (Facts, error) {
	if err := t.parse(raw); err != nil {
		return brokenFacts("", ""), &stix.ValidationError{Index: -1, Msg: err.Error()}
	}
	if t.nodes[0].kind != kObj {
		return brokenFacts("", ""), &stix.ValidationError{Index: -1, Msg: "not a JSON object"}
	}
	var knownID, knownType, knownCreatedBy string
	if o != nil {
		knownID, knownType, knownCreatedBy = o.ID, o.Type, o.CreatedByRef
	}
	var f Facts
	fail := func(path, format string, args ...any) (Facts, error) {
		return brokenFacts(f.ID, f.Type), &stix.ValidationError{Index: -1, ID: f.ID, Type: f.Type, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	var markings, granular, ext int32 = -1, -1, -1
	for m := t.nodes[0].first; m >= 0; m = t.nodes[m].next {
		k := t.key(m)
		switch string(k) {
		case "id", "type", "created_by_ref":
			if t.nodes[m].kind != kStr {
				return fail(string(k), "must be a string")
			}
			switch string(k) {
			case "id":
				f.ID = t.strAs(m, knownID)
			case "type":
				f.Type = t.strAs(m, knownType)
			default:
				f.CreatedByRef = t.strAs(m, knownCreatedBy)
			}
		case "object_marking_refs":
			markings = m
		case "granular_markings":
			granular = m
		case "extensions":
			ext = m
		}
	}
	if markings >= 0 {
		if t.nodes[markings].kind != kArr {
			return fail("object_marking_refs", "must be a list")
		}
		i := 0
		for c := t.nodes[markings].first; c >= 0; c = t.nodes[c].next {
			if t.nodes[c].kind != kStr {
				return fail(fmt.Sprintf("object_marking_refs[%d]", i), "must be a string")
			}
			f.TLP = f.TLP.With(levelOfBytes(t.strBytes(c)))
			i++
		}
	}
	if granular >= 0 {
		if path, msg := t.granular(granular, &f); msg != "" {
			return fail(path, "%s", msg)
		}
	}
	if ext >= 0 && t.nodes[ext].kind == kObj {
		if e := t.get(ext, ExtensionID); e >= 0 {
			r, err := t.restrictions(e)
			if err != nil {
				err.ID, err.Type = f.ID, f.Type
				err.Path = strings.TrimSuffix("extensions."+ExtensionID+"."+err.Path, ".")
				return brokenFacts(f.ID, f.Type), err
			}
			f.Restrictions = r
		}
	}
	if path, msg := t.refs(&f, borrow); msg != "" {
		return fail(path, "%s", msg)
	}
	// The predefined TLP marking definitions are public by definition.
	if f.Type == "marking-definition" && LevelOf(f.ID) != LevelNone {
		f.TLP, f.Floor, f.Granular = LevelsOf(LevelClear), 0, nil
	}
	return f, nil
}

// strAs is t.str(i), or known when that is equal.
func (t *tree) strAs(i int32, known string) string {
	if b := t.strBytes(i); string(b) != known {
		return string(b)
	}
	return known
}

// levelOfBytes is LevelOf(string(b)) without the copy: LevelOf keeps
// nothing of its argument.
func levelOfBytes(b []byte) Level {
	return LevelOf(unsafe.String(unsafe.SliceData(b), len(b)))
}

// granular reads the TLP granular markings into f and returns the path
// and message of the first problem.
func (t *tree) granular(gm int32, f *Facts) (string, string) {
	if t.nodes[gm].kind != kArr {
		return "granular_markings", "must be a list"
	}
	for g := t.nodes[gm].first; g >= 0; g = t.nodes[g].next {
		path := "granular_markings[" + strconv.Itoa(int(t.nodes[g].pos)) + "]"
		if t.nodes[g].kind != kObj {
			return path, "must be an object"
		}
		ref := t.get(g, "marking_ref")
		if ref < 0 {
			continue // a lang marking
		}
		if t.nodes[ref].kind != kStr {
			return path + ".marking_ref", "must be a string"
		}
		lvl := levelOfBytes(t.strBytes(ref))
		if lvl == LevelNone {
			continue // not TLP: does not restrict who sees what
		}
		sels := t.get(g, "selectors")
		if sels < 0 || t.nodes[sels].kind != kArr || t.nodes[sels].n == 0 {
			return path + ".selectors", "a TLP granular marking needs a non-empty list of selectors"
		}
		gr := Granular{Level: lvl, Selectors: make([]string, 0, t.nodes[sels].n)}
		j := 0
		for s := t.nodes[sels].first; s >= 0; s, j = t.nodes[s].next, j+1 {
			if t.nodes[s].kind != kStr {
				return fmt.Sprintf("%s.selectors[%d]", path, j), "must be a string"
			}
			sel := t.str(s)
			if msg := checkSelector(sel); msg != "" {
				return fmt.Sprintf("%s.selectors[%d]", path, j), fmt.Sprintf("%q: %s", sel, msg)
			}
			if head, _, _ := cut(sel, '.'); head == "id" || head == "type" {
				f.Floor = f.Floor.With(lvl)
			}
			gr.Selectors = append(gr.Selectors, sel)
		}
		f.Granular = append(f.Granular, gr)
	}
	return "", ""
}

// checkSelector applies the syntax of spec 7.2.3.1: property names and
// "[n]" list indexes separated by ".", starting with a property name.
func checkSelector(sel string) string {
	for i := 0; ; i++ {
		part, rest, more := cut(sel, '.')
		switch {
		case part == "":
			return "empty selector component"
		case part[0] == '[':
			if i == 0 {
				return "a selector must start with a property name"
			}
			if _, ok := parseIndex(part); !ok {
				return fmt.Sprintf("bad list index %q", part)
			}
		}
		if !more {
			return ""
		}
		sel = rest
	}
}

// isID reports whether s looks like a STIX identifier: type--UUID (the
// UUID hyphenated, any version; stix.Validate checks the rest at ingest).
// The first "--" must be the one before the UUID.
func isID(s []byte) bool {
	i := len(s) - 38 // where the "--" before a UUID is
	if i <= 0 || s[i] != '-' || s[i+1] != '-' || bytes.Contains(s[:i+1], []byte("--")) {
		return false
	}
	u := s[i+2:]
	if u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return false
	}
	return allHex(u[0:8]) && allHex(u[9:13]) && allHex(u[14:18]) && allHex(u[19:23]) && allHex(u[24:36])
}

func allHex(b []byte) bool {
	for _, c := range b {
		if !hexDigit[c] {
			return false
		}
	}
	return true
}

// hexDigit marks 0-9, a-f and A-F.
var hexDigit = func() (tab [256]bool) {
	for c := 0; c < 256; c++ {
		tab[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return tab
}()

// idSpan is where one identifier found by refs is: slot in the IDs of
// all references, off and n in the buffer of their bytes.
type idSpan struct{ slot, off, n int }

// refs sets f.Refs to the references of the object; with borrow, they
// and their IDs live in t's buffers (see facts).
func (t *tree) refs(f *Facts, borrow bool) (string, string) {
	// Every id goes into one buffer that becomes one string, and the IDs
	// of every reference are windows of one slice, so that a report with
	// thousands of refs costs a few allocations, not thousands.
	buf, spans, starts, refs := t.idBuf[:0], t.idSpans[:0], t.refStarts[:0], t.refList[:0]
	defer func() { t.idBuf, t.idSpans, t.refStarts, t.refList = buf, spans, starts, refs }()
	slots := 0
	for i := int32(1); i < int32(len(t.nodes)); i++ {
		n := &t.nodes[i]
		if n.kstart < 0 {
			continue
		}
		if c := t.raw[n.kend-1]; !n.kesc && c != 'f' && c != 's' {
			continue // cannot end in _ref or _refs
		}
		k := t.key(i)
		single := bytes.HasSuffix(k, []byte("_ref"))
		if !single && !bytes.HasSuffix(k, []byte("_refs")) {
			continue
		}
		markingRefs := string(k) == "object_marking_refs"
		// Markings are not references to hide.
		top := i
		for t.nodes[top].parent != 0 {
			top = t.nodes[top].parent
		}
		if (top == i && markingRefs) || t.keyIs(top, "granular_markings") {
			continue
		}
		var r Ref
		first := slots
		add := func(v int32, idx int) {
			s := t.strBytes(v)
			if !isID(s) {
				return
			}
			spans = append(spans, idSpan{first + idx, len(buf), len(s)})
			buf = append(buf, s...)
		}
		before := len(spans)
		switch {
		case single && n.kind == kStr:
			slots++
			add(i, 0)
		case !single && n.kind == kArr:
			r.List = true
			slots += int(n.n)
			j := 0
			for c := n.first; c >= 0; c, j = t.nodes[c].next, j+1 {
				if t.nodes[c].kind == kStr {
					add(c, j)
				}
			}
		}
		if len(spans) == before {
			slots = first
			continue
		}
		path, ok := t.path(i)
		if !ok {
			return path, "holds references at a path granular-marking selectors cannot express (a name with '.' or starting with '[')"
		}
		r.Path = path
		r.Required = top == i && isRequired(f.Type, path)
		refs = append(refs, r)
		starts = append(starts, first)
	}
	if len(refs) == 0 {
		return "", ""
	}
	var all string
	var ids []string
	if borrow {
		f.Refs = refs
		all = unsafe.String(unsafe.SliceData(buf), len(buf))
		if cap(t.idStrs) < slots {
			t.idStrs = make([]string, slots)
		}
		ids = t.idStrs[:slots]
		clear(ids)
		t.idStrs = ids
	} else {
		f.Refs = make([]Ref, len(refs))
		copy(f.Refs, refs)
		all = string(buf)
		ids = make([]string, slots)
	}
	for _, s := range spans {
		ids[s.slot] = all[s.off : s.off+s.n]
	}
	for k := range f.Refs {
		end := slots
		if k+1 < len(starts) {
			end = starts[k+1]
		}
		f.Refs[k].IDs = ids[starts[k]:end:end]
	}
	return "", ""
}

// path is node i's selector from the root; ok is false when a member name
// on the way cannot be written in selector syntax.
func (t *tree) path(i int32) (string, bool) {
	if t.nodes[i].parent == 0 {
		k := t.key(i)
		if j, ok := commonPathIndex[string(k)]; ok {
			return commonPaths[j], true // no copy of the usual names
		}
		return string(k), selectable(k)
	}
	var parts []string
	ok := true
	for ; i > 0; i = t.nodes[i].parent {
		if t.nodes[i].kstart >= 0 {
			k := t.key(i)
			ok = ok && selectable(k)
			parts = append(parts, string(k))
		} else {
			parts = append(parts, fmt.Sprintf("[%d]", t.index(i)))
		}
	}
	for a, b := 0, len(parts)-1; a < b; a, b = a+1, b-1 {
		parts[a], parts[b] = parts[b], parts[a]
	}
	return strings.Join(parts, "."), ok
}

func selectable(name []byte) bool {
	return len(name) > 0 && name[0] != '[' && bytes.IndexByte(name, '.') < 0
}

// AppendRequired appends the ids that must be visible for the object to be
// (what CanRead will ask its Lookup about) to dst.
func (f *Facts) AppendRequired(dst []string) []string {
	for i := range f.Refs {
		if f.Refs[i].Required {
			dst = appendIDs(dst, f.Refs[i].IDs)
		}
	}
	return dst
}

// AppendRefs appends every referenced id (what CanRead and Redact may ask
// their Lookup about) to dst.
func (f *Facts) AppendRefs(dst []string) []string {
	for i := range f.Refs {
		dst = appendIDs(dst, f.Refs[i].IDs)
	}
	return dst
}

func appendIDs(dst, ids []string) []string {
	for _, id := range ids {
		if id != "" {
			dst = append(dst, id)
		}
	}
	return dst
}
