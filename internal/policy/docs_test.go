package policy

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// docs/sharing.md shows the extension definition and two examples; they
// must stay true.
func TestSharingDoc(t *testing.T) {
	doc := string(mustRead(t, "../../docs/sharing.md"))
	var blocks []string
	for _, part := range strings.Split(doc, "```json\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) != 3 {
		t.Fatalf("%d JSON blocks in docs/sharing.md, want 3", len(blocks))
	}
	red, deny, def := blocks[0], blocks[1], blocks[2]

	var a, b any
	if err := json.Unmarshal([]byte(def), &a); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(ExtensionDefinition(), &b)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the definition in docs/sharing.md differs from ExtensionDefinition():\n%s", ExtensionDefinition())
	}

	de := caller("3f0c2a5e-6b1d-4c8e-9a77-21d4e5f60a19", store.KindMember, "DE", store.RoleRead)
	fr := caller("c7b81e04-2f5a-4d39-8c6e-90a4f1d2e3b5", store.KindMember, "FR", store.RoleRead)
	nl := caller(orgN, store.KindMember, "NL", store.RoleRead)
	ru := caller(orgM, store.KindMember, "RU", store.RoleRead)
	for _, tc := range []struct {
		name string
		raw  string
		c    Caller
		want bool
	}{
		{"red: DE unit", red, de, true},
		{"red: FR unit", red, fr, true},
		{"red: NL unit", red, nl, false},
		{"red: hub (not admin)", red, hubRead, false},
		{"red: partner", red, partnerP, false},
		{"red: hub admin", red, hubAdmin, true},
		{"deny: NL unit", deny, nl, true},
		{"deny: RU unit", deny, ru, false},
		{"deny: hub", deny, hubRead, true},
		{"deny: partner", deny, partnerP, false},
	} {
		o, err := stix.Parse([]byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := stix.Validate(o); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		f := mustFacts(t, tc.raw)
		if got := CanRead(tc.c, &store.Version{Source: orgS}, &f, LevelNone, nil); got != tc.want {
			t.Errorf("%s: CanRead = %v, want %v", tc.name, got, tc.want)
		}
	}
}
