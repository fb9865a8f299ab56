package match

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"fusion/internal/stix"
	"fusion/internal/stix/pattern"
)

// compiled is what the index keeps of one indicator version.
type compiled struct {
	ref        Ref
	uuid       [16]byte
	idType     string
	validFrom  int64
	validUntil int64
	tombstone  bool   // matches nothing (revoked, not STIX, bad pattern)
	eval       bool   // keys are necessary conditions; evaluate pattern
	single     bool   // eval: every match is one observation
	pattern    string // when eval
	keys       []ckey
	blocks     []cblock
	types      []string // keyless: object types any match needs
	err        error    // why a tombstone, when not simply revoked
}

type ckey struct {
	key      []byte
	noParent bool // a domain that is a public suffix
}

type cblock struct {
	pfx netip.Prefix
}

// indicatorJSON is the part of an indicator the index reads.
type indicatorJSON struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Pattern     string `json:"pattern"`
	PatternType string `json:"pattern_type"`
	ValidFrom   string `json:"valid_from"`
	ValidUntil  string `json:"valid_until"`
	Revoked     bool   `json:"revoked"`
}

// errNotIndicator: the object is not an indicator; the index ignores it.
var errNotIndicator = errors.New("not an indicator")

// compile reads one indicator version. It returns errNotIndicator for
// other object types and an error for input the index cannot hold at all
// (malformed JSON, an id that is not type--UUID). An indicator the index
// holds but that can never match (revoked, another pattern language, a
// pattern that does not parse, bad timestamps) compiles to a tombstone.
func compile(ref Ref, raw []byte, k *keyer) (compiled, error) {
	c := compiled{ref: ref}
	var ind indicatorJSON
	if err := scanIndicator(raw, &ind); err != nil {
		return c, fmt.Errorf("%s: %w", ref.ID, err)
	}
	if ind.Type != "indicator" {
		return c, errNotIndicator
	}
	var ok bool
	if c.idType, c.uuid, ok = splitID(ref.ID); !ok {
		return c, fmt.Errorf("%q: id is not type--UUID", ref.ID)
	}
	if ind.ID != "" && ind.ID != ref.ID {
		return c, fmt.Errorf("%s: object id is %q", ref.ID, ind.ID)
	}
	c.validUntil = math.MaxInt64
	switch {
	case ind.Revoked:
		c.tombstone = true
		return c, nil
	case ind.PatternType != "stix":
		c.tombstone, c.err = true, fmt.Errorf("pattern_type %q is not stix", ind.PatternType)
		return c, nil
	}
	vf, err := stix.ParseTimestamp(ind.ValidFrom)
	if err != nil {
		c.tombstone, c.err = true, fmt.Errorf("valid_from: %w", err)
		return c, nil
	}
	c.validFrom = unixNano(vf)
	if ind.ValidUntil != "" {
		vu, err := stix.ParseTimestamp(ind.ValidUntil)
		if err != nil {
			c.tombstone, c.err = true, fmt.Errorf("valid_until: %w", err)
			return c, nil
		}
		c.validUntil = unixNano(vu)
	}
	p, err := pattern.Parse(ind.Pattern)
	if err != nil {
		c.tombstone, c.err = true, fmt.Errorf("pattern: %w", err)
		return c, nil
	}
	c.analyse(p, k)
	if c.eval {
		c.pattern = ind.Pattern
	}
	return c, nil
}

// unixNano is t in Unix nanoseconds, clamped to the int64 range.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minTime):
		return math.MinInt64 + 1
	case t.After(maxTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minTime = time.Unix(0, math.MinInt64+1)
	maxTime = time.Unix(0, math.MaxInt64)
)

// splitID splits "type--uuid" into the type and the UUID's 16 bytes.
func splitID(id string) (string, [16]byte, bool) {
	var u [16]byte
	i := strings.Index(id, "--")
	if i <= 0 || len(id)-i-2 != 36 {
		return "", u, false
	}
	s := id[i+2:]
	j := 0
	for k := 0; k < 36; {
		if k == 8 || k == 13 || k == 18 || k == 23 {
			if s[k] != '-' {
				return "", u, false
			}
			k++
			continue
		}
		h, ok1 := unhex(s[k])
		l, ok2 := unhex(s[k+1])
		if !ok1 || !ok2 || s[k] >= 'A' && s[k] <= 'F' || s[k+1] >= 'A' && s[k+1] <= 'F' {
			return "", u, false
		}
		u[j] = h<<4 | l
		j++
		k += 2
	}
	return id[:i], u, true
}

// formatUUID writes 16 bytes as a lower-case UUID.
func formatUUID(b []byte, u *[16]byte) []byte {
	const hexd = "0123456789abcdef"
	for i, x := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexd[x>>4], hexd[x&15])
	}
	return b
}

// analyse turns a parsed pattern into keys. A pattern that is an OR of
// simple comparisons (equality, IN, ISSUBSET on plain paths) is decided by
// its keys alone. Otherwise the keys of a necessary condition (one for
// every way the pattern can match) are kept and the pattern is evaluated
// on a key hit; a pattern without such keys is evaluated for every
// observation holding one of its object types.
func (c *compiled) analyse(p *pattern.Pattern, k *keyer) {
	var a atoms
	if a.exactObs(p.Root) {
		c.addAtoms(&a, k)
		if len(c.keys)+len(c.blocks) > 0 {
			return
		}
	}
	c.keys, c.blocks = c.keys[:0], c.blocks[:0]
	c.eval = true
	c.single = singleObservation(p.Root)
	if a, ok := necessaryObs(p.Root); ok {
		c.addAtoms(&a, k)
		if len(c.keys)+len(c.blocks) > 0 {
			return
		}
		c.keys, c.blocks = c.keys[:0], c.blocks[:0]
	}
	seen := map[string]bool{}
	pattern.EachComparison(p.Root, func(cmp *pattern.Comparison) {
		t := cmp.Path.ObjectType
		if !seen[t] {
			seen[t] = true
			c.types = append(c.types, t)
		}
	})
}

// atom is one keyable value of a comparison: a value of a class, or a CIDR
// block (ISSUBSET, or an IP equality with a block).
type atom struct {
	typ   string
	keys  []string // property path; nil for a cForm value
	c     class
	value string
	block bool // ISSUBSET: value is a block to contain the observed address
}

type atoms []atom

// addAtoms turns atoms into keys and blocks. Values that do not have the
// form of their class (an ipv4-addr value that is no address) become
// exact-string keys of their path, as the observed side does.
func (c *compiled) addAtoms(a *atoms, k *keyer) {
	for _, at := range *a {
		switch at.c {
		case cIP:
			pfx, ok := parsePrefix(at.value)
			if ok && (at.block || !pfx.IsSingleIP()) {
				c.blocks = append(c.blocks, cblock{pfx: pfx})
				continue
			}
			if ok {
				c.keys = append(c.keys, ckey{key: appendAddrKey(nil, pfx.Addr())})
				continue
			}
		case cDomain, cURL, cEmail:
			if _, ok := k.valueKey(at.c, at.value); ok {
				ck := ckey{key: clone(k.key)}
				if at.c == cDomain {
					ck.noParent = isPublicSuffix(string(k.key[1:]))
				}
				c.keys = append(c.keys, ck)
				continue
			}
		case cHash:
			if isDigest(at.value) && k.hashKey(at.value) {
				c.keys = append(c.keys, ckey{key: clone(k.key)})
				continue
			}
		}
		if at.keys == nil {
			continue // a cForm value of no known form: nothing to key
		}
		k.otherKey(at.typ, at.keys, at.value)
		c.keys = append(c.keys, ckey{key: clone(k.key)})
	}
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// isPublicSuffix reports whether a canonical domain is itself an ICANN
// public suffix (co.uk, com): names below it are other registrants'.
func isPublicSuffix(d string) bool {
	ps, icann := publicsuffix.PublicSuffix(d)
	return icann && ps == d
}

// exactObs collects the atoms of an observation expression that is an OR
// of brackets, each an OR of exact comparisons; false otherwise.
func (a *atoms) exactObs(e pattern.ObservationExpr) bool {
	switch x := e.(type) {
	case *pattern.ObsParen:
		return a.exactObs(x.Inner)
	case *pattern.ObsBinary:
		return x.Op == pattern.ObsOr && a.exactObs(x.Left) && a.exactObs(x.Right)
	case *pattern.ObsBracket:
		return a.exactComp(x.Comparison)
	}
	return false
}

func (a *atoms) exactComp(e pattern.ComparisonExpr) bool {
	switch x := e.(type) {
	case *pattern.CompParen:
		return a.exactComp(x.Inner)
	case *pattern.CompBinary:
		return x.Op == pattern.Or && a.exactComp(x.Left) && a.exactComp(x.Right)
	case *pattern.Comparison:
		return a.atomOf(x, true)
	}
	return false
}

// atomOf adds the atoms of one comparison: equality or IN with strings,
// or ISSUBSET with a block. With exact set the path must be plain (keys
// only, no references) so that the value decides the comparison; without
// it, a reference path ending in value, or a hashes value, is keyed by
// the value's form.
func (a *atoms) atomOf(c *pattern.Comparison, exact bool) bool {
	if c.Negated {
		return false
	}
	var vals []pattern.Value
	switch c.Op {
	case pattern.OpEQ, pattern.OpIsSubset:
		vals = []pattern.Value{c.Value}
	case pattern.OpIn:
		vals = c.Value.Set
	default:
		return false
	}
	if len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if v.Kind != pattern.ValString {
			return false
		}
	}
	if len(c.Path.Steps) > maxDepth {
		return false
	}
	typ := c.Path.ObjectType
	keys, plain := plainKeys(c.Path.Steps)
	if plain && len(keys) == 1 && (keys[0] == "type" || keys[0] == "id" || keys[0] == "spec_version") {
		return false // walkStrings does not list these
	}
	cl := cNone
	if plain {
		cl = classOf(typ, keys)
	}
	if c.Op == pattern.OpIsSubset {
		if cl != cIP && (exact || !walkable(c.Path.Steps) || !behindRef(c.Path.Steps)) {
			return false
		}
		for _, v := range vals {
			if _, ok := parsePrefix(v.Str); !ok {
				return false
			}
			*a = append(*a, atom{typ: typ, c: cIP, value: v.Str, block: true})
		}
		return true
	}
	if !plain {
		if exact || !walkable(c.Path.Steps) {
			return false
		}
		switch {
		case afterHashes(c.Path.Steps):
			cl = cHash
		case behindRef(c.Path.Steps):
			cl = cForm
		default:
			return false
		}
	}
	for _, v := range vals {
		at := atom{typ: typ, keys: keys, c: cl, value: v.Str}
		switch cl {
		case cForm:
			at.keys = nil
			if at.c = formClass(v.Str); at.c == cNone {
				return false
			}
		case cHash:
			if !isDigest(v.Str) {
				if !plain {
					return false // a non-digest behind a reference: not keyable
				}
				at.c = cOther
			}
		}
		*a = append(*a, at)
	}
	return true
}

// plainKeys returns the keys of a path made of keys only, without
// references (no key ends in _ref or _refs): the paths whose strings the
// observed side lists (walkStrings).
func plainKeys(steps []pattern.PathStep) ([]string, bool) {
	keys := make([]string, 0, len(steps))
	for _, s := range steps {
		if s.Kind != pattern.StepKey {
			return nil, false
		}
		if strings.HasSuffix(s.Key, "_ref") || strings.HasSuffix(s.Key, "_refs") {
			return nil, false
		}
		keys = append(keys, s.Key)
	}
	return keys, len(keys) > 0
}

func lastKey(steps []pattern.PathStep) string {
	if n := len(steps); n > 0 && steps[n-1].Kind == pattern.StepKey {
		return steps[n-1].Key
	}
	return ""
}

// walkable reports whether the observed side reaches the value a path
// names when it lists the string properties of every object: list steps
// are allowed only to pick a reference from a *_refs list, or as the last
// step after hashes (any value of the dictionary).
func walkable(steps []pattern.PathStep) bool {
	for i, s := range steps {
		if s.Kind == pattern.StepKey {
			continue
		}
		switch {
		case i > 0 && steps[i-1].Kind == pattern.StepKey && strings.HasSuffix(steps[i-1].Key, "_refs"):
		case i == len(steps)-1 && i > 0 && steps[i-1].Kind == pattern.StepKey && steps[i-1].Key == "hashes" && s.Kind == pattern.StepAny:
		default:
			return false
		}
	}
	return true
}

// behindRef reports whether a path ends with the value property of an
// object reached through a reference (…_ref.value, …_refs[*].value).
func behindRef(steps []pattern.PathStep) bool {
	n := len(steps)
	if n < 2 || lastKey(steps) != "value" {
		return false
	}
	prev := steps[n-2]
	if prev.Kind == pattern.StepKey {
		return strings.HasSuffix(prev.Key, "_ref")
	}
	return n >= 3 && steps[n-3].Kind == pattern.StepKey && strings.HasSuffix(steps[n-3].Key, "_refs")
}

// afterHashes reports whether a path ends with a value of a hashes
// dictionary: hashes.ALG or hashes[*].
func afterHashes(steps []pattern.PathStep) bool {
	n := len(steps)
	return n >= 2 && steps[n-2].Kind == pattern.StepKey && steps[n-2].Key == "hashes" &&
		(steps[n-1].Kind == pattern.StepKey || steps[n-1].Kind == pattern.StepAny)
}

// necessaryObs returns atoms one of which every match of e needs.
func necessaryObs(e pattern.ObservationExpr) (atoms, bool) {
	switch x := e.(type) {
	case *pattern.ObsParen:
		return necessaryObs(x.Inner)
	case *pattern.ObsQualified:
		return necessaryObs(x.Inner)
	case *pattern.ObsBinary:
		l, lok := necessaryObs(x.Left)
		r, rok := necessaryObs(x.Right)
		if x.Op == pattern.ObsOr {
			if lok && rok {
				return append(l, r...), true
			}
			return nil, false
		}
		return both(l, lok, r, rok)
	case *pattern.ObsBracket:
		return necessaryComp(x.Comparison)
	}
	return nil, false
}

func necessaryComp(e pattern.ComparisonExpr) (atoms, bool) {
	switch x := e.(type) {
	case *pattern.CompParen:
		return necessaryComp(x.Inner)
	case *pattern.CompBinary:
		l, lok := necessaryComp(x.Left)
		r, rok := necessaryComp(x.Right)
		if x.Op == pattern.Or {
			if lok && rok {
				return append(l, r...), true
			}
			return nil, false
		}
		return both(l, lok, r, rok)
	case *pattern.Comparison:
		var a atoms
		if a.atomOf(x, false) {
			return a, true
		}
	}
	return nil, false
}

// both joins the necessary conditions of the two sides of an AND (or
// FOLLOWEDBY): a match needs the values of either side, so either side
// alone would do; keying both costs a few more keys and makes every value
// of the pattern report a partial match when seen alone.
func both(l atoms, lok bool, r atoms, rok bool) (atoms, bool) {
	switch {
	case !lok:
		return r, rok
	case !rok:
		return l, true
	}
	return append(l, r...), true
}
