package policy

import (
	"strings"
	"testing"

	"fusion/internal/store"
)

func TestCheckNarrowing(t *testing.T) {
	kinds := map[string]string{orgP: store.KindPartner, orgQ: store.KindPartner, orgH: store.KindHub, orgM: store.KindMember, orgN: store.KindMember}
	kindOf := func(id string) string { return kinds[id] }
	obj := func(markings []string, extBody string, granular ...string) *Facts {
		var extra []string
		if extBody != "" {
			extra = append(extra, ext(extBody))
		}
		if len(granular) > 0 {
			extra = append(extra, `"description":"d","name":"n","x_list":["a","b"],"granular_markings":[`+strings.Join(granular, ",")+`]`)
		}
		f := mustFacts(t, indicator("indicator--00000000-0000-4000-8000-000000000001", markings, extra...))
		return &f
	}
	green, amber, strict, red := []string{TLP2GreenID}, []string{TLP2AmberID}, []string{TLP2AmberStrictID}, []string{TLP2RedID}
	recipMN := `,"recipients":["` + orgM + `","` + orgN + `"]`
	for _, tc := range []struct {
		name      string
		cur, next *Facts
		def       Level
		kindOf    func(string) string
		ok        bool
		msg       string // part of the error
	}{
		{"same", obj(green, ""), obj(green, ""), LevelNone, nil, true, ""},
		{"green to amber", obj(green, ""), obj(amber, ""), LevelNone, nil, true, ""},
		{"amber to green", obj(amber, ""), obj(green, ""), LevelNone, nil, false, "a partner organisation"},
		{"TLP 1.0 amber to 2.0 amber", obj([]string{TLP1AmberID}, ""), obj(amber, ""), LevelNone, nil, true, ""},
		{"strict to amber", obj(strict, ""), obj(amber, ""), LevelNone, nil, false, "member"},
		{"unmarked (default amber) to green", obj(nil, ""), obj(green, ""), LevelNone, nil, false, "partner"},
		{"unmarked (default red) to amber", obj(nil, ""), obj(amber, ""), LevelRed, nil, false, "hub"},
		{"unmarked (default green) to amber", obj(nil, ""), obj(amber, ""), LevelGreen, nil, true, ""},
		{"amber to unmarked under default amber", obj(amber, ""), obj(nil, ""), LevelAmber, nil, true, ""},
		{"amber to unmarked under default clear", obj(amber, ""), obj(nil, ""), LevelClear, nil, false, "partner"},
		{"amber to red for two members, kinds known", obj(amber, ""), obj(red, recipMN), LevelNone, kindOf, true, ""},
		{"amber to red for two members, kinds unknown", obj(amber, ""), obj(red, recipMN), LevelNone, nil, false, orgM},
		{"amber to red naming a partner", obj(amber, ""), obj(red, `,"recipients":["`+orgP+`"]`), LevelNone, kindOf, false, orgP},
		{"red: drop a recipient", obj(red, recipMN), obj(red, `,"recipients":["`+orgM+`"]`), LevelNone, nil, true, ""},
		{"red: add a recipient", obj(red, `,"recipients":["`+orgM+`"]`), obj(red, recipMN), LevelNone, nil, false, orgN},
		{"red to amber", obj(red, recipMN), obj(amber, recipMN), LevelNone, kindOf, true, ""},
		{"red to amber, hub not named", obj(red, `,"recipients":["`+orgM+`"]`), obj(amber, ""), LevelNone, kindOf, false, "hub"},
		{"add allow list", obj(amber, ""), obj(amber, `,"allow_countries":["DE"]`), LevelNone, nil, true, ""},
		{"shrink allow list", obj(amber, `,"allow_countries":["DE","FR"]`), obj(amber, `,"allow_countries":["DE"]`), LevelNone, nil, true, ""},
		{"grow allow list", obj(amber, `,"allow_countries":["DE"]`), obj(amber, `,"allow_countries":["DE","FR"]`), LevelNone, nil, false, "of FR"},
		{"drop allow list", obj(amber, `,"allow_countries":["DE"]`), obj(amber, ""), LevelNone, nil, false, "member organisation of"},
		{"allow list to deny list", obj(amber, `,"allow_countries":["DE"]`), obj(amber, `,"deny_countries":["FR"]`), LevelNone, nil, false, "member"},
		{"grow deny list", obj(amber, `,"deny_countries":["RU"]`), obj(amber, `,"deny_countries":["RU","BY"]`), LevelNone, nil, true, ""},
		{"shrink deny list", obj(amber, `,"deny_countries":["RU","BY"]`), obj(amber, `,"deny_countries":["RU"]`), LevelNone, nil, false, "of BY"},
		{"add recipients", obj(amber, ""), obj(amber, recipMN), LevelNone, nil, true, ""},
		{"drop recipients", obj(amber, recipMN), obj(amber, ""), LevelNone, nil, false, "not named"},
		{"keep granular", obj(green, "", gm(TLP2RedID, "description")), obj(green, "", gm(TLP2RedID, "description")), LevelNone, nil, true, ""},
		{"raise granular", obj(green, "", gm(TLP2AmberID, "description")), obj(green, "", gm(TLP2AmberStrictID, "description")), LevelNone, nil, true, ""},
		{"lower granular", obj(green, "", gm(TLP2RedID, "description")), obj(green, "", gm(TLP2AmberID, "description")), LevelNone, nil, false, `"description"`},
		{"drop granular", obj(green, "", gm(TLP2AmberID, "x_list.[1]")), obj(green, "", gm(TLP2ClearID, "name")), LevelNone, nil, false, `"x_list.[1]"`},
		{"granular covered by an enclosing selector", obj(green, "", gm(TLP2AmberID, "x_list.[1]")), obj(green, "", gm(TLP2AmberID, "x_list")), LevelNone, nil, true, ""},
		{"granular covered by the object marking", obj(green, "", gm(TLP2AmberID, "name")), obj(amber, "", gm(TLP2ClearID, "name")), LevelNone, nil, true, ""},
		{"broken new facts", obj(green, ""), &Facts{Broken: true}, LevelNone, nil, false, "cannot be read"},
	} {
		err := CheckNarrowing(tc.cur, tc.next, tc.def, tc.kindOf)
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v (want ok=%v, message with %q)", tc.name, err, tc.ok, tc.msg)
		}
	}
	if CheckNarrowing(nil, obj(green, ""), LevelNone, nil) == nil {
		t.Error("nil facts")
	}
}
