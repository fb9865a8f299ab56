package stix

import (
	"fmt"
	"strconv"
)

// This file describes, as data, the properties of every object type of
// STIX 2.1: which are required, of which type, which vocabulary or
// enumeration applies and which object types an identifier may point at.
// Rules that span several properties live in rules.go.

// class is the kind of a STIX object type.
type class uint8

const (
	clSDO class = 1 << iota
	clSCO
	clSRO
	clMeta // marking-definition, language-content, extension-definition
	clEmbedded
)

type pkind uint8

const (
	pAny pkind = iota
	pString
	pBool
	pInt
	pFloat
	pTime   // timestamp (spec 2.14)
	pTimeMS // timestamp with at least millisecond precision
	pRef    // identifier (spec 2.9)
	pList
	pDict   // dictionary (spec 2.8)
	pHashes // hashes (spec 2.7)
	pObject // embedded type with its own properties
	pBinary // base64 (spec 2.3)
	pHex    // hex (spec 2.6)
	pLang   // RFC 5646 language code
	pExtensions
)

// ptype is the type of a property value.
type ptype struct {
	kind       pkind
	elem       *ptype // list elements, dictionary values
	voc        *vocab // strings: an enumeration (MUST) or open vocabulary (SHOULD)
	ref        *refRule
	obj        *objSpec
	strictKeys bool // hashes: algorithm names must be in hash-algorithm-ov
	hasMin     bool
	hasMax     bool
	min, max   float64
}

func (p *ptype) rangeText() string {
	lo, hi := "-inf", "+inf"
	if p.hasMin {
		lo = strconv.FormatFloat(p.min, 'g', -1, 64)
	}
	if p.hasMax {
		hi = strconv.FormatFloat(p.max, 'g', -1, 64)
	}
	return "[" + lo + ", " + hi + "]"
}

// refRule says which object types an identifier may point at: the listed
// types, or any type of the listed classes.
type refRule struct {
	types   set
	classes class
	desc    string
}

type propSpec struct {
	name       string
	typ        *ptype
	required   bool
	deprecated string // Lint message when present
	bit        uint64 // set for required properties
}

// objSpec describes the properties of an object type or embedded type.
type objSpec struct {
	name     string
	class    class
	open     bool // custom properties are expected here (no x_ lint)
	props    map[string]*propSpec
	required []*propSpec
	reqMask  uint64
	rules    []func(c *checker, obj int32)
	exts     map[string]*objSpec // predefined extensions (SCOs)
}

var (
	tAny    = &ptype{kind: pAny}
	tString = &ptype{kind: pString}
	tBool   = &ptype{kind: pBool}
	tInt    = &ptype{kind: pInt}
	tUint   = intRange(0, -1)
	tFloat  = &ptype{kind: pFloat}
	tTime   = &ptype{kind: pTime}
	tTimeMS = &ptype{kind: pTimeMS}
	tBinary = &ptype{kind: pBinary}
	tHex    = &ptype{kind: pHex}
	tLang   = &ptype{kind: pLang}
	tDict   = &ptype{kind: pDict}
	tHashes = &ptype{kind: pHashes}
	tExt    = &ptype{kind: pExtensions}
	tRefAny = &ptype{kind: pRef}

	tStrings = listOf(tString)
)

func listOf(e *ptype) *ptype { return &ptype{kind: pList, elem: e} }
func dictOf(v *ptype) *ptype { return &ptype{kind: pDict, elem: v} }
func vocabT(v *vocab) *ptype { return &ptype{kind: pString, voc: v} }
func vocabs(v *vocab) *ptype { return listOf(vocabT(v)) }
func objT(o *objSpec) *ptype { return &ptype{kind: pObject, obj: o} }
func floatRange(lo, hi float64) *ptype {
	return &ptype{kind: pFloat, hasMin: true, hasMax: true, min: lo, max: hi}
}

// intRange is an integer type with bounds; hi < lo means no upper bound.
func intRange(lo, hi int64) *ptype {
	p := &ptype{kind: pInt, hasMin: true, min: float64(lo)}
	if hi >= lo {
		p.hasMax, p.max = true, float64(hi)
	}
	return p
}

// refTo is an identifier pointing at one of types (object type names) or
// at any object of the classes given.
func refTo(classes class, types ...string) *ptype {
	r := &refRule{types: newSet(types...), classes: classes}
	var parts []string
	for _, cl := range []struct {
		c class
		n string
	}{{clSDO, "an SDO"}, {clSCO, "an SCO"}, {clSRO, "an SRO"}} {
		if classes&cl.c != 0 {
			parts = append(parts, cl.n)
		}
	}
	for _, t := range types {
		parts = append(parts, "a "+t)
	}
	switch len(parts) {
	case 1:
		r.desc = parts[0]
	default:
		r.desc = ""
		for i, p := range parts {
			switch {
			case i == 0:
			case i == len(parts)-1:
				r.desc += " or "
			default:
				r.desc += ", "
			}
			r.desc += p
		}
	}
	return &ptype{kind: pRef, ref: r}
}

func refs(classes class, types ...string) *ptype { return listOf(refTo(classes, types...)) }

// prop builds a property; opts are "required" or "deprecated: why".
type propOpt func(*propSpec)

func req(p *propSpec)               { p.required = true }
func deprecated(why string) propOpt { return func(p *propSpec) { p.deprecated = why } }

func f(name string, t *ptype, opts ...propOpt) *propSpec {
	p := &propSpec{name: name, typ: t}
	for _, o := range opts {
		o(p)
	}
	return p
}

func r(name string, t *ptype) *propSpec { return f(name, t, req) }

type rule = func(c *checker, obj int32)

// spec builds an objSpec from property lists (later lists override
// earlier ones with the same name) and rules.
func spec(name string, cl class, rules []rule, lists ...[]*propSpec) *objSpec {
	s := &objSpec{name: name, class: cl, props: map[string]*propSpec{}, rules: rules}
	for _, l := range lists {
		for _, p := range l {
			cp := *p
			s.props[p.name] = &cp
		}
	}
	// Assign required bits in a stable order (the order of the lists).
	seen := map[string]bool{}
	for _, l := range lists {
		for _, p := range l {
			if seen[p.name] {
				continue
			}
			seen[p.name] = true
			if cp := s.props[p.name]; cp.required {
				if len(s.required) == 64 {
					panic(fmt.Sprintf("stix: %s has more than 64 required properties", name))
				}
				cp.bit = 1 << len(s.required)
				s.reqMask |= cp.bit
				s.required = append(s.required, cp)
			}
		}
	}
	return s
}

func props(p ...*propSpec) []*propSpec { return p }
func rules(r ...rule) []rule           { return r }

// Embedded types.
var (
	killChainPhase = spec("kill-chain-phase", clEmbedded, rules(lintKillChain), props(
		r("kill_chain_name", tString),
		r("phase_name", tString),
	))
	externalReference = spec("external-reference", clEmbedded, rules(ruleExternalReference), props(
		r("source_name", tString),
		f("description", tString),
		f("url", tString),
		f("hashes", &ptype{kind: pHashes, strictKeys: true}),
		f("external_id", tString),
	))
	granularMarking = spec("granular-marking", clEmbedded, rules(ruleGranularMarking), props(
		f("lang", tLang),
		f("marking_ref", refTo(0, "marking-definition")),
		r("selectors", tStrings),
	))
	tKillChain  = listOf(objT(killChainPhase))
	tExtRefs    = listOf(objT(externalReference))
	tGranular   = listOf(objT(granularMarking))
	tMarkingRef = refs(0, "marking-definition")
)

// Common properties (spec 3.2 and 6.1).
var (
	sdoCommon = props(
		r("type", tString),
		r("spec_version", tString),
		r("id", tRefAny),
		f("created_by_ref", refTo(0, "identity")),
		r("created", tTimeMS),
		r("modified", tTimeMS),
		f("revoked", tBool),
		f("labels", tStrings),
		f("confidence", intRange(0, 100)),
		f("lang", tLang),
		f("external_references", tExtRefs),
		f("object_marking_refs", tMarkingRef),
		f("granular_markings", tGranular),
		f("extensions", tExt),
	)
	scoCommon = props(
		r("type", tString),
		f("spec_version", tString),
		r("id", tRefAny),
		f("object_marking_refs", tMarkingRef),
		f("granular_markings", tGranular),
		f("defanged", tBool),
		f("extensions", tExt),
	)
	anyObject = refTo(clSDO | clSCO | clSRO | clMeta)
	objRefs   = listOf(anyObject)
	sdoOrSCO  = refTo(clSDO | clSCO)
)

func sdo(name string, rs []rule, p ...*propSpec) *objSpec {
	return spec(name, clSDO, append(rules(ruleSpecVersion, ruleModified), rs...), sdoCommon, p)
}

func sco(name string, rs []rule, p ...*propSpec) *objSpec {
	return spec(name, clSCO, append(rules(ruleSpecVersion), rs...), scoCommon, p)
}

// Custom object types get the common-property rules; their other
// properties are theirs to define, so no x_ prefix is expected.
var (
	customSDO = spec("custom object", clSDO, rules(ruleSpecVersion, ruleModified), sdoCommon)
	customSCO = spec("custom object", clSCO, rules(ruleSpecVersion), scoCommon)
)

func init() { customSDO.open, customSCO.open = true, true }

// specs maps each object type of STIX 2.1 to its description.
var specs map[string]*objSpec

// typeClass maps each object type of STIX 2.1 to its class.
var typeClass map[string]class

func init() {
	seenFirstLast := rules(ruleSeenOrder("first_seen", "last_seen"))
	all := []*objSpec{
		// SDOs (spec 4)
		sdo("attack-pattern", nil,
			r("name", tString), f("description", tString), f("aliases", tStrings),
			f("kill_chain_phases", tKillChain)),
		sdo("campaign", seenFirstLast,
			r("name", tString), f("description", tString), f("aliases", tStrings),
			f("first_seen", tTime), f("last_seen", tTime), f("objective", tString)),
		sdo("course-of-action", rules(lintReserved("action")),
			r("name", tString), f("description", tString)),
		sdo("grouping", nil,
			f("name", tString), f("description", tString),
			r("context", vocabT(vGroupingContext)), r("object_refs", objRefs)),
		sdo("identity", nil,
			r("name", tString), f("description", tString), f("roles", tStrings),
			f("identity_class", vocabT(vIdentityClass)), f("sectors", vocabs(vIndustrySector)),
			f("contact_information", tString)),
		sdo("incident", nil,
			r("name", tString), f("description", tString), f("kill_chain_phases", tKillChain)),
		sdo("indicator", rules(ruleIndicator),
			f("name", tString), f("description", tString),
			f("indicator_types", vocabs(vIndicatorType)),
			r("pattern", tString), r("pattern_type", vocabT(vPatternType)),
			f("pattern_version", tString), r("valid_from", tTime), f("valid_until", tTime),
			f("kill_chain_phases", tKillChain)),
		sdo("infrastructure", seenFirstLast,
			r("name", tString), f("description", tString),
			f("infrastructure_types", vocabs(vInfrastructureType)), f("aliases", tStrings),
			f("kill_chain_phases", tKillChain), f("first_seen", tTime), f("last_seen", tTime)),
		sdo("intrusion-set", seenFirstLast,
			r("name", tString), f("description", tString), f("aliases", tStrings),
			f("first_seen", tTime), f("last_seen", tTime), f("goals", tStrings),
			f("resource_level", vocabT(vResourceLevel)),
			f("primary_motivation", vocabT(vAttackMotivation)),
			f("secondary_motivations", vocabs(vAttackMotivation))),
		sdo("location", rules(ruleLocation),
			f("name", tString), f("description", tString),
			f("latitude", floatRange(-90, 90)), f("longitude", floatRange(-180, 180)),
			f("precision", &ptype{kind: pFloat, hasMin: true}),
			f("region", vocabT(vRegion)), f("country", tString),
			f("administrative_area", tString), f("city", tString),
			f("street_address", tString), f("postal_code", tString)),
		sdo("malware", append(seenFirstLast, ruleMalware),
			f("name", tString), f("description", tString),
			f("malware_types", vocabs(vMalwareType)), r("is_family", tBool),
			f("aliases", tStrings), f("kill_chain_phases", tKillChain),
			f("first_seen", tTime), f("last_seen", tTime),
			f("operating_system_refs", refs(0, "software")),
			f("architecture_execution_envs", vocabs(vProcessorArch)),
			f("implementation_languages", vocabs(vImplLanguage)),
			f("capabilities", vocabs(vMalwareCapabilities)),
			f("sample_refs", refs(0, "file", "artifact"))),
		sdo("malware-analysis", rules(ruleMalwareAnalysis),
			r("product", tString), f("version", tString),
			f("host_vm_ref", refTo(0, "software")),
			f("operating_system_ref", refTo(0, "software")),
			f("installed_software_refs", refs(0, "software")),
			f("configuration_version", tString), f("modules", tStrings),
			f("analysis_engine_version", tString), f("analysis_definition_version", tString),
			f("submitted", tTime), f("analysis_started", tTime), f("analysis_ended", tTime),
			f("result_name", tString), f("result", vocabT(vMalwareResult)),
			f("analysis_sco_refs", refs(clSCO)),
			f("sample_ref", refTo(0, "file", "network-traffic", "artifact"))),
		sdo("note", nil,
			f("abstract", tString), r("content", tString), f("authors", tStrings),
			r("object_refs", objRefs)),
		sdo("observed-data", rules(ruleObservedData),
			r("first_observed", tTime), r("last_observed", tTime),
			r("number_observed", intRange(1, 999999999)),
			f("objects", tDict, deprecated("objects is deprecated in STIX 2.1; use object_refs")),
			f("object_refs", refs(clSCO|clSRO))),
		sdo("opinion", nil,
			f("explanation", tString), f("authors", tStrings),
			r("opinion", vocabT(eOpinion)), r("object_refs", objRefs)),
		sdo("report", nil,
			r("name", tString), f("description", tString),
			f("report_types", vocabs(vReportType)), r("published", tTime),
			r("object_refs", objRefs)),
		sdo("threat-actor", seenFirstLast,
			r("name", tString), f("description", tString),
			f("threat_actor_types", vocabs(vThreatActorType)), f("aliases", tStrings),
			f("first_seen", tTime), f("last_seen", tTime),
			f("roles", vocabs(vThreatActorRole)), f("goals", tStrings),
			f("sophistication", vocabT(vSophistication)),
			f("resource_level", vocabT(vResourceLevel)),
			f("primary_motivation", vocabT(vAttackMotivation)),
			f("secondary_motivations", vocabs(vAttackMotivation)),
			f("personal_motivations", vocabs(vAttackMotivation))),
		sdo("tool", nil,
			r("name", tString), f("description", tString),
			f("tool_types", vocabs(vToolType)), f("aliases", tStrings),
			f("kill_chain_phases", tKillChain), f("tool_version", tString)),
		sdo("vulnerability", nil,
			r("name", tString), f("description", tString)),

		// SROs (spec 5)
		spec("relationship", clSRO, rules(ruleSpecVersion, ruleModified, ruleRelationship), sdoCommon, props(
			r("relationship_type", tString), f("description", tString),
			r("source_ref", sdoOrSCO), r("target_ref", sdoOrSCO),
			f("start_time", tTime), f("stop_time", tTime))),
		spec("sighting", clSRO, rules(ruleSpecVersion, ruleModified, ruleSeenOrder("first_seen", "last_seen")), sdoCommon, props(
			f("description", tString), f("first_seen", tTime), f("last_seen", tTime),
			f("count", intRange(0, 999999999)),
			r("sighting_of_ref", refTo(clSDO)),
			f("observed_data_refs", refs(0, "observed-data")),
			f("where_sighted_refs", refs(0, "identity", "location")),
			f("summary", tBool))),

		// Meta objects (spec 7)
		markingDefinition,
		spec("language-content", clMeta, rules(ruleSpecVersion, ruleModified, ruleLanguageContent), sdoCommon, props(
			r("object_ref", anyObject), f("object_modified", tTimeMS),
			r("contents", tDict))),
		spec("extension-definition", clMeta, rules(ruleSpecVersion, ruleModified, ruleExtensionDefinition), sdoCommon, props(
			r("created_by_ref", refTo(0, "identity")),
			r("name", tString), f("description", tString), r("schema", tString),
			r("version", tString), r("extension_types", listOf(vocabT(eExtensionType))),
			f("extension_properties", tStrings))),
	}
	all = append(all, scoSpecs()...)
	specs = make(map[string]*objSpec, len(all))
	typeClass = make(map[string]class, len(all)+1)
	for _, s := range all {
		specs[s.name] = s
		typeClass[s.name] = s.class
	}
	typeClass["bundle"] = 0
}

var markingDefinition = spec("marking-definition", clMeta, rules(ruleSpecVersion, ruleVersionKey, ruleMarkingDefinition), props(
	r("type", tString),
	r("spec_version", tString),
	r("id", tRefAny),
	f("created_by_ref", refTo(0, "identity")),
	r("created", tTimeMS),
	f("external_references", tExtRefs),
	f("object_marking_refs", tMarkingRef),
	f("granular_markings", tGranular),
	f("extensions", tExt),
	f("name", tString),
	f("definition_type", vocabT(vMarkingType)),
	f("definition", tAny), // shape depends on definition_type: ruleMarkingDefinition
))

func scoSpecs() []*objSpec {
	addrRef := refTo(0, "ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")
	mimePart := spec("mime-part-type", clEmbedded, rules(ruleMimePart), props(
		f("body", tString), f("body_raw_ref", refTo(0, "artifact", "file")),
		f("content_type", tString), f("content_disposition", tString)))
	ads := spec("alternate-data-stream-type", clEmbedded, nil, props(
		r("name", tString), f("hashes", tHashes), f("size", tUint)))
	optHeader := spec("windows-pe-optional-header-type", clEmbedded, nil, props(
		f("magic_hex", tHex), f("major_linker_version", tInt), f("minor_linker_version", tInt),
		f("size_of_code", tUint), f("size_of_initialized_data", tUint),
		f("size_of_uninitialized_data", tUint), f("address_of_entry_point", tInt),
		f("base_of_code", tInt), f("base_of_data", tInt), f("image_base", tInt),
		f("section_alignment", tInt), f("file_alignment", tInt),
		f("major_os_version", tInt), f("minor_os_version", tInt),
		f("major_image_version", tInt), f("minor_image_version", tInt),
		f("major_subsystem_version", tInt), f("minor_subsystem_version", tInt),
		f("win32_version_value_hex", tHex), f("size_of_image", tUint),
		f("size_of_headers", tUint), f("checksum_hex", tHex), f("subsystem_hex", tHex),
		f("dll_characteristics_hex", tHex), f("size_of_stack_reserve", tUint),
		f("size_of_stack_commit", tUint), f("size_of_heap_reserve", tInt),
		f("size_of_heap_commit", tInt), f("loader_flags_hex", tHex),
		f("number_of_rva_and_sizes", tInt), f("hashes", tHashes)))
	peSection := spec("windows-pe-section-type", clEmbedded, nil, props(
		r("name", tString), f("size", tUint), f("entropy", tFloat), f("hashes", tHashes)))
	regValue := spec("windows-registry-value-type", clEmbedded, nil, props(
		f("name", tString), f("data", tString), f("data_type", vocabT(eRegistryType))))
	x509ext := spec("x509-v3-extensions-type", clEmbedded, nil, props(
		f("basic_constraints", tString), f("name_constraints", tString),
		f("policy_constraints", tString), f("key_usage", tString),
		f("extended_key_usage", tString), f("subject_key_identifier", tString),
		f("authority_key_identifier", tString), f("subject_alternative_name", tString),
		f("issuer_alternative_name", tString), f("subject_directory_attributes", tString),
		f("crl_distribution_points", tString), f("inhibit_any_policy", tString),
		f("private_key_usage_period_not_before", tTime),
		f("private_key_usage_period_not_after", tTime),
		f("certificate_policies", tString), f("policy_mappings", tString)))
	strOrInt := &ptype{kind: pAny} // checked by ruleStringOrIntValues
	ext := func(name string, rs []rule, p ...*propSpec) *objSpec {
		return spec(name, clEmbedded, rs, p)
	}

	file := sco("file", rules(ruleAtLeastOne("hashes", "name")),
		f("hashes", tHashes), f("size", tUint), f("name", tString), f("name_enc", tString),
		f("magic_number_hex", tHex), f("mime_type", tString),
		f("ctime", tTime), f("mtime", tTime), f("atime", tTime),
		f("parent_directory_ref", refTo(0, "directory")),
		f("contains_refs", refs(clSCO)),
		f("content_ref", refTo(0, "artifact")))
	file.exts = map[string]*objSpec{
		"archive-ext": ext("archive-ext", nil,
			r("contains_refs", refs(0, "file", "directory")), f("comment", tString)),
		"ntfs-ext": ext("ntfs-ext", nil,
			f("sid", tString), f("alternate_data_streams", listOf(objT(ads)))),
		"pdf-ext": ext("pdf-ext", nil,
			f("version", tString), f("is_optimized", tBool),
			f("document_info_dict", dictOf(tString)), f("pdfid0", tString), f("pdfid1", tString)),
		"raster-image-ext": ext("raster-image-ext", nil,
			f("image_height", tInt), f("image_width", tInt), f("bits_per_pixel", tInt),
			f("exif_tags", dictOf(strOrInt))),
		"windows-pebinary-ext": ext("windows-pebinary-ext", nil,
			r("pe_type", vocabT(vPEType)), f("imphash", tString), f("machine_hex", tHex),
			f("number_of_sections", tUint), f("time_date_stamp", tTime),
			f("pointer_to_symbol_table_hex", tHex), f("number_of_symbols", tUint),
			f("size_of_optional_header", tUint), f("characteristics_hex", tHex),
			f("file_header_hashes", tHashes), f("optional_header", objT(optHeader)),
			f("sections", listOf(objT(peSection)))),
	}
	file.exts["raster-image-ext"].rules = rules(ruleStringOrIntValues("exif_tags"))

	traffic := sco("network-traffic", rules(ruleAtLeastOne("src_ref", "dst_ref"), ruleNetworkTraffic),
		f("start", tTime), f("end", tTime), f("is_active", tBool),
		f("src_ref", addrRef), f("dst_ref", addrRef),
		f("src_port", intRange(0, 65535)), f("dst_port", intRange(0, 65535)),
		r("protocols", tStrings),
		f("src_byte_count", tUint), f("dst_byte_count", tUint),
		f("src_packets", tUint), f("dst_packets", tUint),
		f("ipfix", dictOf(strOrInt)),
		f("src_payload_ref", refTo(0, "artifact")), f("dst_payload_ref", refTo(0, "artifact")),
		f("encapsulates_refs", refs(0, "network-traffic")),
		f("encapsulated_by_ref", refTo(0, "network-traffic")))
	traffic.rules = append(traffic.rules, ruleStringOrIntValues("ipfix"))
	traffic.exts = map[string]*objSpec{
		"http-request-ext": ext("http-request-ext", nil,
			r("request_method", tString), r("request_value", tString),
			f("request_version", tString), f("request_header", dictOf(tString)),
			f("message_body_length", tUint), f("message_body_data_ref", refTo(0, "artifact"))),
		"icmp-ext": ext("icmp-ext", nil,
			r("icmp_type_hex", tHex), r("icmp_code_hex", tHex)),
		"socket-ext": ext("socket-ext", rules(lintSocketOptions),
			r("address_family", vocabT(eAddressFamily)), f("is_blocking", tBool),
			f("is_listening", tBool), f("options", dictOf(tInt)),
			f("socket_type", vocabT(eSocketType)), f("socket_descriptor", tUint),
			f("socket_handle", tInt)),
		"tcp-ext": ext("tcp-ext", rules(ruleAtLeastOne("src_flags_hex", "dst_flags_hex")),
			f("src_flags_hex", tHex), f("dst_flags_hex", tHex)),
	}

	process := sco("process", rules(ruleProcess),
		f("is_hidden", tBool), f("pid", tInt), f("created_time", tTime),
		f("cwd", tString), f("command_line", tString),
		f("environment_variables", dictOf(tString)),
		f("opened_connection_refs", refs(0, "network-traffic")),
		f("creator_user_ref", refTo(0, "user-account")),
		f("image_ref", refTo(0, "file")), f("parent_ref", refTo(0, "process")),
		f("child_refs", refs(0, "process")))
	process.exts = map[string]*objSpec{
		"windows-process-ext": ext("windows-process-ext", nil,
			f("aslr_enabled", tBool), f("dep_enabled", tBool), f("priority", tString),
			f("owner_sid", tString), f("window_title", tString),
			f("startup_info", tDict), f("integrity_level", vocabT(eIntegrityLevel))),
		"windows-service-ext": ext("windows-service-ext", nil,
			f("service_name", tString), f("descriptions", tStrings),
			f("display_name", tString), f("group_name", tString),
			f("start_type", vocabT(eServiceStart)), f("service_dll_refs", refs(0, "file")),
			f("service_type", vocabT(eServiceType)), f("service_status", vocabT(eServiceStatus))),
	}

	account := sco("user-account", nil,
		f("user_id", tString), f("credential", tString), f("account_login", tString),
		f("account_type", vocabT(vAccountType)), f("display_name", tString),
		f("is_service_account", tBool), f("is_privileged", tBool),
		f("can_escalate_privs", tBool), f("is_disabled", tBool),
		f("account_created", tTime), f("account_expires", tTime),
		f("credential_last_changed", tTime), f("account_first_login", tTime),
		f("account_last_login", tTime))
	account.exts = map[string]*objSpec{
		"unix-account-ext": ext("unix-account-ext", nil,
			f("gid", tInt), f("groups", tStrings), f("home_dir", tString), f("shell", tString)),
	}

	return []*objSpec{
		sco("artifact", rules(ruleArtifact),
			f("mime_type", tString), f("payload_bin", tBinary), f("url", tString),
			f("hashes", tHashes), f("encryption_algorithm", vocabT(eEncryptionAlgorithm)),
			f("decryption_key", tString)),
		sco("autonomous-system", nil,
			r("number", tUint), f("name", tString), f("rir", tString)),
		sco("directory", nil,
			r("path", tString), f("path_enc", tString),
			f("ctime", tTime), f("mtime", tTime), f("atime", tTime),
			f("contains_refs", refs(0, "file", "directory"))),
		sco("domain-name", nil,
			r("value", tString),
			f("resolves_to_refs", refs(0, "ipv4-addr", "ipv6-addr", "domain-name"),
				deprecated("resolves_to_refs is deprecated in STIX 2.1; use a resolves-to relationship"))),
		sco("email-addr", nil,
			r("value", tString), f("display_name", tString),
			f("belongs_to_ref", refTo(0, "user-account"))),
		sco("email-message", rules(ruleEmailMessage),
			r("is_multipart", tBool), f("date", tTime), f("content_type", tString),
			f("from_ref", refTo(0, "email-addr")), f("sender_ref", refTo(0, "email-addr")),
			f("to_refs", refs(0, "email-addr")), f("cc_refs", refs(0, "email-addr")),
			f("bcc_refs", refs(0, "email-addr")), f("message_id", tString),
			f("subject", tString), f("received_lines", tStrings),
			f("additional_header_fields", tDict), f("body", tString),
			f("body_multipart", listOf(objT(mimePart))),
			f("raw_email_ref", refTo(0, "artifact"))),
		file,
		sco("ipv4-addr", rules(ruleIPValue(4)),
			r("value", tString),
			f("resolves_to_refs", refs(0, "mac-addr"),
				deprecated("resolves_to_refs is deprecated in STIX 2.1; use a resolves-to relationship")),
			f("belongs_to_refs", refs(0, "autonomous-system"),
				deprecated("belongs_to_refs is deprecated in STIX 2.1; use a belongs-to relationship"))),
		sco("ipv6-addr", rules(ruleIPValue(6)),
			r("value", tString),
			f("resolves_to_refs", refs(0, "mac-addr"),
				deprecated("resolves_to_refs is deprecated in STIX 2.1; use a resolves-to relationship")),
			f("belongs_to_refs", refs(0, "autonomous-system"),
				deprecated("belongs_to_refs is deprecated in STIX 2.1; use a belongs-to relationship"))),
		sco("mac-addr", rules(ruleMACValue), r("value", tString)),
		sco("mutex", nil, r("name", tString)),
		traffic,
		process,
		sco("software", nil,
			r("name", tString), f("cpe", tString), f("swid", tString),
			f("languages", tStrings), f("vendor", tString), f("version", tString)),
		sco("url", nil, r("value", tString)),
		account,
		sco("windows-registry-key", nil,
			f("key", tString), f("values", listOf(objT(regValue))),
			f("modified_time", tTime), f("creator_user_ref", refTo(0, "user-account")),
			f("number_of_subkeys", tUint)),
		sco("x509-certificate", rules(ruleAtLeastOne("is_self_signed", "hashes", "version",
			"serial_number", "signature_algorithm", "issuer", "validity_not_before",
			"validity_not_after", "subject", "subject_public_key_algorithm",
			"subject_public_key_modulus", "subject_public_key_exponent", "x509_v3_extensions")),
			f("is_self_signed", tBool), f("hashes", tHashes), f("version", tString),
			f("serial_number", tString), f("signature_algorithm", tString),
			f("issuer", tString), f("validity_not_before", tTime),
			f("validity_not_after", tTime), f("subject", tString),
			f("subject_public_key_algorithm", tString),
			f("subject_public_key_modulus", tString),
			f("subject_public_key_exponent", tInt),
			f("x509_v3_extensions", objT(x509ext))),
	}
}
