package stix

import (
	"strings"
	"testing"
)

func TestLintCleanFixtures(t *testing.T) {
	for name, src := range validObjects {
		if name == "x-acme-thing" {
			continue
		}
		if ws := Lint(mustParse(t, build(t, src))); len(ws) != 0 {
			t.Errorf("%s: unexpected warnings %v", name, ws)
		}
	}
}

func TestLint(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
		edits   []edit
		path    string // a warning with exactly this path
		msg     string // and this message substring
	}{
		{"sdo id version", "tool", []edit{put("id", "tool--8e2e2d2b-17d4-1cbf-938f-98ee46b3cd3f")}, "id", "should be UUIDv4"},
		{"sco id version", "url", []edit{put("id", "url--c1477287-23ac-4971-a010-5c287877fa60")}, "id", "should be UUIDv5"},
		{"open vocab", "indicator", []edit{putJSON("indicator_types", `["malicious-activity","evil"]`)}, "indicator_types[1]", `"evil" is not in indicator-type-ov`},
		{"open vocab single", "identity", []edit{put("identity_class", "company")}, "identity_class", "identity-class-ov"},
		{"pattern type", "indicator", []edit{put("pattern_type", "kql"), put("pattern", "x")}, "pattern_type", "pattern-type-ov"},
		{"custom property prefix", "tool", []edit{put("acme_score", 5)}, "acme_score", `should start with "x_"`},
		{"custom property in embedded type", "tool", []edit{putJSON("external_references", `[{"source_name":"a","external_id":"1","acme":"b"}]`)}, "external_references[0].acme", `should start with "x_"`},
		{"custom type prefix", "x-acme-widget", []edit{put("type", "acme-widget"), put("id", "acme-widget--4527e5de-8572-446a-a57a-706f15467461")}, "type", "extension-definition"},
		{"deprecated observed-data objects", "observed-data", []edit{del("object_refs"), putJSON("objects", `{"0":{"type":"ipv4-addr","value":"10.0.0.1"}}`)}, "objects", "deprecated"},
		{"deprecated resolves_to_refs", "domain-name", []edit{putJSON("resolves_to_refs", `["`+idIPv4+`"]`)}, "resolves_to_refs", "deprecated"},
		{"kill chain case", "attack-pattern", []edit{put("kill_chain_phases[0].phase_name", "Delivery")}, "kill_chain_phases[0].phase_name", "lowercase"},
		{"external ref url without hashes", "indicator", []edit{del("external_references[0].hashes")}, "external_references[0].hashes", "should be given"},
		{"cve id", "vulnerability", []edit{put("external_references[0].external_id", "2016-1234")}, "external_references[0].external_id", "CVE id"},
		{"sco hash algorithm", "file", []edit{put("hashes.sha256", "x")}, "hashes.sha256", "hash-algorithm-ov"},
		{"country code", "location", []edit{put("country", "France")}, "country", "ISO 3166-1"},
		{"tlp1 created", "tlp1-white", []edit{put("created", "2017-01-21T00:00:00.000Z")}, "created", "2017-01-20"},
		{"extension key", "tool", []edit{putJSON("extensions", `{"acme-ext":{"x_a":1}}`)}, "extensions.acme-ext", "extension-definition ids"},
		{"socket option name", "network-traffic", []edit{putJSON("extensions.socket-ext.options", `{"TCP_NODELAY":1}`)}, "extensions.socket-ext.options.TCP_NODELAY", "SO_*"},
		{"reserved", "course-of-action", []edit{put("action", "block")}, "action", "reserved"},
		{"toplevel extension without properties", "extension-definition", []edit{del("extension_properties")}, "extension_properties", "should list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := mustParse(t, build(t, fixture(t, tc.fixture), tc.edits...))
			if err := Validate(o); err != nil {
				t.Fatalf("a lint case must be valid: %v", err)
			}
			ws := Lint(o)
			for _, w := range ws {
				if w.Path == tc.path && strings.Contains(w.Msg, tc.msg) {
					if w.ID != o.ID || !strings.Contains(w.String(), tc.path+": ") {
						t.Errorf("warning %+v does not name the object and path", w)
					}
					return
				}
			}
			t.Errorf("no warning at %q containing %q; got %v", tc.path, tc.msg, ws)
		})
	}
}

// Lint goes on past errors and does not report them.
func TestLintOnInvalidObject(t *testing.T) {
	o := mustParse(t, build(t, validObjects["indicator"], del("valid_from"), put("indicator_types", []any{"evil"})))
	if Validate(o) == nil {
		t.Fatal("object should be invalid")
	}
	ws := Lint(o)
	if len(ws) != 1 || ws[0].Path != "indicator_types[0]" {
		t.Errorf("Lint = %v, want just the vocabulary warning", ws)
	}
}
