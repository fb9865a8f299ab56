package policy

import (
	"fmt"
	"strings"
)

// Level is a TLP level, ordered from least to most restrictive, so that
// "the most restrictive of several markings" is the largest.
type Level uint8

// TLP levels. LevelNone means "no TLP marking": the collection's default
// applies (AMBER when the collection has none). TLP 1.0 WHITE is
// LevelClear; TLP 1.0 GREEN, AMBER and RED are the 2.0 levels of the same
// name.
const (
	LevelNone Level = iota
	LevelClear
	LevelGreen
	LevelAmber
	LevelAmberStrict
	LevelRed
)

// DefaultLevel is what an unmarked object in a collection without a
// default TLP is treated as.
const DefaultLevel = LevelAmber

// The predefined TLP marking-definition ids: TLP 1.0 from STIX 2.1 section
// 7.2.1.4, TLP 2.0 from the OASIS TLP 2.0 marking-definition extension
// (extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d,
// cti-stix-common-objects/extension-definition-specifications/tlp-2.0).
const (
	TLP1WhiteID = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
	TLP1GreenID = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	TLP1AmberID = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"
	TLP1RedID   = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"

	TLP2ClearID       = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
	TLP2GreenID       = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
	TLP2AmberID       = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	TLP2AmberStrictID = "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003"
	TLP2RedID         = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"

	// TLP2ExtensionID is the extension-definition the TLP 2.0 marking
	// definitions use.
	TLP2ExtensionID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
)

// LevelOf returns the TLP level of a predefined TLP marking-definition id
// (1.0 or 2.0), or LevelNone for any other id (statement markings, custom
// markings).
func LevelOf(markingID string) Level {
	if len(markingID) != len(TLP2RedID) {
		return LevelNone
	}
	switch markingID {
	case TLP2ClearID, TLP1WhiteID:
		return LevelClear
	case TLP2GreenID, TLP1GreenID:
		return LevelGreen
	case TLP2AmberID, TLP1AmberID:
		return LevelAmber
	case TLP2AmberStrictID:
		return LevelAmberStrict
	case TLP2RedID, TLP1RedID:
		return LevelRed
	}
	return LevelNone
}

// MarkingID is the TLP 2.0 marking-definition id of l; "" for LevelNone.
func (l Level) MarkingID() string {
	switch l {
	case LevelClear:
		return TLP2ClearID
	case LevelGreen:
		return TLP2GreenID
	case LevelAmber:
		return TLP2AmberID
	case LevelAmberStrict:
		return TLP2AmberStrictID
	case LevelRed:
		return TLP2RedID
	}
	return ""
}

// String is the level's TLP 2.0 name, e.g. "TLP:AMBER+STRICT"; "none" for
// LevelNone.
func (l Level) String() string {
	switch l {
	case LevelNone:
		return "none"
	case LevelClear:
		return "TLP:CLEAR"
	case LevelGreen:
		return "TLP:GREEN"
	case LevelAmber:
		return "TLP:AMBER"
	case LevelAmberStrict:
		return "TLP:AMBER+STRICT"
	case LevelRed:
		return "TLP:RED"
	}
	return fmt.Sprintf("Level(%d)", uint8(l))
}

// name is the level's lower-case name as ParseLevel and the JSON form
// use.
func (l Level) name() string {
	switch l {
	case LevelClear:
		return "clear"
	case LevelGreen:
		return "green"
	case LevelAmber:
		return "amber"
	case LevelAmberStrict:
		return "amber+strict"
	case LevelRed:
		return "red"
	}
	return ""
}

// ParseLevel reads a TLP level as an operator writes it: "clear", "white"
// (TLP 1.0, the same as clear), "green", "amber", "amber+strict", "red",
// in any case and with or without a "TLP:" prefix. The empty string is
// LevelNone. Anything else is an error.
func ParseLevel(s string) (Level, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimPrefix(t, "tlp:")
	switch t {
	case "":
		return LevelNone, nil
	case "clear", "white":
		return LevelClear, nil
	case "green":
		return LevelGreen, nil
	case "amber":
		return LevelAmber, nil
	case "amber+strict":
		return LevelAmberStrict, nil
	case "red":
		return LevelRed, nil
	}
	return LevelNone, fmt.Errorf("TLP level %q: must be one of clear, green, amber, amber+strict, red", s)
}

// CollectionDefault is the level an unmarked object in a collection whose
// store.Collection.DefaultTLP is s is treated as: the parsed level, AMBER
// when s is empty, and RED (fail closed) when s is not a TLP level, which
// collection creation should have refused (validate it with ParseLevel).
func CollectionDefault(s string) Level {
	l, err := ParseLevel(s)
	switch {
	case err != nil:
		return LevelRed
	case l == LevelNone:
		return DefaultLevel
	}
	return l
}

// MarshalText writes the level as ParseLevel reads it ("" for LevelNone).
func (l Level) MarshalText() ([]byte, error) {
	if l > LevelRed {
		return nil, fmt.Errorf("invalid TLP level %d", uint8(l))
	}
	return []byte(l.name()), nil
}

// UnmarshalText reads what MarshalText writes.
func (l *Level) UnmarshalText(b []byte) error {
	v, err := ParseLevel(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// Levels is a set of TLP levels: the TLP markings on one object. A reader
// must be admitted by every level in the set ("visible only if all of
// these allow it"). For CLEAR ⊇ GREEN ⊇ AMBER ⊇ AMBER+STRICT that is the
// most restrictive one; RED admits the named recipients, so RED together
// with AMBER admits only the recipients AMBER admits too.
type Levels uint8

// allLevels has a bit for each level from LevelClear to LevelRed.
const allLevels Levels = 1<<(LevelRed+1) - 1<<LevelClear

// LevelsOf is the set of the given levels (LevelNone is ignored).
func LevelsOf(ls ...Level) Levels {
	var s Levels
	for _, l := range ls {
		s = s.With(l)
	}
	return s
}

// With returns s with l added; LevelNone and invalid levels add nothing.
func (s Levels) With(l Level) Levels {
	if l < LevelClear || l > LevelRed {
		return s
	}
	return s | 1<<l
}

// Has reports whether l is in s.
func (s Levels) Has(l Level) bool { return l <= LevelRed && s&(1<<l) != 0 }

// Max is the most restrictive level in s, LevelNone when s is empty.
func (s Levels) Max() Level {
	for l := LevelRed; l >= LevelClear; l-- {
		if s.Has(l) {
			return l
		}
	}
	return LevelNone
}

// String lists the levels, e.g. "TLP:AMBER+TLP:RED"; "none" when empty.
func (s Levels) String() string {
	if s == 0 {
		return "none"
	}
	var parts []string
	for l := LevelClear; l <= LevelRed; l++ {
		if s.Has(l) {
			parts = append(parts, l.String())
		}
	}
	return strings.Join(parts, "+")
}

// MarshalText writes the levels as ParseLevel names joined by ",".
func (s Levels) MarshalText() ([]byte, error) {
	if s&^allLevels != 0 {
		return nil, fmt.Errorf("invalid TLP level set %#x", uint8(s))
	}
	var parts []string
	for l := LevelClear; l <= LevelRed; l++ {
		if s.Has(l) {
			parts = append(parts, l.name())
		}
	}
	return []byte(strings.Join(parts, ",")), nil
}

// UnmarshalText reads what MarshalText writes.
func (s *Levels) UnmarshalText(b []byte) error {
	var v Levels
	if len(b) > 0 {
		for _, p := range strings.Split(string(b), ",") {
			l, err := ParseLevel(p)
			if err != nil || l == LevelNone {
				return fmt.Errorf("TLP level set %q: bad level %q", b, p)
			}
			v = v.With(l)
		}
	}
	*s = v
	return nil
}
