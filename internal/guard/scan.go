package guard

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/stix"
)

// Action is what happens to an object, or what a finding asks for.
type Action uint8

const (
	Allow  Action = iota // nothing found: the object may pass
	Redact               // free text only: the matched text was replaced; share Result.Redacted
	Block                // the object must not be stored, shared or indexed
)

func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Redact:
		return "redact"
	case Block:
		return "block"
	}
	return fmt.Sprintf("action(%d)", a)
}

// Finding is one match. It holds no matched value: Rule, Path, Action and
// Ref may be shown to others (the TAXII status resource, the audit log);
// Asset may be resolved with List.Asset by the list's owner only.
type Finding struct {
	Rule Kind // the asset kind that matched, KindReference or KindMalformed
	// Path is the JSON path of the property, e.g. "external_references[1].url"
	// or "pattern"; "" for the object as a whole. Property names that are
	// not plain identifiers, or that matched themselves, appear as "{key}".
	Path   string
	Asset  int    // index of the matched asset in the list; -1 for references and malformed input
	Action Action // Block, or Redact for free text when the partner allows it
	Ref    string // KindReference: the id of the blocked object referred to
}

// String describes the finding without any matched value.
func (f Finding) String() string {
	var b strings.Builder
	b.WriteString(f.Rule.String())
	if f.Path != "" {
		b.WriteString(" at ")
		b.WriteString(f.Path)
	}
	switch {
	case f.Ref != "" && f.Path != "":
		b.WriteString(" (refers to blocked ")
		b.WriteString(f.Ref)
		b.WriteString(")")
	case f.Ref != "":
		b.WriteString(" (tied by blocked ")
		b.WriteString(f.Ref)
		b.WriteString(")")
	}
	return b.String()
}

// Result is the guard's decision on one object.
type Result struct {
	ID, Type string // the object's id and type, "" when they could not be read
	Action   Action // the strongest action of the findings; Allow when there are none
	Findings []Finding
	// Redacted is the object with every match replaced by "[REDACTED]"
	// when Action is Redact; nil otherwise (an allowed object passes as it
	// came). The redacted object was scanned again and found clean.
	Redacted []byte
	// Err says why an object could not be read (Action is then Block).
	// It holds no content of the object.
	Err error

	refs []ref // reference properties, for ScanBatch
}

// Reason explains a Block or Redact in words fit for the TAXII status
// resource and the audit log: rule kinds and property paths, never a
// matched value. It is "" for Allow.
func (r *Result) Reason() string {
	if r.Action == Allow {
		return ""
	}
	var b strings.Builder
	b.WriteString("customer-data guard ")
	b.WriteString(r.Action.String())
	b.WriteString("ed: ")
	for i, f := range r.Findings {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	if r.Err != nil && len(r.Findings) == 0 {
		b.WriteString("malformed object")
	}
	return b.String()
}

// Options are a partner's choices.
type Options struct {
	// Redact lets matches in free text be redacted instead of blocked:
	// the name and description of a report, the abstract and content of
	// a note. Matches anywhere else (patterns, SCO values, URLs, custom
	// properties, …) always block.
	Redact bool
}

// freeText reports whether a top-level property of an object type is free
// text that may be redacted.
func freeText(typ, key string) bool {
	switch typ {
	case "report":
		return key == "name" || key == "description"
	case "note":
		return key == "abstract" || key == "content"
	}
	return false
}

// Scanner applies one partner's list. It is safe for concurrent use.
type Scanner struct {
	list *List
	opts Options
	pool sync.Pool
}

var emptyList = func() *List {
	l := &List{}
	if err := l.compile(); err != nil {
		panic(err)
	}
	return l
}()

// NewScanner returns a scanner for list (nil: an empty list, which blocks
// only malformed objects).
func NewScanner(list *List, opts Options) *Scanner {
	if list == nil {
		list = emptyList
	}
	s := &Scanner{list: list, opts: opts}
	s.pool.New = func() any { return &state{m: &list.m} }
	return s
}

// List returns the scanner's list.
func (sc *Scanner) List() *List { return sc.list }

// maxFindings bounds the findings kept for one object.
const maxFindings = 256

// Scan reads one STIX object (raw JSON) and checks every string in it —
// property names and values at any depth, pattern literals, extensions,
// custom properties — and the numbers that can be addresses or AS numbers,
// against the list. Objects that are not a readable JSON object are
// blocked (KindMalformed). Scan reads only the object itself: use
// ScanBatch for what objects reveal through their references.
func (sc *Scanner) Scan(obj []byte) Result {
	st := sc.pool.Get().(*state)
	r := st.run(obj, sc.opts.Redact)
	if r.Action == Redact {
		// verify: the redacted object must be clean
		st2 := sc.pool.Get().(*state)
		r2 := st2.run(r.Redacted, false)
		sc.pool.Put(st2)
		if r2.Action != Allow {
			r.Action, r.Redacted = Block, nil
			for i := range r.Findings {
				r.Findings[i].Action = Block
			}
			for _, f := range r2.Findings {
				if !slices.Contains(r.Findings, f) {
					r.Findings = append(r.Findings, f)
				}
			}
		}
	}
	sc.pool.Put(st)
	return r
}

// state is the scratch of one scan, pooled.
type state struct {
	m     *matcher
	x     extractor
	words wordIter
	key   []byte
	look  []byte

	data  []byte
	pos   int
	path  []seg
	arena []byte

	curPath   string
	curHave   bool
	curRed    int
	curKey    bool
	curMapped []int32

	findings []finding
	reds     []redString
	typ, id  []byte
	refs     []ref
	pending  []pendingASN
	trunc    bool

	// clean holds short strings this state scanned and found clean, two
	// maps for the two contexts (bare numbers as AS numbers or not). The
	// outcome of scanText depends only on the string, that context and the
	// scanner's list, so a string found here needs no second scan: property
	// names, types, vocabulary values and identifier types repeat in every
	// object.
	clean [2]map[string]struct{}
}

// Clean-string cache bounds: strings up to cleanMaxLen bytes, at most
// cleanMaxEntries per map (then the map starts afresh).
const (
	cleanMaxLen     = 48
	cleanMaxEntries = 4096
)

type seg struct {
	key []byte
	idx int // array index, or -1 for a key
	hit bool
}

type finding struct {
	Finding
	red int // index in reds, -1 when not in redactable free text
}

type redString struct {
	key            string
	rawStart, raw1 int
	text           []byte
	spans          [][2]int
}

type ref struct {
	key string
	idx int // -1 for a single _ref
	id  string
}

type pendingASN struct {
	n    uint32
	path string
}

// value flags
const (
	vfASN      uint8 = 1 << iota // bare numbers are AS numbers (key mentions asn)
	vfNumber                     // the "number" property: an AS number if the object is an autonomous-system
	vfFreeText                   // top-level property that may be free text
	vfRef                        // top-level reference property
)

var refKeys = map[string]bool{
	"source_ref": true, "target_ref": true, "sighting_of_ref": true,
	"where_sighted_refs": true, "observed_data_refs": true, "object_refs": true,
}

var errMalformed = errors.New("malformed JSON")

func (st *state) reset(data []byte) {
	st.data, st.pos = data, 0
	st.path = st.path[:0]
	st.arena = st.arena[:0]
	st.findings = st.findings[:0]
	st.reds = st.reds[:0]
	st.typ, st.id = nil, nil
	st.refs = nil
	st.pending = st.pending[:0]
	st.trunc = false
	st.x.sink = st
}

func (st *state) run(data []byte, redact bool) Result {
	st.reset(data)
	err := st.top()
	res := Result{ID: string(st.id), Type: string(st.typ), refs: st.refs}
	st.refs = nil
	if err != nil {
		res.Err = err
		res.Action = Block
		for _, f := range st.findings {
			f.Action = Block
			res.Findings = append(res.Findings, f.Finding)
		}
		res.Findings = append(res.Findings, Finding{Rule: KindMalformed, Asset: -1, Action: Block})
		return res
	}
	if len(st.findings) == 0 {
		return res
	}
	typ := string(st.typ)
	res.Findings = make([]Finding, len(st.findings))
	res.Action = Redact
	for i, f := range st.findings {
		f.Action = Block
		if redact && f.red >= 0 && freeText(typ, st.reds[f.red].key) {
			f.Action = Redact
		}
		res.Findings[i] = f.Finding
		if f.Action == Block {
			res.Action = Block
		}
	}
	if res.Action == Redact {
		out, ok := st.redacted()
		if !ok {
			res.Action = Block
			for i := range res.Findings {
				res.Findings[i].Action = Block
			}
		} else {
			res.Redacted = out
		}
	}
	return res
}

// redacted builds the object with the matched spans of the free-text
// strings replaced.
func (st *state) redacted() ([]byte, bool) {
	out := make([]byte, 0, len(st.data)+32)
	last := 0
	for _, r := range st.reds {
		if len(r.spans) == 0 {
			continue
		}
		out = append(out, st.data[last:r.rawStart]...)
		var err error
		out, err = jsontext.AppendQuote(out, redactSpans(r.text, r.spans))
		if err != nil {
			return nil, false
		}
		last = r.raw1
	}
	return append(out, st.data[last:]...), true
}

// redactSpans replaces the (possibly overlapping) spans of s.
func redactSpans(s []byte, spans [][2]int) []byte {
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var out []byte
	last := 0
	for i := 0; i < len(spans); {
		a, b := spans[i][0], spans[i][1]
		i++
		for i < len(spans) && spans[i][0] <= b {
			b = max(b, spans[i][1])
			i++
		}
		a = max(a, last)
		if a > len(s) {
			break
		}
		b = min(b, len(s))
		out = append(out, s[last:a]...)
		out = append(out, "[REDACTED]"...)
		last = b
	}
	return append(out, s[last:]...)
}

// top reads the one object the input must hold.
func (st *state) top() error {
	st.skipWS()
	if st.pos >= len(st.data) || st.data[st.pos] != '{' {
		return st.errAt("not a JSON object")
	}
	if _, _, err := st.value(0, 0); err != nil {
		return err
	}
	st.skipWS()
	if st.pos != len(st.data) {
		return st.errAt("data after the object")
	}
	return nil
}

func (st *state) errAt(msg string) error {
	return fmt.Errorf("%w: byte %d: %s", errMalformed, st.pos, msg)
}

func (st *state) skipWS() {
	for st.pos < len(st.data) {
		switch st.data[st.pos] {
		case ' ', '\t', '\n', '\r':
			st.pos++
		default:
			return
		}
	}
}

// value reads one JSON value; depth is the nesting of its container. It
// returns the string when the value is one.
func (st *state) value(depth int, fl uint8) ([]byte, bool, error) {
	st.skipWS()
	if st.pos >= len(st.data) {
		return nil, false, st.errAt("unexpected end")
	}
	switch c := st.data[st.pos]; {
	case c == '{':
		return nil, false, st.object(depth + 1)
	case c == '[':
		return nil, false, st.array(depth+1, fl)
	case c == '"':
		r0 := st.pos
		s, err := st.readString()
		if err != nil {
			return nil, false, err
		}
		st.onString(s, r0, st.pos, fl)
		return s, true, nil
	case c == '-' || c >= '0' && c <= '9':
		return nil, false, st.number(fl)
	case c == 't':
		return nil, false, st.literal("true")
	case c == 'f':
		return nil, false, st.literal("false")
	case c == 'n':
		return nil, false, st.literal("null")
	}
	return nil, false, st.errAt("invalid character")
}

func (st *state) literal(w string) error {
	if !bytes.HasPrefix(st.data[st.pos:], []byte(w)) {
		return st.errAt("invalid literal")
	}
	st.pos += len(w)
	return nil
}

func (st *state) object(depth int) error {
	if depth > stix.MaxDepth {
		return st.errAt(fmt.Sprintf("nested deeper than %d", stix.MaxDepth))
	}
	st.pos++ // '{'
	pendMark := len(st.pending)
	var typ []byte
	st.skipWS()
	if st.pos < len(st.data) && st.data[st.pos] == '}' {
		st.pos++
		return nil
	}
	for {
		st.skipWS()
		if st.pos >= len(st.data) || st.data[st.pos] != '"' {
			return st.errAt("want a property name")
		}
		key, err := st.readString()
		if err != nil {
			return err
		}
		st.path = append(st.path, seg{key: key, idx: -1})
		st.onKey(key)
		st.skipWS()
		if st.pos >= len(st.data) || st.data[st.pos] != ':' {
			return st.errAt("want ':'")
		}
		st.pos++
		fl := keyFlags(key, depth)
		s, isStr, err := st.value(depth, fl)
		if err != nil {
			return err
		}
		if isStr && string(key) == "type" {
			typ = s
			if depth == 1 {
				st.typ = s
			}
		}
		if isStr && depth == 1 && string(key) == "id" {
			st.id = s
		}
		st.path = st.path[:len(st.path)-1]
		st.skipWS()
		if st.pos >= len(st.data) {
			return st.errAt("unexpected end")
		}
		if st.data[st.pos] == ',' {
			st.pos++
			continue
		}
		if st.data[st.pos] == '}' {
			st.pos++
			break
		}
		return st.errAt("want ',' or '}'")
	}
	if len(st.pending) > pendMark {
		if string(typ) == "autonomous-system" {
			for _, p := range st.pending[pendMark:] {
				if idx, ok := st.m.asns[p.n]; ok {
					st.add(KindASN, idx, p.path, -1)
				}
			}
		}
		st.pending = st.pending[:pendMark]
	}
	return nil
}

func keyFlags(key []byte, depth int) uint8 {
	var fl uint8
	if string(key) == "number" {
		fl |= vfNumber
	}
	if len(key) >= 3 && containsFold(key, "asn") {
		fl |= vfASN
	}
	if depth == 1 {
		switch string(key) {
		case "name", "description", "abstract", "content":
			fl |= vfFreeText
		default:
			if refKeys[string(key)] {
				fl |= vfRef
			}
		}
	}
	return fl
}

func containsFold(b []byte, w string) bool {
	c0 := lower(w[0])
	for i := 0; i+len(w) <= len(b); i++ {
		if lower(b[i]) == c0 && hasPrefixFold(b[i:], w) {
			return true
		}
	}
	return false
}

func (st *state) array(depth int, fl uint8) error {
	if depth > stix.MaxDepth {
		return st.errAt(fmt.Sprintf("nested deeper than %d", stix.MaxDepth))
	}
	st.pos++ // '['
	st.skipWS()
	if st.pos < len(st.data) && st.data[st.pos] == ']' {
		st.pos++
		return nil
	}
	fl &^= vfFreeText
	for i := 0; ; i++ {
		st.path = append(st.path, seg{idx: i})
		if _, _, err := st.value(depth, fl); err != nil {
			return err
		}
		st.path = st.path[:len(st.path)-1]
		st.skipWS()
		if st.pos >= len(st.data) {
			return st.errAt("unexpected end")
		}
		if st.data[st.pos] == ',' {
			st.pos++
			continue
		}
		if st.data[st.pos] == ']' {
			st.pos++
			return nil
		}
		return st.errAt("want ',' or ']'")
	}
}

// readString reads a JSON string at st.pos and returns its decoded bytes:
// a slice of the input when it has no escapes, else of the arena.
func (st *state) readString() ([]byte, error) {
	d := st.data
	start := st.pos + 1
	i := start
	high := false
	for i < len(d) {
		c := d[i]
		if c == '"' {
			st.pos = i + 1
			if high && !utf8.Valid(d[start:i]) {
				// fail closed: a bad byte inside a value would split it
				return nil, st.errAt("invalid UTF-8 in string")
			}
			return d[start:i], nil
		}
		if c >= utf8.RuneSelf {
			high = true
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			st.pos = i
			return nil, st.errAt("control character in string")
		}
		i++
	}
	a0 := len(st.arena)
	st.arena = append(st.arena, d[start:i]...)
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			st.pos = i + 1
			if out := st.arena[a0:len(st.arena):len(st.arena)]; utf8.Valid(out) {
				return out, nil
			}
			return nil, st.errAt("invalid UTF-8 in string")
		case c < 0x20:
			st.pos = i
			return nil, st.errAt("control character in string")
		case c != '\\':
			st.arena = append(st.arena, c)
			i++
			continue
		}
		if i+1 >= len(d) {
			break
		}
		e := d[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			st.arena = append(st.arena, e)
		case 'b':
			st.arena = append(st.arena, '\b')
		case 'f':
			st.arena = append(st.arena, '\f')
		case 'n':
			st.arena = append(st.arena, '\n')
		case 'r':
			st.arena = append(st.arena, '\r')
		case 't':
			st.arena = append(st.arena, '\t')
		case 'u':
			r, ok := hex4(d, i)
			if !ok {
				st.pos = i
				return nil, st.errAt("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r2, ok := rune(-1), false
				if i+6 <= len(d) && d[i] == '\\' && d[i+1] == 'u' {
					r2, ok = hex4(d, i+2)
				}
				if ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			st.arena = utf8.AppendRune(st.arena, r)
		default:
			st.pos = i - 1
			return nil, st.errAt("bad escape")
		}
	}
	st.pos = len(d)
	return nil, st.errAt("unterminated string")
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		if !isHex(c) {
			return 0, false
		}
		r = r<<4 | rune(unhex(c))
	}
	return r, true
}

func (st *state) number(fl uint8) error {
	d := st.data
	start := st.pos
	i := start
	if d[i] == '-' {
		i++
	}
	intStart := i
	for i < len(d) && d[i] >= '0' && d[i] <= '9' {
		i++
	}
	if i == intStart || d[intStart] == '0' && i-intStart > 1 {
		st.pos = i
		return st.errAt("invalid number")
	}
	intEnd := i
	frac := false
	if i < len(d) && d[i] == '.' {
		frac = true
		i++
		k := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == k {
			st.pos = i
			return st.errAt("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		frac = true
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		k := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		if i == k {
			st.pos = i
			return st.errAt("invalid number")
		}
	}
	st.pos = i
	if frac || d[start] == '-' {
		return nil
	}
	digits := d[intStart:intEnd]
	st.curHave, st.curRed, st.curKey = false, -1, false
	if len(digits) >= 8 {
		if v, ok := ipv4Integer(digits); ok {
			st.prefix(netip.PrefixFrom(addr4(v), 32), 0, 0)
		}
	}
	if fl&(vfASN|vfNumber) != 0 {
		if n, ok := parseASN(digits); ok {
			if fl&vfASN != 0 {
				st.asn(n, 0, 0)
			}
			if fl&vfNumber != 0 {
				st.pending = append(st.pending, pendingASN{n, st.renderPath()})
			}
		}
	}
	return nil
}

// onKey scans a property name.
func (st *state) onKey(key []byte) {
	st.curHave, st.curRed, st.curKey = false, -1, true
	st.scanText(key, false)
	st.curKey = false
}

// onString scans a string value; raw0 and raw1 are its span in the input,
// quotes included.
func (st *state) onString(s []byte, raw0, raw1 int, fl uint8) {
	st.curHave, st.curRed, st.curKey = false, -1, false
	if fl&vfFreeText != 0 {
		st.reds = append(st.reds, redString{key: string(st.path[len(st.path)-1].key), rawStart: raw0, raw1: raw1, text: s})
		st.curRed = len(st.reds) - 1
	}
	st.scanText(s, fl&vfASN != 0)
	if st.curRed >= 0 && len(st.reds[st.curRed].spans) == 0 {
		st.reds = st.reds[:st.curRed]
	}
	st.curRed = -1
	if fl&vfNumber != 0 {
		if n, ok := NormalizeASN(string(s)); ok == nil {
			st.pending = append(st.pending, pendingASN{n, st.renderPath()})
		}
	}
	if fl&vfRef != 0 && len(st.path) > 0 {
		k := st.path[0].key
		idx := -1
		if len(st.path) > 1 {
			idx = st.path[1].idx
		}
		st.refs = append(st.refs, ref{key: string(k), idx: idx, id: string(s)})
	}
}

// scanText runs every rule over one string.
func (st *state) scanText(s []byte, asnCtx bool) {
	if len(s) < 2 || isTimestamp(s) {
		return
	}
	if t := idTypeLen(s); t > 0 {
		s = s[:t] // an identifier: only its type part is free to say anything
	}
	ctx := 0
	if asnCtx {
		ctx = 1
	}
	cacheable := len(s) <= cleanMaxLen
	if cacheable {
		if _, ok := st.clean[ctx][string(s)]; ok {
			return
		}
	}
	st.scanText1(s, asnCtx)
	if cacheable && !st.curHave {
		c := st.clean[ctx]
		if c == nil || len(c) >= cleanMaxEntries {
			c = make(map[string]struct{}, 256)
			st.clean[ctx] = c
		}
		c[string(s)] = struct{}{}
	}
}

func (st *state) scanText1(s []byte, asnCtx bool) {
	fl := classify(s)
	if fl&(flDigit|flAlpha|flHigh) == 0 {
		return
	}
	m := st.m
	hasNames, hasRegex := len(m.nameFirst) > 0, len(m.res) > 0
	st.curMapped = nil
	if hasNames {
		st.names(s)
	}
	if hasRegex {
		st.regexes(s)
	}
	if m.needHosts {
		st.x.asnCtx = asnCtx
		st.x.mp = nil
		st.x.run(s, fl)
	}
	if fl&flRefang != 0 {
		v, mp, changed := deobfuscate(st.x.view[:0], st.x.vmap[:0], s, true)
		st.x.view, st.x.vmap = v, mp
		if changed {
			st.curMapped = mp
			if hasNames {
				st.names(v)
			}
			if hasRegex {
				st.regexes(v)
			}
			if m.needHosts {
				st.x.mp = mp
				st.x.run(v, classify(v))
				st.x.mp = nil
			}
			st.curMapped = nil
		}
	}
}

// isTimestamp reports a STIX timestamp, which cannot carry an asset.
func isTimestamp(s []byte) bool {
	if len(s) < 20 || len(s) > 40 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return false
	}
	for i, c := range s[:len(s)-1] {
		switch i {
		case 4, 7, 10, 13, 16:
			continue
		case 19:
			if c != '.' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// idTypeLen returns the length of the type part of a STIX identifier
// (type--UUID), or 0 when s is not one.
func idTypeLen(s []byte) int {
	if len(s) < 36+3 {
		return 0
	}
	t := len(s) - 36 - 2
	if s[t] != '-' || s[t+1] != '-' || !isUUID(s[t+2:]) {
		return 0
	}
	return t
}

// isUUID is stix.IsUUID on bytes, without a conversion.
func isUUID(u []byte) bool {
	if len(u) != 36 || u[8] != '-' || u[13] != '-' || u[18] != '-' || u[23] != '-' {
		return false
	}
	for i, c := range u {
		if !hexByte[c] && i != 8 && i != 13 && i != 18 && i != 23 {
			return false
		}
	}
	return true
}

// names finds the protected names in s: whole words, in order, whatever
// separates them. Most words are ruled out by the first-word bitset; the
// words after a possible first word are read with a second iterator.
func (st *state) names(s []byte) {
	m := st.m
	st.words.reset(s)
	for {
		w, a, b, ok := st.words.next()
		if !ok {
			return
		}
		if !m.maybeFirstWord(w) {
			continue
		}
		maxN, ok := m.nameFirst[string(w)]
		if !ok {
			continue
		}
		key := append(st.key[:0], w...)
		if idx, ok := m.names[string(key)]; ok {
			st.hitMapped(KindName, idx, a, b)
		}
		if maxN > 1 {
			la := st.words // a copy: reads ahead without moving st.words
			for n := 2; n <= int(maxN); n++ {
				w2, _, b2, ok := la.next()
				if !ok {
					break
				}
				key = append(append(key, ' '), w2...)
				if idx, ok := m.names[string(key)]; ok {
					st.hitMapped(KindName, idx, a, b2)
				}
			}
			st.words.buf = la.buf // keep the grown buffer
		}
		st.key = key
	}
}

func (st *state) regexes(s []byte) {
	st.m.regexHits(s, func(idx int32, a, b int) { st.hitMapped(KindRegex, idx, a, b) })
}

// hitMapped records a hit whose span is in the refanged view when there
// is one.
func (st *state) hitMapped(kind Kind, idx int32, a, b int) {
	if st.curMapped != nil {
		a, b = int(st.curMapped[a]), int(st.curMapped[b])
	}
	st.hit(kind, idx, a, b)
}

// sink methods: the extractor's candidates, looked up.

func (st *state) prefix(p netip.Prefix, start, end int) {
	if idx, ok := st.m.lookupPrefix(p); ok {
		st.hit(KindCIDR, idx, start, end)
	}
}

func (st *state) domain(d []byte, start, end int) {
	if idx, ok := lookupSuffix(st.m.domains, st.m.domBits, d); ok {
		st.hit(KindDomain, idx, start, end)
	}
}

func (st *state) email(local, d []byte, start, end int) {
	if idx, ok := st.m.lookupEmail(local, d, &st.look); ok {
		st.hit(KindEmail, idx, start, end)
	}
}

func (st *state) asn(n uint32, start, end int) {
	if idx, ok := st.m.asns[n]; ok {
		st.hit(KindASN, idx, start, end)
	}
}

// hit records a match in the current string.
func (st *state) hit(kind Kind, idx int32, start, end int) {
	if !st.curHave {
		if st.curKey {
			st.path[len(st.path)-1].hit = true
		}
		st.curPath = st.renderPath()
		st.curHave = true
	}
	st.add(kind, idx, st.curPath, st.curRed)
	if st.curRed >= 0 && end > start {
		r := &st.reds[st.curRed]
		r.spans = append(r.spans, [2]int{start, end})
	}
}

func (st *state) add(kind Kind, idx int32, path string, red int) {
	for _, f := range st.findings {
		if f.Rule == kind && f.Asset == int(idx) && f.Path == path && f.red == red {
			return
		}
	}
	if len(st.findings) >= maxFindings {
		st.trunc = true
		return
	}
	st.findings = append(st.findings, finding{Finding{Rule: kind, Path: path, Asset: int(idx)}, red})
}

// renderPath writes the current JSON path. Keys that are not plain
// identifiers, or matched themselves, are written as {key}: a path must
// not carry what it points at.
func (st *state) renderPath() string {
	var b []byte
	for i, sg := range st.path {
		if sg.idx >= 0 {
			b = append(b, '[')
			b = strconv.AppendInt(b, int64(sg.idx), 10)
			b = append(b, ']')
			continue
		}
		if i > 0 {
			b = append(b, '.')
		}
		if sg.hit || !plainKey(sg.key) {
			b = append(b, "{key}"...)
		} else {
			b = append(b, sg.key...)
		}
	}
	return string(b)
}

// plainKey: letters, digits, '_' and '-', as STIX property names and
// dictionary keys such as hash names are written.
func plainKey(k []byte) bool {
	if len(k) == 0 || len(k) > 250 {
		return false
	}
	for _, c := range k {
		if !alnum[c] && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
