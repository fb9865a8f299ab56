package policy

import (
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// gm builds one granular marking member.
func gm(ref string, sels ...string) string {
	return `{"marking_ref":"` + ref + `","selectors":` + quoteList(sels...) + `}`
}

func granularObject(markings ...string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--1ed8caa7-a708-4706-b651-f1186ede6ca1",` +
		`"created":"2017-04-27T16:18:24.318Z","modified":"2017-04-27T16:18:24.318Z",` +
		`"name":"Fake email address","description":"Messages from this false email address.",` +
		`"indicator_types":["malicious-activity","attribution"],` +
		`"pattern":"[email-message:from_ref.value = 'banking@example.com']","pattern_type":"stix",` +
		`"valid_from":"2017-04-27T16:18:24.318Z",` +
		`"kill_chain_phases":[{"kill_chain_name":"lockheed-martin-cyber-kill-chain","phase_name":"delivery"},{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}],` +
		`"object_marking_refs":["` + TLP2ClearID + `"],` +
		`"granular_markings":[` + strings.Join(markings, ",") + `]}`
}

func TestRedactGranular(t *testing.T) {
	const stmt = "marking-definition--d771aceb-3148-4315-b4b4-130b888533d0"
	// The spec's example shape: RED pattern and description, AMBER name and
	// the second type, GREEN the first type and valid_from.
	spec := granularObject(
		gm(TLP2RedID, "pattern", "description"),
		gm(TLP2AmberID, "name", "indicator_types.[1]"),
		gm(TLP2GreenID, "indicator_types.[0]", "valid_from"))
	head := `{"type":"indicator","spec_version":"2.1","id":"indicator--1ed8caa7-a708-4706-b651-f1186ede6ca1",` +
		`"created":"2017-04-27T16:18:24.318Z","modified":"2017-04-27T16:18:24.318Z",`
	kc := `"kill_chain_phases":[{"kill_chain_name":"lockheed-martin-cyber-kill-chain","phase_name":"delivery"},{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}],`
	omr := `"object_marking_refs":["` + TLP2ClearID + `"],`

	for _, tc := range []struct {
		name string
		raw  string
		c    Caller
		want string // "" = unchanged
	}{
		{"partner loses RED and AMBER content", spec, partnerP,
			head + `"indicator_types":["malicious-activity"],"pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + kc + omr +
				`"granular_markings":[` + gm(TLP2GreenID, "indicator_types.[0]", "valid_from") + `]}`},
		{"member loses RED content", spec, memberM,
			head + `"name":"Fake email address","indicator_types":["malicious-activity","attribution"],"pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + kc + omr +
				`"granular_markings":[` + gm(TLP2AmberID, "name", "indicator_types.[1]") + `,` + gm(TLP2GreenID, "indicator_types.[0]", "valid_from") + `]}`},
		{"hub (read) loses RED content", spec, hubRead,
			head + `"name":"Fake email address","indicator_types":["malicious-activity","attribution"],"pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + kc + omr +
				`"granular_markings":[` + gm(TLP2AmberID, "name", "indicator_types.[1]") + `,` + gm(TLP2GreenID, "indicator_types.[0]", "valid_from") + `]}`},
		{"hub admin sees all", spec, hubAdmin, ""},
		{"source sees all", spec, sourceS, ""},
		{"list index shifts after a removal",
			granularObject(gm(TLP2RedID, "indicator_types.[0]"), gm(TLP2GreenID, "indicator_types.[1]"), gm(stmt, "kill_chain_phases.[1].phase_name")),
			partnerP,
			head + `"name":"Fake email address","description":"Messages from this false email address.",` +
				`"indicator_types":["attribution"],` +
				`"pattern":"[email-message:from_ref.value = 'banking@example.com']","pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + kc + omr +
				`"granular_markings":[` + gm(TLP2GreenID, "indicator_types.[0]") + `,` + gm(stmt, "kill_chain_phases.[1].phase_name") + `]}`},
		{"emptied item and list go",
			granularObject(gm(TLP2AmberStrictID, "kill_chain_phases.[0].kill_chain_name", "kill_chain_phases.[0].phase_name"),
				gm(TLP2AmberID, "kill_chain_phases.[1]"), `{"lang":"en","selectors":["kill_chain_phases.[1].phase_name","name"]}`),
			memberM, // may see AMBER, not AMBER+STRICT
			head + `"name":"Fake email address","description":"Messages from this false email address.",` +
				`"indicator_types":["malicious-activity","attribution"],` +
				`"pattern":"[email-message:from_ref.value = 'banking@example.com']","pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` +
				`"kill_chain_phases":[{"kill_chain_name":"mitre-attack","phase_name":"initial-access"}],` + omr +
				`"granular_markings":[` + gm(TLP2AmberID, "kill_chain_phases.[0]") + `,{"lang":"en","selectors":["kill_chain_phases.[0].phase_name","name"]}]}`},
		{"whole list marked, partner",
			granularObject(gm(TLP2AmberID, "kill_chain_phases"), `{"lang":"en","selectors":["kill_chain_phases.[1].phase_name"]}`),
			partnerP,
			head + `"name":"Fake email address","description":"Messages from this false email address.",` +
				`"indicator_types":["malicious-activity","attribution"],` +
				`"pattern":"[email-message:from_ref.value = 'banking@example.com']","pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + omr[:len(omr)-1] + `}`},
		{"RED content for a named recipient",
			strings.Replace(granularObject(gm(TLP2RedID, "description")), `"granular_markings"`, ext(`,"recipients":["`+orgM+`"]`)+`,"granular_markings"`, 1),
			memberM, ""},
		{"granular GREEN under object CLEAR: partner sees it", granularObject(gm(TLP2GreenID, "description")), partnerP, ""},
		{"statement and lang markings do not redact",
			granularObject(gm(stmt, "description"), `{"lang":"de","selectors":["name"]}`), partnerP, ""},
		{"selector of absent content is harmless",
			granularObject(gm(TLP2RedID, "labels")), partnerP,
			head + `"name":"Fake email address","description":"Messages from this false email address.",` +
				`"indicator_types":["malicious-activity","attribution"],` +
				`"pattern":"[email-message:from_ref.value = 'banking@example.com']","pattern_type":"stix","valid_from":"2017-04-27T16:18:24.318Z",` + kc + omr[:len(omr)-1] + `}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFacts(t, tc.raw)
			v := version(tc.raw)
			if !CanRead(tc.c, v, &f, LevelNone, nil) {
				t.Fatal("CanRead refused a CLEAR object")
			}
			out, ok := Redact(tc.c, v, &f, nil)
			if !ok {
				t.Fatal("Redact refused")
			}
			want := tc.want
			if want == "" {
				want = tc.raw
				if &out[0] != &v.Raw[0] {
					t.Error("an unchanged copy was reallocated")
				}
			}
			if string(out) != want {
				t.Errorf("Redact:\n got %s\nwant %s", out, want)
			}
			// What survives is still valid STIX where nothing required was
			// removed (the rewritten selectors resolve).
			if !strings.Contains(string(out), `"pattern":`) {
				return
			}
			o, err := stix.Parse(out)
			if err != nil {
				t.Fatalf("redacted copy does not parse: %v", err)
			}
			if err := stix.Validate(o); err != nil {
				t.Errorf("redacted copy is not valid STIX: %v", err)
			}
		})
	}
}

func TestRedactEscapesAndSelectorSyntax(t *testing.T) {
	// Member names and selectors with escapes and non-ASCII characters.
	raw := `{"type":"x-thing","id":"x-thing--00000000-0000-4000-8000-000000000001",` +
		`"x_m\u00e4p":{"a\"b":"secret","c":"open"},"x_list":["s1","s2","s3"],` +
		`"granular_markings":[{"marking_ref":"` + TLP2RedID + `","selectors":["x_m\u00e4p.a\"b","x_list.[1]"]},` +
		`{"marking_ref":"` + TLP2GreenID + `","selectors":["x_mäp.c","x_list.[2]"]}]}`
	f := mustFacts(t, raw)
	out, ok := Redact(memberM, version(raw), &f, nil)
	if !ok {
		t.Fatal("Redact refused")
	}
	want := `{"type":"x-thing","id":"x-thing--00000000-0000-4000-8000-000000000001",` +
		`"x_m\u00e4p":{"c":"open"},"x_list":["s1","s3"],` +
		`"granular_markings":[{"marking_ref":"` + TLP2GreenID + `","selectors":["x_mäp.c","x_list.[1]"]}]}`
	if string(out) != want {
		t.Errorf("\n got %s\nwant %s", out, want)
	}
}

func TestRedactRefusals(t *testing.T) {
	raw := granularObject(gm(TLP2RedID, "description"))
	f := mustFacts(t, raw)
	// Facts of another object.
	other := strings.Replace(raw, "indicator--1ed8caa7", "indicator--2ed8caa7", 1)
	if _, ok := Redact(partnerP, version(other), &f, nil); ok {
		t.Error("Redact used facts of another object")
	}
	// Removing the id would break the object: refuse rather than send it.
	idRed := indicator("indicator--00000000-0000-4000-8000-000000000005", []string{TLP2ClearID},
		`"granular_markings":[{"marking_ref":"`+TLP2RedID+`","selectors":["id"]}]`)
	fi := mustFacts(t, idRed)
	if _, ok := Redact(partnerP, version(idRed), &fi, nil); ok {
		t.Error("Redact sent an object without its id")
	}
	// Nil and broken facts.
	if _, ok := Redact(partnerP, version(raw), nil, nil); ok {
		t.Error("Redact without facts")
	}
	broken := brokenFacts("", "")
	if _, ok := Redact(partnerP, version(raw), &broken, nil); ok {
		t.Error("Redact with broken facts")
	}
	if out, ok := Redact(hubAdmin, version(raw), nil, nil); !ok || string(out) != raw {
		t.Error("hub admin gets the object whatever the facts")
	}
	if _, ok := Redact(hubAdmin, nil, &f, nil); ok {
		t.Error("Redact of a nil version")
	}
	// Unparsable stored bytes with facts that ask for a removal.
	v := &store.Version{Source: orgS, Raw: []byte(`{"id":`)}
	if _, ok := Redact(partnerP, v, &f, nil); ok {
		t.Error("Redact of malformed JSON")
	}
}

func TestFactsGranularErrors(t *testing.T) {
	for _, tc := range []struct {
		markings string
		path     string
	}{
		{`[{"marking_ref":"` + TLP2RedID + `"}]`, "granular_markings[0].selectors"},
		{`[{"marking_ref":"` + TLP2RedID + `","selectors":[]}]`, "granular_markings[0].selectors"},
		{`[{"marking_ref":"` + TLP2RedID + `","selectors":["[0].x"]}]`, "granular_markings[0].selectors[0]"},
		{`[{"marking_ref":"` + TLP2RedID + `","selectors":["a..b"]}]`, "granular_markings[0].selectors[0]"},
		{`[{"marking_ref":"` + TLP2RedID + `","selectors":["a.[-1]"]}]`, "granular_markings[0].selectors[0]"},
		{`[{"marking_ref":"` + TLP2RedID + `","selectors":["a",3]}]`, "granular_markings[0].selectors[1]"},
		{`[{"marking_ref":7,"selectors":["a"]}]`, "granular_markings[0].marking_ref"},
		{`["x"]`, "granular_markings[0]"},
		{`{}`, "granular_markings"},
	} {
		raw := `{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001","a":{"b":1},"granular_markings":` + tc.markings + `}`
		f, err := FactsOf([]byte(raw))
		ve, ok := err.(*stix.ValidationError)
		if !ok || ve.Path != tc.path || !f.Broken {
			t.Errorf("%s: err %v (path %q), broken %v; want path %q", tc.markings, err, pathOf(err), f.Broken, tc.path)
		}
	}
	// A non-TLP marking with bad selectors is stix.Validate's business.
	raw := `{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001","granular_markings":[{"marking_ref":"marking-definition--d771aceb-3148-4315-b4b4-130b888533d0","selectors":[]}]}`
	if _, err := FactsOf([]byte(raw)); err != nil {
		t.Errorf("statement marking: %v", err)
	}
}

func pathOf(err error) string {
	if ve, ok := err.(*stix.ValidationError); ok {
		return ve.Path
	}
	return ""
}
