package stix

import (
	"fmt"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

func jsonUnmarshalString(v jsontext.Value, s *string) error { return json.Unmarshal(v, s) }

// checkID checks that id has the form TYPE--UUID (spec 2.9) with an
// RFC 4122 UUID. want, when not empty, is the required type.
func checkID(id, want string) error {
	typ, u, ok := strings.Cut(id, "--")
	if !ok {
		return fmt.Errorf("%q is not of the form type--UUID", id)
	}
	if want != "" && typ != want {
		return fmt.Errorf("%q must be a %s identifier", id, want)
	}
	if err := checkTypeName(typ); err != nil {
		return fmt.Errorf("%q: %v", id, err)
	}
	if !IsUUID(u) {
		return fmt.Errorf("%q does not end in an RFC 4122 UUID", id)
	}
	return nil
}

// IsUUID reports whether s is a lowercase or uppercase hyphenated UUID
// with the RFC 4122 variant bits (any version).
func IsUUID(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return false
	}
	// variant: the first hex digit of the fourth group is 8, 9, a or b
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return false
	}
	return allHex(s[0:8]) && allHex(s[9:13]) && allHex(s[14:18]) && allHex(s[19:23]) && allHex(s[24:36])
}

// allHex reports whether every byte of s is a hex digit.
func allHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hexDigit[s[i]] {
			return false
		}
	}
	return true
}

// hexDigit marks 0-9, a-f and A-F.
var hexDigit = func() (tab [256]bool) {
	for c := 0; c < 256; c++ {
		tab[c] = c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
	}
	return tab
}()

// uuidVersion returns the version digit of a UUID accepted by IsUUID.
func uuidVersion(s string) byte { return s[14] }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// IDType returns the type part of a STIX identifier.
func IDType(id string) string {
	t, _, _ := strings.Cut(id, "--")
	return t
}

// checkTypeName applies the naming rules for object types (spec 3.1 and
// 11.2): ASCII a–z, 0–9 and hyphen, starting with a letter, no two
// hyphens in a row, 3 to 250 characters.
func checkTypeName(t string) error {
	if len(t) < 3 || len(t) > 250 {
		return fmt.Errorf("type name %q must be 3 to 250 characters", t)
	}
	if t[0] < 'a' || t[0] > 'z' {
		return fmt.Errorf("type name %q must begin with a letter a-z", t)
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-':
			if i > 0 && t[i-1] == '-' {
				return fmt.Errorf("type name %q must not contain two hyphens in a row", t)
			}
		default:
			return fmt.Errorf("type name %q may only contain a-z, 0-9 and hyphen", t)
		}
	}
	return nil
}

// checkPropertyName applies the naming rules for property names (spec
// 3.1 and 11.1): ASCII a–z, 0–9 and underscore, starting with a letter, 3
// to 250 characters. "id" is the one shorter name the spec defines.
func checkPropertyName(p string) string {
	if p == "id" {
		return ""
	}
	if len(p) < 3 || len(p) > 250 {
		return "property names must be 3 to 250 characters"
	}
	if p[0] < 'a' || p[0] > 'z' {
		return "property names must begin with a letter a-z"
	}
	for i := 1; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return "property names may only contain a-z, 0-9 and underscore"
		}
	}
	return ""
}

// checkDictKey applies the rules for dictionary keys (spec 2.8): ASCII
// letters, digits, hyphen and underscore, 1 to 250 characters.
func checkDictKey(k string) string {
	if len(k) < 1 || len(k) > 250 {
		return "dictionary keys must be 1 to 250 characters"
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "dictionary keys may only contain a-z, A-Z, 0-9, hyphen and underscore"
		}
	}
	return ""
}
