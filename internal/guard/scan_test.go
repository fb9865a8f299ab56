package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func q(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestScanForms checks one form per line: the object must get the action
// and carry a finding of the kind at the path.
func TestScanForms(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	tests := []struct {
		obj  string
		kind Kind
		path string // "" with kind 0: must be allowed
	}{
		{`{"type":"indicator","pattern":"[ipv4-addr:value = '198.51.100.7']"}`, KindCIDR, "pattern"},
		{`{"type":"indicator","pattern":"[ipv4-addr:value ISSUBSET '198.51.100.0/25']"}`, KindCIDR, "pattern"},
		{`{"type":"indicator","pattern":"[ipv4-addr:value ISSUBSET '198.51.0.0/16']"}`, KindCIDR, "pattern"},
		{`{"type":"indicator","pattern":"[ipv4-addr:value ISSUBSET '198.0.0.0/8']"}`, 0, ""},
		{`{"type":"indicator","pattern":"[ipv6-addr:value ISSUBSET '2001:db8:ac3e:1::/64']"}`, KindCIDR, "pattern"},
		{`{"type":"indicator","pattern":"[ipv6-addr:value ISSUBSET '2001:db8::/32']"}`, KindCIDR, "pattern"},
		{`{"type":"indicator","pattern":"[ipv6-addr:value ISSUBSET '2001::/16']"}`, 0, ""},
		{`{"type":"indicator","pattern":"[ipv4-addr:value = '198.51.101.7']"}`, 0, ""},
		{`{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.63'] OR [ipv4-addr:value = '192.0.2.128']"}`, 0, ""},
		{`{"type":"indicator","pattern":"[ipv4-addr:value = '192.0.2.64']"}`, KindCIDR, "pattern"},
		{`{"type":"ipv4-addr","value":"203.0.113.200"}`, KindCIDR, "value"},
		{`{"type":"ipv4-addr","value":"203.0.113.201"}`, 0, ""},
		{`{"type":"x","x_n":3325256711}`, KindCIDR, "x_n"},
		{`{"type":"x","x_n":3325256960}`, 0, ""},
		{`{"type":"x","x_n":3325256711.5}`, 0, ""},
		{`{"type":"url","value":"hxxp://198[.]51[.]100[.]7:8080/gate.php"}`, KindCIDR, "value"},
		{`{"type":"url","value":"http://[2001:db8:ac3e::5]:8443/"}`, KindCIDR, "value"},
		{`{"type":"domain-name","value":"VPN.Acme-Corp.Example."}`, KindDomain, "value"},
		{`{"type":"domain-name","value":"acme-corp.example.evil.net"}`, 0, ""},
		{`{"type":"domain-name","value":"notacme-corp.example"}`, 0, ""},
		{`{"type":"domain-name","value":"acme-corp.example-login.net"}`, 0, ""},
		{`{"type":"domain-name","value":"bücher-kunde.example"}`, KindDomain, "value"},
		{`{"type":"domain-name","value":"xn--bcher-kunde-thb.example"}`, KindDomain, "value"},
		{`{"type":"domain-name","value":"bucher-kunde.example"}`, 0, ""},
		{`{"type":"email-addr","value":"CEO@globex-holdings.example"}`, KindEmail, "value"},
		{`{"type":"email-addr","value":"cfo@globex-holdings.example"}`, KindName, "value"}, // "globex" is a protected name
		{`{"type":"email-addr","value":"j.smith+billing@umbrella-mail.example"}`, KindEmail, "value"},
		{`{"type":"email-addr","value":"j.smith@umbrella-mail.example"}`, 0, ""},
		{`{"type":"email-addr","value":"anyone@mail.acme-corp.example"}`, KindEmail, "value"},
		{`{"type":"identity","name":"ACME   corporation"}`, KindName, "name"},
		{`{"type":"identity","name":"Acme Corporations Ltd"}`, 0, ""},
		{`{"type":"identity","name":"Globextra"}`, 0, ""},
		{`{"type":"identity","name":"Initech"}`, 0, ""},
		{`{"type":"identity","name":"initech\n systems"}`, KindName, "name"},
		{`{"type":"identity","name":"MÜLLER PRÄZISIONSTECHNIK GmbH"}`, KindName, "name"},
		{`{"type":"note","content":"北辰商事の調査"}`, KindName, "content"},
		{`{"type":"note","content":"北辰の調査"}`, 0, ""},
		{`{"type":"autonomous-system","number":64500,"name":"x"}`, KindASN, "number"},
		{`{"number":64500,"type":"autonomous-system"}`, KindASN, "number"},
		{`{"type":"x","number":64500}`, 0, ""},
		{`{"type":"x","x_bytes":64500}`, 0, ""},
		{`{"type":"x","x_asn":64511}`, KindASN, "x_asn"},
		{`{"type":"x","x_peer_asns":["64511"]}`, KindASN, "x_peer_asns[0]"},
		{`{"type":"indicator","pattern":"[autonomous-system:number = 64511]"}`, KindASN, "pattern"},
		{`{"type":"indicator","pattern":"[autonomous-system:number = 64512]"}`, 0, ""},
		{`{"type":"observed-data","objects":{"0":{"type":"autonomous-system","number":4200000001}}}`, KindASN, "objects.0.number"},
		{`{"type":"x","description":"routes via AS64086.59905"}`, KindASN, "description"},
		{`{"type":"x","description":"AS64501 and AS645000"}`, 0, ""},
		{`{"type":"x","external_references":[{"source_name":"tickets","external_id":"CUST-004211"}]}`, KindRegex, "external_references[0].external_id"},
		{`{"type":"x","external_references":[{"source_name":"tickets","external_id":"CUST-04211"}]}`, 0, ""},
		{`{"type":"x","x_vpn":"AcmeVPN-0BADC0DE"}`, KindRegex, "x_vpn"},
		{`{"type":"x","extensions":{"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e":{"extension_type":"property-extension","hosts":[{"ip":"198.51.100.9"}]}}}`, KindCIDR, "extensions.extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e.hosts[0].ip"},
		{`{"type":"x","x_seen":{"198.51.100.7":3}}`, KindCIDR, "x_seen.{key}"},
		{`{"type":"x","x_by_customer":{"AcmeCorporation":3}}`, KindName, "x_by_customer.{key}"},
		{`{"type":"x","descr\u0069ption":"\u0061cme-corp.example"}`, KindDomain, "description"},
		{`{"type":"indicator","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2024-03-01T10:00:00.000Z"}`, 0, ""},
	}
	for _, tt := range tests {
		r := sc.Scan([]byte(tt.obj))
		if r.Err != nil {
			t.Errorf("%s: %v", tt.obj, r.Err)
			continue
		}
		if tt.kind == 0 {
			if r.Action != Allow {
				t.Errorf("%s: %s, want allow", tt.obj, r.Reason())
			}
			continue
		}
		found := false
		for _, f := range r.Findings {
			if f.Rule == tt.kind && f.Path == tt.path {
				found = true
			}
		}
		if r.Action != Block || !found {
			t.Errorf("%s: %v %q, want block with %s at %s", tt.obj, r.Action, r.Reason(), tt.kind, tt.path)
		}
	}
}

func TestScanAssetIndex(t *testing.T) {
	l := loadAssets(t)
	sc := NewScanner(l, Options{})
	r := sc.Scan([]byte(`{"type":"x","a":"mail.Globex.test","b":"AS64511"}`))
	got := map[string]bool{}
	for _, f := range r.Findings {
		k, v, line, ok := l.Asset(f.Asset)
		if !ok || k != f.Rule || line == 0 {
			t.Errorf("finding %v: asset %d = %v %q line %d", f, f.Asset, k, v, line)
		}
		got[f.Path+" "+v] = true
	}
	for _, w := range []string{"a globex.test", "a globex", "b AS64511"} {
		if !got[w] {
			t.Errorf("missing %q in %v", w, got)
		}
	}
}

func TestScanRedact(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{Redact: true})
	tests := []struct {
		obj, want string
		action    Action
	}{
		{`{"type":"report","name":"Intrusion at Acme Corporation","description":"Actors used hxxps://vpn.acme-corp[.]example and 198.51.100.7 against ACME corporation's staff.","object_refs":[]}`,
			`{"type":"report","name":"Intrusion at [REDACTED]","description":"Actors used hxxps://[REDACTED] and [REDACTED] against [REDACTED]'s staff.","object_refs":[]}`, Redact},
		{`{"type":"note","abstract":"CUST-123456","content":"mail ceo@globex-holdings.example\n","object_refs":[]}`,
			`{"type":"note","abstract":"[REDACTED]","content":"mail [REDACTED]\n","object_refs":[]}`, Redact},
		{`{"type":"report","description":"\u0041cme Corporation \"quoted\""}`,
			`{"type":"report","description":"[REDACTED] \"quoted\""}`, Redact},
		// structured values always block, even in a report
		{`{"type":"report","description":"Acme Corporation","x_ip":"198.51.100.7"}`, "", Block},
		{`{"type":"report","external_references":[{"description":"Acme Corporation"}]}`, "", Block},
		// free text of other types blocks
		{`{"type":"malware","description":"Acme Corporation"}`, "", Block},
		{`{"type":"report","description":"nothing here"}`, "", Allow},
	}
	for _, tt := range tests {
		r := sc.Scan([]byte(tt.obj))
		if r.Action != tt.action {
			t.Errorf("%s: %v (%s), want %v", tt.obj, r.Action, r.Reason(), tt.action)
			continue
		}
		if tt.action == Redact {
			if string(r.Redacted) != tt.want {
				t.Errorf("redacted\n got %s\nwant %s", r.Redacted, tt.want)
			}
			if !json.Valid(r.Redacted) {
				t.Errorf("redacted JSON invalid: %s", r.Redacted)
			}
			for _, f := range r.Findings {
				if f.Action != Redact {
					t.Errorf("%s: finding %v not redact", tt.obj, f)
				}
			}
		} else if r.Redacted != nil {
			t.Errorf("%s: Redacted set for %v", tt.obj, r.Action)
		}
	}
	// without the option the same report blocks
	r := NewScanner(loadAssets(t), Options{}).Scan([]byte(tests[0].obj))
	if r.Action != Block {
		t.Errorf("no redact option: %v", r.Action)
	}
}

func TestScanMalformed(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	for _, in := range []string{
		``, `[]`, `"x"`, `{`, `{"a":}`, `{"a":1,}`, `{"a":"\x"}`, `{"a":"b"} x`, `{"a":tru}`,
		`{"a":"` + "\x01" + `"}`, `{"a":"\u12"}`, `{"a" 1}`, `{"a":[1 2]}`, `{"a":-}`,
		`{"a":"acme-corp` + "\xff" + `.example"}`, `{"a\u0041` + "\xc3" + `":1}`,
		`{"a":00}`, `{"a":-01}`, `{"a":1.}`, `{"a":1e}`, `{"a":1e+}`, `{"a":.5}`,
		strings.Repeat(`{"a":`, 70) + `1` + strings.Repeat(`}`, 70),
		`{"name":"Acme Corporation","x":`,
	} {
		r := sc.Scan([]byte(in))
		if r.Action != Block || r.Err == nil || r.Findings[len(r.Findings)-1].Rule != KindMalformed {
			t.Errorf("%q: %v %v", in, r.Action, r.Err)
		}
		if strings.Contains(r.Err.Error(), "Acme") {
			t.Errorf("error echoes content: %v", r.Err)
		}
	}
	// empty list: clean objects pass, malformed ones are blocked
	empty := NewScanner(nil, Options{})
	if r := empty.Scan([]byte(`{"type":"x","name":"Acme Corporation"}`)); r.Action != Allow {
		t.Errorf("empty list: %v", r.Action)
	}
	if r := empty.Scan([]byte(`{"type":`)); r.Action != Block {
		t.Errorf("empty list, malformed: %v", r.Action)
	}
}

func TestReasonHasNoValues(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	r := sc.Scan([]byte(`{"type":"x","id":"x--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","acme-corp.example":{"Acme Corporation":"198.51.100.7"},"x_list":["CUST-123456"]}`))
	reason := r.Reason()
	for _, v := range []string{"acme", "198.51", "CUST", "Acme"} {
		if strings.Contains(reason, v) {
			t.Errorf("reason leaks %q: %s", v, reason)
		}
	}
	if !strings.Contains(reason, "x_list[0]") || !strings.Contains(reason, "{key}.{key}") {
		t.Errorf("reason lacks paths: %s", reason)
	}
	if r.ID != "x--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f" || r.Type != "x" {
		t.Errorf("id/type %q %q", r.ID, r.Type)
	}
}

func TestScanBatchReferences(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	const (
		cust  = "identity--11111111-1111-4111-8111-111111111111"
		other = "identity--22222222-2222-4222-8222-222222222222"
		ip    = "ipv4-addr--33333333-3333-4333-8333-333333333333"
		od    = "observed-data--44444444-4444-4444-8444-444444444444"
		ind   = "indicator--55555555-5555-4555-8555-555555555555"
		vuln  = "vulnerability--66666666-6666-4666-8666-666666666666"
		infra = "infrastructure--77777777-7777-4777-8777-777777777777"
		old   = "identity--88888888-8888-4888-8888-888888888888"
		mal   = "malware--99999999-9999-4999-8999-999999999999"
	)
	objs := []string{
		`{"type":"identity","id":"` + cust + `","name":"Acme Corporation"}`,                                                                                                       // 0 name
		`{"type":"identity","id":"` + other + `","name":"Contoso CERT"}`,                                                                                                          // 1 clean
		`{"type":"sighting","id":"sighting--a0000000-0000-4000-8000-000000000000","sighting_of_ref":"` + ind + `","where_sighted_refs":["` + other + `","` + cust + `"]}`,         // 2 ref
		`{"type":"ipv4-addr","id":"` + ip + `","value":"198.51.100.7"}`,                                                                                                           // 3 cidr
		`{"type":"observed-data","id":"` + od + `","object_refs":["` + ip + `"]}`,                                                                                                 // 4 ref via 3
		`{"type":"sighting","id":"sighting--b0000000-0000-4000-8000-000000000000","sighting_of_ref":"` + ind + `","observed_data_refs":["` + od + `"]}`,                           // 5 ref via 4
		`{"type":"indicator","id":"` + ind + `","pattern":"[ipv4-addr:value = '203.0.113.9']"}`,                                                                                   // 6 clean
		`{"type":"relationship","id":"relationship--c0000000-0000-4000-8000-000000000000","relationship_type":"indicates","source_ref":"` + ind + `","target_ref":"` + mal + `"}`, // 7 clean
		`{"type":"infrastructure","id":"` + infra + `","name":"VPN gateway","description":"at vpn.acme-corp.example"}`,                                                            // 8 domain
		`{"type":"relationship","id":"relationship--d0000000-0000-4000-8000-000000000000","relationship_type":"has","source_ref":"` + infra + `","target_ref":"` + vuln + `"}`,    // 9 ref
		`{"type":"vulnerability","id":"` + vuln + `","name":"CVE-2024-3400"}`,                                                                                                     // 10 tied by 9
		`{"type":"sighting","id":"sighting--e0000000-0000-4000-8000-000000000000","sighting_of_ref":"` + ind + `","where_sighted_refs":["` + old + `"]}`,                          // 11 prior
		`{"type":"report","id":"report--f0000000-0000-4000-8000-000000000000","name":"weekly","object_refs":["` + cust + `"]}`,                                                    // 12 reports may refer
		`{"type":"vulnerability","id":"vulnerability--f1000000-0000-4000-8000-000000000000","name":"CVE-2023-4966"}`,                                                              // 13 clean
	}
	raw := make([][]byte, len(objs))
	for i, o := range objs {
		raw[i] = []byte(o)
	}
	res, err := sc.ScanBatch(context.Background(), raw, BlockedSet{old: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int]string{ // blocked objects and a finding they must carry
		0: "name at name", 2: "reference at where_sighted_refs[1] (refers to blocked " + cust + ")",
		3: "cidr at value", 4: "reference at object_refs[0] (refers to blocked " + ip + ")",
		5: "reference at observed_data_refs[0] (refers to blocked " + od + ")", 8: "domain at description",
		9: "reference at source_ref (refers to blocked " + infra + ")", 10: "reference (tied by blocked relationship--d0000000-0000-4000-8000-000000000000)",
		11: "reference at where_sighted_refs[0] (refers to blocked " + old + ")",
	}
	for i, r := range res {
		w, blocked := want[i]
		if blocked != (r.Action == Block) {
			t.Errorf("object %d: %v %s", i, r.Action, r.Reason())
			continue
		}
		if blocked && !strings.Contains(r.Reason(), w) {
			t.Errorf("object %d: reason %q lacks %q", i, r.Reason(), w)
		}
	}

	// a failing lookup fails the batch
	if _, err := sc.ScanBatch(context.Background(), raw, failingLookup{}); err == nil {
		t.Error("lookup error not returned")
	}
	// without prior, object 11 passes
	res, _ = sc.ScanBatch(context.Background(), raw, nil)
	if res[11].Action != Allow {
		t.Errorf("no prior: %v", res[11].Reason())
	}
}

type failingLookup struct{}

func (failingLookup) Blocked(context.Context, []string) ([]string, error) {
	return nil, errors.New("store down")
}

func TestRegexPrefilter(t *testing.T) {
	l := mustList(t, "regex (?i)acmevpn-[a-f0-9]{8}\nregex ORDER-[0-9]{4}\nregex TKT\nregex (?i)kd-[0-9]{3}\nregex [A-Z]{2}-[0-9]{5}X\n")
	if got := foldPrefix("(?i)acmevpn-[a-f0-9]{8}"); string(got) != "acmevpn-" {
		t.Errorf("foldPrefix = %q", got)
	}
	if got := foldPrefix("(?i)kd-1"); len(got) != 0 {
		t.Errorf("foldPrefix with k = %q", got)
	}
	sc := NewScanner(l, Options{})
	for in, want := range map[string]bool{
		"AcMeVpN-0123abcd": true, "acmevpn-0123abc": false, "see ORDER-1234.": true, "order-1234": false,
		"xTKTx": true, "tkt": false, "KD-123": true, "\u212aD-123": true, "kd-12": false, "AB-12345X": true, "AB-12345": false,
	} {
		r := sc.Scan([]byte(`{"type":"x","v":"` + in + `"}`))
		if (r.Action == Block) != want {
			t.Errorf("%q: %v, want blocked %v", in, r.Action, want)
		}
	}
}

// TestScanConcurrent scans the corpus from several goroutines with one
// Scanner and expects the serial results (run with -race).
func TestScanConcurrent(t *testing.T) {
	c := readCorpus(t)
	sc := NewScanner(loadAssets(t), Options{Redact: true})
	objs := append(append([][]byte{}, c.leaky...), c.clean...)
	want := make([]Result, len(objs))
	for i, o := range objs {
		want[i] = sc.Scan(o)
	}
	errs := make(chan string, 8)
	for g := 0; g < 4; g++ {
		go func(g int) {
			for k := range objs {
				i := (k*7 + g*131) % len(objs)
				r := sc.Scan(objs[i])
				if r.Action != want[i].Action || !sameFindings(r.Findings, want[i].Findings) || string(r.Redacted) != string(want[i].Redacted) {
					errs <- fmt.Sprintf("object %d: %v %v, serially %v %v", i, r.Action, r.Findings, want[i].Action, want[i].Findings)
					return
				}
			}
			errs <- ""
		}(g)
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// TestCleanCacheExact: a scanner's cache of strings found clean never
// changes a decision: a string clean in one context (a bare number in
// free text) still hits in another (an AS-number property), and every
// corpus object scanned by a warm scanner gets the findings a fresh
// scanner gives it.
func TestCleanCacheExact(t *testing.T) {
	l := loadAssets(t)
	sc := NewScanner(l, Options{})
	var asn string
	for i := 0; i < l.Len(); i++ {
		if k, v, _, _ := l.Asset(i); k == KindASN {
			asn = strings.TrimPrefix(strings.ToUpper(v), "AS")
			break
		}
	}
	if asn == "" {
		t.Fatal("no asn asset in the test list")
	}
	for round := 0; round < 3; round++ {
		if r := sc.Scan([]byte(`{"type":"note","id":"note--11111111-1111-4111-8111-111111111111","x_count":"` + asn + `"}`)); r.Action != Allow {
			t.Fatalf("a bare number outside an AS context: %s", r.Reason())
		}
		if r := sc.Scan([]byte(`{"type":"note","id":"note--11111111-1111-4111-8111-111111111111","x_asn":"` + asn + `"}`)); r.Action != Block {
			t.Fatalf("round %d: the number in an AS property passed after the same string was found clean elsewhere", round)
		}
	}
	read := func(name string) [][]byte {
		data, err := os.ReadFile("testdata/corpus/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, line := range bytes.Split(data, []byte("\n")) {
			if len(line) > 0 {
				out = append(out, line)
			}
		}
		return out
	}
	objs := append(read("clean.jsonl"), read("leaky.jsonl")...)
	for _, o := range objs { // warm
		sc.Scan(o)
	}
	for i, o := range objs {
		warm := sc.Scan(o)
		cold := NewScanner(l, Options{}).Scan(o)
		if warm.Action != cold.Action || !reflect.DeepEqual(warm.Findings, cold.Findings) {
			t.Fatalf("object %d: warm %v %v, fresh %v %v", i, warm.Action, warm.Findings, cold.Action, cold.Findings)
		}
	}
}
