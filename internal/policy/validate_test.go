package policy_test

import (
	"errors"
	"strings"
	"testing"

	"fusion/internal/policy"
	"fusion/internal/stix"
)

// TestValidateObject checks the write-path check: a valid object passes,
// a STIX violation is stix.Validate's error, and a malformed Fusion
// extension or TLP granular marking is rejected with its path.
func TestValidateObject(t *testing.T) {
	const head = `{"type":"malware","spec_version":"2.1","id":"malware--00000001-0000-4000-8000-000000000001","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"m","is_family":true`
	ext := `,"extensions":{"` + policy.ExtensionID + `":{"extension_type":"property-extension",`
	for _, tc := range []struct {
		name, obj, path string // path "" with ok
		ok              bool
	}{
		{"plain", head + `}`, "", true},
		{"restrictions", head + ext + `"allow_countries":["FR"]}}}`, "", true},
		{"missing is_family", strings.Replace(head, `,"is_family":true`, "", 1) + `}`, "is_family", false},
		{"lower-case country", head + ext + `"allow_countries":["fr"]}}}`, "extensions." + policy.ExtensionID + ".allow_countries[0]", false},
		{"unknown property", head + ext + `"share_with":["FR"]}}}`, "extensions." + policy.ExtensionID + ".share_with", false},
		{"granular without selectors", head + `,"granular_markings":[{"marking_ref":"` + policy.LevelRed.MarkingID() + `","selectors":[]}]}`, "granular_markings[0].selectors", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := stix.Parse([]byte(tc.obj))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			err = policy.ValidateObject(o)
			if tc.ok {
				if err != nil {
					t.Fatalf("ValidateObject: %v", err)
				}
				return
			}
			var ve *stix.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("ValidateObject: %v, want a *stix.ValidationError", err)
			}
			if ve.Path != tc.path || ve.ID != o.ID {
				t.Errorf("error %q: path %q id %q, want path %q id %q", err, ve.Path, ve.ID, tc.path, o.ID)
			}
		})
	}
	if err := policy.ValidateObject(nil); err == nil {
		t.Error("ValidateObject(nil) = nil")
	}
}
