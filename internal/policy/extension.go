package policy

import (
	"fmt"
	"slices"
	"strings"

	"fusion/internal/stix"
)

// The Fusion sharing extension: a STIX 2.1 property extension (spec 7.3)
// that carries a source's dissemination restrictions on an object:
//
//	"extensions": {
//	  "extension-definition--36dda94d-4b3d-4ec6-9ec4-858a76ef95a4": {
//	    "extension_type": "property-extension",
//	    "allow_countries": ["DE", "FR"],
//	    "deny_countries": ["RU"],
//	    "recipients": ["<organisation id>", ...]
//	  }
//	}
//
// docs/sharing.md explains it to partners and member countries.
const (
	// ExtensionID is the id of the extension-definition object.
	ExtensionID = "extension-definition--36dda94d-4b3d-4ec6-9ec4-858a76ef95a4"
	// HubIdentityID is the identity that created the extension definition:
	// the hub. The hub publishes this identity with the definition.
	HubIdentityID = "identity--f1e1be5d-44f6-4f08-9e1a-2e5b64785ddf"
	// ExtensionSchemaURL is the extension's normative definition.
	ExtensionSchemaURL = "https://fusion.invalid/docs/sharing.md#the-fusion-sharing-extension"
	extensionCreated   = "2026-11-29T00:00:00.000Z"
)

// extensionDefinition and hubIdentity are the objects the hub publishes
// (marked TLP:CLEAR: everyone who shares needs them).
const extensionDefinition = `{"type":"extension-definition","spec_version":"2.1",` +
	`"id":"` + ExtensionID + `",` +
	`"created_by_ref":"` + HubIdentityID + `",` +
	`"created":"` + extensionCreated + `","modified":"` + extensionCreated + `",` +
	`"name":"Fusion sharing restrictions",` +
	`"description":"Restrictions a source sets on who may receive an object: allow_countries and deny_countries (ISO 3166-1 alpha-2 codes, upper case) limit which member countries receive it; recipients (organisation ids) limits it to the named organisations and is required for TLP:RED. The hub may narrow these restrictions, never widen them.",` +
	`"schema":"` + ExtensionSchemaURL + `",` +
	`"version":"1.0.0",` +
	`"extension_types":["property-extension"],` +
	`"object_marking_refs":["` + TLP2ClearID + `"]}`

const hubIdentity = `{"type":"identity","spec_version":"2.1",` +
	`"id":"` + HubIdentityID + `",` +
	`"created":"` + extensionCreated + `","modified":"` + extensionCreated + `",` +
	`"name":"Fusion hub","identity_class":"organization",` +
	`"object_marking_refs":["` + TLP2ClearID + `"]}`

// ExtensionDefinition returns the JSON of the extension-definition object
// (a fresh copy), ready to be stored in a collection everyone may read.
func ExtensionDefinition() []byte { return []byte(extensionDefinition) }

// HubIdentity returns the JSON of the identity object the extension
// definition's created_by_ref names (a fresh copy).
func HubIdentity() []byte { return []byte(hubIdentity) }

// MaxRecipients bounds the recipients list: far more than the exchange has
// organisations, few enough that every decision stays cheap.
const MaxRecipients = 1000

// Restrictions are the contents of the Fusion sharing extension. Empty
// lists do not restrict.
type Restrictions struct {
	// AllowCountries, when not empty, limits member organisations to
	// those of these countries.
	AllowCountries []string `json:"allow_countries,omitempty"`
	// DenyCountries excludes member organisations of these countries.
	DenyCountries []string `json:"deny_countries,omitempty"`
	// Recipients, when not empty, limits the object to these
	// organisations (ids, lower case). TLP:RED objects are visible only to
	// the organisations named here.
	Recipients []string `json:"recipients,omitempty"`
}

// IsZero reports whether r restricts nothing.
func (r *Restrictions) IsZero() bool {
	return len(r.AllowCountries) == 0 && len(r.DenyCountries) == 0 && len(r.Recipients) == 0
}

// ValidateRestrictions checks the JSON value of the extension (the object
// under the ExtensionID key) and returns its contents. Errors are
// *stix.ValidationError with the path inside the extension.
func ValidateRestrictions(ext []byte) (Restrictions, error) {
	t := getTree()
	defer t.release()
	if err := t.parse(ext); err != nil {
		return Restrictions{}, &stix.ValidationError{Index: -1, Msg: err.Error()}
	}
	r, err := t.restrictions(0)
	if err != nil {
		return Restrictions{}, err
	}
	return r, nil
}

// restrictions reads and validates the extension object at node ext.
func (t *tree) restrictions(ext int32) (Restrictions, *stix.ValidationError) {
	var r Restrictions
	bad := func(path, format string, args ...any) (Restrictions, *stix.ValidationError) {
		return Restrictions{}, &stix.ValidationError{Index: -1, Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if t.nodes[ext].kind != kObj {
		return bad("", "the Fusion sharing extension must be a JSON object")
	}
	sawType := false
	for m := t.nodes[ext].first; m >= 0; m = t.nodes[m].next {
		name := string(t.key(m))
		switch name {
		case "extension_type":
			if t.nodes[m].kind != kStr || string(t.strBytes(m)) != "property-extension" {
				return bad(name, `must be "property-extension"`)
			}
			sawType = true
		case "allow_countries", "deny_countries":
			list, err := t.stringList(m, name)
			if err != nil {
				return Restrictions{}, err
			}
			for i, c := range list {
				if !ValidCountry(c) {
					if ValidCountry(strings.ToUpper(c)) {
						return bad(fmt.Sprintf("%s[%d]", name, i), "%q: country codes must be upper case (%q)", c, strings.ToUpper(c))
					}
					return bad(fmt.Sprintf("%s[%d]", name, i), "%q is not an ISO 3166-1 alpha-2 country code (two upper-case letters, e.g. \"FR\")", c)
				}
				if j := slices.Index(list[:i], c); j >= 0 {
					return bad(fmt.Sprintf("%s[%d]", name, i), "%q is listed twice", c)
				}
			}
			if name == "allow_countries" {
				r.AllowCountries = list
			} else {
				r.DenyCountries = list
			}
		case "recipients":
			list, err := t.stringList(m, name)
			if err != nil {
				return Restrictions{}, err
			}
			if len(list) > MaxRecipients {
				return bad(name, "names %d organisations; at most %d may be named", len(list), MaxRecipients)
			}
			seen := make(map[string]bool, len(list))
			for i, id := range list {
				if !stix.IsUUID(id) {
					return bad(fmt.Sprintf("recipients[%d]", i), "%q is not an organisation id (a UUID)", id)
				}
				list[i] = strings.ToLower(id)
				if seen[list[i]] {
					return bad(fmt.Sprintf("recipients[%d]", i), "%q is listed twice", id)
				}
				seen[list[i]] = true
			}
			r.Recipients = list
		default:
			return bad(name, "unknown property of the Fusion sharing extension (allowed: extension_type, allow_countries, deny_countries, recipients)")
		}
	}
	if !sawType {
		return bad("extension_type", `required ("property-extension")`)
	}
	for i, c := range r.DenyCountries {
		if slices.Contains(r.AllowCountries, c) {
			return bad(fmt.Sprintf("deny_countries[%d]", i), "%q is in allow_countries too", c)
		}
	}
	return r, nil
}

// stringList reads a non-empty list of strings.
func (t *tree) stringList(m int32, name string) ([]string, *stix.ValidationError) {
	if t.nodes[m].kind != kArr {
		return nil, &stix.ValidationError{Index: -1, Path: name, Msg: "must be a list of strings"}
	}
	if t.nodes[m].n == 0 {
		return nil, &stix.ValidationError{Index: -1, Path: name, Msg: "must not be empty (leave the property out instead)"}
	}
	list := make([]string, 0, t.nodes[m].n)
	for c := t.nodes[m].first; c >= 0; c = t.nodes[c].next {
		if t.nodes[c].kind != kStr {
			return nil, &stix.ValidationError{Index: -1, Path: fmt.Sprintf("%s[%d]", name, len(list)), Msg: "must be a string"}
		}
		list = append(list, t.str(c))
	}
	return list, nil
}
