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
	if !IsUUID(u) {
		return fmt.Errorf("%q does not end in an RFC 4122 UUID", id)
	}
	return nil
}

// IsUUID reports whether s is a lowercase or uppercase hyphenated UUID
// with the RFC 4122 variant bits (any version).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	// variant: the first hex digit of the fourth group is 8, 9, a or b
	switch s[19] {
	case '8', '9', 'a', 'b', 'A', 'B':
	default:
		return false
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// IDType returns the type part of a STIX identifier.
func IDType(id string) string {
	t, _, _ := strings.Cut(id, "--")
	return t
}
