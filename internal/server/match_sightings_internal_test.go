package server

import (
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/store"
)

// TestOrgIdentityName: any organisation name ends up as the identity's
// name, JSON-escaped, and the identity is valid STIX.
func TestOrgIdentityName(t *testing.T) {
	for _, name := range []string{"fr-police", `quote " and \ backslash`, "ctrl \x01\t", "Bundeskriminalamt ü 日本"} {
		org := store.Org{ID: "0a1b2c3d-0000-4000-8000-0000000000c1", Name: name, Created: time.Date(2024, 1, 2, 3, 4, 5, 6789, time.UTC)}
		o, err := orgIdentity(org, OrgIdentityID(org.ID))
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		var got struct {
			Name    string `json:"name"`
			Created string `json:"created"`
		}
		if err := json.Unmarshal(o.Raw, &got, json.RejectUnknownMembers(false)); err != nil || got.Name != name || got.Created != "2024-01-02T03:04:05.000Z" {
			t.Errorf("%q: %+v %v", name, got, err)
		}
	}
}
