// Package policy decides who may see what. Every read path — TAXII
// objects, object, versions and manifest, export, match results, reports —
// asks CanRead before returning an object version, and sends the copy
// Redact makes; there is no other way to read the store that skips them.
// Filter does both for a page of versions read from a store, and is what
// the read paths use.
//
// The rules, applied to the policy facts of an object version (FactsOf)
// and the reader (Caller):
//
//   - The source organisation always sees its own objects; hub admins see
//     everything.
//   - TLP (STIX 2.1 section 7.2.1.4 for the TLP 1.0 marking definitions,
//     the OASIS TLP 2.0 marking-definition extension for TLP 2.0), from
//     object_marking_refs; an object without one takes its collection's
//     default (AMBER when none): CLEAR/WHITE every authenticated
//     organisation; GREEN partners, hub and members; AMBER the hub and
//     members; AMBER+STRICT the hub; RED only the organisations named in
//     the object's recipients. With several markings every one must admit
//     the reader: the most restrictive of CLEAR, GREEN, AMBER and
//     AMBER+STRICT counts, and RED with another admits only the
//     recipients that one admits too (see Levels).
//   - The source's restrictions in the Fusion sharing extension (a STIX
//     2.1 property extension, section 7.3; see ExtensionDefinition):
//     allow_countries and deny_countries apply to member organisations by
//     their country; recipients limits the object to the named
//     organisations.
//   - References do not leak: a relationship, sighting or language-content
//     is visible only when the objects it connects are; other references (report, note,
//     opinion and grouping object_refs, created_by_ref, ...) to objects the
//     reader may not see are removed from the reader's copy.
//   - Granular markings (section 7.2.3): a property marked above what the
//     reader may see is removed from the reader's copy.
//
// On a read path, for each page of versions (Filter.Visible does this):
// get each version's facts (FactsOf(v.Raw), or facts stored at write
// time); resolve the ids their AppendRequired and AppendRefs list into a
// Lookup in one batch; skip the versions CanRead refuses, counting them
// as examined, not returned; send each allowed one as the copy Redact
// returns, skipping it if Redact says !ok.
//
// Writes have one decision too: CanWrite (CheckWrites for a batch, which
// every write path that stores submitted objects applies before Put):
// only an object's source may post new versions of it; the hub may post
// one only when CheckNarrowing shows it narrows, and it keeps the
// object's source.
//
// docs/sharing.md explains the rules to partners and member countries.
package policy

import (
	"strings"
	"time"

	"fusion/internal/store"
)

// Caller is the authenticated organisation behind a request.
type Caller struct {
	Org     store.Org
	Role    string // store.RoleRead, RoleWrite or RoleAdmin
	TokenID string
}

// IsHubAdmin reports whether the caller is an admin of the hub, who sees
// everything.
func (c Caller) IsHubAdmin() bool { return c.Org.Kind == store.KindHub && c.Role == store.RoleAdmin }

// Target is what a decision needs to know about a referenced object: the
// version a reader would be shown for that id.
type Target struct {
	Source     string // the submitting organisation (store.Version.Source)
	DefaultTLP Level  // its collection's default (CollectionDefault)
	Facts      *Facts

	modified time.Time // the version's key, when added by Targets.Add
}

// Lookup finds the object a reference names. ok is false when the id is
// unknown; an unknown id counts as an object the reader may not see (fail
// closed). A lookup that wants unknown ids to be shown can return a Target
// with Facts{TLP: LevelClear} for them.
type Lookup func(id string) (t Target, ok bool)

// Targets is a Lookup over objects loaded in a batch: ids absent from the
// map are unknown.
type Targets map[string]Target

// Lookup is the Lookup of m.
func (m Targets) Lookup(id string) (Target, bool) {
	t, ok := m[id]
	return t, ok
}

// Add records versions loaded for references (for instance with store.List
// by the ids AppendRefs and AppendRequired gave, Versions zero meaning the
// latest) as targets, with their facts (VersionFacts: the stored blob, else
// read from Raw, failing closed when neither can be read) and def their
// collection's default. A later version of an id replaces an earlier one;
// of two loads of the same version, the first with readable facts counts
// (a metadata-only load of a version stored without facts has none).
func (m Targets) Add(vs []store.Version, def Level) {
	for i := range vs {
		v := &vs[i]
		if old, ok := m[v.ID]; ok && (old.modified.After(v.Modified) ||
			old.modified.Equal(v.Modified) && !old.Facts.Broken) {
			continue
		}
		f := VersionFacts(v)
		m[v.ID] = Target{Source: v.Source, DefaultTLP: def, Facts: &f, modified: v.Modified}
	}
}

// maxRefDepth bounds how far visibility follows references of references
// (a relationship whose endpoint is a relationship ...); deeper chains are
// not visible.
const maxRefDepth = 4

// CanRead is the one decision: may caller see this object version? Read
// paths call it through Filter, which loads what it needs page by page.
//
// f are v's facts (FactsOf of v.Raw, or stored ones); nil facts are not
// visible except to the source and hub admins. def is the default TLP of
// v's collection (CollectionDefault(collection.DefaultTLP)); LevelNone
// means AMBER. refs resolves the objects a relationship or sighting
// connects (f.AppendRequired lists them); it may be nil for versions
// without such references, and is not called for other references. v.Raw
// is not used: CanRead works on metadata-only versions once facts are known.
//
// CanRead is cheap and does not allocate (beyond what refs does): it runs
// on every object of every page. A version it allows must be sent as the
// copy Redact makes, never as v.Raw directly.
func CanRead(c Caller, v *store.Version, f *Facts, def Level, refs Lookup) bool {
	if v == nil {
		return false
	}
	return visible(&c, v.Source, f, def, refs, 0) && !superseded(&c, v, refs)
}

// superseded reports whether a later version of v's object, known to refs
// (Filter loads the latest version of every object whose listed version
// is not the latest, see store.Version.Latest), keeps the reader out. An
// older version is shown only to readers the latest version admits too: a
// narrowing hides older, wider versions from the audience it removed, and
// a widening does not show older, narrower versions to the audience it
// adds. Only the object-level decision is combined; the older version's
// copy is redacted by its own granular markings. The source of v and hub
// admins are not affected.
func superseded(c *Caller, v *store.Version, refs Lookup) bool {
	if refs == nil || v.ID == "" || (c.Org.ID != "" && c.Org.ID == v.Source) || c.IsHubAdmin() {
		return false
	}
	t, ok := refs(v.ID)
	if !ok || !t.modified.After(v.Modified) {
		return false
	}
	return !visible(c, t.Source, t.Facts, t.DefaultTLP, refs, 1)
}

func visible(c *Caller, source string, f *Facts, def Level, refs Lookup, depth int) bool {
	if c.Org.ID != "" && c.Org.ID == source {
		return true
	}
	if c.IsHubAdmin() {
		return true
	}
	if f == nil || f.Broken || c.Org.ID == "" {
		return false
	}
	set := f.TLP
	if set == 0 {
		switch {
		case def == LevelNone:
			def = DefaultLevel
		case def > LevelRed:
			def = LevelRed
		}
		set = set.With(def)
	}
	set |= f.Floor
	if set&^allLevels != 0 {
		return false
	}
	for l := LevelClear; set != 0; l++ {
		if set&(1<<l) != 0 {
			if !tlpAllows(c, l, &f.Restrictions) {
				return false
			}
			set &^= 1 << l
		}
	}
	if !restrictionsAllow(c, &f.Restrictions) {
		return false
	}
	for i := range f.Refs {
		r := &f.Refs[i]
		if !r.Required {
			continue
		}
		for _, id := range r.IDs {
			if id != "" && !refVisible(c, id, refs, depth) {
				return false
			}
		}
	}
	return true
}

// refVisible decides whether the object named id is visible to c.
func refVisible(c *Caller, id string, refs Lookup, depth int) bool {
	if refs == nil || depth >= maxRefDepth {
		return false
	}
	t, ok := refs(id)
	if !ok {
		return false
	}
	return visible(c, t.Source, t.Facts, t.DefaultTLP, refs, depth+1)
}

// tlpAllows applies one TLP level to a reader who is neither the source
// nor a hub admin.
func tlpAllows(c *Caller, lvl Level, r *Restrictions) bool {
	switch lvl {
	case LevelClear:
		return true
	case LevelGreen:
		return c.Org.Kind == store.KindPartner || c.Org.Kind == store.KindHub || c.Org.Kind == store.KindMember
	case LevelAmber:
		return c.Org.Kind == store.KindHub || c.Org.Kind == store.KindMember
	case LevelAmberStrict:
		return c.Org.Kind == store.KindHub
	case LevelRed:
		return named(c, r.Recipients)
	}
	return false
}

// restrictionsAllow applies the source's restrictions.
func restrictionsAllow(c *Caller, r *Restrictions) bool {
	if len(r.Recipients) > 0 && !named(c, r.Recipients) {
		return false
	}
	if c.Org.Kind != store.KindMember || (len(r.AllowCountries) == 0 && len(r.DenyCountries) == 0) {
		return true
	}
	cc := c.Org.Country
	if len(cc) != 2 {
		return false // a member of no known country cannot pass a country rule
	}
	if len(r.AllowCountries) > 0 && !hasFold(r.AllowCountries, cc) {
		return false
	}
	return !hasFold(r.DenyCountries, cc)
}

func named(c *Caller, recipients []string) bool { return hasFold(recipients, c.Org.ID) }

// hasFold reports whether list holds s, ignoring ASCII case (ids and
// country codes are stored in one case, but a caller's may differ).
func hasFold(list []string, s string) bool {
	if s == "" {
		return false
	}
	last := s[len(s)-1] | 0x20
	for _, x := range list {
		if len(x) != len(s) || x[len(x)-1]|0x20 != last {
			continue
		}
		if x == s || strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}
