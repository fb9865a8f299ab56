package pattern

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// compiled is the evaluation form of one Comparison, built by Parse.
type compiled struct {
	re     *regexp.Regexp // LIKE and MATCHES; nil when MATCHES is not RE2
	prefix netip.Prefix   // ISSUBSET and ISSUPERSET; invalid when the constant is not a CIDR
}

func compile(c *Comparison) *compiled {
	m := &compiled{}
	switch c.Op {
	case OpMatches:
		// RE2 syntax only: PCRE features (back-references, look-around,
		// possessive quantifiers…) fail to compile and never match.
		m.re, _ = regexp.Compile(c.Value.Str)
	case OpLike:
		m.re = regexp.MustCompile(likeToRegexp(c.Value.Str))
	case OpIsSubset, OpIsSuperset:
		m.prefix, _ = parsePrefix(c.Value.Str)
	}
	return m
}

// likeToRegexp turns an SQL LIKE pattern (% any run, _ any one character,
// no escape character) into an anchored RE2 expression.
func likeToRegexp(like string) string {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range like {
		switch r {
		case '%':
			b.WriteString(".*")
		case '_':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return b.String()
}

// parsePrefix parses an IPv4 or IPv6 address or CIDR block; an address is
// the block of that one address. Host bits of a CIDR are cleared.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() {
			bits := p.Bits() - 96
			if bits < 0 {
				return netip.Prefix{}, false
			}
			p = netip.PrefixFrom(p.Addr().Unmap(), bits)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// Observation is one Observed Data instance as the evaluator sees it.
type Observation struct {
	FirstObserved  time.Time
	LastObserved   time.Time
	NumberObserved int // values below 1 count as 1

	// Objects are the observed objects that comparisons are rooted at:
	// the objects named by object_refs (STIX 2.1) or the values of the
	// embedded "objects" dictionary (STIX 2.0), as decoded JSON
	// (map[string]any with string, float64, bool, nil, []any and
	// map[string]any values).
	Objects []map[string]any

	// ByRef resolves references made by *_ref and *_refs properties: the
	// object's id in STIX 2.1, its key in the "objects" dictionary in
	// STIX 2.0. A reference that does not resolve matches nothing.
	ByRef map[string]map[string]any
}

func (o *Observation) count() int64 {
	if o.NumberObserved < 1 {
		return 1
	}
	return int64(o.NumberObserved)
}

// MaxBindings caps the partial matches the evaluator keeps for one node of
// a pattern's observation tree. Patterns that combine many observation
// expressions (AND, FOLLOWEDBY, REPEATS) over many matching observations
// may, past the cap, miss a match that exists; they never report a match
// that does not.
const MaxBindings = 128

// MaxWork bounds the steps (observations tested, partial matches
// combined) one Match call may take for a pattern with several observation
// expressions, so that a hostile pattern cannot hold a CPU. A Match that
// runs out of steps reports no match.
const MaxWork = 1 << 23

// maxSearch bounds the assignments tried when one bracketed expression
// compares several object types; past it, the observation is not matched.
const maxSearch = 1 << 16

// Match reports whether the observations, taken together, satisfy the
// pattern (STIX 2.1 chapter 9): each bracketed observation expression is
// matched by one observation; AND and FOLLOWEDBY need distinct
// observations (an observation with number_observed n counts as n); OR
// needs either side; FOLLOWEDBY needs the left side's observations to have
// been able to happen no later than the right side's (latest
// first_observed on the left ≤ earliest last_observed on the right);
// WITHIN n SECONDS needs the observations' [first_observed, last_observed]
// intervals to fit within one window of n seconds; REPEATS n TIMES needs n
// distinct matches; START/STOP needs every observation's interval to
// overlap [start, stop). The order of obs does not matter.
//
// Inside a bracketed expression, comparisons on the same object type must
// hold for one object (of Objects); comparisons on different object types
// may hold for different objects of the same observation.
//
// Match is safe for concurrent use; it does not modify obs.
func (p *Pattern) Match(obs []Observation) bool {
	root := p.Root
	for {
		par, ok := root.(*ObsParen)
		if !ok {
			break
		}
		root = par.Inner
	}
	if br, ok := root.(*ObsBracket); ok {
		for i := range obs {
			if br.matches(&obs[i]) {
				return true
			}
		}
		return false
	}
	ev := evaluator{obs: obs, work: MaxWork}
	return len(ev.eval(root)) > 0
}

// MatchObservation reports whether one observation alone satisfies the
// pattern; it is Match with a one-element slice.
func (p *Pattern) MatchObservation(o *Observation) bool {
	return p.Match([]Observation{*o})
}

// bracketPlan is the evaluation form of a bracketed expression.
type bracketPlan struct {
	types []string      // distinct object types, in order of appearance
	atoms []*Comparison // every comparison of the bracket
	typ   []int         // atom index -> index in types
}

func planBracket(b *ObsBracket) *bracketPlan {
	pl := &bracketPlan{}
	var walk func(e ComparisonExpr)
	walk = func(e ComparisonExpr) {
		switch x := e.(type) {
		case *Comparison:
			ti := -1
			for i, t := range pl.types {
				if t == x.Path.ObjectType {
					ti = i
				}
			}
			if ti < 0 {
				ti = len(pl.types)
				pl.types = append(pl.types, x.Path.ObjectType)
			}
			pl.atoms = append(pl.atoms, x)
			pl.typ = append(pl.typ, ti)
		case *CompBinary:
			walk(x.Left)
			walk(x.Right)
		case *CompParen:
			walk(x.Inner)
		}
	}
	walk(b.Comparison)
	return pl
}

func (b *ObsBracket) matches(o *Observation) bool {
	pl := b.plan
	if pl == nil {
		pl = planBracket(b)
	}
	if len(pl.types) == 1 {
		t := pl.types[0]
		for _, obj := range o.Objects {
			if typ, _ := obj["type"].(string); typ == t && evalComp(b.Comparison, obj, o) {
				return true
			}
		}
		return false
	}
	return matchMultiType(b, pl, o)
}

// evalComp evaluates a comparison expression with every comparison rooted
// at obj.
func evalComp(e ComparisonExpr, obj map[string]any, o *Observation) bool {
	switch x := e.(type) {
	case *Comparison:
		return x.holds(obj, o)
	case *CompBinary:
		if x.Op == And {
			return evalComp(x.Left, obj, o) && evalComp(x.Right, obj, o)
		}
		return evalComp(x.Left, obj, o) || evalComp(x.Right, obj, o)
	case *CompParen:
		return evalComp(x.Inner, obj, o)
	}
	return false
}

// matchMultiType searches for one object per object type that together
// satisfy the expression. The expression is monotone in its comparisons
// (NOT applies to operators only), which the search uses to prune.
func matchMultiType(b *ObsBracket, pl *bracketPlan, o *Observation) bool {
	// For each type, the distinct truth vectors its objects give the
	// comparisons on that type. A type with no object gives all-false.
	vecs := make([][]string, len(pl.types))
	for ti, t := range pl.types {
		seen := map[string]bool{}
		for _, obj := range o.Objects {
			if typ, _ := obj["type"].(string); typ != t {
				continue
			}
			v := make([]byte, len(pl.atoms))
			for ai, a := range pl.atoms {
				if pl.typ[ai] == ti && a.holds(obj, o) {
					v[ai] = 1
				}
			}
			if !seen[string(v)] {
				seen[string(v)] = true
				vecs[ti] = append(vecs[ti], string(v))
			}
		}
		if len(vecs[ti]) == 0 {
			vecs[ti] = []string{string(make([]byte, len(pl.atoms)))}
		}
	}
	idx := make(map[*Comparison]int, len(pl.atoms))
	for i, a := range pl.atoms {
		idx[a] = i
	}
	chosen := make([]string, len(pl.types))
	budget := maxSearch
	// eval3 returns the expression's lowest and highest possible value
	// given the types chosen so far (unchosen comparisons are unknown).
	var eval3 func(e ComparisonExpr) (lo, hi bool)
	eval3 = func(e ComparisonExpr) (bool, bool) {
		switch x := e.(type) {
		case *Comparison:
			i := idx[x]
			v := chosen[pl.typ[i]]
			if v == "" {
				return false, true
			}
			return v[i] == 1, v[i] == 1
		case *CompBinary:
			l1, h1 := eval3(x.Left)
			l2, h2 := eval3(x.Right)
			if x.Op == And {
				return l1 && l2, h1 && h2
			}
			return l1 || l2, h1 || h2
		case *CompParen:
			return eval3(x.Inner)
		}
		return false, false
	}
	var search func(ti int) bool
	search = func(ti int) bool {
		lo, hi := eval3(b.Comparison)
		if lo {
			return true
		}
		if !hi || ti == len(pl.types) {
			return false
		}
		for _, v := range vecs[ti] {
			if budget--; budget < 0 {
				return false
			}
			chosen[ti] = v
			if search(ti + 1) {
				return true
			}
		}
		chosen[ti] = ""
		return false
	}
	return search(0)
}

// vflags describe how a value reached by an object path is to be read.
type vflags uint8

const (
	fRef     vflags = 1 << iota // a reference to resolve before the next step
	fRefList                    // a list of references
	fHex                        // under a *_hex property: hex-encoded binary
	fBase64                     // under a *_bin property: base64-encoded binary
	fHash                       // under a hashes dictionary: hex digest
)

// holds reports whether the comparison is true for the object rooted at
// obj: the path reaches at least one value and one of them passes.
func (c *Comparison) holds(obj map[string]any, o *Observation) bool {
	return walkPath(obj, c.Path.Steps, 0, o, func(v any, fl vflags) bool {
		return c.test(v, fl)
	})
}

func keyFlags(key string, parent vflags) vflags {
	fl := parent & fHash
	switch {
	case key == "hashes":
		fl |= fHash
	case strings.HasSuffix(key, "_refs"):
		fl |= fRefList
	case strings.HasSuffix(key, "_ref"):
		fl |= fRef
	case strings.HasSuffix(key, "_hex"):
		fl |= fHex
	case strings.HasSuffix(key, "_bin"):
		fl |= fBase64
	}
	return fl
}

// walkPath follows steps from v and calls fn on every value reached,
// stopping at the first true. References are resolved through o.ByRef when
// a step follows them.
func walkPath(v any, steps []PathStep, fl vflags, o *Observation, fn func(any, vflags) bool) bool {
	if len(steps) == 0 {
		return v != nil && fn(v, fl)
	}
	if fl&fRef != 0 {
		id, ok := v.(string)
		if !ok {
			return false
		}
		obj, ok := o.ByRef[id]
		if !ok || obj == nil {
			return false
		}
		v, fl = obj, 0
	}
	s := steps[0]
	switch s.Kind {
	case StepKey:
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		nv, ok := m[s.Key]
		if !ok {
			return false
		}
		return walkPath(nv, steps[1:], keyFlags(s.Key, fl), o, fn)
	case StepIndex, StepAny:
		efl := fl &^ (fRef | fRefList)
		if fl&fRefList != 0 {
			efl |= fRef
		}
		switch l := v.(type) {
		case []any:
			if s.Kind == StepIndex {
				if s.Index < 0 || s.Index >= int64(len(l)) {
					return false
				}
				return walkPath(l[s.Index], steps[1:], efl, o, fn)
			}
			for _, e := range l {
				if walkPath(e, steps[1:], efl, o, fn) {
					return true
				}
			}
		case map[string]any:
			// [*] on a dictionary (e.g. file:hashes[*]) means any of its values.
			if s.Kind != StepAny {
				return false
			}
			for _, e := range l {
				if walkPath(e, steps[1:], efl, o, fn) {
					return true
				}
			}
		}
	}
	return false
}

// test applies the comparison to one value reached by its path.
func (c *Comparison) test(v any, fl vflags) bool {
	m := c.m
	if m == nil { // a tree not made by Parse
		m = compile(c)
	}
	switch c.Op {
	case OpEQ, OpNEQ:
		eq := equalValue2(v, fl, &c.Value)
		return eq != (c.Op == OpNEQ) != c.Negated
	case OpIn:
		in := false
		for i := range c.Value.Set {
			if equalValue2(v, fl, &c.Value.Set[i]) {
				in = true
				break
			}
		}
		return in != c.Negated
	case OpLT, OpLE, OpGT, OpGE:
		d, ok := order(v, fl, &c.Value)
		if !ok {
			return false // values that cannot be ordered never match, NOT or not
		}
		var r bool
		switch c.Op {
		case OpLT:
			r = d < 0
		case OpLE:
			r = d <= 0
		case OpGT:
			r = d > 0
		case OpGE:
			r = d >= 0
		}
		return r != c.Negated
	case OpLike, OpMatches:
		s, ok := textOf(v, fl)
		if !ok || m.re == nil {
			return false
		}
		return m.re.MatchString(s) != c.Negated
	case OpIsSubset, OpIsSuperset:
		s, ok := v.(string)
		if !ok || !m.prefix.IsValid() {
			return false
		}
		p, ok := parsePrefix(s)
		if !ok || p.Addr().Is4() != m.prefix.Addr().Is4() {
			return false
		}
		var r bool
		if c.Op == OpIsSubset {
			r = m.prefix.Bits() <= p.Bits() && m.prefix.Contains(p.Addr())
		} else {
			r = p.Bits() <= m.prefix.Bits() && p.Contains(m.prefix.Addr())
		}
		return r != c.Negated
	case OpExists:
		return true
	}
	return false
}

// textOf gives the text LIKE and MATCHES apply to: a string as is, and
// binary data with each byte read as the code point of the same value.
func textOf(v any, fl vflags) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	if fl&(fHex|fBase64) == 0 {
		return s, true
	}
	b, ok := binaryOf(s, fl)
	if !ok {
		return "", false
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), true
}

// binaryOf decodes a JSON string holding binary data.
func binaryOf(s string, fl vflags) ([]byte, bool) {
	switch {
	case fl&fBase64 != 0:
		b, err := base64.StdEncoding.DecodeString(s)
		return b, err == nil
	case fl&(fHex|fHash) != 0:
		b, err := hex.DecodeString(s)
		return b, err == nil
	}
	// a plain string compares to binary as the bytes of its code points,
	// when all are below 256
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

// parseJSONTime reads a STIX timestamp held in a JSON string.
func parseJSONTime(s string) (time.Time, bool) {
	if !strings.HasSuffix(s, "Z") || len(s) < 20 || s[10] != 'T' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// equalValue2 reports whether a JSON value equals a constant; values of
// kinds that cannot be compared are unequal.
func equalValue2(v any, fl vflags, k *Value) bool {
	switch k.Kind {
	case ValString:
		s, ok := v.(string)
		if !ok {
			return false
		}
		if fl&(fHex|fBase64) != 0 {
			b, ok := binaryOf(s, fl)
			kb, ok2 := binaryOf(k.Str, 0)
			return ok && ok2 && bytes.Equal(b, kb)
		}
		if fl&fHash != 0 {
			return strings.EqualFold(s, k.Str) // hex digests: case does not matter
		}
		return s == k.Str
	case ValInt:
		f, ok := v.(float64)
		return ok && f == float64(k.Int)
	case ValFloat:
		f, ok := v.(float64)
		return ok && f == k.Float
	case ValBool:
		b, ok := v.(bool)
		return ok && b == k.Bool
	case ValTimestamp:
		s, ok := v.(string)
		if !ok {
			return false
		}
		t, ok := parseJSONTime(s)
		return ok && t.Equal(k.Time)
	case ValBinary, ValHex:
		s, ok := v.(string)
		if !ok {
			return false
		}
		b, ok := binaryOf(s, fl)
		return ok && bytes.Equal(b, k.Bytes)
	}
	return false
}

// order compares a JSON value with a constant: <0, 0, >0, or ok=false when
// they cannot be ordered.
func order(v any, fl vflags, k *Value) (int, bool) {
	switch k.Kind {
	case ValString:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		if fl&(fHex|fBase64) != 0 {
			b, ok := binaryOf(s, fl)
			kb, ok2 := binaryOf(k.Str, 0)
			if !ok || !ok2 {
				return 0, false
			}
			return bytes.Compare(b, kb), true
		}
		return strings.Compare(s, k.Str), true
	case ValInt, ValFloat:
		f, ok := v.(float64)
		if !ok || math.IsNaN(f) {
			return 0, false
		}
		kf := k.Float
		if k.Kind == ValInt {
			kf = float64(k.Int)
		}
		switch {
		case f < kf:
			return -1, true
		case f > kf:
			return 1, true
		}
		return 0, true
	case ValTimestamp:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		t, ok := parseJSONTime(s)
		if !ok {
			return 0, false
		}
		return t.Compare(k.Time), true
	case ValBinary, ValHex:
		s, ok := v.(string)
		if !ok {
			return 0, false
		}
		b, ok := binaryOf(s, fl)
		if !ok {
			return 0, false
		}
		return bytes.Compare(b, k.Bytes), true
	}
	return 0, false
}

// binding is one way of matching an observation expression: how many
// instances of each observation it uses, and the time bounds they allow.
type binding struct {
	uses     []use
	maxFirst time.Time // latest first_observed of the observations used
	minLast  time.Time // earliest last_observed of the observations used
}

type use struct {
	obs int // index into the observations
	n   int64
}

type evaluator struct {
	obs  []Observation
	work int // steps left before the evaluation gives up
}

// spend takes n steps from the budget and reports whether any were left.
func (ev *evaluator) spend(n int) bool {
	ev.work -= n
	return ev.work >= 0
}

func (ev *evaluator) eval(e ObservationExpr) []binding {
	if ev.work < 0 {
		return nil
	}
	switch x := e.(type) {
	case *ObsBracket:
		var out []binding
		for i := range ev.obs {
			if !ev.spend(1) {
				return nil
			}
			o := &ev.obs[i]
			if x.matches(o) {
				out = append(out, binding{uses: []use{{i, 1}}, maxFirst: o.FirstObserved, minLast: o.LastObserved})
				if len(out) >= maxSingles {
					break
				}
			}
		}
		return out
	case *ObsParen:
		return ev.eval(x.Inner)
	case *ObsBinary:
		l := ev.eval(x.Left)
		if x.Op == ObsOr {
			return ev.prune(append(l, ev.eval(x.Right)...))
		}
		if len(l) == 0 {
			return nil
		}
		r := ev.eval(x.Right)
		if x.Op == ObsAnd {
			return ev.join(l, r, false)
		}
		return ev.join(l, r, true)
	case *ObsQualified:
		in := ev.eval(x.Inner)
		q := x.Qualifier
		switch q.Kind {
		case QualWithin:
			if !(q.Seconds > 0) {
				return nil
			}
			window := time.Duration(math.MaxInt64)
			if ns := q.Seconds * 1e9; ns < float64(math.MaxInt64) {
				window = time.Duration(ns)
			}
			out := in[:0:0]
			for _, b := range in {
				if !b.maxFirst.After(b.minLast) || b.maxFirst.Sub(b.minLast) <= window {
					out = append(out, b)
				}
			}
			return out
		case QualStartStop:
			start, stop := q.Start.Time, q.Stop.Time
			if !start.Before(stop) {
				return nil
			}
			out := in[:0:0]
			for _, b := range in {
				if b.maxFirst.Before(stop) && !b.minLast.Before(start) {
					out = append(out, b)
				}
			}
			return out
		case QualRepeats:
			if q.Times < 1 {
				return nil
			}
			var total int64
			for i := range ev.obs {
				total += ev.obs[i].count()
				if total >= q.Times {
					break
				}
			}
			if total < q.Times {
				return nil
			}
			return ev.repeat(in, q.Times)
		}
	}
	return nil
}

// maxSingles caps the one-observation matches kept for one node; they are
// cheap, and REPEATS over a bracket needs as many as it counts.
const maxSingles = 8192

func allSingles(bs []binding) bool {
	for _, x := range bs {
		if len(x.uses) != 1 || x.uses[0].n != 1 {
			return false
		}
	}
	return true
}

// repeat returns bindings of k distinct matches of b.
func (ev *evaluator) repeat(b []binding, k int64) []binding {
	if k == 1 || len(b) == 0 {
		return b
	}
	if allSingles(b) {
		return ev.repeatSingles(b, k)
	}
	cur := b
	for j := int64(1); j < k && len(cur) > 0; j++ {
		cur = ev.join(cur, b, false)
	}
	return cur
}

// repeatSingles handles the common case where every match uses one
// observation: for each observation in first_observed order it takes the
// instances of that and the following observations until k are taken, so
// the sets it returns are the tightest in time (best for WITHIN).
func (ev *evaluator) repeatSingles(b []binding, k int64) []binding {
	items := slices.Clone(b)
	sort.SliceStable(items, func(i, j int) bool { return items[i].maxFirst.Before(items[j].maxFirst) })
	var out []binding
	for i := range items {
		if !ev.spend(len(items)) {
			return nil
		}
		need := k
		c := binding{maxFirst: items[i].maxFirst, minLast: items[i].minLast}
		for j := i; j < len(items) && need > 0; j++ {
			o := items[j].uses[0].obs
			if slices.ContainsFunc(c.uses, func(u use) bool { return u.obs == o }) {
				continue
			}
			take := min(ev.obs[o].count(), need)
			c.uses = append(c.uses, use{o, take})
			need -= take
			if items[j].maxFirst.After(c.maxFirst) {
				c.maxFirst = items[j].maxFirst
			}
			if items[j].minLast.Before(c.minLast) {
				c.minLast = items[j].minLast
			}
		}
		if need > 0 {
			break // starting later only leaves fewer instances
		}
		sort.Slice(c.uses, func(x, y int) bool { return c.uses[x].obs < c.uses[y].obs })
		out = append(out, c)
	}
	return ev.prune(out)
}

// maxPartners is how many right bindings join keeps for one left binding:
// enough variety for later qualifiers, without the full cross product.
const maxPartners = 8

// join combines every left binding with every right binding that uses
// no observation instance twice; with ordered, the left must be able to
// precede the right.
func (ev *evaluator) join(l, r []binding, ordered bool) []binding {
	var out []binding
	for _, a := range l {
		partners := 0
		for _, b := range r {
			if partners == maxPartners {
				break
			}
			if !ev.spend(1 + len(a.uses) + len(b.uses)) {
				return nil
			}
			if ordered && a.maxFirst.After(b.minLast) {
				continue
			}
			c, ok := ev.combine(a, b)
			if !ok {
				continue
			}
			partners++
			out = append(out, c)
			if len(out) >= 2*MaxBindings {
				return ev.prune(out)
			}
		}
	}
	return ev.prune(out)
}

func (ev *evaluator) combine(a, b binding) (binding, bool) {
	uses := make([]use, 0, len(a.uses)+len(b.uses))
	i, j := 0, 0
	for i < len(a.uses) || j < len(b.uses) {
		switch {
		case j == len(b.uses) || i < len(a.uses) && a.uses[i].obs < b.uses[j].obs:
			uses = append(uses, a.uses[i])
			i++
		case i == len(a.uses) || b.uses[j].obs < a.uses[i].obs:
			uses = append(uses, b.uses[j])
			j++
		default:
			u := use{a.uses[i].obs, a.uses[i].n + b.uses[j].n}
			if u.n > ev.obs[u.obs].count() {
				return binding{}, false
			}
			uses = append(uses, u)
			i++
			j++
		}
	}
	c := binding{uses: uses, maxFirst: a.maxFirst, minLast: a.minLast}
	if b.maxFirst.After(c.maxFirst) {
		c.maxFirst = b.maxFirst
	}
	if b.minLast.Before(c.minLast) {
		c.minLast = b.minLast
	}
	return c, true
}

// prune drops duplicate bindings and bindings that use a superset of
// another's observations (the smaller one is at least as good for every
// operator and qualifier), and keeps at most MaxBindings.
func (ev *evaluator) prune(bs []binding) []binding {
	if len(bs) <= 1 {
		return bs
	}
	if allSingles(bs) {
		// cheap and common (a bracket, an OR of brackets): drop repeats
		// of an observation, keep up to maxSingles
		seen := make(map[int]bool, len(bs))
		out := bs[:0:0]
		for _, b := range bs {
			if o := b.uses[0].obs; !seen[o] {
				seen[o] = true
				out = append(out, b)
				if len(out) == maxSingles {
					break
				}
			}
		}
		return out
	}
	sort.SliceStable(bs, func(i, j int) bool { return size(bs[i]) < size(bs[j]) })
	out := bs[:0:0]
	for _, b := range bs {
		dominated := false
		for _, k := range out {
			if !ev.spend(1 + len(k.uses)) {
				return nil
			}
			if subset(k.uses, b.uses) {
				dominated = true
				break
			}
		}
		if !dominated {
			out = append(out, b)
			if len(out) >= MaxBindings {
				break
			}
		}
	}
	return out
}

func size(b binding) int64 {
	var n int64
	for _, u := range b.uses {
		n += u.n
	}
	return n
}

// subset reports whether multiset a is contained in multiset b.
func subset(a, b []use) bool {
	j := 0
	for _, u := range a {
		for j < len(b) && b[j].obs < u.obs {
			j++
		}
		if j == len(b) || b[j].obs != u.obs || b[j].n < u.n {
			return false
		}
	}
	return true
}
