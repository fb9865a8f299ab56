package disseminate

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/go-json-experiment/json"

	"fusion/internal/stix/pattern"
)

// fields are the properties of a candidate object that locate it.
type fields struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	Pattern     string `json:"pattern"`
	PatternType string `json:"pattern_type"`
	Value       string `json:"value"`
	SrcRef      string `json:"src_ref"`
	DstRef      string `json:"dst_ref"`
	SourceRef   string `json:"source_ref"`
	TargetRef   string `json:"target_ref"`
}

// decode reads the fields of raw; ok is false for JSON it cannot read
// into them (such an object concerns no one).
func decode(raw []byte, f *fields) bool {
	*f = fields{}
	return json.Unmarshal(raw, f) == nil
}

// observables collects the IP prefixes and domain names an object names.
type observables struct {
	prefixes []netip.Prefix
	domains  []string
	tlds     []string // top-level domains named by a LIKE pattern (e.g. '%.fr')
}

func (o *observables) reset() {
	o.prefixes, o.domains, o.tlds = o.prefixes[:0], o.domains[:0], o.tlds[:0]
}

// addIP adds an address or CIDR; other strings are ignored.
func (o *observables) addIP(s string) bool {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return false
		}
		o.prefixes = append(o.prefixes, p.Masked())
		return true
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	a = a.Unmap()
	o.prefixes = append(o.prefixes, netip.PrefixFrom(a, a.BitLen()))
	return true
}

// addHost adds an IP address or a domain name.
func (o *observables) addHost(s string) {
	s = strings.TrimSuffix(strings.TrimSpace(s), ".")
	if s == "" {
		return
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		s = s[1 : len(s)-1]
	}
	if o.addIP(s) {
		return
	}
	o.domains = append(o.domains, s)
}

// addURL adds a URL's host.
func (o *observables) addURL(s string) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Host == "" {
		return
	}
	o.addHost(u.Hostname())
}

// addEmail adds the domain of an e-mail address.
func (o *observables) addEmail(s string) {
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		o.addHost(s[i+1:])
	}
}

// fromSCO adds what an ipv4-addr, ipv6-addr, domain-name or url names.
func (o *observables) fromSCO(f *fields) {
	switch f.Type {
	case "ipv4-addr", "ipv6-addr":
		o.addIP(f.Value)
	case "domain-name":
		o.addHost(f.Value)
	case "url":
		o.addURL(f.Value)
	}
}

// fromPattern adds the constants a STIX pattern compares addresses,
// domains, URLs and e-mail addresses with: =, IN and ISSUBSET (a CIDR),
// and LIKE '%.tld' on domain names. Negated comparisons and the other
// operators name no value of their own and are skipped. ok is false when
// the pattern does not parse.
func (o *observables) fromPattern(src string) bool {
	p, err := pattern.Parse(src)
	if err != nil {
		return false
	}
	pattern.EachComparison(p.Root, o.comparison)
	return true
}

func (o *observables) comparison(c *pattern.Comparison) {
	if c.Negated {
		return
	}
	var add func(string)
	steps := c.Path.Steps
	lastValue := len(steps) > 0 && steps[len(steps)-1].Kind == pattern.StepKey && steps[len(steps)-1].Key == "value"
	if !lastValue {
		return
	}
	switch c.Path.ObjectType {
	case "ipv4-addr", "ipv6-addr":
		if len(steps) == 1 {
			add = func(s string) { o.addIP(s) }
		}
	case "domain-name":
		if len(steps) == 1 {
			add = o.addHost
		}
	case "url":
		if len(steps) == 1 {
			add = o.addURL
		}
	case "email-addr":
		if len(steps) == 1 {
			add = o.addEmail
		}
	case "network-traffic":
		// src_ref.value, dst_ref.value: an address (or a domain name).
		if len(steps) == 2 && (steps[0].Key == "src_ref" || steps[0].Key == "dst_ref") {
			add = o.addHost
		}
	}
	if add == nil {
		return
	}
	switch c.Op {
	case pattern.OpEQ, pattern.OpIsSubset:
		if c.Value.Kind == pattern.ValString {
			add(c.Value.Str)
		}
	case pattern.OpIn:
		for _, v := range c.Value.Set {
			if v.Kind == pattern.ValString {
				add(v.Str)
			}
		}
	case pattern.OpLike:
		if c.Path.ObjectType == "domain-name" && c.Value.Kind == pattern.ValString {
			if tld, ok := likeTLD(c.Value.Str); ok {
				o.tlds = append(o.tlds, tld)
			}
		}
	}
}

// likeTLD returns the top-level domain a LIKE pattern fixes: '%.fr' and
// 'a_c.example.fr' fix "fr"; '%.f%' fixes none.
func likeTLD(s string) (string, bool) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", false
	}
	tld := s[i+1:]
	if tld == "" || strings.ContainsAny(tld, "%_") {
		return "", false
	}
	return strings.ToLower(tld), true
}

// tldOf is the last label of a domain name, lower case.
func tldOf(d string) string {
	d = strings.TrimSuffix(d, ".")
	if i := strings.LastIndexByte(d, '.'); i >= 0 {
		d = d[i+1:]
	}
	return strings.ToLower(d)
}
