package match

import (
	"fusion/internal/stix/pattern"
)

// Patterns the index evaluates see values normalised as the keys are, so
// that a match does not depend on whether the index decided it by a key
// or by evaluation: string constants compared with =, != or IN to the
// value of an address, domain name, URL or e-mail address (by the path's
// object type, or by the constant's form behind a reference) are
// replaced by their canonical form, and so are those values in the
// observed objects (by the object's type). LIKE and MATCHES therefore see
// canonical values too (a lower-case domain name, a canonical URL).

// normalizePattern rewrites the constants of p in place. p must not be
// shared yet.
func normalizePattern(p *pattern.Pattern) {
	var k keyer
	pattern.EachComparison(p.Root, func(c *pattern.Comparison) {
		if c.Op != pattern.OpEQ && c.Op != pattern.OpIn {
			return
		}
		cl := cNone
		keys, plain := plainKeys(c.Path.Steps)
		switch {
		case plain:
			cl = classOf(c.Path.ObjectType, keys)
		case walkable(c.Path.Steps) && behindRef(c.Path.Steps):
			cl = cForm
		}
		if cl != cIP && cl != cDomain && cl != cURL && cl != cEmail && cl != cForm {
			return
		}
		norm := func(v *pattern.Value) {
			if v.Kind != pattern.ValString {
				return
			}
			c := cl
			if c == cForm {
				c = formClass(v.Str)
			}
			if s, ok := k.canonical(c, v.Str); ok {
				v.Str = s
			}
		}
		if c.Op == pattern.OpIn {
			for i := range c.Value.Set {
				norm(&c.Value.Set[i])
			}
			return
		}
		norm(&c.Value)
	})
}

// canonical returns the canonical text of a value of class c.
func (k *keyer) canonical(c class, v string) (string, bool) {
	switch c {
	case cIP:
		p, ok := parsePrefix(v)
		if !ok {
			return "", false
		}
		if p.IsSingleIP() {
			return p.Addr().String(), true
		}
		return p.String(), true
	case cDomain, cURL, cEmail:
		if _, ok := k.valueKey(c, v); ok {
			if string(k.key[1:]) == v {
				return v, true
			}
			return string(k.key[1:]), true
		}
	}
	return "", false
}

// valueClasses gives the class of the value property of the SCO types
// whose values are normalised.
var valueClasses = map[string]class{
	"ipv4-addr": cIP, "ipv6-addr": cIP, "domain-name": cDomain, "url": cURL, "email-addr": cEmail,
}

// normObject returns obj with its value in canonical form, a copy when
// that changes it.
func (k *keyer) normObject(obj map[string]any) map[string]any {
	typ, _ := obj["type"].(string)
	c, ok := valueClasses[typ]
	if !ok {
		return obj
	}
	v, ok := obj["value"].(string)
	if !ok {
		return obj
	}
	s, ok := k.canonical(c, v)
	if !ok || s == v {
		return obj
	}
	cp := make(map[string]any, len(obj))
	for key, val := range obj {
		cp[key] = val
	}
	cp["value"] = s
	return cp
}

// normObservation returns o with its objects' values in canonical form,
// o itself when nothing changes. The caller's maps are not modified.
func (k *keyer) normObservation(o *pattern.Observation) *pattern.Observation {
	var out *pattern.Observation
	for i, obj := range o.Objects {
		if n := k.normObject(obj); !sameMap(n, obj) {
			if out == nil {
				out = k.copyObservation(o)
			}
			out.Objects[i] = n
		}
	}
	for id, obj := range o.ByRef {
		if n := k.normObject(obj); !sameMap(n, obj) {
			if out == nil {
				out = k.copyObservation(o)
			}
			out.ByRef[id] = n
		}
	}
	if out == nil {
		return o
	}
	return out
}

func (k *keyer) copyObservation(o *pattern.Observation) *pattern.Observation {
	c := *o
	c.Objects = append([]map[string]any(nil), o.Objects...)
	c.ByRef = make(map[string]map[string]any, len(o.ByRef))
	for id, obj := range o.ByRef {
		c.ByRef[id] = obj
	}
	return &c
}

// sameMap reports whether normObject returned its argument: it returns a
// copy only when the value changed.
func sameMap(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	va, _ := a["value"].(string)
	vb, _ := b["value"].(string)
	return va == vb
}
