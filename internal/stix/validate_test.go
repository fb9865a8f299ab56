package stix

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

func TestValidateValidFixtures(t *testing.T) {
	all := map[string]string{}
	for k, v := range validObjects {
		all[k] = v
	}
	for k, v := range tlpObjects {
		all[k] = v
	}
	for name, src := range all {
		t.Run(name, func(t *testing.T) {
			o := mustParse(t, build(t, src))
			if err := Validate(o); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	// Every type the validator knows has a valid fixture.
	var missing []string
	for typ := range specs {
		if _, ok := validObjects[typ]; !ok {
			missing = append(missing, typ)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("no valid fixture for %v", missing)
	}
	if got := len(specs); got != 19+2+18+3 {
		t.Errorf("specs has %d types, want 42 (19 SDOs, 2 SROs, 18 SCOs, 3 meta)", got)
	}
}

type invalidCase struct {
	name    string
	fixture string
	edits   []edit
	path    string // exact ValidationError.Path
	msg     string // substring of ValidationError.Msg
}

func TestValidateInvalid(t *testing.T) {
	long := strings.Repeat("a", 251)
	cases := []invalidCase{
		// id and type (all groups)
		{"sdo id wrong type", "indicator", []edit{put("id", "malware--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f")}, "id", "must be a indicator identifier"},
		{"sdo id not uuid", "campaign", []edit{put("id", "campaign--1234")}, "id", "RFC 4122"},
		{"sdo id bad variant", "campaign", []edit{put("id", "campaign--8e2e2d2b-17d4-4cbf-738f-98ee46b3cd3f")}, "id", "RFC 4122"},
		{"sco id no separator", "url", []edit{put("id", "url-c1477287-23ac-5971-a010-5c287877fa60")}, "id", "type--UUID"},
		{"meta id not a string", "marking-definition", []edit{put("id", 5)}, "id", "must be a string"},
		{"custom type uppercase", "x-acme-widget", []edit{put("type", "X-Acme"), put("id", "X-Acme--4527e5de-8572-446a-a57a-706f15467461")}, "type", "must begin with a letter"},
		{"custom type double hyphen", "x-acme-widget", []edit{put("type", "x--acme"), put("id", "x--acme--4527e5de-8572-446a-a57a-706f15467461")}, "type", "two hyphens"},
		{"custom type too short", "x-acme-thing", []edit{put("type", "xy"), put("id", "xy--4527e5de-8572-546a-a57a-706f15467461")}, "type", "3 to 250"},
		{"custom type underscore", "x-acme-thing", []edit{put("type", "x_acme"), put("id", "x_acme--4527e5de-8572-546a-a57a-706f15467461")}, "type", "may only contain"},
		{"bundle is not an object", "x-acme-thing", []edit{put("type", "bundle"), put("id", "bundle--4527e5de-8572-546a-a57a-706f15467461")}, "type", "transport envelope"},

		// spec_version
		{"sdo spec_version missing", "tool", []edit{del("spec_version")}, "spec_version", "required"},
		{"sdo spec_version 2.0", "tool", []edit{put("spec_version", "2.0")}, "spec_version", "STIX 2.1 objects only"},
		{"sro spec_version missing", "relationship", []edit{del("spec_version")}, "spec_version", "required"},
		{"sco spec_version 2.0", "mutex", []edit{put("spec_version", "2.0")}, "spec_version", "STIX 2.1"},
		{"meta spec_version missing", "marking-definition", []edit{del("spec_version")}, "spec_version", "required"},
		{"custom sdo spec_version missing", "x-acme-widget", []edit{del("spec_version")}, "spec_version", "required"},

		// timestamps
		{"sdo created missing", "identity", []edit{del("created")}, "created", "required"},
		{"sdo modified missing", "identity", []edit{del("modified")}, "modified", "required"},
		{"sdo created seconds only", "identity", []edit{put("created", "2016-04-06T20:03:48Z")}, "created", "millisecond"},
		{"sdo modified before created", "identity", []edit{put("modified", "2016-04-06T20:03:47.999Z")}, "modified", "later than or equal to created"},
		{"sdo timestamp offset", "campaign", []edit{put("first_seen", "2016-01-01T00:00:00+01:00")}, "first_seen", "RFC 3339"},
		{"sdo timestamp not a string", "campaign", []edit{put("first_seen", 1451606400)}, "first_seen", "timestamp string"},
		{"sdo last_seen before first_seen", "campaign", []edit{put("last_seen", "2015-12-31T23:59:59Z")}, "last_seen", "later than or equal to first_seen"},
		{"sro modified before created", "sighting", []edit{put("modified", "2015-04-06T20:03:48.000Z")}, "modified", "later than or equal"},
		{"sro sighting last before first", "sighting", []edit{put("last_seen", "2015-12-21T18:59:59Z")}, "last_seen", "first_seen"},
		{"sco timestamp bad", "file", []edit{put("mtime", "2016-13-01T00:00:00Z")}, "mtime", "RFC 3339"},
		{"sco embedded timestamp", "x509-certificate", []edit{put("x509_v3_extensions.private_key_usage_period_not_before", "yesterday")}, "x509_v3_extensions.private_key_usage_period_not_before", "RFC 3339"},
		{"meta created seconds only", "marking-definition", []edit{put("created", "2016-08-01T00:00:00Z")}, "created", "millisecond"},
		{"meta object_modified", "language-content", []edit{put("object_modified", "2017-02-08")}, "object_modified", "RFC 3339"},
		{"sdo modified beyond storable years", "identity", []edit{put("modified", "2300-01-01T00:00:00.000Z")}, "modified", "outside the range Fusion can store"},
		{"meta created before storable years", "marking-definition", []edit{put("created", "1600-01-01T00:00:00.000Z")}, "created", "outside the range Fusion can store"},
		{"custom modified before created", "x-acme-widget", []edit{put("modified", "2016-04-06T20:03:47.000Z")}, "modified", "later than"},

		// required properties, per type
		{"attack-pattern name", "attack-pattern", []edit{del("name")}, "name", "required"},
		{"campaign name", "campaign", []edit{del("name")}, "name", "required"},
		{"course-of-action name", "course-of-action", []edit{del("name")}, "name", "required"},
		{"grouping context", "grouping", []edit{del("context")}, "context", "required"},
		{"grouping object_refs", "grouping", []edit{del("object_refs")}, "object_refs", "required"},
		{"identity name", "identity", []edit{del("name")}, "name", "required"},
		{"incident name", "incident", []edit{del("name")}, "name", "required"},
		{"indicator pattern", "indicator", []edit{del("pattern")}, "pattern", "required"},
		{"indicator pattern_type", "indicator", []edit{del("pattern_type")}, "pattern_type", "required"},
		{"indicator valid_from", "indicator", []edit{del("valid_from")}, "valid_from", "required"},
		{"infrastructure name", "infrastructure", []edit{del("name")}, "name", "required"},
		{"intrusion-set name", "intrusion-set", []edit{del("name")}, "name", "required"},
		{"malware is_family", "malware", []edit{del("is_family")}, "is_family", "required"},
		{"malware family needs name", "malware", []edit{del("name")}, "name", "required when is_family is true"},
		{"malware-analysis product", "malware-analysis", []edit{del("product")}, "product", "required"},
		{"note content", "note", []edit{del("content")}, "content", "required"},
		{"observed-data number_observed", "observed-data", []edit{del("number_observed")}, "number_observed", "required"},
		{"opinion opinion", "opinion", []edit{del("opinion")}, "opinion", "required"},
		{"report published", "report", []edit{del("published")}, "published", "required"},
		{"threat-actor name", "threat-actor", []edit{del("name")}, "name", "required"},
		{"tool name", "tool", []edit{del("name")}, "name", "required"},
		{"vulnerability name", "vulnerability", []edit{del("name")}, "name", "required"},
		{"relationship source_ref", "relationship", []edit{del("source_ref")}, "source_ref", "required"},
		{"relationship relationship_type", "relationship", []edit{del("relationship_type")}, "relationship_type", "required"},
		{"sighting sighting_of_ref", "sighting", []edit{del("sighting_of_ref")}, "sighting_of_ref", "required"},
		{"language-content contents", "language-content", []edit{del("contents")}, "contents", "required"},
		{"extension-definition created_by_ref", "extension-definition", []edit{del("created_by_ref")}, "created_by_ref", "required"},
		{"extension-definition schema", "extension-definition", []edit{del("schema")}, "schema", "required"},
		{"autonomous-system number", "autonomous-system", []edit{del("number")}, "number", "required"},
		{"directory path", "directory", []edit{del("path")}, "path", "required"},
		{"domain-name value", "domain-name", []edit{del("value")}, "value", "required"},
		{"email-addr value", "email-addr", []edit{del("value")}, "value", "required"},
		{"email-message is_multipart", "email-message", []edit{del("is_multipart")}, "is_multipart", "required"},
		{"ipv4-addr value", "ipv4-addr", []edit{del("value")}, "value", "required"},
		{"mutex name", "mutex", []edit{del("name")}, "name", "required"},
		{"network-traffic protocols", "network-traffic", []edit{del("protocols")}, "protocols", "required"},
		{"software name", "software", []edit{del("name")}, "name", "required"},
		{"url value", "url", []edit{del("value")}, "value", "required"},
		{"sco extension required property", "network-traffic", []edit{del("extensions.http-request-ext.request_value")}, "extensions.http-request-ext.request_value", "required"},
		{"pe section name", "file", []edit{del("extensions.windows-pebinary-ext.sections[0].name")}, "extensions.windows-pebinary-ext.sections[0].name", "required"},
		{"meta type missing", "marking-definition", []edit{del("type")}, "type", "required"},
		{"custom id missing", "x-acme-thing", []edit{del("id")}, "id", "required"},

		// property types
		{"sdo name not string", "tool", []edit{put("name", 7)}, "name", "must be a string, not number"},
		{"sdo revoked not bool", "tool", []edit{put("revoked", "yes")}, "revoked", "must be a boolean"},
		{"sdo labels not list", "tool", []edit{put("labels", "x")}, "labels", "must be a list"},
		{"sdo list element type", "tool", []edit{putJSON("aliases", `["a", 3]`)}, "aliases[1]", "must be a string"},
		{"sdo number_observed fraction", "observed-data", []edit{put("number_observed", 1.5)}, "number_observed", "must be an integer"},
		{"sdo number_observed zero", "observed-data", []edit{put("number_observed", 0)}, "number_observed", "out of range"},
		{"sdo latitude out of range", "location", []edit{put("latitude", 91)}, "latitude", "out of range"},
		{"sdo longitude not number", "location", []edit{put("longitude", "2.35")}, "longitude", "must be a number"},
		{"sro count too large", "sighting", []edit{put("count", 1000000000)}, "count", "out of range"},
		{"sro summary not bool", "sighting", []edit{put("summary", 1)}, "summary", "must be a boolean"},
		{"sco port out of range", "network-traffic", []edit{put("dst_port", 65536)}, "dst_port", "out of range"},
		{"sco size negative", "file", []edit{put("size", -1)}, "size", "out of range"},
		{"sco hex odd", "file", []edit{put("magic_number_hex", "4D5")}, "magic_number_hex", "hexadecimal"},
		{"sco binary", "artifact", []edit{put("payload_bin", "not base64!")}, "payload_bin", "base64"},
		{"sco dict value type", "network-traffic", []edit{putJSON("extensions.socket-ext.options", `{"SO_TEST":"x"}`)}, "extensions.socket-ext.options.SO_TEST", "must be an integer"},
		{"sco ipfix value type", "network-traffic", []edit{putJSON("ipfix.flag", `true`)}, "ipfix.flag", "strings or integers"},
		{"sco embedded object type", "x509-certificate", []edit{put("x509_v3_extensions", "x")}, "x509_v3_extensions", "must be an object"},
		{"meta definition not object", "marking-definition", []edit{put("definition", "x")}, "definition", "non-empty object"},
		{"custom common property type", "x-acme-widget", []edit{put("confidence", "high")}, "confidence", "must be an integer"},
		{"custom created_by_ref type", "x-acme-widget", []edit{put("created_by_ref", idIndic)}, "created_by_ref", "identity"},
		{"custom property null", "x-acme-thing", []edit{putJSON("x_acme_other", `null`)}, "x_acme_other", "must not be null"},

		// empty lists, dictionaries
		{"sdo empty list", "identity", []edit{putJSON("sectors", `[]`)}, "sectors", "empty lists are prohibited"},
		{"custom empty list", "x-acme-widget", []edit{putJSON("x_acme_list", `[]`)}, "x_acme_list", "empty lists are prohibited"},
		{"sco empty dict", "process", []edit{putJSON("environment_variables", `{}`)}, "environment_variables", "must not be empty"},
		{"sco dict key chars", "email-message", []edit{put("additional_header_fields.X Mailer", "x")}, "additional_header_fields.X Mailer", "dictionary keys"},
		{"meta contents key", "language-content", []edit{putJSON("contents.de_1", `{"name":"x"}`)}, "contents.de_1", "RFC 5646"},
		{"meta contents value", "language-content", []edit{put("contents.fr", "x")}, "contents.fr", "non-empty object"},

		// enumerations (MUST)
		{"sdo opinion enum", "opinion", []edit{put("opinion", "maybe")}, "opinion", "opinion-enum"},
		{"sco encryption enum", "artifact", []edit{put("encryption_algorithm", "ROT13")}, "encryption_algorithm", "encryption-algorithm-enum"},
		{"sco socket address family", "network-traffic", []edit{put("extensions.socket-ext.address_family", "AF_FOO")}, "extensions.socket-ext.address_family", "address-family-enum"},
		{"sco registry data type", "windows-registry-key", []edit{put("values[0].data_type", "REG_FOO")}, "values[0].data_type", "datatype-enum"},
		{"sco integrity level", "process", []edit{put("extensions.windows-process-ext.integrity_level", "extreme")}, "extensions.windows-process-ext.integrity_level", "integrity-level-enum"},
		{"sco service status", "process", []edit{put("extensions.windows-service-ext.service_status", "UP")}, "extensions.windows-service-ext.service_status", "service-status-enum"},
		{"meta extension_types enum", "extension-definition", []edit{putJSON("extension_types", `["new-thing"]`)}, "extension_types[0]", "extension-type-enum"},

		// references
		{"sdo created_by_ref type", "indicator", []edit{put("created_by_ref", idMalware)}, "created_by_ref", "must refer to a identity"},
		{"sdo marking ref type", "indicator", []edit{putJSON("object_marking_refs", `["`+idIdentity+`"]`)}, "object_marking_refs[0]", "marking-definition"},
		{"sdo ref not an id", "malware", []edit{putJSON("sample_refs", `["foo.exe"]`)}, "sample_refs[0]", "type--UUID"},
		{"sdo sample_refs type", "malware", []edit{putJSON("sample_refs", `["`+idIPv4+`"]`)}, "sample_refs[0]", "a file or a artifact"},
		{"sdo analysis_sco_refs sdo", "malware-analysis", []edit{putJSON("analysis_sco_refs", `["`+idMalware+`"]`)}, "analysis_sco_refs[0]", "an SCO"},
		{"sdo observed-data refs sdo", "observed-data", []edit{putJSON("object_refs", `["`+idIndic+`"]`)}, "object_refs[0]", "an SCO or an SRO"},
		{"sdo report refs bundle", "report", []edit{putJSON("object_refs", `["bundle--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3"]`)}, "object_refs[0]", "must refer to"},
		{"sro source_ref sro", "relationship", []edit{put("source_ref", "sighting--ee20065d-2555-424f-ad9e-0f8fd2ee3fc8")}, "source_ref", "an SDO or an SCO"},
		{"sro target_ref marking", "relationship", []edit{put("target_ref", idStmt)}, "target_ref", "an SDO or an SCO"},
		{"sro sighting_of_ref sco", "sighting", []edit{put("sighting_of_ref", idIPv4)}, "sighting_of_ref", "an SDO"},
		{"sro where_sighted_refs", "sighting", []edit{putJSON("where_sighted_refs", `["`+idIndic+`"]`)}, "where_sighted_refs[0]", "identity or a location"},
		{"sco ref type", "email-addr", []edit{put("belongs_to_ref", idEmail)}, "belongs_to_ref", "user-account"},
		{"sco network ref type", "network-traffic", []edit{put("src_ref", idFile)}, "src_ref", "ipv4-addr"},
		{"sco embedded ref type", "email-message", []edit{put("body_multipart[1].body_raw_ref", idIPv4)}, "body_multipart[1].body_raw_ref", "artifact or a file"},
		{"sco extension ref type", "network-traffic", []edit{put("extensions.http-request-ext.message_body_data_ref", idFile)}, "extensions.http-request-ext.message_body_data_ref", "artifact"},
		{"meta marking created_by_ref", "marking-definition", []edit{put("created_by_ref", idIndic)}, "created_by_ref", "identity"},
		{"meta granular marking_ref type", "indicator", []edit{put("granular_markings[0].marking_ref", idIdentity)}, "granular_markings[0].marking_ref", "marking-definition"},

		// property names and custom properties
		{"sdo property uppercase", "tool", []edit{put("X_Acme", 1)}, "X_Acme", "begin with a letter"},
		{"sdo property too short", "tool", []edit{put("xy", 1)}, "xy", "3 to 250"},
		{"sdo property too long", "tool", []edit{put(long, 1)}, long, "3 to 250"},
		{"sco property hyphen", "url", []edit{put("x-acme", 1)}, "x-acme", "may only contain"},
		{"embedded property name", "indicator", []edit{put("external_references[0].Bad", "x")}, "external_references[0].Bad", "begin with a letter"},
		{"custom property digit first", "x-acme-widget", []edit{put("1abc", 1)}, "1abc", "begin with a letter"},

		// extensions
		{"sdo extensions empty", "tool", []edit{putJSON("extensions", `{}`)}, "extensions", "must not be empty"},
		{"sdo extension not object", "tool", []edit{putJSON("extensions", `{"`+idExtDef+`":"x"}`)}, "extensions." + idExtDef, "non-empty object"},
		{"sdo extension bad id", "tool", []edit{putJSON("extensions", `{"extension-definition--1234":{"extension_type":"property-extension"}}`)}, "extensions.extension-definition--1234", "RFC 4122"},
		{"sdo extension_type missing", "tool", []edit{putJSON("extensions", `{"`+idExtDef+`":{"rank":5}}`)}, "extensions." + idExtDef + ".extension_type", "required"},
		{"sdo extension_type enum", "tool", []edit{putJSON("extensions", `{"`+idExtDef+`":{"extension_type":"plugin"}}`)}, "extensions." + idExtDef + ".extension_type", "extension-type-enum"},
		{"sdo new-sdo on spec type", "tool", []edit{putJSON("extensions", `{"`+idExtDef+`":{"extension_type":"new-sdo"}}`)}, "extensions." + idExtDef + ".extension_type", "cannot be used on the tool type"},
		{"sdo extension key chars", "tool", []edit{putJSON("extensions", `{"my ext":{"a_b":1}}`)}, "extensions.my ext", "dictionary keys"},
		{"sco predefined extension empty", "file", []edit{putJSON("extensions.pdf-ext", `{}`)}, "extensions.pdf-ext", "non-empty object"},
		{"sco predefined extension enum", "file", []edit{put("extensions.windows-pebinary-ext.pe_type", 5)}, "extensions.windows-pebinary-ext.pe_type", "must be a string"},
		{"sco tcp-ext needs a flag", "network-traffic", []edit{putJSON("extensions.tcp-ext", `{"x_other":1}`)}, "extensions.tcp-ext", "at least one of src_flags_hex, dst_flags_hex"},
		{"meta extension property name", "tlp2-red", []edit{put("extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.TLP", "red")}, "extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.TLP", "begin with a letter"},
		{"meta extension_properties without toplevel", "extension-definition", []edit{putJSON("extension_types", `["new-sdo"]`)}, "extension_properties", "toplevel-property-extension"},

		// kill chain phases
		{"sdo kill chain phase_name missing", "attack-pattern", []edit{del("kill_chain_phases[0].phase_name")}, "kill_chain_phases[0].phase_name", "required"},
		{"sdo kill chain not object", "indicator", []edit{putJSON("kill_chain_phases", `["delivery"]`)}, "kill_chain_phases[0]", "must be an object"},

		// external references
		{"sdo external ref source_name", "attack-pattern", []edit{del("external_references[0].source_name")}, "external_references[0].source_name", "required"},
		{"sdo external ref needs more", "attack-pattern", []edit{del("external_references[0].external_id")}, "external_references[0]", "at least one of description, url or external_id"},
		{"sdo external ref hash algorithm", "indicator", []edit{putJSON("external_references[0].hashes", `{"sha256":"6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b"}`)}, "external_references[0].hashes.sha256", "hash-algorithm-ov"},
		{"sdo external ref hash value", "indicator", []edit{put("external_references[0].hashes.SHA-256", "abc")}, "external_references[0].hashes.SHA-256", "64 hex digits"},
		{"sco hash value", "file", []edit{put("hashes.SHA-256", "zz")}, "hashes.SHA-256", "SHA-256"},
		{"sco hash not string", "artifact", []edit{put("hashes.MD5", 5)}, "hashes.MD5", "must be strings"},
		{"sco embedded hashes", "file", []edit{put("extensions.windows-pebinary-ext.sections[0].hashes.MD5", "x")}, "extensions.windows-pebinary-ext.sections[0].hashes.MD5", "MD5"},

		// granular markings
		{"sdo selector missing property", "indicator", []edit{putJSON("granular_markings[0].selectors", `["pattern_version","x_nothing"]`)}, "granular_markings[0].selectors[1]", `property "x_nothing" is not present`},
		{"sdo selector index past end", "indicator", []edit{putJSON("granular_markings[0].selectors", `["kill_chain_phases.[1]"]`)}, "granular_markings[0].selectors[0]", "past the end"},
		{"sdo selector index on non-list", "indicator", []edit{putJSON("granular_markings[0].selectors", `["name.[0]"]`)}, "granular_markings[0].selectors[0]", "not a list"},
		{"sdo selector starts with index", "indicator", []edit{putJSON("granular_markings[0].selectors", `["[0]"]`)}, "granular_markings[0].selectors[0]", "start with a property name"},
		{"sdo selector negative index", "indicator", []edit{putJSON("granular_markings[0].selectors", `["kill_chain_phases.[-1]"]`)}, "granular_markings[0].selectors[0]", "bad list index"},
		{"sdo selector bad index", "indicator", []edit{putJSON("granular_markings[0].selectors", `["kill_chain_phases.[x]"]`)}, "granular_markings[0].selectors[0]", "bad list index"},
		{"sdo selector trailing dot", "indicator", []edit{putJSON("granular_markings[0].selectors", `["name."]`)}, "granular_markings[0].selectors[0]", "empty selector component"},
		{"sdo selector into string", "indicator", []edit{putJSON("granular_markings[0].selectors", `["name.x_sub"]`)}, "granular_markings[0].selectors[0]", "not an object"},
		{"sdo selector empty component", "indicator", []edit{putJSON("granular_markings[0].selectors", `["kill_chain_phases..phase_name"]`)}, "granular_markings[0].selectors[0]", "empty selector component"},
		{"sdo granular both ref and lang", "indicator", []edit{put("granular_markings[0].lang", "en")}, "granular_markings[0].lang", "together with marking_ref"},
		{"sdo granular neither", "indicator", []edit{del("granular_markings[1].lang")}, "granular_markings[1]", "one of marking_ref or lang"},
		{"sdo granular selectors missing", "indicator", []edit{del("granular_markings[0].selectors")}, "granular_markings[0].selectors", "required"},
		{"sco selector", "url", []edit{putJSON("granular_markings", `[{"marking_ref":"`+idStmt+`","selectors":["values"]}]`)}, "granular_markings[0].selectors[0]", "not present"},
		{"meta granular self marking", "marking-definition", []edit{putJSON("granular_markings", `[{"marking_ref":"`+idStmt+`","selectors":["name"]}]`)}, "granular_markings[0].marking_ref", "must not mark itself"},

		// confidence, lang
		{"sdo confidence over 100", "indicator", []edit{put("confidence", 101)}, "confidence", "out of range [0, 100]"},
		{"sdo confidence negative", "indicator", []edit{put("confidence", -1)}, "confidence", "out of range"},
		{"sdo lang", "indicator", []edit{put("lang", "english language")}, "lang", "RFC 5646"},
		{"sdo granular lang", "indicator", []edit{put("granular_markings[1].lang", "e")}, "granular_markings[1].lang", "RFC 5646"},
		{"sro lang", "relationship", []edit{put("lang", "123")}, "lang", "RFC 5646"},

		// per-type rules
		{"indicator valid_until not after valid_from", "indicator", []edit{put("valid_until", "2016-01-01T00:00:00Z")}, "valid_until", "later than valid_from"},
		{"indicator bad stix pattern", "indicator", []edit{put("pattern", "[file:hashes.'SHA-256' = ")}, "pattern", "at 25: expected a constant"},
		{"indicator pattern unbalanced", "indicator", []edit{put("pattern", "file:name = 'x'")}, "pattern", "at 0: expected '[' or '('"},
		{"location lat without long", "location", []edit{del("longitude"), del("precision")}, "longitude", "required when latitude"},
		{"location precision without coordinates", "location", []edit{del("longitude"), del("latitude")}, "precision", "requires latitude"},
		{"location nothing", "location", []edit{del("longitude"), del("latitude"), del("precision"), del("country"), del("region")}, "", "one of region, country"},
		{"malware-analysis result or refs", "malware-analysis", []edit{del("result"), del("analysis_sco_refs")}, "", "one of result or analysis_sco_refs"},
		{"observed-data both", "observed-data", []edit{putJSON("objects", `{"0":{"type":"ipv4-addr","value":"10.0.0.1"}}`)}, "objects", "together with object_refs"},
		{"observed-data neither", "observed-data", []edit{del("object_refs")}, "object_refs", "required"},
		{"observed-data objects entry", "observed-data", []edit{del("object_refs"), putJSON("objects", `{"0":{"value":"10.0.0.1"}}`)}, "objects.0", "with a type"},
		{"observed-data last before first", "observed-data", []edit{put("last_observed", "2015-12-21T18:00:00Z")}, "last_observed", "first_observed"},
		{"relationship type chars", "relationship", []edit{put("relationship_type", "Indicates")}, "relationship_type", "a-z, 0-9 and hyphen"},
		{"relationship stop before start", "relationship", []edit{put("stop_time", "2016-01-01T00:00:00Z")}, "stop_time", "later than start_time"},
		{"artifact both payload and url", "artifact", []edit{put("url", "https://example.com/a")}, "url", "together with payload_bin"},
		{"artifact neither", "artifact", []edit{del("payload_bin")}, "", "one of payload_bin or url"},
		{"artifact url needs hashes", "artifact", []edit{del("payload_bin"), del("hashes"), put("url", "https://example.com/a")}, "hashes", "required when url"},
		{"artifact key without algorithm", "artifact", []edit{put("decryption_key", "secret")}, "decryption_key", "without encryption_algorithm"},
		{"email body with multipart", "email-message", []edit{put("body", "x")}, "body", "is_multipart is true"},
		{"email multipart parts when single", "email-message", []edit{put("is_multipart", false)}, "body_multipart", "is_multipart is false"},
		{"email mime part empty", "email-message", []edit{del("body_multipart[0].body")}, "body_multipart[0]", "one of body or body_raw_ref"},
		{"file needs hashes or name", "file", []edit{del("hashes"), del("name")}, "", "at least one of hashes, name"},
		{"ipv4 value", "ipv4-addr", []edit{put("value", "300.1.1.1")}, "value", "not an IP address"},
		{"ipv4 value is v6", "ipv4-addr", []edit{put("value", "2001:db8::1")}, "value", "not an IPv4"},
		{"ipv4 bad cidr", "ipv4-addr", []edit{put("value", "10.0.0.0/33")}, "value", "CIDR"},
		{"ipv6 value is v4", "ipv6-addr", []edit{put("value", "10.0.0.1")}, "value", "not an IPv6"},
		{"mac uppercase", "mac-addr", []edit{put("value", "D2:FB:49:24:37:18")}, "value", "MAC-48"},
		{"mac dashes", "mac-addr", []edit{put("value", "d2-fb-49-24-37-18")}, "value", "MAC-48"},
		{"network-traffic needs endpoint", "network-traffic", []edit{del("src_ref"), del("dst_ref")}, "", "at least one of src_ref, dst_ref"},
		{"network-traffic end while active", "network-traffic", []edit{put("is_active", true)}, "end", "is_active is true"},
		{"network-traffic end before start", "network-traffic", []edit{put("end", "2015-01-01T00:00:00Z")}, "end", "later than or equal to start"},
		{"process empty", "process", []edit{del("pid"), del("command_line"), del("image_ref"), del("environment_variables"), del("extensions")}, "", "at least one property"},
		{"x509 empty", "x509-certificate", []edit{del("issuer"), del("serial_number"), del("validity_not_before"), del("validity_not_after"), del("subject_public_key_exponent"), del("x509_v3_extensions")}, "", "at least one of is_self_signed"},
		{"marking definition_type without definition", "marking-definition", []edit{del("definition")}, "definition", "required when definition_type"},
		{"marking definition without type", "marking-definition", []edit{del("definition_type")}, "definition_type", "required when definition is present"},
		{"marking nothing defines it", "marking-definition", []edit{del("definition"), del("definition_type")}, "definition", "required when extensions is absent"},
		{"marking statement missing", "marking-definition", []edit{putJSON("definition", `{"text":"x"}`)}, "definition.statement", "required"},
		{"marking versioned", "marking-definition", []edit{put("modified", "2016-08-02T00:00:00.000Z")}, "modified", "cannot be versioned"},
		{"marking marks itself", "marking-definition", []edit{putJSON("object_marking_refs", `["`+idStmt+`"]`)}, "object_marking_refs[0]", "must not mark itself"},
		{"tlp1 custom id", "tlp1-white", []edit{put("id", idStmt)}, "definition.tlp", "predefined marking-definition ids"},
		{"tlp1 level mismatch", "tlp1-white", []edit{put("definition.tlp", "red")}, "definition.tlp", "does not match the predefined TLP:WHITE"},
		{"tlp1 id with statement", "tlp1-white", []edit{put("definition_type", "statement"), putJSON("definition", `{"statement":"x"}`)}, "definition_type", `must have definition_type "tlp"`},
		{"tlp2 custom id", "tlp2-red", []edit{put("id", idStmt)}, "extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d", "predefined marking-definition ids"},
		{"tlp2 level mismatch", "tlp2-red", []edit{put("extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.tlp_2_0", "amber")}, "extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.tlp_2_0", "TLP:RED"},
		{"tlp2 wrong extension_type", "tlp2-red", []edit{put("extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.extension_type", "toplevel-property-extension")}, "extensions.extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d.extension_type", "property-extension"},
		{"tlp2 id without extension", "tlp2-red", []edit{del("extensions"), put("definition_type", "statement"), putJSON("definition", `{"statement":"red"}`)}, "extensions", "must carry the TLP 2.0 extension"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, fixture(t, tc.fixture), tc.edits...)
			// Parse already rejects some of these (common properties of
			// the wrong JSON type); the error must be the same either way.
			o, err := Parse(b)
			if err == nil {
				err = Validate(o)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse+Validate = %v, want a *ValidationError at %q\n%s", err, tc.path, b)
			}
			if ve.Path != tc.path || !strings.Contains(ve.Msg, tc.msg) {
				t.Fatalf("got path %q msg %q, want path %q msg containing %q", ve.Path, ve.Msg, tc.path, tc.msg)
			}
			if ve.Index != -1 {
				t.Errorf("Index = %d, want -1", ve.Index)
			}
			if o != nil && ve.ID != o.ID {
				t.Errorf("error names id %q, want %q", ve.ID, o.ID)
			}
			if ve.ID == "" && ve.Type == "" && tc.path != "type" {
				t.Errorf("error names neither id nor type: %v", ve)
			}
			if !strings.Contains(ve.Error(), tc.path+": ") && tc.path != "" {
				t.Errorf("Error() = %q does not show the path", ve.Error())
			}
		})
	}
}

func TestLanguageTags(t *testing.T) {
	for _, s := range []string{"en", "de-CH", "zh-Hans-CN", "sl-rozaj-biske", "x-whatever", "i-klingon", "es-419", "EN-gb"} {
		if !isLanguageTag(s) {
			t.Errorf("isLanguageTag(%q) = false", s)
		}
	}
	for _, s := range []string{"", "e", "en-", "-en", "en--gb", "english language", "en_GB", "1en", "en-abcdefghi", "ü"} {
		if isLanguageTag(s) {
			t.Errorf("isLanguageTag(%q) = true", s)
		}
	}
}
