package policy

import (
	"fmt"
	"slices"
	"strings"

	"fusion/internal/store"
)

// CheckNarrowing checks that a new version of an object (facts next)
// restricts at least as much as the current one (facts cur): the hub may
// narrow a source's restrictions, never widen them. It returns nil when no
// reader could see next, or a part of it, who may not see cur (or that
// part of it), and otherwise an error naming such a reader.
//
// def is the default TLP of the collection (it decides what an unmarked
// version means). kindOf tells the kind (store.KindPartner, KindHub,
// KindMember) of an organisation named in recipients; it may be nil, or
// return "" for an unknown id, and such an id is then checked as every
// kind, which refuses some narrowings that would be allowed with the kind
// known (e.g. AMBER to RED for two member countries).
//
// Granular markings are compared selector by selector, assuming both
// versions have the same structure (the hub changed markings, not
// content): content selected in cur must stay at least as protected in
// next, by the same selector, an enclosing one, or the object marking.
// References are not compared: they do not change who sees the object.
// The source and hub admins see every version and are not checked.
func CheckNarrowing(cur, next *Facts, def Level, kindOf func(orgID string) string) error {
	if cur == nil || next == nil {
		return fmt.Errorf("narrowing: facts missing")
	}
	if next.Broken {
		return fmt.Errorf("narrowing: the new version's facts cannot be read")
	}
	if cur.Broken {
		return fmt.Errorf("narrowing: the current version's facts cannot be read, so no change can be shown to narrow them")
	}
	// Every reader that can tell the versions apart: each named
	// organisation and one that is named nowhere, as each kind it may be,
	// in each country either version names and one that neither does.
	ids := slices.Concat(cur.Recipients, next.Recipients, []string{""})
	countries := slices.Concat(cur.AllowCountries, cur.DenyCountries, next.AllowCountries, next.DenyCountries)
	countries = append(countries, unlisted(countries), "")
	// Content: the object as a whole ("") and every selector either version
	// marks.
	contents := []string{""}
	for _, f := range []*Facts{cur, next} {
		for _, g := range f.Granular {
			contents = append(contents, g.Selectors...)
		}
	}
	for _, id := range ids {
		kinds := []string{store.KindPartner, store.KindHub, store.KindMember}
		if id != "" && kindOf != nil {
			if k := kindOf(id); k != "" {
				kinds = []string{k}
			}
		}
		orgID := id
		if orgID == "" {
			orgID = "00000000-0000-4000-8000-000000000000" // named nowhere
		}
		for _, kind := range kinds {
			for _, cc := range countries {
				if kind != store.KindMember && cc != "" {
					continue // countries only matter for members
				}
				c := Caller{Org: store.Org{ID: orgID, Kind: kind, Country: cc}, Role: store.RoleRead}
				for _, sel := range contents {
					if seesContent(&c, next, def, sel) && !seesContent(&c, cur, def, sel) {
						return fmt.Errorf("narrowing: the new version would widen who may see %s: %s", what(sel), who(&c, id))
					}
				}
			}
		}
	}
	return nil
}

// seesContent decides whether c sees the content sel selects ("" for the
// object itself) in a version with facts f, references aside.
func seesContent(c *Caller, f *Facts, def Level, sel string) bool {
	g := *f
	g.Refs = nil
	if !visible(c, "", &g, def, nil, 0) {
		return false
	}
	if sel == "" {
		return true
	}
	for _, gr := range f.Granular {
		for _, s := range gr.Selectors {
			if (s == sel || strings.HasPrefix(sel, s+".")) && !tlpAllows(c, gr.Level, &f.Restrictions) {
				return false
			}
		}
	}
	return true
}

// unlisted returns a valid country code not in list.
func unlisted(list []string) string {
	for i := 0; i+1 < len(iso3166); i += 3 {
		if cc := iso3166[i : i+2]; !slices.Contains(list, cc) {
			return cc
		}
	}
	return ""
}

func what(sel string) string {
	if sel == "" {
		return "the object"
	}
	return fmt.Sprintf("%q", sel)
}

func who(c *Caller, id string) string {
	var b strings.Builder
	switch c.Org.Kind {
	case store.KindMember:
		if c.Org.Country == "" {
			b.WriteString("a member organisation")
		} else {
			fmt.Fprintf(&b, "a member organisation of %s", c.Org.Country)
		}
	case store.KindHub:
		b.WriteString("a hub organisation (not admin)")
	default:
		b.WriteString("a partner organisation")
	}
	if id != "" {
		fmt.Fprintf(&b, " (%s)", id)
	} else {
		b.WriteString(" not named in recipients")
	}
	return b.String()
}
