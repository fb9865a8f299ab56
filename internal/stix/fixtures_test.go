package stix

import (
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
)

// Valid objects of every type STIX 2.1 defines, plus custom ones. Each is
// the starting point of the invalid cases in validate_test.go.
const (
	idIdentity = "identity--311b2d2d-f010-4473-83ec-1edf84858f4c"
	idIndic    = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
	idMalware  = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"
	idObsData  = "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf"
	idLocation = "location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64"
	idStmt     = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41db"
	idTLPWhite = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	idTLP2Red  = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
	idFile     = "file--5a27d487-c542-5f97-a131-a8866b477b46"
	idArtifact = "artifact--6f437177-6e48-5cf8-9d9e-872a2bddd641"
	idIPv4     = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"
	idSoftware = "software--a1827f6d-ca53-5605-9e93-4316cd22a00a"
	idEmail    = "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3"
	idUser     = "user-account--0d5b424b-93b8-5cd8-ac36-306e1789d63c"
	idTraffic  = "network-traffic--630d7bb1-0bbc-53a6-a6d4-f3c2d35c2734"
	idExtDef   = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
)

const sdoHead = `"spec_version":"2.1","created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z"`

var validObjects = map[string]string{
	"attack-pattern": `{"type":"attack-pattern","id":"attack-pattern--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",` + sdoHead + `,
		"name":"Spear Phishing","aliases":["phish"],
		"kill_chain_phases":[{"kill_chain_name":"lockheed-martin-cyber-kill-chain","phase_name":"delivery"}],
		"external_references":[{"source_name":"capec","external_id":"CAPEC-163"}]}`,
	"campaign": `{"type":"campaign","id":"campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + sdoHead + `,
		"name":"Green Group Attacks","first_seen":"2016-01-01T00:00:00Z","last_seen":"2016-02-01T00:00:00Z","objective":"steal"}`,
	"course-of-action": `{"type":"course-of-action","id":"course-of-action--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + sdoHead + `,
		"name":"Add TCP port 80 Filter Rule"}`,
	"grouping": `{"type":"grouping","id":"grouping--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",` + sdoHead + `,
		"name":"The Black Vine Cyberespionage Group","context":"suspicious-activity",
		"object_refs":["` + idIndic + `","` + idMalware + `","` + idIPv4 + `"]}`,
	"identity": `{"type":"identity","id":"` + idIdentity + `",` + sdoHead + `,
		"name":"ACME Widget, Inc.","identity_class":"organization","sectors":["technology"],"roles":["producer"]}`,
	"incident": `{"type":"incident","id":"incident--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + sdoHead + `,
		"name":"Breach of the wiki"}`,
	"indicator": `{"type":"indicator","id":"` + idIndic + `",` + sdoHead + `,
		"created_by_ref":"` + idIdentity + `","name":"Poison Ivy Malware","description":"hash of Poison Ivy",
		"indicator_types":["malicious-activity"],
		"pattern":"[file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877']",
		"pattern_type":"stix","pattern_version":"2.1",
		"valid_from":"2016-01-01T00:00:00Z","valid_until":"2017-01-01T00:00:00Z",
		"kill_chain_phases":[{"kill_chain_name":"mandiant-attack-lifecycle-model","phase_name":"establish-foothold"}],
		"confidence":85,"lang":"en","labels":["poison-ivy"],
		"object_marking_refs":["` + idTLPWhite + `"],
		"granular_markings":[{"marking_ref":"` + idStmt + `","selectors":["description","kill_chain_phases.[0].phase_name"]},
			{"lang":"en-GB","selectors":["name"]}],
		"external_references":[{"source_name":"veris","url":"https://example.com/x","hashes":{"SHA-256":"6db12788c37247f2316052e142f42f4b259d6561751e5f401a1ae2a6df9c674b"}}]}`,
	"infrastructure": `{"type":"infrastructure","id":"infrastructure--38c47d93-d984-4fd9-b87b-d69d0841628d",` + sdoHead + `,
		"name":"Poison Ivy C2","infrastructure_types":["command-and-control"],
		"first_seen":"2016-01-01T00:00:00Z","last_seen":"2016-01-01T00:00:00Z"}`,
	"intrusion-set": `{"type":"intrusion-set","id":"intrusion-set--4e78f46f-a023-4e5f-bc24-71b3ca22ec29",` + sdoHead + `,
		"name":"Bobcat Breakin","resource_level":"government","primary_motivation":"organizational-gain","goals":["steal"]}`,
	"location": `{"type":"location","id":"` + idLocation + `",` + sdoHead + `,
		"latitude":48.8566,"longitude":2.3522,"precision":1000.0,"country":"FR","region":"western-europe"}`,
	"malware": `{"type":"malware","id":"` + idMalware + `",` + sdoHead + `,
		"name":"Cryptolocker","is_family":true,"malware_types":["ransomware"],
		"sample_refs":["` + idFile + `"],"operating_system_refs":["` + idSoftware + `"],
		"first_seen":"2016-01-01T00:00:00Z","last_seen":"2016-01-01T00:00:00.5Z"}`,
	"malware-analysis": `{"type":"malware-analysis","id":"malware-analysis--d25167b7-fed0-4068-9ccd-a73dd2c5b07c",` + sdoHead + `,
		"product":"microsoft","result":"malicious","analysis_sco_refs":["` + idFile + `"],"sample_ref":"` + idFile + `",
		"host_vm_ref":"` + idSoftware + `"}`,
	"note": `{"type":"note","id":"note--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",` + sdoHead + `,
		"abstract":"Tracking Team Note#1","content":"This note indicates the various steps taken.",
		"authors":["John Doe"],"object_refs":["` + idIndic + `"]}`,
	"observed-data": `{"type":"observed-data","id":"` + idObsData + `",` + sdoHead + `,
		"first_observed":"2015-12-21T19:00:00Z","last_observed":"2015-12-21T19:00:00Z","number_observed":50,
		"object_refs":["` + idIPv4 + `","` + idTraffic + `"]}`,
	"opinion": `{"type":"opinion","id":"opinion--b01efc25-77b4-4003-b18b-f6e24b5cd9f7",` + sdoHead + `,
		"object_refs":["` + idIndic + `"],"opinion":"strongly-disagree","explanation":"This doesn't seem like it is feasible."}`,
	"report": `{"type":"report","id":"report--84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",` + sdoHead + `,
		"name":"The Black Vine Cyberespionage Group","report_types":["campaign"],"published":"2016-01-20T17:00:00.000Z",
		"object_refs":["` + idIndic + `","relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad"]}`,
	"threat-actor": `{"type":"threat-actor","id":"threat-actor--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + sdoHead + `,
		"name":"Evil Org","threat_actor_types":["crime-syndicate"],"roles":["director"],"sophistication":"advanced"}`,
	"tool": `{"type":"tool","id":"tool--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` + sdoHead + `,
		"name":"VNC","tool_types":["remote-access"]}`,
	"vulnerability": `{"type":"vulnerability","id":"vulnerability--0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",` + sdoHead + `,
		"name":"CVE-2016-1234","external_references":[{"source_name":"cve","external_id":"CVE-2016-1234"}]}`,

	"relationship": `{"type":"relationship","id":"relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad",` + sdoHead + `,
		"relationship_type":"indicates","source_ref":"` + idIndic + `","target_ref":"` + idMalware + `",
		"start_time":"2016-01-01T00:00:00Z","stop_time":"2016-02-01T00:00:00Z"}`,
	"sighting": `{"type":"sighting","id":"sighting--ee20065d-2555-424f-ad9e-0f8fd2ee3fc8",` + sdoHead + `,
		"sighting_of_ref":"` + idIndic + `","count":2,"first_seen":"2015-12-21T19:00:00Z","last_seen":"2015-12-21T19:00:00Z",
		"observed_data_refs":["` + idObsData + `"],"where_sighted_refs":["` + idIdentity + `","` + idLocation + `"],"summary":false}`,

	"marking-definition": `{"type":"marking-definition","spec_version":"2.1","id":"` + idStmt + `",
		"created":"2016-08-01T00:00:00.000Z","name":"Copyright","definition_type":"statement",
		"definition":{"statement":"Copyright 2016, Example Corp"}}`,
	"language-content": `{"type":"language-content","id":"language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d",` + sdoHead + `,
		"object_ref":"campaign--12a111f0-b824-4baf-a224-83b80237a094","object_modified":"2017-02-08T21:31:22.007Z",
		"contents":{"de":{"name":"Bank Angriff 1","description":"Weitere Informationen"},"fr":{"name":"Attaque Bank 1"}}}`,
	"extension-definition": `{"type":"extension-definition","id":"` + idExtDef + `",` + sdoHead + `,
		"created_by_ref":"` + idIdentity + `","name":"Extension My Favorite SDO and Sub-Comp",
		"schema":"https://www.example.com/schema-newobj-subcomp/v1/schema.json","version":"1.2.1",
		"extension_types":["new-sdo","toplevel-property-extension"],"extension_properties":["rank","toxicity"]}`,

	"artifact": `{"type":"artifact","spec_version":"2.1","id":"` + idArtifact + `","mime_type":"image/jpeg",
		"payload_bin":"VBORw0KGgoAAAANSUhEUgAAADI==","hashes":{"MD5":"6826f9a05da08134006557758bb3afbb"}}`,
	"autonomous-system": `{"type":"autonomous-system","spec_version":"2.1","id":"autonomous-system--f720c34b-98ae-597f-ade5-27dc241e8c74",
		"number":15139,"name":"Slime Industries","rir":"ARIN"}`,
	"directory": `{"type":"directory","spec_version":"2.1","id":"directory--93c0a9b0-520d-545d-9094-1a08ddf46b05",
		"path":"C:\\Windows\\System32","contains_refs":["` + idFile + `"]}`,
	"domain-name": `{"type":"domain-name","spec_version":"2.1","id":"domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5",
		"value":"example.com"}`,
	"email-addr": `{"type":"email-addr","spec_version":"2.1","id":"` + idEmail + `",
		"value":"john@example.com","display_name":"John Doe","belongs_to_ref":"` + idUser + `"}`,
	"email-message": `{"type":"email-message","spec_version":"2.1","id":"email-message--cf9b4b7f-14c8-5955-8065-020e0316b559",
		"is_multipart":true,"date":"1997-11-21T15:55:06.000Z","from_ref":"` + idEmail + `","to_refs":["` + idEmail + `"],
		"subject":"Check out this picture!","additional_header_fields":{"Content-Language":"en-US","X-Mailer":"Mutt"},
		"body_multipart":[{"content_type":"text/plain; charset=utf-8","content_disposition":"inline","body":"Cats are funny!"},
			{"content_type":"image/png","body_raw_ref":"` + idArtifact + `"}]}`,
	"file": `{"type":"file","spec_version":"2.1","id":"` + idFile + `",
		"hashes":{"SHA-256":"ceafbfd424be2ca4a5f0402cae090dda2fb0526cf521b60b60077c0f622b285a"},
		"size":25536,"name":"foo.dll","magic_number_hex":"4D5A","mtime":"2016-01-01T00:00:00Z",
		"extensions":{"windows-pebinary-ext":{"pe_type":"dll","number_of_sections":4,"machine_hex":"014c",
				"optional_header":{"magic_hex":"010b","size_of_code":4096},
				"sections":[{"name":".text","size":4096,"entropy":6.2,"hashes":{"MD5":"7de4b2b1a0e9d5f4f4b8f8c1e0a1b2c3"}}]},
			"ntfs-ext":{"alternate_data_streams":[{"name":"second.stream","size":25536}]}}}`,
	"ipv4-addr": `{"type":"ipv4-addr","spec_version":"2.1","id":"` + idIPv4 + `","value":"198.51.100.0/24"}`,
	"ipv6-addr": `{"type":"ipv6-addr","spec_version":"2.1","id":"ipv6-addr--1e61d36c-a16c-53b7-a80f-2a00161c96b1",
		"value":"2001:0db8:85a3:0000:0000:8a2e:0370:7334"}`,
	"mac-addr": `{"type":"mac-addr","spec_version":"2.1","id":"mac-addr--65cfcf98-8a6e-5a1b-8f61-379ac4f92d00",
		"value":"d2:fb:49:24:37:18"}`,
	"mutex": `{"type":"mutex","spec_version":"2.1","id":"mutex--eba44954-d4e4-5d3b-814c-2b17dd8de300","name":"__CLEANSWEEP__"}`,
	"network-traffic": `{"type":"network-traffic","spec_version":"2.1","id":"` + idTraffic + `",
		"src_ref":"` + idIPv4 + `","dst_ref":"domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5","src_port":3372,"dst_port":80,
		"protocols":["ipv4","tcp","http"],"start":"2016-01-01T00:00:00Z","end":"2016-01-01T00:01:00Z","is_active":false,
		"ipfix":{"minimumIpTotalLength":32,"protocolIdentifier":"tcp"},
		"extensions":{"http-request-ext":{"request_method":"get","request_value":"/download.html",
				"request_version":"http/1.1","request_header":{"Accept-Encoding":"gzip,deflate","Host":"www.example.com"}},
			"tcp-ext":{"src_flags_hex":"00000002"},
			"socket-ext":{"address_family":"AF_INET","socket_type":"SOCK_STREAM","options":{"SO_TEST":1000}}}}`,
	"process": `{"type":"process","spec_version":"2.1","id":"process--f52a906a-0dfc-40bd-92f1-e7778ead38a9",
		"pid":1221,"command_line":"./gedit-bin --new-window","image_ref":"` + idFile + `",
		"environment_variables":{"PATH":"/usr/bin"},
		"extensions":{"windows-process-ext":{"aslr_enabled":true,"integrity_level":"high"},
			"windows-service-ext":{"service_name":"sirvizio","start_type":"SERVICE_AUTO_START","service_status":"SERVICE_RUNNING"}}}`,
	"software": `{"type":"software","spec_version":"2.1","id":"` + idSoftware + `",
		"name":"Word","cpe":"cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*","version":"2002","vendor":"Microsoft","languages":["eng"]}`,
	"url": `{"type":"url","spec_version":"2.1","id":"url--c1477287-23ac-5971-a010-5c287877fa60","value":"https://example.com/research/index.html"}`,
	"user-account": `{"type":"user-account","spec_version":"2.1","id":"` + idUser + `",
		"user_id":"1001","account_login":"jdoe","account_type":"unix","display_name":"John Doe",
		"is_privileged":false,"account_created":"2016-01-20T12:31:12Z",
		"extensions":{"unix-account-ext":{"gid":1001,"groups":["wheel"],"home_dir":"/home/jdoe","shell":"/bin/bash"}}}`,
	"windows-registry-key": `{"type":"windows-registry-key","spec_version":"2.1","id":"windows-registry-key--2ba37ae7-2745-5082-9dfd-9486dad41016",
		"key":"hkey_local_machine\\system\\bar\\foo","values":[{"name":"Foo","data":"qwerty","data_type":"REG_SZ"}],
		"number_of_subkeys":1}`,
	"x509-certificate": `{"type":"x509-certificate","spec_version":"2.1","id":"x509-certificate--463d7b2a-8516-5a50-a3d7-6f801465d5de",
		"issuer":"C=ZA, ST=Western Cape, L=Cape Town, O=Thawte Consulting cc","serial_number":"36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06",
		"validity_not_before":"2016-03-12T12:00:00Z","validity_not_after":"2016-08-21T12:00:00Z","subject_public_key_exponent":65537,
		"x509_v3_extensions":{"basic_constraints":"critical,CA:TRUE","private_key_usage_period_not_before":"2016-03-12T12:00:00Z"}}`,

	// Custom object types: an SDO-like one (created/modified), an SCO-like
	// one, and one defined through an extension-definition.
	"x-acme-widget": `{"type":"x-acme-widget","id":"x-acme-widget--4527e5de-8572-446a-a57a-706f15467461",` + sdoHead + `,
		"x_acme_colour":"red","created_by_ref":"` + idIdentity + `"}`,
	"x-acme-thing": `{"type":"x-acme-thing","id":"x-acme-thing--4527e5de-8572-546a-a57a-706f15467461","value":"x"}`,
	"my-favorite-sdo": `{"type":"my-favorite-sdo","id":"my-favorite-sdo--ac97aae4-83f1-46ca-a351-7aeb76678189",` + sdoHead + `,
		"name":"This is the name of my favorite","some_property_name1":"value1",
		"extensions":{"` + idExtDef + `":{"extension_type":"new-sdo"}}}`,
}

// TLP markings as the spec and the OASIS TLP 2.0 extension publish them.
var tlpObjects = map[string]string{
	"tlp1-white": `{"type":"marking-definition","spec_version":"2.1","id":"` + idTLPWhite + `",
		"created":"2017-01-20T00:00:00.000Z","definition_type":"tlp","name":"TLP:WHITE","definition":{"tlp":"white"}}`,
	"tlp2-red": `{"type":"marking-definition","spec_version":"2.1","id":"` + idTLP2Red + `",
		"created":"2022-10-01T00:00:00.000Z","name":"TLP:RED",
		"extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"red"}}}`,
}

// edit changes a decoded object.
type edit func(t *testing.T, m map[string]any)

// put sets the value at path ("a.b[1].c"), creating objects on the way.
func put(path string, v any) edit {
	return func(t *testing.T, m map[string]any) { walk(t, m, path, v, false) }
}

// del removes the member at path.
func del(path string) edit {
	return func(t *testing.T, m map[string]any) { walk(t, m, path, nil, true) }
}

// putJSON sets path to a JSON value given as text.
func putJSON(path, jsonText string) edit {
	return func(t *testing.T, m map[string]any) {
		var v any
		if err := json.Unmarshal([]byte(jsonText), &v); err != nil {
			t.Fatalf("putJSON %s: %v", path, err)
		}
		walk(t, m, path, v, false)
	}
}

func walk(t *testing.T, m map[string]any, path string, v any, remove bool) {
	t.Helper()
	parts := splitPath(path)
	var cur any = m
	for i, p := range parts {
		last := i == len(parts)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if remove {
					delete(c, p)
				} else {
					c[p] = v
				}
				return
			}
			next, ok := c[p]
			if !ok {
				next = map[string]any{}
				c[p] = next
			}
			cur = next
		case []any:
			idx, err := strconv.Atoi(p)
			if err != nil || idx >= len(c) {
				t.Fatalf("path %s: bad index %s", path, p)
			}
			if last {
				c[idx] = v
				return
			}
			cur = c[idx]
		default:
			t.Fatalf("path %s: cannot descend into %T", path, cur)
		}
	}
}

func splitPath(path string) []string {
	var parts []string
	for _, p := range strings.Split(path, ".") {
		for p != "" {
			if i := strings.IndexByte(p, '['); i > 0 {
				parts = append(parts, p[:i])
				p = p[i:]
				continue
			}
			if p[0] == '[' {
				j := strings.IndexByte(p, ']')
				parts = append(parts, p[1:j])
				p = p[j+1:]
				continue
			}
			parts = append(parts, p)
			p = ""
		}
	}
	return parts
}

// build returns the JSON of a fixture with edits applied.
func build(t *testing.T, src string, edits ...edit) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(src), &m); err != nil {
		t.Fatalf("fixture does not decode: %v\n%s", err, src)
	}
	for _, e := range edits {
		e(t, m)
	}
	b, err := json.Marshal(m, json.Deterministic(true))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixture(t *testing.T, name string) string {
	t.Helper()
	if s, ok := validObjects[name]; ok {
		return s
	}
	if s, ok := tlpObjects[name]; ok {
		return s
	}
	t.Fatalf("no fixture %q", name)
	return ""
}

func mustParse(t *testing.T, b []byte) *Object {
	t.Helper()
	o, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, b)
	}
	return o
}
