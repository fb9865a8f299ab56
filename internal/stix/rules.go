package stix

import (
	"math"
	"net/netip"
	"strings"
	"time"

	"fusion/internal/stix/pattern"
)

// Rules that involve more than one property, one function per rule of the
// spec. Each runs after the properties of its object passed their type
// checks, with the checker's path at the object.

// ruleSpecVersion: spec_version MUST be "2.1" (spec 3.2; optional on SCOs,
// spec 6.1, but 2.1 when present).
func ruleSpecVersion(c *checker, obj int32) {
	if s, ok := c.t.str(c.t.get(obj, "spec_version")); ok && s != "2.1" {
		c.failAt("spec_version", "%q: this validator accepts STIX 2.1 objects only (spec_version \"2.1\")", s)
	}
}

// ruleModified: modified MUST be later than or equal to created (spec 3.2),
// and the version key must be one Fusion can store (ruleVersionKey).
func ruleModified(c *checker, obj int32) {
	cr, ok1 := c.timeOf(obj, "created")
	mo, ok2 := c.timeOf(obj, "modified")
	if ok1 && ok2 && mo.Before(cr) {
		c.failAt("modified", "must be later than or equal to created")
	}
	ruleVersionKey(c, obj)
}

// Version keys are kept as nanoseconds since 1970 in a signed 64-bit
// integer, which covers 1677-09-21 to 2262-04-11.
var (
	minVersionKey = time.Unix(0, math.MinInt64).UTC()
	maxVersionKey = time.Unix(0, math.MaxInt64).UTC()
)

// ruleVersionKey: not a rule of the spec (which allows years 0000 to
// 9999) but of the stores: an object whose version key (modified, else
// created) lies outside the range they keep is rejected here, with its
// own error, rather than failing the whole batch it would be stored in.
func ruleVersionKey(c *checker, obj int32) {
	key := "modified"
	t, ok := c.timeOf(obj, key)
	if !ok {
		key = "created"
		if t, ok = c.timeOf(obj, key); !ok {
			return
		}
	}
	if t.Before(minVersionKey) || t.After(maxVersionKey) {
		c.failAt(key, "%s is outside the range Fusion can store as a version key (1677-09-21 to 2262-04-11)", t.Format(time.RFC3339))
	}
}

// ruleSeenOrder: a "last" timestamp MUST NOT be earlier than its "first".
func ruleSeenOrder(first, last string) rule {
	return func(c *checker, obj int32) {
		a, ok1 := c.timeOf(obj, first)
		b, ok2 := c.timeOf(obj, last)
		if ok1 && ok2 && b.Before(a) {
			c.failAt(last, "must be later than or equal to %s", first)
		}
	}
}

// ruleAtLeastOne: at least one of keys MUST be present.
func ruleAtLeastOne(keys ...string) rule {
	return func(c *checker, obj int32) {
		for _, k := range keys {
			if c.has(obj, k) {
				return
			}
		}
		c.fail("at least one of %s is required", strings.Join(keys, ", "))
	}
}

// ruleStringOrIntValues: the values of dictionary key MUST be strings or
// integers (ipfix, exif_tags).
func ruleStringOrIntValues(key string) rule {
	return func(c *checker, obj int32) {
		d := c.t.get(obj, key)
		if d < 0 || c.t.nodes[d].kind != jObj {
			return
		}
		for _, m := range c.t.members(d) {
			if _, isInt := c.t.integer(m.node); !isInt && c.t.nodes[m.node].kind != jStr {
				c.push(key)
				c.failAt(m.key, "values must be strings or integers")
				c.pop()
				return
			}
		}
	}
}

func lintKillChain(c *checker, obj int32) {
	if !c.lint {
		return
	}
	for _, k := range []string{"kill_chain_name", "phase_name"} {
		if s, ok := c.t.str(c.t.get(obj, k)); ok && !isLowerHyphen(s) {
			c.warn(k, "%q should be all lowercase with hyphens between words", s)
		}
	}
}

func isLowerHyphen(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
			return false
		}
	}
	return s != ""
}

func lintReserved(name string) rule {
	return func(c *checker, obj int32) {
		if c.has(obj, name) {
			c.warn(name, "%s is a reserved property name in STIX 2.1", name)
		}
	}
}

// ruleExternalReference: besides source_name, at least one of
// description, url or external_id MUST be present (spec 2.5).
func ruleExternalReference(c *checker, obj int32) {
	if !c.has(obj, "description") && !c.has(obj, "url") && !c.has(obj, "external_id") {
		c.fail("at least one of description, url or external_id is required")
		return
	}
	if !c.lint {
		return
	}
	if c.has(obj, "url") && !c.has(obj, "hashes") {
		c.warn("hashes", "hashes should be given for the content of url")
	}
	src := c.t.getStr(obj, "source_name")
	xid := c.t.getStr(obj, "external_id")
	switch {
	case src == "cve" && !(strings.HasPrefix(xid, "CVE-") && len(xid) >= 13):
		c.warn("external_id", "a cve reference should carry the CVE id, e.g. CVE-2016-1234")
	case src == "capec" && !strings.HasPrefix(xid, "CAPEC-"):
		c.warn("external_id", "a capec reference should carry the CAPEC id, e.g. CAPEC-163")
	}
}

// ruleGranularMarking: exactly one of marking_ref and lang (spec 7.2.3).
func ruleGranularMarking(c *checker, obj int32) {
	hasRef, hasLang := c.has(obj, "marking_ref"), c.has(obj, "lang")
	switch {
	case hasRef && hasLang:
		c.failAt("lang", "must not be present together with marking_ref")
	case !hasRef && !hasLang:
		c.fail("one of marking_ref or lang is required")
	}
}

// ruleIndicator: valid_until MUST be greater than valid_from; a pattern of
// type "stix" MUST be a valid STIX pattern (spec 4.7, chapter 9).
func ruleIndicator(c *checker, obj int32) {
	from, ok1 := c.timeOf(obj, "valid_from")
	until, ok2 := c.timeOf(obj, "valid_until")
	if ok1 && ok2 && !until.After(from) {
		c.failAt("valid_until", "must be later than valid_from")
		return
	}
	if c.t.getStr(obj, "pattern_type") != "stix" || c.lint {
		return
	}
	src, _ := c.t.str(c.t.get(obj, "pattern"))
	if _, err := pattern.Parse(src); err != nil {
		c.failAt("pattern", "%s", strings.TrimPrefix(err.Error(), "pattern: "))
	}
}

// ruleLocation (spec 4.10): latitude and longitude come together,
// precision needs both, and one of region, country or latitude/longitude
// MUST be present.
func ruleLocation(c *checker, obj int32) {
	lat, lon := c.has(obj, "latitude"), c.has(obj, "longitude")
	switch {
	case lat && !lon:
		c.failAt("longitude", "required when latitude is present")
		return
	case lon && !lat:
		c.failAt("latitude", "required when longitude is present")
		return
	case c.has(obj, "precision") && !lat:
		c.failAt("precision", "requires latitude and longitude")
		return
	case !lat && !c.has(obj, "region") && !c.has(obj, "country"):
		c.fail("one of region, country, or latitude and longitude is required")
		return
	}
	if s, ok := c.t.str(c.t.get(obj, "country")); ok && !(len(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z') {
		c.warn("country", "%q should be an ISO 3166-1 alpha-2 code", s)
	}
}

// ruleMalware: a malware family MUST have a name (spec 4.11).
func ruleMalware(c *checker, obj int32) {
	if fam := c.t.get(obj, "is_family"); fam >= 0 && c.t.nodes[fam].b && !c.has(obj, "name") {
		c.failAt("name", "required when is_family is true")
	}
}

// ruleMalwareAnalysis: one of result or analysis_sco_refs MUST be present
// (spec 4.12).
func ruleMalwareAnalysis(c *checker, obj int32) {
	if !c.has(obj, "result") && !c.has(obj, "analysis_sco_refs") {
		c.fail("one of result or analysis_sco_refs is required")
	}
}

// ruleObservedData (spec 4.14): last_observed not before first_observed;
// exactly one of objects (deprecated) and object_refs.
func ruleObservedData(c *checker, obj int32) {
	ruleSeenOrder("first_observed", "last_observed")(c, obj)
	if c.stopped() {
		return
	}
	objects, objRefs := c.t.get(obj, "objects"), c.has(obj, "object_refs")
	switch {
	case objects >= 0 && objRefs:
		c.failAt("objects", "must not be present together with object_refs")
		return
	case objects < 0 && !objRefs:
		c.failAt("object_refs", "required (objects is absent)")
		return
	}
	c.push("objects")
	defer c.pop()
	for _, m := range c.t.members(objects) {
		if c.t.nodes[m.node].kind != jObj || c.t.getStr(m.node, "type") == "" {
			c.failAt(m.key, "must be a cyber observable object with a type")
			return
		}
	}
}

// ruleRelationship (spec 5.1): relationship_type is ASCII a–z, 0–9 and
// hyphen; stop_time MUST be later than start_time.
func ruleRelationship(c *checker, obj int32) {
	if s, ok := c.t.str(c.t.get(obj, "relationship_type")); ok && !isLowerHyphen(s) {
		c.failAt("relationship_type", "%q may only contain a-z, 0-9 and hyphen", s)
		return
	}
	start, ok1 := c.timeOf(obj, "start_time")
	stop, ok2 := c.timeOf(obj, "stop_time")
	if ok1 && ok2 && !stop.After(start) {
		c.failAt("stop_time", "must be later than start_time")
	}
}

// ruleLanguageContent (spec 7.1): contents maps RFC 5646 language codes
// to non-empty objects of translated properties.
func ruleLanguageContent(c *checker, obj int32) {
	d := c.t.get(obj, "contents")
	c.push("contents")
	defer c.pop()
	for _, m := range c.t.members(d) {
		if !isLanguageTag(m.key) {
			c.failAt(m.key, "keys must be RFC 5646 language codes")
			return
		}
		if n := &c.t.nodes[m.node]; n.kind != jObj || n.n == 0 {
			c.failAt(m.key, "must be a non-empty object of translated properties")
			return
		}
	}
}

// ruleExtensionDefinition (spec 7.3): extension_properties only with a
// toplevel-property-extension.
func ruleExtensionDefinition(c *checker, obj int32) {
	top := false
	for _, m := range c.t.members(c.t.get(obj, "extension_types")) {
		if s, _ := c.t.str(m.node); s == "toplevel-property-extension" {
			top = true
		}
	}
	has := c.has(obj, "extension_properties")
	switch {
	case has && !top:
		c.failAt("extension_properties", "only allowed when extension_types includes toplevel-property-extension")
	case top && !has:
		c.warn("extension_properties", "a toplevel-property-extension should list its extension_properties")
	}
}

// TLP marking definitions: the four TLP 1.0 objects of spec 7.2.1.4 and
// the five TLP 2.0 objects of the OASIS TLP 2.0 extension. Other objects
// MUST NOT claim their ids or define TLP markings of their own.
const tlp2Extension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

var (
	tlp1IDs = map[string]string{
		"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "white",
		"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
		"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
		"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
	}
	tlp2IDs = map[string]string{
		"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": "clear",
		"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": "green",
		"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": "amber",
		"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": "amber+strict",
		"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": "red",
	}
)

// TLPLevel returns the TLP level ("white", "green", "amber", "red" for TLP
// 1.0; "clear", "green", "amber", "amber+strict", "red" for TLP 2.0) of a
// predefined TLP marking-definition id, and which TLP version it belongs
// to (1 or 2). ok is false for any other id.
func TLPLevel(id string) (level string, version int, ok bool) {
	if l, ok := tlp1IDs[id]; ok {
		return l, 1, true
	}
	if l, ok := tlp2IDs[id]; ok {
		return l, 2, true
	}
	return "", 0, false
}

// ruleMarkingDefinition (spec 7.2): not versioned; definition_type and
// definition unless extensions define the marking; the statement and TLP
// definition shapes; TLP objects only under their predefined ids; no
// marking of itself.
func ruleMarkingDefinition(c *checker, obj int32) {
	t := c.t
	for _, k := range []string{"modified", "revoked"} {
		if c.has(obj, k) {
			c.failAt(k, "marking definitions cannot be versioned or revoked")
			return
		}
	}
	dtype := t.get(obj, "definition_type")
	def := t.get(obj, "definition")
	ext := t.get(obj, "extensions")
	switch {
	case dtype >= 0 && def < 0:
		c.failAt("definition", "required when definition_type is present")
		return
	case def >= 0 && dtype < 0:
		c.failAt("definition_type", "required when definition is present")
		return
	case def < 0 && ext < 0:
		c.failAt("definition", "required when extensions is absent")
		return
	}
	level1, isTLP1 := tlp1IDs[c.id]
	level2, isTLP2 := tlp2IDs[c.id]
	if def >= 0 {
		if n := &t.nodes[def]; n.kind != jObj || n.n == 0 {
			c.failAt("definition", "must be a non-empty object")
			return
		}
		c.push("definition")
		switch dt, _ := t.str(dtype); dt {
		case "statement":
			if _, ok := t.str(t.get(def, "statement")); !ok {
				c.failAt("statement", "required (a string) for a statement marking")
			}
		case "tlp":
			lvl, ok := t.str(t.get(def, "tlp"))
			switch {
			case !ok:
				c.failAt("tlp", "required (a string) for a TLP marking")
			case !isTLP1:
				c.failAt("tlp", "TLP 1.0 markings must use the predefined marking-definition ids of spec 7.2.1.4")
			case lvl != level1:
				c.failAt("tlp", "%q does not match the predefined TLP:%s marking this id belongs to", lvl, strings.ToUpper(level1))
			}
		}
		c.pop()
		if c.stopped() {
			return
		}
	}
	if isTLP1 {
		if dt, _ := t.str(dtype); dt != "tlp" {
			c.failAt("definition_type", "the predefined TLP:%s marking must have definition_type \"tlp\"", strings.ToUpper(level1))
			return
		}
		if cr, _ := t.str(t.get(obj, "created")); cr != "2017-01-20T00:00:00.000Z" {
			c.warn("created", "the predefined TLP 1.0 markings were created 2017-01-20T00:00:00.000Z")
		}
	}
	tlp2 := int32(-1)
	if ext >= 0 && t.nodes[ext].kind == jObj {
		tlp2 = t.get(ext, tlp2Extension)
	}
	switch {
	case tlp2 >= 0 && !isTLP2:
		c.push("extensions")
		c.failAt(tlp2Extension, "TLP 2.0 markings must use the predefined marking-definition ids")
		c.pop()
		return
	case isTLP2 && tlp2 < 0:
		c.failAt("extensions", "the predefined TLP:%s marking must carry the TLP 2.0 extension", strings.ToUpper(level2))
		return
	case isTLP2:
		c.push("extensions")
		c.push(tlp2Extension)
		if et := t.getStr(tlp2, "extension_type"); et != "property-extension" {
			c.failAt("extension_type", "must be \"property-extension\" for TLP 2.0")
		} else if lvl, _ := t.str(t.get(tlp2, "tlp_2_0")); lvl != level2 {
			c.failAt("tlp_2_0", "%q does not match the predefined TLP:%s marking this id belongs to", lvl, strings.ToUpper(level2))
		}
		c.pop()
		c.pop()
		if c.stopped() {
			return
		}
	}
	for i, m := range t.members(t.get(obj, "object_marking_refs")) {
		if s, _ := t.str(m.node); s == c.id {
			c.push("object_marking_refs")
			c.pushIdx(i)
			c.fail("a marking definition must not mark itself")
			c.pop()
			c.pop()
			return
		}
	}
	for i, m := range t.members(t.get(obj, "granular_markings")) {
		if s := t.getStr(m.node, "marking_ref"); s == c.id {
			c.push("granular_markings")
			c.pushIdx(i)
			c.failAt("marking_ref", "a marking definition must not mark itself")
			c.pop()
			c.pop()
			return
		}
	}
}

// ruleMimePart: one of body or body_raw_ref MUST be present (spec 6.6.2).
func ruleMimePart(c *checker, obj int32) {
	if !c.has(obj, "body") && !c.has(obj, "body_raw_ref") {
		c.fail("one of body or body_raw_ref is required")
	}
}

// ruleArtifact (spec 6.1): exactly one of payload_bin and url; hashes
// with url; decryption_key only with encryption_algorithm.
func ruleArtifact(c *checker, obj int32) {
	bin, url := c.has(obj, "payload_bin"), c.has(obj, "url")
	switch {
	case bin && url:
		c.failAt("url", "must not be present together with payload_bin")
	case !bin && !url:
		c.fail("one of payload_bin or url is required")
	case url && !c.has(obj, "hashes"):
		c.failAt("hashes", "required when url is present")
	case c.has(obj, "decryption_key") && !c.has(obj, "encryption_algorithm"):
		c.failAt("decryption_key", "must not be present without encryption_algorithm")
	}
}

// ruleEmailMessage (spec 6.6): body only when not multipart, body_multipart
// only when multipart.
func ruleEmailMessage(c *checker, obj int32) {
	mp := c.t.get(obj, "is_multipart")
	if mp < 0 {
		return
	}
	multi := c.t.nodes[mp].b
	switch {
	case multi && c.has(obj, "body"):
		c.failAt("body", "must not be present when is_multipart is true")
	case !multi && c.has(obj, "body_multipart"):
		c.failAt("body_multipart", "must not be present when is_multipart is false")
	}
}

// defanged reports whether the SCO says its values are defanged, in which
// case address formats are not checked.
func (c *checker) defanged(obj int32) bool {
	d := c.t.get(obj, "defanged")
	return d >= 0 && c.t.nodes[d].b
}

// ruleIPValue: value MUST be an IPv4 (or IPv6) address or CIDR block
// (spec 6.8, 6.9).
func ruleIPValue(version int) rule {
	return func(c *checker, obj int32) {
		s, ok := c.t.str(c.t.get(obj, "value"))
		if !ok || c.defanged(obj) {
			return
		}
		var addr netip.Addr
		if strings.IndexByte(s, '/') >= 0 {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				c.failAt("value", "%q is not a CIDR block", s)
				return
			}
			addr = p.Addr()
		} else {
			a, err := netip.ParseAddr(s)
			if err != nil {
				c.failAt("value", "%q is not an IP address", s)
				return
			}
			addr = a
		}
		if version == 4 && !addr.Is4() || version == 6 && !addr.Is6() {
			c.failAt("value", "%q is not an IPv%d address", s, version)
		}
	}
}

// ruleMACValue: value MUST be a colon-delimited, lowercase MAC-48 address
// with leading zeros (spec 6.10).
func ruleMACValue(c *checker, obj int32) {
	s, ok := c.t.str(c.t.get(obj, "value"))
	if !ok || c.defanged(obj) {
		return
	}
	good := len(s) == 17
	for i := 0; good && i < 17; i++ {
		if i%3 == 2 {
			good = s[i] == ':'
		} else {
			good = s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f'
		}
	}
	if !good {
		c.failAt("value", "%q is not a lowercase, colon-delimited MAC-48 address", s)
	}
}

// ruleNetworkTraffic (spec 6.12): no end while active; end not before
// start.
func ruleNetworkTraffic(c *checker, obj int32) {
	if a := c.t.get(obj, "is_active"); a >= 0 && c.t.nodes[a].b && c.has(obj, "end") {
		c.failAt("end", "must not be present when is_active is true")
		return
	}
	ruleSeenOrder("start", "end")(c, obj)
}

func lintSocketOptions(c *checker, obj int32) {
	for _, m := range c.t.members(c.t.get(obj, "options")) {
		if !strings.HasPrefix(m.key, "SO_") {
			c.push("options")
			c.warn(m.key, "socket option names should be SO_* constants")
			c.pop()
		}
	}
}

// ruleProcess: a process MUST have at least one property beyond the
// common ones, or an extension (spec 6.13).
func ruleProcess(c *checker, obj int32) {
	for _, m := range c.t.members(obj) {
		switch m.key {
		case "type", "id", "spec_version", "object_marking_refs", "granular_markings", "defanged":
		default:
			return
		}
	}
	c.fail("a process must have at least one property besides the common ones")
}

// checkExtensions checks an extensions dictionary (spec 3.2, 7.3): keys
// are extension-definition ids or extension names, values non-empty
// objects; extension-definition entries carry an extension_type.
func (c *checker) checkExtensions(v int32) {
	t := c.t
	n := &t.nodes[v]
	if n.kind != jObj {
		c.fail("must be a dictionary (JSON object), not %s", n.kind)
		return
	}
	if n.n == 0 {
		c.fail("must not be empty")
		return
	}
	for _, m := range t.members(v) {
		if c.stopped() {
			return
		}
		c.push(m.key)
		if msg := checkDictKey(m.key); msg != "" {
			c.fail("%s", msg)
			c.pop()
			continue
		}
		val := &t.nodes[m.node]
		if val.kind != jObj || val.n == 0 {
			c.fail("an extension must be a non-empty object")
			c.pop()
			continue
		}
		switch {
		case strings.HasPrefix(m.key, "extension-definition--"):
			if err := checkID(m.key, "extension-definition"); err != nil {
				c.fail("%v", err)
				break
			}
			et := t.get(m.node, "extension_type")
			if et < 0 {
				c.failAt("extension_type", "required")
				break
			}
			c.checkObject(m.node, extensionSpec)
			if s, _ := t.str(et); strings.HasPrefix(s, "new-") {
				if _, known := specs[c.typ]; known {
					c.failAt("extension_type", "%q cannot be used on the %s type the spec defines", s, c.typ)
				}
			}
		case c.spec.exts[m.key] != nil:
			c.checkObject(m.node, c.spec.exts[m.key])
		default:
			c.warn("", "extension keys should be extension-definition ids or the names of the predefined extensions of this type")
		}
		c.pop()
	}
}

// extensionSpec is the shape of an extension defined by an
// extension-definition: extension_type plus the properties its schema
// defines (which this validator cannot know, so no x_ lint).
var extensionSpec = spec("extension", clEmbedded, nil, props(
	r("extension_type", vocabT(eExtensionType)),
))

func init() { extensionSpec.open = true }
