package match

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"fusion/internal/stix/pattern"
)

// Kind says how an observable matched an indicator, strongest first.
type Kind uint8

const (
	// KindExact: the observable equals a value that decides the
	// indicator's pattern on its own (after normalisation).
	KindExact Kind = iota + 1
	// KindCIDR: the address (or block) lies in a CIDR block of the
	// indicator (ISSUBSET, or an address property equal to a block).
	KindCIDR
	// KindPattern: the indicator's pattern was evaluated against the
	// observable (or the observed data) and matched.
	KindPattern
	// KindSubdomain: the observable is a name below a domain the
	// indicator names (a weaker match: x.evil.example for evil.example).
	KindSubdomain
	// KindPartial: the observable equals a value the indicator's pattern
	// needs, but the pattern needs more than was observed (other
	// properties, objects or observations) and did not match.
	KindPartial
)

var kindNames = [...]string{"", "exact", "cidr", "pattern", "subdomain", "partial"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Hit is one match of an observable (or of observed data) with an
// indicator version. The caller must ask the policy whether the reader
// may see Ref before reporting the hit in any form.
type Hit struct {
	// Input is the position of the observable in the batch (the line
	// number counting from 0 for LookupLines, the observation for
	// MatchObservations); -1 when a pattern matched several observations
	// together.
	Input      int
	Ref        Ref
	Kind       Kind
	Observable Observable // normalised; zero for the evaluated (KindPattern, KindPartial) hits of MatchObservations
	// Matched is the indicator's value when it differs from the
	// observable: the domain above a subdomain, the CIDR block holding
	// an address. Empty otherwise.
	Matched    string
	ValidFrom  time.Time
	ValidUntil time.Time // zero when the indicator has no valid_until (or one after 2262)
}

// Matcher looks observables up in an Index. It keeps scratch buffers and
// is not safe for concurrent use; make one per goroutine (NewMatcher is
// cheap), or use the Index's batch methods, which do.
type Matcher struct {
	x    *Index
	s    *snapshot
	segs []*segment
	now  int64
	k    keyer
	k2   keyer

	// the observable being looked up
	typ, path string // type and canonical path
	keys      []string
	// The canonical value is made into a string only for a hit: it is
	// value (valMode valString), the text in valBuf (valBytes), the hex
	// of the digest in valBuf (valHex), or prefix (valPrefix). valBuf
	// points into the keyer's key, which stays put during one lookup.
	value   string
	valBuf  []byte
	prefix  netip.Prefix
	valMode uint8
	obsObj  *pattern.Observation // synthetic observation, made on demand
	input   int
	start   int      // first hit of this observable in dst
	slots   []uint32 // slot of each hit since start
	// cands, when set, receives candidate postings instead of their
	// being evaluated (MatchObservations evaluates them afterwards).
	cands func(slot uint32, p posting)
	// perObservation keeps the hits of several lookups together for
	// deduplication (all the properties of one observation).
	perObservation bool

	ex     *Extractor // LookupExtract
	obsBuf []Observable
}

// NewMatcher returns a Matcher for the index.
func (x *Index) NewMatcher() *Matcher { return &Matcher{x: x} }

// begin loads the current snapshot and clock.
func (m *Matcher) begin() {
	m.s = m.x.cur.Load()
	m.segs = append(m.segs[:0], m.s.base)
	m.segs = append(m.segs, m.s.delta...)
	m.now = unixNano(m.x.opts.Now())
}

// LookupString detects the kind of an untyped value (see Detect), looks
// it up and appends its hits to dst, strongest kind first for each
// indicator. ok is false when the value is none of the kinds Detect
// knows (dst is returned unchanged).
func (m *Matcher) LookupString(s string, dst []Hit) (_ []Hit, ok bool) {
	m.begin()
	return m.lookupString(s, -1, dst)
}

// Lookup looks a typed observable up (normalising its value as the
// package documentation says) and appends its hits to dst. A value that
// does not have the form of its type (an ipv4-addr value that is no
// address) is matched as an exact string, as indicators with such values
// are. An error is returned only for a malformed Path.
func (m *Matcher) Lookup(o Observable, dst []Hit) ([]Hit, error) {
	m.begin()
	return m.lookup(o, -1, dst)
}

func (m *Matcher) lookupString(s string, input int, dst []Hit) ([]Hit, bool) {
	var d detected
	if !m.k.detect(s, &d) {
		return dst, false
	}
	m.reset(input, len(dst))
	switch d.c {
	case cIP:
		m.setIP(d.prefix)
		return m.probeIP(d.prefix, dst, false), true
	case cHash:
		m.typ, m.path, m.keys = "file", hashPaths[d.alg], hashKeys[d.alg]
	case cDomain:
		m.typ, m.path, m.keys = "domain-name", "value", valueKeys
	case cURL:
		m.typ, m.path, m.keys = "url", "value", valueKeys
	case cEmail:
		m.typ, m.path, m.keys = "email-addr", "value", valueKeys
	}
	if d.c == cHash {
		m.valBuf, m.valMode = m.k.key[1:], valHex
	} else {
		m.valBuf, m.valMode = m.k.key[1:], valBytes
	}
	dst = m.probe(m.k.key, dst, probeAll)
	if d.c == cDomain {
		dst = m.parents(m.k.norm, dst)
	}
	return dst, true
}

var (
	valueKeys = []string{"value"}
	hashPaths = map[string]string{
		"MD5": "hashes.MD5", "SHA-1": "hashes.'SHA-1'", "SHA-256": "hashes.'SHA-256'", "SHA-512": "hashes.'SHA-512'",
	}
	hashKeys = map[string][]string{
		"MD5": {"hashes", "MD5"}, "SHA-1": {"hashes", "SHA-1"}, "SHA-256": {"hashes", "SHA-256"}, "SHA-512": {"hashes", "SHA-512"},
	}
)

func (m *Matcher) reset(input, start int) {
	m.input = input
	m.obsObj = nil
	if !m.perObservation {
		m.start = start
		m.slots = m.slots[:0]
	}
}

const (
	valString = iota
	valBytes
	valHex // valBuf holds a digest: the value is its lower-case hex
	valPrefix
)

func (m *Matcher) setString(v string) { m.value, m.valMode = v, valString }

func (m *Matcher) setIP(p netip.Prefix) {
	m.typ, m.path, m.keys = "ipv4-addr", "value", valueKeys
	if p.Addr().Is6() {
		m.typ = "ipv6-addr"
	}
	m.prefix, m.valMode = p, valPrefix
}

// pathString returns the canonical path, formatting it from the keys
// when the caller gave none.
func (m *Matcher) pathString() string {
	if m.path == "" {
		m.path = formatPath(m.keys)
	}
	return m.path
}

// val returns the canonical value as a string.
func (m *Matcher) val() string {
	switch m.valMode {
	case valBytes:
		m.value, m.valMode = string(m.valBuf), valString
	case valHex:
		m.value, m.valMode = hex.EncodeToString(m.valBuf), valString
	case valPrefix:
		if m.prefix.IsSingleIP() {
			m.value = m.prefix.Addr().String()
		} else {
			m.value = m.prefix.String()
		}
		m.valMode = valString
	}
	return m.value
}

func (m *Matcher) lookup(o Observable, input int, dst []Hit) ([]Hit, error) {
	keys := valueKeys
	path := o.Path
	if path != "value" {
		var err error
		if keys, err = parsePath(o.Path); err != nil {
			return dst, err
		}
		path = formatPath(keys)
	}
	return m.lookupKeys(o.Type, path, keys, o.Value, input, dst, probeAll), nil
}

// probe modes
const (
	probeAll        = iota // exact and candidate postings
	probeCandidates        // candidate postings only (a value whose type is not known)
)

// lookupKeys looks up the value of one property (path in canonical form).
func (m *Matcher) lookupKeys(typ, path string, keys []string, v string, input int, dst []Hit, mode int) []Hit {
	m.reset(input, len(dst))
	m.typ, m.path, m.keys = typ, path, keys
	c := classOf(typ, keys)
	switch c {
	case cIP:
		if p, ok := parsePrefix(v); ok {
			m.setIP(p)
			m.typ = typ
			return m.probeIP(p, dst, mode == probeCandidates)
		}
	case cDomain, cURL, cEmail:
		if _, ok := m.k.valueKey(c, v); ok {
			m.valBuf, m.valMode = m.k.key[1:], valBytes
			dst = m.probe(m.k.key, dst, mode)
			if c == cDomain && mode == probeAll {
				dst = m.parents(m.k.key[1:], dst)
			}
			return dst
		}
	case cHash:
		if isDigest(v) && m.k.hashKey(v) {
			m.valBuf, m.valMode = m.k.key[1:], valHex
			return m.probe(m.k.key, dst, mode)
		}
	}
	m.setString(v)
	if path == "" {
		m.k.otherKey(typ, keys, v)
	} else {
		m.k.otherKeyPath(typ, path, v)
	}
	dst = m.probe(m.k.key, dst, mode)
	if c == cOther && len(keys) == 1 && keys[0] == "value" {
		// The value property of an unknown type: reference paths
		// in patterns (…_ref.value) key such values by their form.
		dst = m.probeForm(v, dst)
	}
	return dst
}

// probeForm probes the key a value's form gives, for candidate postings.
func (m *Matcher) probeForm(v string, dst []Hit) []Hit {
	c := formClass(v)
	switch c {
	case cNone:
		return dst
	case cIP:
		p, _ := parsePrefix(v)
		return m.probeIPWith(p, dst, true)
	}
	if _, ok := m.k2.valueKey(c, v); ok {
		dst = m.probe(m.k2.key, dst, probeCandidates)
	}
	return dst
}

// probeIP probes an address (its key and the blocks holding it) or a
// block (the blocks holding it).
func (m *Matcher) probeIP(p netip.Prefix, dst []Hit, candidatesOnly bool) []Hit {
	return m.probeIPWith(p, dst, candidatesOnly)
}

func (m *Matcher) probeIPWith(p netip.Prefix, dst []Hit, candidatesOnly bool) []Hit {
	mode := probeAll
	if candidatesOnly {
		mode = probeCandidates
	}
	if p.IsSingleIP() {
		m.k2.key = appendAddrKey(m.k2.key[:0], p.Addr())
		dst = m.probe(m.k2.key, dst, mode)
	}
	for _, seg := range m.segs {
		seg.blocks(p, func(blk netip.Prefix, ps []posting) {
			for _, q := range ps {
				if candidatesOnly && q&pCandidate == 0 {
					continue
				}
				dst = m.emit(q, KindCIDR, blk.String(), dst)
			}
		})
	}
	return dst
}

// probe looks a key up in every segment.
func (m *Matcher) probe(key []byte, dst []Hit, mode int) []Hit {
	h := m.x.hash(key)
	for _, seg := range m.segs {
		ps := seg.find(h, key)
		for i := 0; i < len(ps)/4; i++ {
			q := postingAt(ps, i)
			if mode == probeCandidates && q&pCandidate == 0 {
				continue
			}
			dst = m.emit(q, KindExact, "", dst)
		}
	}
	return dst
}

// parents probes the domains above a canonical name (down to two
// labels) for subdomain matches.
func (m *Matcher) parents(name []byte, dst []Hit) []Hit {
	for i := 0; i < len(name); i++ {
		if name[i] != '.' {
			continue
		}
		parent := name[i+1:]
		if bytes.IndexByte(parent, '.') < 0 {
			break
		}
		m.k2.key = append(append(m.k2.key[:0], kDomain), parent...)
		h := m.x.hash(m.k2.key)
		for _, seg := range m.segs {
			ps := seg.find(h, m.k2.key)
			for j := 0; j < len(ps)/4; j++ {
				q := postingAt(ps, j)
				if q&(pCandidate|pNoParent) != 0 {
					continue
				}
				dst = m.emit(q, KindSubdomain, string(parent), dst)
			}
		}
	}
	return dst
}

// emit appends the hit of one posting, unless its entry is dead or not
// valid now, or the indicator already has a hit at least as strong for
// this observable. Candidate postings are evaluated first.
func (m *Matcher) emit(q posting, kind Kind, matched string, dst []Hit) []Hit {
	slot := q.slot()
	ents := &m.s.ents
	if ents.isDead(slot) {
		return dst
	}
	e := ents.at(slot)
	if m.now < e.validFrom || m.now >= e.validUntil {
		return dst
	}
	if q&pCandidate != 0 {
		if m.cands != nil {
			m.cands(slot, q)
			return dst
		}
		if m.evaluate(e) {
			kind = KindPattern
		} else {
			kind = KindPartial
		}
	}
	for i, s := range m.slots {
		if s == slot {
			if h := &dst[m.start+i]; kind < h.Kind {
				h.Kind, h.Matched = kind, matched
			}
			return dst
		}
	}
	m.slots = append(m.slots, slot)
	return append(dst, m.hit(slot, e, kind, matched))
}

func (m *Matcher) hit(slot uint32, e *entry, kind Kind, matched string) Hit {
	h := m.s.hitOf(m.input, e, kind, matched)
	h.Observable = Observable{Type: m.typ, Path: m.pathString(), Value: m.val()}
	return h
}

// hitOf makes a Hit without an observable.
func (s *snapshot) hitOf(input int, e *entry, kind Kind, matched string) Hit {
	h := Hit{
		Input:     input,
		Ref:       s.ref(e),
		Kind:      kind,
		Matched:   matched,
		ValidFrom: time.Unix(0, e.validFrom).UTC(),
	}
	if e.validUntil != maxInt64 {
		h.ValidUntil = time.Unix(0, e.validUntil).UTC()
	}
	return h
}

const maxInt64 = 1<<63 - 1

// ref rebuilds the Ref of an entry.
func (s *snapshot) ref(e *entry) Ref {
	var b []byte
	b = append(b, s.idTypes[e.idType]...)
	b = append(b, '-', '-')
	b = formatUUID(b, &e.uuid)
	r := Ref{Collection: s.colls[e.coll], ID: string(b)}
	if e.modSec != noTime {
		r.Modified = time.Unix(e.modSec, int64(e.modNsec)).UTC()
	}
	return r
}

// evaluate runs an entry's pattern against an observation holding only
// the current observable, observed now.
func (m *Matcher) evaluate(e *entry) bool {
	p := m.x.pats.get(m.s.pats.at(e.pat))
	if p == nil {
		return false
	}
	if m.obsObj == nil {
		obj := map[string]any{"type": m.typ}
		cur := obj
		for i, k := range m.keys {
			if i == len(m.keys)-1 {
				cur[k] = m.val()
				break
			}
			next := map[string]any{}
			cur[k] = next
			cur = next
		}
		t := time.Unix(0, m.now).UTC()
		m.obsObj = &pattern.Observation{
			FirstObserved: t, LastObserved: t, NumberObserved: 1,
			Objects: []map[string]any{obj},
			ByRef:   map[string]map[string]any{},
		}
	}
	return p.MatchObservation(m.obsObj)
}

// patternCache keeps parsed patterns of the entries that need
// evaluation, by text. It is bounded: when full it starts again.
type patternCache struct {
	mu sync.Mutex
	m  map[string]*pattern.Pattern
}

const patternCacheSize = 1 << 14

func (c *patternCache) get(text string) *pattern.Pattern {
	c.mu.Lock()
	p, ok := c.m[text]
	c.mu.Unlock()
	if ok {
		return p
	}
	p, err := pattern.Parse(text)
	if err != nil {
		p = nil // cannot happen: compile parsed it
	} else {
		normalizePattern(p)
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= patternCacheSize {
		c.m = make(map[string]*pattern.Pattern)
	}
	c.m[text] = p
	c.mu.Unlock()
	return p
}

// matcherPool serves the Index's own one-call methods.
func (x *Index) matcher() *Matcher {
	if m, ok := x.mpool.Get().(*Matcher); ok {
		return m
	}
	return x.NewMatcher()
}

func (x *Index) release(m *Matcher) {
	m.s, m.obsObj, m.cands = nil, nil, nil
	m.segs = m.segs[:0]
	x.mpool.Put(m)
}

// LookupString is Matcher.LookupString on a pooled Matcher.
func (x *Index) LookupString(s string) ([]Hit, bool) {
	m := x.matcher()
	defer x.release(m)
	return m.LookupString(s, nil)
}

// Lookup is Matcher.Lookup on a pooled Matcher.
func (x *Index) Lookup(o Observable) ([]Hit, error) {
	m := x.matcher()
	defer x.release(m)
	return m.Lookup(o, nil)
}

// chunk is how many observables a batch worker screens per snapshot.
const chunk = 1024

// LookupStrings screens untyped values (as LookupString) over all cores.
// Hits are in input order; Hit.Input is the value's index. recognised
// counts the values Detect knew.
func (x *Index) LookupStrings(values []string) (hits []Hit, recognised int) {
	return x.batch(len(values), func(m *Matcher, i int, dst []Hit) ([]Hit, int) {
		out, ok := m.lookupString(values[i], i, dst)
		return out, b2i(ok)
	})
}

// LookupObservables screens typed observables (as Lookup) over all cores.
// Hits are in input order; Hit.Input is the observable's index.
// Observables with a malformed Path are skipped and not counted in
// recognised.
func (x *Index) LookupObservables(obs []Observable) (hits []Hit, recognised int) {
	return x.batch(len(obs), func(m *Matcher, i int, dst []Hit) ([]Hit, int) {
		out, err := m.lookup(obs[i], i, dst)
		return out, b2i(err == nil)
	})
}

// LookupLines screens newline-separated untyped values (a request body, a
// block of a file) over all cores; a "\r" before the newline and
// surrounding white space are ignored, as are empty lines. Hit.Input is
// the line number counting from 0. recognised counts the lines Detect
// knew.
func (x *Index) LookupLines(text []byte) (hits []Hit, recognised int) {
	s, starts := splitLines(text)
	return x.batch(len(starts), func(m *Matcher, i int, dst []Hit) ([]Hit, int) {
		line := lineAt(s, starts, i)
		if line == "" || line == "\r" {
			return dst, 0
		}
		out, ok := m.lookupString(line, i, dst)
		return out, b2i(ok)
	})
}

// LookupExtract screens free text (log lines) over all cores: the
// observables an Extractor finds in each line are looked up. Hit.Input is
// the line number counting from 0; found counts the observables
// extracted.
func (x *Index) LookupExtract(text []byte) (hits []Hit, found int) {
	s, starts := splitLines(text)
	return x.batch(len(starts), func(m *Matcher, i int, dst []Hit) ([]Hit, int) {
		if m.ex == nil {
			m.ex = &Extractor{}
		}
		m.obsBuf = m.ex.extract(lineAt(s, starts, i), m.obsBuf[:0])
		for _, o := range m.obsBuf {
			dst, _ = m.lookup(o, i, dst)
		}
		return dst, len(m.obsBuf)
	})
}

// splitLines copies text into a string once (so that lines are strings
// without allocating) and finds where its lines start.
func splitLines(text []byte) (string, []int) {
	s := string(text)
	starts := make([]int, 0, len(s)/32+1)
	for i := 0; i < len(s); {
		starts = append(starts, i)
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return s, starts
}

func lineAt(s string, starts []int, i int) string {
	lo, hi := starts[i], len(s)
	if i+1 < len(starts) {
		hi = starts[i+1] - 1
	}
	return s[lo:hi]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// batch runs fn for every index in [0, n) over all cores, each worker on a
// contiguous range with its own Matcher, reloading the snapshot every
// chunk items; results are concatenated in index order.
func (x *Index) batch(n int, fn func(m *Matcher, i int, dst []Hit) ([]Hit, int)) ([]Hit, int) {
	type part struct {
		hits []Hit
		n    int
	}
	var parts [64]part
	np := 0
	parallelParts(n, 4*chunk, len(parts), func(p, lo, hi int) {
		m := x.matcher()
		defer x.release(m)
		var hits []Hit
		cnt := 0
		for i := lo; i < hi; i++ {
			if (i-lo)%chunk == 0 {
				m.begin()
			}
			var c int
			hits, c = fn(m, i, hits)
			cnt += c
		}
		parts[p] = part{hits, cnt}
	}, &np)
	if np == 1 {
		return parts[0].hits, parts[0].n
	}
	var all []Hit
	total := 0
	for _, p := range parts[:np] {
		all = append(all, p.hits...)
		total += p.n
	}
	return all, total
}

// parallelParts runs fn over [0, n) in up to maxParts (and GOMAXPROCS)
// contiguous parts of at least min items, part p getting [lo, hi); *np is
// set to the number of parts.
func parallelParts(n, min, maxParts int, fn func(p, lo, hi int), np *int) {
	w := min2(runtime.GOMAXPROCS(0), maxParts)
	if w > 1 && n < 2*min {
		w = 1
	}
	if w > 1 {
		w = min2(w, n/min)
	}
	if w <= 1 {
		*np = 1
		fn(0, 0, n)
		return
	}
	*np = w
	var wg sync.WaitGroup
	for i := range w {
		lo, hi := n*i/w, n*(i+1)/w
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i, lo, hi)
		}()
	}
	wg.Wait()
}

func min2(a, b int) int {
	if a < b {
		return a
	}
	return b
}
