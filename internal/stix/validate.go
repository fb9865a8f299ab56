package stix

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Warning is a SHOULD-level finding of Lint: the object is valid STIX 2.1
// but departs from a recommendation of the specification.
type Warning struct {
	ID   string // the object's id when known
	Path string // JSON path of the property, "" for the whole object
	Msg  string
}

func (w Warning) String() string {
	var b strings.Builder
	if w.ID != "" {
		b.WriteString("(" + w.ID + "): ")
	}
	if w.Path != "" {
		b.WriteString(w.Path + ": ")
	}
	b.WriteString(w.Msg)
	return b.String()
}

// Validate checks o against every MUST of STIX 2.1 that can be decided
// from the object alone (spec sections 2–7 and 10; patterns of indicators
// with pattern_type "stix" against chapter 9). References are checked for
// form and target type, not resolved. It returns nil or the first
// violation found, as a *ValidationError with Index -1 (the caller that
// knows the object's position in a bundle or stream sets Index).
//
// Custom object types (any unknown type with a valid name) are checked
// only against the common-property rules. o must come from Parse; Validate
// reads only o.Raw, which must not have been changed in place since Parse
// (assigning a new slice is fine).
func Validate(o *Object) error {
	c := getChecker(false)
	c.run(o)
	err := c.err
	putChecker(c)
	if err != nil {
		return err
	}
	return nil
}

// Lint returns the SHOULD-level findings for o: open-vocabulary values
// outside their vocabulary, identifiers of an unexpected UUID version,
// custom names without the x_/x- prefix, deprecated properties, and the
// like. It does not repeat Validate's errors; on an object Validate
// rejects it reports what it can.
func Lint(o *Object) []Warning {
	c := getChecker(true)
	c.run(o)
	warns := c.warns
	putChecker(c)
	return warns
}

// Checkers (with their JSON tree and path stack) are reused: Validate runs
// once per ingested object.
var checkerPool = sync.Pool{New: func() any { return &checker{path: make([]seg, 0, 16)} }}

func getChecker(lint bool) *checker {
	c := checkerPool.Get().(*checker)
	c.lint = lint
	c.t = &c.tr
	return c
}

func putChecker(c *checker) {
	if c.t != &c.tr && c.t != nil {
		c.t.release() // Parse's tree (takeParsed)
	}
	c.tr.src = nil
	if cap(c.tr.nodes) > 1<<14 || cap(c.tr.kids) > 1<<14 || cap(c.tr.stack) > 1<<12 {
		return // grown by an unusually large object: let it go
	}
	*c = checker{tr: c.tr, path: c.path[:0]}
	checkerPool.Put(c)
}

// seg is one step of the JSON path to the value being checked.
type seg struct {
	key string
	idx int // >= 0 for an array index, then key is unused
}

type checker struct {
	tr    tree
	t     *tree
	root  int32
	id    string
	typ   string
	spec  *objSpec
	lint  bool
	err   *ValidationError
	warns []Warning
	path  []seg
}

func (c *checker) run(o *Object) {
	t := c.t
	if o == nil {
		c.failAt("", "nil object")
		return
	}
	root := int32(0)
	if pt, proot := takeParsed(o); pt != nil {
		c.t, t, root = pt, pt, proot
	} else {
		var err error
		if root, err = t.parse(o.Raw); err != nil {
			c.failAt("", "malformed JSON: %v", err)
			return
		}
	}
	if t.nodes[root].kind != jObj {
		c.failAt("", "not a JSON object")
		return
	}
	c.root = root
	c.typ, _ = t.str(t.get(root, "type"))
	c.id, _ = t.str(t.get(root, "id"))
	c.checkTop()
}

// stopped reports whether checking can stop: in Validate mode at the
// first error. Lint goes on to collect every warning.
func (c *checker) stopped() bool { return c.err != nil && !c.lint }

func (c *checker) push(key string) { c.path = append(c.path, seg{key: key, idx: -1}) }
func (c *checker) pushIdx(i int)   { c.path = append(c.path, seg{idx: i}) }
func (c *checker) pop()            { c.path = c.path[:len(c.path)-1] }

// pathString renders the current path (plus an optional last key) as
// "a.b[2].c". It copies every part, so the result does not borrow Raw.
func (c *checker) pathString(last string) string {
	var b strings.Builder
	for _, s := range c.path {
		if s.idx >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.idx))
			b.WriteByte(']')
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.key)
	}
	if last != "" {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(last)
	}
	return b.String()
}

// fail records a violation at the current path.
func (c *checker) fail(format string, args ...any) { c.failAt("", format, args...) }

// failAt records a violation at the current path plus last.
func (c *checker) failAt(last, format string, args ...any) {
	if c.err != nil || c.lint {
		return
	}
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	e := &ValidationError{Index: -1, Path: c.pathString(last), Msg: strings.Clone(msg)}
	if c.id != "" {
		e.ID = strings.Clone(c.id)
	} else {
		e.Type = strings.Clone(c.typ)
	}
	c.err = e
}

// warn records a SHOULD-level finding at the current path plus last.
func (c *checker) warn(last, format string, args ...any) {
	if !c.lint {
		return
	}
	c.warns = append(c.warns, Warning{
		ID:   strings.Clone(c.id),
		Path: c.pathString(last),
		Msg:  strings.Clone(fmt.Sprintf(format, args...)),
	})
}

// checkTop applies the rules for a top-level object.
func (c *checker) checkTop() {
	t, root := c.t, c.root
	tn := t.get(root, "type")
	if tn < 0 {
		c.failAt("type", "required")
		return
	}
	if t.nodes[tn].kind != jStr {
		c.failAt("type", "must be a string")
		return
	}
	if err := checkTypeName(c.typ); err != nil {
		c.failAt("type", "%v", err)
		return
	}
	if c.typ == "bundle" {
		c.failAt("type", "a bundle is a transport envelope, not a STIX object")
		return
	}
	in := t.get(root, "id")
	if in < 0 {
		c.failAt("id", "required")
		return
	}
	if t.nodes[in].kind != jStr {
		c.failAt("id", "must be a string")
		return
	}
	if err := checkID(c.id, c.typ); err != nil {
		c.failAt("id", "%v", err)
		return
	}
	spec := specs[c.typ]
	if spec == nil {
		spec = c.customSpec()
	}
	c.spec = spec
	if c.lint {
		c.lintID(spec)
	}
	c.checkObject(root, spec)
	if c.stopped() {
		return
	}
	c.checkGranularSelectors()
	if c.lint && (spec == customSDO || spec == customSCO) {
		c.lintCustomType()
	}
}

// lintCustomType: a custom object type should be defined by an
// extension-definition (new-sdo, new-sco or new-sro); the older custom
// object mechanism wants an "x-" prefix.
func (c *checker) lintCustomType() {
	ext := c.t.get(c.root, "extensions")
	for _, m := range c.t.members(ext) {
		if c.t.nodes[ext].kind == jObj && strings.HasPrefix(c.t.getStr(m.node, "extension_type"), "new-") {
			return
		}
	}
	if !strings.HasPrefix(c.typ, "x-") {
		c.warn("type", "custom object type %q should be defined by an extension-definition (new-sdo, new-sco or new-sro) or start with \"x-\"", c.typ)
	}
}

// customSpec picks the common-property rules for an object of a type the
// spec does not define: SDO/SRO rules when it carries created or
// modified, SCO rules otherwise.
func (c *checker) customSpec() *objSpec {
	if c.t.get(c.root, "created") >= 0 || c.t.get(c.root, "modified") >= 0 {
		return customSDO
	}
	return customSCO
}

// lintID warns about an identifier whose UUID version differs from the
// one the spec recommends: v4 for SDOs, SROs and meta objects, v5 for
// SCOs (spec 2.9).
func (c *checker) lintID(spec *objSpec) {
	_, u, _ := strings.Cut(c.id, "--")
	v := uuidVersion(u)
	switch {
	case c.typ == "process" && (v == '4' || v == '5'):
		// process has no ID-contributing properties: UUIDv4 is right.
	case spec.class == clSCO && v != '5':
		c.warn("id", "SCO identifiers should be UUIDv5 (deterministic), this is version %c", v)
	case spec.class != clSCO && v != '4':
		c.warn("id", "identifiers of SDOs, SROs and meta objects should be UUIDv4, this is version %c", v)
	}
}

// checkObject checks the members of the JSON object obj against spec.
func (c *checker) checkObject(obj int32, spec *objSpec) {
	t := c.t
	var seen uint64
	for _, m := range t.members(obj) {
		if c.stopped() {
			return
		}
		c.push(m.key)
		if msg := checkPropertyName(m.key); msg != "" {
			c.fail("%s", msg)
			c.pop()
			continue
		}
		p := spec.props[m.key]
		if p == nil {
			c.checkCustomProperty(m.node, spec)
		} else {
			seen |= p.bit
			if p.deprecated != "" {
				c.warn("", "%s", p.deprecated)
			}
			c.checkValue(m.node, p.typ)
		}
		c.pop()
	}
	if c.stopped() {
		return
	}
	if missing := spec.reqMask &^ seen; missing != 0 {
		for _, p := range spec.required {
			if missing&p.bit != 0 {
				c.failAt(p.name, "required")
				if !c.lint {
					return
				}
			}
		}
	}
	for _, r := range spec.rules {
		if c.stopped() {
			return
		}
		r(c, obj)
	}
}

// checkCustomProperty applies the rules for a property the spec does not
// define (spec 11.1): any JSON value but null or an empty list; the name
// should start with x_.
func (c *checker) checkCustomProperty(v int32, spec *objSpec) {
	n := &c.t.nodes[v]
	switch {
	case n.kind == jNull:
		c.fail("must not be null")
	case n.kind == jArr && n.n == 0:
		c.fail("empty lists are prohibited")
	}
	if c.lint && !spec.open {
		key := c.path[len(c.path)-1].key
		if !strings.HasPrefix(key, "x_") && !c.definedByExtension(key) {
			c.warn("", "custom property names should start with \"x_\" (or be defined by a toplevel-property-extension)")
		}
	}
}

// definedByExtension reports whether the object declares a
// toplevel-property-extension, which may add unprefixed properties.
func (c *checker) definedByExtension(string) bool {
	ext := c.t.get(c.root, "extensions")
	for _, m := range c.t.members(ext) {
		if c.t.nodes[ext].kind == jObj && c.t.getStr(m.node, "extension_type") == "toplevel-property-extension" {
			return true
		}
	}
	return false
}

// checkValue checks the value v against the property type p.
func (c *checker) checkValue(v int32, p *ptype) {
	t := c.t
	n := &t.nodes[v]
	switch p.kind {
	case pAny:
		if n.kind == jNull {
			c.fail("must not be null")
		}
	case pString:
		if n.kind != jStr {
			c.fail("must be a string, not %s", n.kind)
			return
		}
		if p.voc != nil {
			c.checkVocab(n.str, p.voc)
		}
	case pBool:
		if n.kind != jBool {
			c.fail("must be a boolean, not %s", n.kind)
		}
	case pInt:
		i, ok := t.integer(v)
		if !ok {
			c.fail("must be an integer")
			return
		}
		if p.hasMin && float64(i) < p.min || p.hasMax && float64(i) > p.max {
			c.fail("%d is out of range %s", i, p.rangeText())
		}
	case pFloat:
		f, ok := t.float(v)
		if !ok {
			c.fail("must be a number")
			return
		}
		if p.hasMin && f < p.min || p.hasMax && f > p.max {
			c.fail("%v is out of range %s", f, p.rangeText())
		}
	case pTime, pTimeMS:
		if n.kind != jStr {
			c.fail("must be a timestamp string, not %s", n.kind)
			return
		}
		if _, err := ParseTimestamp(n.str); err != nil {
			c.fail("%q: %v", n.str, err)
			return
		}
		if p.kind == pTimeMS && fractionDigits(n.str) < 3 {
			c.fail("%q: must be precise to at least the millisecond", n.str)
		}
	case pRef:
		if n.kind != jStr {
			c.fail("must be an identifier string, not %s", n.kind)
			return
		}
		c.checkRef(n.str, p.ref)
	case pList:
		if n.kind != jArr {
			c.fail("must be a list, not %s", n.kind)
			return
		}
		if n.n == 0 {
			c.fail("empty lists are prohibited")
			return
		}
		for i, e := range t.members(v) {
			if c.stopped() {
				return
			}
			c.pushIdx(i)
			c.checkValue(e.node, p.elem)
			c.pop()
		}
	case pDict:
		c.checkDict(v, p.elem)
	case pHashes:
		c.checkHashes(v, p.strictKeys)
	case pObject:
		if n.kind != jObj {
			c.fail("must be an object, not %s", n.kind)
			return
		}
		if n.n == 0 {
			c.fail("must not be empty")
			return
		}
		c.checkObject(v, p.obj)
	case pBinary:
		if n.kind != jStr {
			c.fail("must be a base64 string, not %s", n.kind)
			return
		}
		if !isBase64(n.str) {
			c.fail("must be base64 (RFC 4648)")
		}
	case pHex:
		if n.kind != jStr {
			c.fail("must be a hex string, not %s", n.kind)
			return
		}
		if !isHexString(n.str) {
			c.fail("must be an even number of hexadecimal digits")
		}
	case pLang:
		if n.kind != jStr {
			c.fail("must be a language code string, not %s", n.kind)
			return
		}
		if !isLanguageTag(n.str) {
			c.fail("%q is not an RFC 5646 language code", n.str)
		}
	case pExtensions:
		c.checkExtensions(v)
	}
}

func (c *checker) checkVocab(s string, v *vocab) {
	if v.vals.has(s) {
		return
	}
	if v.open {
		c.warn("", "%q is not in %s", s, v.name)
		return
	}
	c.fail("%q is not one of %s", s, v.name)
}

// checkRef checks an identifier and the type of object it points at.
func (c *checker) checkRef(id string, r *refRule) {
	if err := checkID(id, ""); err != nil {
		c.fail("%v", err)
		return
	}
	if r == nil {
		return
	}
	typ := IDType(id)
	if r.types.has(typ) {
		return
	}
	cl, known := typeClass[typ]
	switch {
	case known && r.classes&cl != 0:
		return
	case !known && r.classes&(clSDO|clSCO|clSRO) != 0:
		return // a custom object type may be of any of these kinds
	}
	c.fail("%q must refer to %s", id, r.desc)
}

// checkDict checks a dictionary (spec 2.8): a non-empty object with valid
// keys; val, when not nil, constrains every value.
func (c *checker) checkDict(v int32, val *ptype) {
	n := &c.t.nodes[v]
	if n.kind != jObj {
		c.fail("must be a dictionary (JSON object), not %s", n.kind)
		return
	}
	if n.n == 0 {
		c.fail("must not be empty")
		return
	}
	for _, m := range c.t.members(v) {
		if c.stopped() {
			return
		}
		c.push(m.key)
		if msg := checkDictKey(m.key); msg != "" {
			c.fail("%s", msg)
		} else if val != nil {
			c.checkValue(m.node, val)
		} else if c.t.nodes[m.node].kind == jNull {
			c.fail("must not be null")
		}
		c.pop()
	}
}

// hashForms gives the value form of the hash-algorithm-ov algorithms with
// fixed-length hex output.
var hashHexLen = map[string]int{
	"MD5": 32, "SHA-1": 40, "SHA-256": 64, "SHA-512": 128, "SHA3-256": 64, "SHA3-512": 128,
}

// checkHashes checks a hashes dictionary (spec 2.7). With strictKeys the
// algorithm names must come from hash-algorithm-ov (external references,
// spec 2.5); otherwise other names are a Lint warning.
func (c *checker) checkHashes(v int32, strictKeys bool) {
	n := &c.t.nodes[v]
	if n.kind != jObj {
		c.fail("must be a hashes dictionary (JSON object), not %s", n.kind)
		return
	}
	if n.n == 0 {
		c.fail("must not be empty")
		return
	}
	for _, m := range c.t.members(v) {
		if c.stopped() {
			return
		}
		c.push(m.key)
		c.checkHash(m.key, m.node, strictKeys)
		c.pop()
	}
}

func (c *checker) checkHash(alg string, v int32, strictKeys bool) {
	if msg := checkDictKey(alg); msg != "" {
		c.fail("%s", msg)
		return
	}
	val, ok := c.t.str(v)
	if !ok {
		c.fail("hash values must be strings")
		return
	}
	if !vHashAlgorithm.vals.has(alg) {
		if strictKeys {
			c.fail("%q is not in hash-algorithm-ov", alg)
		} else {
			c.warn("", "%q is not in hash-algorithm-ov", alg)
		}
		return
	}
	if want, ok := hashHexLen[alg]; ok && (len(val) != want || !isHexString(val)) {
		c.fail("%q is not a %s value (%d hex digits)", val, alg, want)
	}
	if val == "" {
		c.fail("hash value must not be empty")
	}
}

// checkGranularSelectors applies spec 7.2.3.1: every selector is a path of
// property names and [index] steps that exists in the object.
func (c *checker) checkGranularSelectors() {
	t := c.t
	gm := t.get(c.root, "granular_markings")
	if gm < 0 || t.nodes[gm].kind != jArr {
		return
	}
	c.push("granular_markings")
	defer c.pop()
	for i, g := range t.members(gm) {
		sels := t.get(g.node, "selectors")
		if sels < 0 || t.nodes[sels].kind != jArr {
			continue
		}
		c.pushIdx(i)
		c.push("selectors")
		for j, s := range t.members(sels) {
			if sel, ok := t.str(s.node); ok {
				if msg := c.resolveSelector(sel); msg != "" {
					c.pushIdx(j)
					c.fail("%q: %s", sel, msg)
					c.pop()
				}
			}
		}
		c.pop()
		c.pop()
		if c.stopped() {
			return
		}
	}
}

// resolveSelector walks sel from the root and says what is wrong with it,
// or "" when it selects something.
func (c *checker) resolveSelector(sel string) string {
	cur := c.root
	rest := sel
	for i := 0; ; i++ {
		part, more, found := strings.Cut(rest, ".")
		if msg := c.selectorStep(i, part, &cur); msg != "" || !found {
			return msg
		}
		rest = more
	}
}

// selectorStep applies component i of a selector: a property name or a
// list index "[n]", moving *cur to the selected value.
func (c *checker) selectorStep(i int, part string, cur *int32) string {
	t := c.t
	switch {
	case part == "":
		return "empty selector component"
	case part[0] == '[':
		if i == 0 {
			return "a selector must start with a property name"
		}
		if len(part) < 3 || part[len(part)-1] != ']' || part[1] == '+' || part[1] == '-' {
			return fmt.Sprintf("bad list index %q", part)
		}
		idx, err := strconv.Atoi(part[1 : len(part)-1])
		if err != nil {
			return fmt.Sprintf("bad list index %q", part)
		}
		if t.nodes[*cur].kind != jArr {
			return fmt.Sprintf("%q is applied to a value that is not a list", part)
		}
		if idx >= int(t.nodes[*cur].n) {
			return fmt.Sprintf("index %d is past the end of the list", idx)
		}
		*cur = t.members(*cur)[idx].node
	default:
		if t.nodes[*cur].kind != jObj {
			return fmt.Sprintf("%q is applied to a value that is not an object", part)
		}
		next := t.get(*cur, part)
		if next < 0 {
			return fmt.Sprintf("property %q is not present", part)
		}
		*cur = next
	}
	return ""
}

// timeOf returns the timestamp member key of obj, if present and valid.
func (c *checker) timeOf(obj int32, key string) (time.Time, bool) {
	s, ok := c.t.str(c.t.get(obj, key))
	if !ok {
		return time.Time{}, false
	}
	tm, err := ParseTimestamp(s)
	return tm, err == nil
}

// has reports whether obj has member key.
func (c *checker) has(obj int32, key string) bool { return c.t.get(obj, key) >= 0 }

func fractionDigits(ts string) int {
	if len(ts) < 21 || ts[19] != '.' {
		return 0
	}
	return len(ts) - 21
}

func isHexString(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			return false
		}
	}
	return true
}

// isBase64 reports whether s is padded standard base64 (RFC 4648 §4).
func isBase64(s string) bool {
	if len(s)%4 != 0 {
		return false
	}
	pad := 0
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '+', ch == '/':
			if pad > 0 {
				return false
			}
		case ch == '=':
			pad++
			if pad > 2 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isLanguageTag checks the syntax of an RFC 5646 language tag: a primary
// language subtag of 2–8 letters (or the private-use "x" / grandfathered
// "i" prefix) followed by subtags of 1–8 letters or digits.
func isLanguageTag(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	rest := s
	for i := 0; ; i++ {
		sub, more, found := strings.Cut(rest, "-")
		rest = more
		if len(sub) == 0 || len(sub) > 8 {
			return false
		}
		for j := 0; j < len(sub); j++ {
			ch := sub[j] | 0x20
			letter := ch >= 'a' && ch <= 'z'
			digit := sub[j] >= '0' && sub[j] <= '9'
			if i == 0 && !letter || !letter && !digit {
				return false
			}
		}
		if i == 0 && len(sub) == 1 && sub != "x" && sub != "X" && sub != "i" && sub != "I" {
			return false
		}
		if !found {
			return true
		}
	}
}
