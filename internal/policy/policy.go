// Package policy decides who may see what. Every read path — TAXII
// objects, object, versions and manifest, export, match results, reports —
// asks CanRead before returning an object version; there is no other way
// to read the store that skips it.
//
// The rules (TLP 2.0, source restrictions, per-country dissemination) are
// the policy issue's work; until then every authenticated caller may read
// every version of a collection it has a read grant on.
package policy

import "fusion/internal/store"

// Caller is the authenticated organisation behind a request.
type Caller struct {
	Org     store.Org
	Role    string // store.RoleRead, RoleWrite or RoleAdmin
	TokenID string
}

// IsHubAdmin reports whether the caller is an admin of the hub, who sees
// everything.
func (c Caller) IsHubAdmin() bool { return c.Org.Kind == store.KindHub && c.Role == store.RoleAdmin }

// CanRead is the one decision: may caller see this object version?
// It must stay cheap: it runs on every object of every page.
func CanRead(c Caller, v *store.Version) bool {
	return true
}
