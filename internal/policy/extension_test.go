package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"fusion/internal/stix"
)

func TestExtensionDefinitionIsValidSTIX(t *testing.T) {
	for name, raw := range map[string][]byte{"extension-definition": ExtensionDefinition(), "identity": HubIdentity()} {
		o, err := stix.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := stix.Validate(o); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f := mustFacts(t, string(raw))
		if f.TLP != LevelsOf(LevelClear) {
			t.Errorf("%s is not TLP:CLEAR", name)
		}
	}
	var def struct {
		ID             string   `json:"id"`
		CreatedByRef   string   `json:"created_by_ref"`
		Schema         string   `json:"schema"`
		ExtensionTypes []string `json:"extension_types"`
	}
	if err := json.Unmarshal(ExtensionDefinition(), &def); err != nil {
		t.Fatal(err)
	}
	if def.ID != ExtensionID || def.CreatedByRef != HubIdentityID || def.Schema != ExtensionSchemaURL ||
		!reflect.DeepEqual(def.ExtensionTypes, []string{"property-extension"}) {
		t.Errorf("definition: %+v", def)
	}
	// Callers get copies.
	d := ExtensionDefinition()
	d[0] = 'x'
	if ExtensionDefinition()[0] != '{' {
		t.Error("ExtensionDefinition shares its bytes")
	}
	// An object using the extension is valid STIX (the validator knows
	// property extensions by their definition id form).
	raw := indicator("indicator--00000000-0000-4000-8000-000000000001", []string{TLP2RedID},
		ext(`,"allow_countries":["DE","FR"],"deny_countries":["RU"],"recipients":["`+orgM+`","`+orgN+`"]`))
	o, err := stix.Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := stix.Validate(o); err != nil {
		t.Errorf("object using the extension: %v", err)
	}
	f := mustFacts(t, raw)
	want := Restrictions{AllowCountries: []string{"DE", "FR"}, DenyCountries: []string{"RU"}, Recipients: []string{orgM, orgN}}
	if !reflect.DeepEqual(f.Restrictions, want) {
		t.Errorf("restrictions %+v", f.Restrictions)
	}
}

func TestExtensionValidation(t *testing.T) {
	for _, tc := range []struct {
		body string
		path string
		msg  string // part of the message
	}{
		{`"extension_type":"property-extension","allow_countries":["de"]`, "allow_countries[0]", `upper case ("DE")`},
		{`"extension_type":"property-extension","allow_countries":["DE","XX"]`, "allow_countries[1]", `"XX" is not an ISO 3166-1 alpha-2`},
		{`"extension_type":"property-extension","deny_countries":["FRA"]`, "deny_countries[0]", "not an ISO 3166-1"},
		{`"extension_type":"property-extension","deny_countries":["XK"]`, "deny_countries[0]", "not an ISO 3166-1"},
		{`"extension_type":"property-extension","deny_countries":["FR","FR"]`, "deny_countries[1]", "twice"},
		{`"extension_type":"property-extension","allow_countries":["FR"],"deny_countries":["FR"]`, "deny_countries[0]", "in allow_countries too"},
		{`"extension_type":"property-extension","allow_countries":[]`, "allow_countries", "must not be empty"},
		{`"extension_type":"property-extension","allow_countries":"FR"`, "allow_countries", "list of strings"},
		{`"extension_type":"property-extension","allow_countries":[1]`, "allow_countries[0]", "must be a string"},
		{`"extension_type":"property-extension","recipients":["police-de"]`, "recipients[0]", "not an organisation id"},
		{`"extension_type":"property-extension","recipients":["` + orgM + `","` + strings.ToUpper(orgM) + `"]`, "recipients[1]", "twice"},
		{`"extension_type":"property-extension","deny_country":["FR"]`, "deny_country", "unknown property"},
		{`"extension_type":"toplevel-property-extension"`, "extension_type", "property-extension"},
		{`"allow_countries":["FR"]`, "extension_type", "required"},
	} {
		raw := `{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001","extensions":{"` + ExtensionID + `":{` + tc.body + `}}}`
		f, err := FactsOf([]byte(raw))
		ve, ok := err.(*stix.ValidationError)
		wantPath := "extensions." + ExtensionID + "." + tc.path
		if !ok || ve.Path != wantPath || !strings.Contains(ve.Msg, tc.msg) || !f.Broken || ve.ID != "indicator--00000000-0000-4000-8000-000000000001" {
			t.Errorf("%s:\n got %v (path %q)\nwant path %q, message containing %q", tc.body, err, pathOf(err), wantPath, tc.msg)
		}
		// The same check on the extension alone.
		if _, err := ValidateRestrictions([]byte(`{` + tc.body + `}`)); err == nil || pathOf(err) != tc.path {
			t.Errorf("ValidateRestrictions(%s): %v", tc.body, err)
		}
	}
	if _, err := ValidateRestrictions([]byte(`[]`)); err == nil {
		t.Error("ValidateRestrictions accepted a list")
	}
	if _, err := ValidateRestrictions([]byte(`{"extension_type":"property-extension",}`)); err == nil {
		t.Error("ValidateRestrictions accepted malformed JSON")
	}
	r, err := ValidateRestrictions([]byte(`{"extension_type":"property-extension","recipients":["` + strings.ToUpper(orgM) + `"]}`))
	if err != nil || !reflect.DeepEqual(r.Recipients, []string{orgM}) {
		t.Errorf("recipients are not normalised to lower case: %v %v", r, err)
	}
	// An extension that is not a JSON object fails the object closed.
	raw := `{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001","extensions":{"` + ExtensionID + `":"DE"}}`
	if f, err := FactsOf([]byte(raw)); err == nil || !f.Broken {
		t.Errorf("string extension: %v", err)
	}
}

func TestCountries(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if ValidCountry(string([]rune{a, b})) {
				n++
			}
		}
	}
	if n != 249 {
		t.Errorf("%d assigned codes, want 249", n)
	}
	for _, c := range []string{"DE", "FR", "US", "GB", "AX", "ZW", "SS", "CW"} {
		if !ValidCountry(c) {
			t.Errorf("%s rejected", c)
		}
	}
	for _, c := range []string{"", "D", "de", "UK", "EU", "XK", "ZZ", "DEU", "D1", "É"} {
		if ValidCountry(c) {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestFactsCodec(t *testing.T) {
	raws := []string{
		granularObject(gm(TLP2RedID, "pattern", "description"), gm(TLP2AmberID, "name")),
		indicator("indicator--00000000-0000-4000-8000-000000000001", []string{TLP1AmberID},
			ext(`,"allow_countries":["DE","FR"],"deny_countries":["RU"],"recipients":["`+orgM+`"]`), `"created_by_ref":"`+idIdent+`"`),
		relationship("relationship--00000000-0000-4000-8000-0000000000b1", idGreen, idAmber),
		`{"type":"report","id":"report--00000000-0000-4000-8000-0000000000e1","object_refs":["` + idGreen + `",7,"` + idAmber + `"]}`,
	}
	for _, o := range bundleObjects(t, "apt1.json") {
		raws = append(raws, string(o))
	}
	for _, raw := range raws {
		f := mustFacts(t, raw)
		b, err := f.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var g Facts
		if err := g.UnmarshalBinary(b); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if !reflect.DeepEqual(f, g) {
			t.Errorf("binary round trip:\n%+v\n%+v", f, g)
		}
		j, err := json.Marshal(&f)
		if err != nil {
			t.Fatal(err)
		}
		var h Facts
		if err := json.Unmarshal(j, &h); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f, h) {
			t.Errorf("JSON round trip:\n%+v\n%s\n%+v", f, j, h)
		}
		// Every truncation is an error, not a panic or a short read.
		for i := 0; i < len(b); i++ {
			if err := new(Facts).UnmarshalBinary(b[:i]); err == nil {
				t.Errorf("truncated at %d of %d accepted", i, len(b))
			}
		}
	}
	if err := new(Facts).UnmarshalBinary([]byte{9, 0, 0, 0}); err == nil {
		t.Error("unknown format accepted")
	}
	if err := new(Facts).UnmarshalBinary([]byte{1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); err == nil {
		t.Error("bad level accepted")
	}
}

func TestRecipientsBound(t *testing.T) {
	ids := make([]string, MaxRecipients+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i)
	}
	if _, err := ValidateRestrictions([]byte(`{"extension_type":"property-extension","recipients":` + quoteList(ids[:MaxRecipients]...) + `}`)); err != nil {
		t.Errorf("%d recipients: %v", MaxRecipients, err)
	}
	if _, err := ValidateRestrictions([]byte(`{"extension_type":"property-extension","recipients":` + quoteList(ids...) + `}`)); err == nil || pathOf(err) != "recipients" {
		t.Errorf("%d recipients: %v", len(ids), err)
	}
}
