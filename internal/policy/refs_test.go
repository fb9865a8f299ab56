package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"fusion/internal/store"
)

const (
	idGreen  = "indicator--00000000-0000-4000-8000-0000000000a1" // GREEN
	idAmber  = "indicator--00000000-0000-4000-8000-0000000000a2" // AMBER
	idRed    = "indicator--00000000-0000-4000-8000-0000000000a3" // RED, recipients M
	idIdent  = "identity--00000000-0000-4000-8000-0000000000a4"  // CLEAR
	idMember = "identity--00000000-0000-4000-8000-0000000000a5"  // AMBER
	idGhost  = "malware--00000000-0000-4000-8000-0000000000a6"   // not in the store
)

// refWorld is a small store of targets: a GREEN, an AMBER and a RED
// indicator, a CLEAR identity and an AMBER identity.
func refWorld(t *testing.T) map[string]Target {
	t.Helper()
	w := map[string]Target{}
	add := func(raw string) {
		f := mustFacts(t, raw)
		w[f.ID] = Target{Source: orgS, DefaultTLP: LevelAmber, Facts: &f}
	}
	add(indicator(idGreen, []string{TLP2GreenID}))
	add(indicator(idAmber, []string{TLP2AmberID}))
	add(indicator(idRed, []string{TLP2RedID}, ext(`,"recipients":["`+orgM+`"]`)))
	add(`{"type":"identity","id":"` + idIdent + `","name":"x","object_marking_refs":["` + TLP2ClearID + `"]}`)
	add(`{"type":"identity","id":"` + idMember + `","name":"y"}`)
	return w
}

func relationship(id, src, dst string) string {
	return `{"type":"relationship","spec_version":"2.1","id":"` + id + `","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",` +
		`"relationship_type":"related-to","source_ref":"` + src + `","target_ref":"` + dst + `","object_marking_refs":["` + TLP2ClearID + `"]}`
}

func TestRelationshipEndpoints(t *testing.T) {
	w := refWorld(t)
	look := mapLookup(w)
	for _, tc := range []struct {
		name    string
		src     string
		dst     string
		partner bool
		member  bool
		hub     bool
	}{
		{"green to clear", idGreen, idIdent, true, true, true},
		{"green to amber", idGreen, idAmber, false, true, true},
		{"amber to red (M named)", idAmber, idRed, false, true, false},
		{"clear to unknown", idIdent, idGhost, false, false, false},
	} {
		raw := relationship("relationship--00000000-0000-4000-8000-0000000000b1", tc.src, tc.dst)
		f := mustFacts(t, raw)
		if got := f.AppendRequired(nil); !slices.Equal(got, []string{tc.src, tc.dst}) {
			t.Fatalf("%s: required refs %v", tc.name, got)
		}
		for _, r := range []struct {
			c    Caller
			want bool
		}{{partnerP, tc.partner}, {memberM, tc.member}, {hubRead, tc.hub}, {hubAdmin, true}, {sourceS, true}} {
			if got := CanRead(r.c, version(raw), &f, LevelNone, look); got != r.want {
				t.Errorf("%s: %s/%s reads = %v, want %v", tc.name, r.c.Org.Kind, r.c.Role, got, r.want)
			}
		}
		// Without a lookup, endpoints cannot be shown to be visible.
		if CanRead(memberM, version(raw), &f, LevelNone, nil) {
			t.Errorf("%s: visible without a lookup", tc.name)
		}
	}
}

func TestRefChains(t *testing.T) {
	w := refWorld(t)
	// r1: green→amber (hidden from partners); r2: clear identity→r1.
	r1 := relationship("relationship--00000000-0000-4000-8000-0000000000b1", idGreen, idAmber)
	r2 := relationship("relationship--00000000-0000-4000-8000-0000000000b2", idIdent, "relationship--00000000-0000-4000-8000-0000000000b1")
	f1, f2 := mustFacts(t, r1), mustFacts(t, r2)
	w[f1.ID] = Target{Source: orgS, Facts: &f1}
	look := mapLookup(w)
	if CanRead(partnerP, version(r2), &f2, LevelNone, look) {
		t.Error("a relationship pointing at a relationship the partner may not see is visible")
	}
	if !CanRead(memberM, version(r2), &f2, LevelNone, look) {
		t.Error("a member cannot see a relationship chain it may see")
	}
	// A cycle ends, invisible.
	c1 := relationship("relationship--00000000-0000-4000-8000-0000000000c1", idIdent, "relationship--00000000-0000-4000-8000-0000000000c2")
	c2 := relationship("relationship--00000000-0000-4000-8000-0000000000c2", idIdent, "relationship--00000000-0000-4000-8000-0000000000c1")
	fc1, fc2 := mustFacts(t, c1), mustFacts(t, c2)
	w[fc1.ID] = Target{Source: orgS, Facts: &fc1}
	w[fc2.ID] = Target{Source: orgS, Facts: &fc2}
	calls := 0
	counting := func(id string) (Target, bool) { calls++; return look(id) }
	if CanRead(memberM, version(c1), &fc1, LevelNone, counting) {
		t.Error("a reference cycle is visible")
	}
	if calls > 2*maxRefDepth {
		t.Errorf("cycle cost %d lookups", calls)
	}
	// The reader is the source of an endpoint it otherwise could not see.
	w[idAmber] = Target{Source: orgP, DefaultTLP: LevelAmber, Facts: w[idAmber].Facts}
	if !CanRead(partnerP, version(r1), &f1, LevelNone, mapLookup(w)) {
		t.Error("a partner cannot see a relationship to its own AMBER object")
	}
}

func TestSightingRefs(t *testing.T) {
	w := refWorld(t)
	look := mapLookup(w)
	sighting := func(where string) string {
		return `{"type":"sighting","spec_version":"2.1","id":"sighting--00000000-0000-4000-8000-0000000000d1",` +
			`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z",` +
			`"sighting_of_ref":"` + idGreen + `","where_sighted_refs":["` + idIdent + `","` + where + `"],` +
			`"object_marking_refs":["` + TLP2GreenID + `"]}`
	}
	open, hidden := sighting(idIdent), sighting(idMember)
	fo, fh := mustFacts(t, open), mustFacts(t, hidden)
	if !CanRead(partnerP, version(open), &fo, LevelNone, look) {
		t.Error("partner cannot see a sighting of visible objects")
	}
	if CanRead(partnerP, version(hidden), &fh, LevelNone, look) {
		t.Error("partner sees a sighting whose where_sighted_refs names an AMBER identity")
	}
	if !CanRead(memberM, version(hidden), &fh, LevelNone, look) {
		t.Error("member cannot see the sighting")
	}
}

func TestReportRefsFiltered(t *testing.T) {
	w := refWorld(t)
	look := mapLookup(w)
	report := `{"type":"report","spec_version":"2.1","id":"report--00000000-0000-4000-8000-0000000000e1",` +
		`"created_by_ref":"` + idMember + `",` +
		`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"r","published":"2024-01-01T00:00:00Z",` +
		`"object_refs":["` + idGreen + `","` + idAmber + `","` + idRed + `","` + idIdent + `","` + idGhost + `"],` +
		`"x_fusion_note":{"about_ref":"` + idAmber + `","text":"kept"},` +
		`"object_marking_refs":["` + TLP2GreenID + `"]}`
	f := mustFacts(t, report)
	if f.CreatedByRef != idMember {
		t.Errorf("CreatedByRef = %q", f.CreatedByRef)
	}
	if got := f.AppendRefs(nil); len(got) != 7 {
		t.Errorf("refs %v", got)
	}
	if got := f.AppendRequired(nil); len(got) != 0 {
		t.Errorf("a report has required refs %v", got)
	}
	head := `{"type":"report","spec_version":"2.1","id":"report--00000000-0000-4000-8000-0000000000e1",`
	mid := `"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"r","published":"2024-01-01T00:00:00Z",`
	tail := `"object_marking_refs":["` + TLP2GreenID + `"]}`
	for _, tc := range []struct {
		name string
		c    Caller
		want string
	}{
		{"partner", partnerP, head + mid + `"object_refs":["` + idGreen + `","` + idIdent + `"],"x_fusion_note":{"text":"kept"},` + tail},
		{"member M (named for RED)", memberM, head + `"created_by_ref":"` + idMember + `",` + mid +
			`"object_refs":["` + idGreen + `","` + idAmber + `","` + idRed + `","` + idIdent + `"],"x_fusion_note":{"about_ref":"` + idAmber + `","text":"kept"},` + tail},
		{"member N", memberN, head + `"created_by_ref":"` + idMember + `",` + mid +
			`"object_refs":["` + idGreen + `","` + idAmber + `","` + idIdent + `"],"x_fusion_note":{"about_ref":"` + idAmber + `","text":"kept"},` + tail},
		{"hub admin", hubAdmin, report},
		{"source", sourceS, report},
	} {
		if !CanRead(tc.c, version(report), &f, LevelNone, look) {
			t.Fatalf("%s cannot see a GREEN report", tc.name)
		}
		out, ok := Redact(tc.c, version(report), &f, look)
		if !ok || string(out) != tc.want {
			t.Errorf("%s: Redact ok=%v\n got %s\nwant %s", tc.name, ok, out, tc.want)
		}
	}
	// Everything invisible: the list goes (STIX lists are never empty).
	empty := mapLookup(nil)
	out, ok := Redact(partnerP, version(report), &f, empty)
	if !ok || strings.Contains(string(out), "object_refs") || strings.Contains(string(out), "created_by_ref") ||
		strings.Contains(string(out), "about_ref") {
		t.Errorf("all refs invisible: %v %s", ok, out)
	}
	for _, id := range []string{idGreen, idAmber, idRed, idIdent, idMember, idGhost} {
		if strings.Contains(string(out), id) {
			t.Errorf("all refs invisible, yet %s is shown", id)
		}
	}
}

// Facts computed for another version of the same object must not make
// Redact remove the wrong item.
func TestRedactRefMismatch(t *testing.T) {
	w := refWorld(t)
	a := `{"type":"report","id":"report--00000000-0000-4000-8000-0000000000e1","object_refs":["` + idGreen + `","` + idAmber + `"]}`
	b := `{"type":"report","id":"report--00000000-0000-4000-8000-0000000000e1","object_refs":["` + idAmber + `","` + idGreen + `"]}`
	fa := mustFacts(t, a)
	if _, ok := Redact(partnerP, version(b), &fa, mapLookup(w)); ok {
		t.Error("Redact applied facts of another version")
	}
}

// The OASIS APT1 and Poison Ivy bundles: with the hub's identities hidden
// (AMBER) and everything else GREEN, a partner's copies name no hidden id,
// and the relationships that touch a hidden object are hidden.
func TestOASISBundlesRefs(t *testing.T) {
	for _, name := range []string{"apt1.json", "poisonivy.json"} {
		objs := bundleObjects(t, name)
		facts := map[string]*Facts{}
		raws := map[string][]byte{}
		for _, o := range objs {
			f, err := FactsOf(o)
			if err != nil {
				t.Fatalf("%s: FactsOf: %v", name, err)
			}
			// Identities keep the collection default (AMBER); all else GREEN.
			if f.Type != "identity" && f.TLP == 0 {
				f.TLP = LevelsOf(LevelGreen)
			}
			facts[f.ID] = &f
			raws[f.ID] = o
		}
		hidden := func(id string) bool { f, ok := facts[id]; return !ok || f.TLP == 0 }
		look := func(id string) (Target, bool) {
			f, ok := facts[id]
			return Target{Source: orgS, DefaultTLP: LevelAmber, Facts: f}, ok
		}
		shown, rels, hiddenRels := 0, 0, 0
		for id, f := range facts {
			v := &store.Version{ID: id, Source: orgS, Raw: raws[id]}
			ok := CanRead(partnerP, v, f, LevelAmber, look)
			if f.Type == "relationship" {
				rels++
				want := !hidden(f.Refs[requiredIndex(f, "source_ref")].IDs[0]) && !hidden(f.Refs[requiredIndex(f, "target_ref")].IDs[0])
				if ok != want {
					t.Errorf("%s: relationship %s visible = %v, want %v", name, id, ok, want)
				}
				if !ok {
					hiddenRels++
				}
			}
			if !ok {
				continue
			}
			shown++
			out, ok := Redact(partnerP, v, f, look)
			if !ok {
				t.Fatalf("%s: Redact refused %s", name, id)
			}
			if !json.Valid(out) {
				t.Fatalf("%s: invalid JSON for %s", name, id)
			}
			for other := range facts {
				if hidden(other) && strings.Contains(string(out), other) {
					t.Errorf("%s: %s reveals hidden %s", name, id, other)
				}
			}
		}
		if shown == 0 || rels == 0 {
			t.Fatalf("%s: nothing tested", name)
		}
		t.Logf("%s: %d objects, %d shown to the partner, %d of %d relationships hidden", name, len(facts), shown, hiddenRels, rels)
	}
}

func requiredIndex(f *Facts, path string) int {
	for i, r := range f.Refs {
		if r.Path == path {
			return i
		}
	}
	return -1
}

func TestNestedRefs(t *testing.T) {
	w := refWorld(t)
	raw := `{"type":"email-message","spec_version":"2.1","id":"email-message--00000000-0000-4000-8000-0000000000f1","is_multipart":true,` +
		`"from_ref":"` + idIdent + `",` +
		`"body_multipart":[{"body_raw_ref":"` + idAmber + `","content_type":"a"},{"body":"b","content_type":"c"}],` +
		`"object_marking_refs":["` + TLP2GreenID + `"]}`
	f := mustFacts(t, raw)
	paths := []string{}
	for _, r := range f.Refs {
		paths = append(paths, r.Path)
	}
	if !slices.Equal(paths, []string{"from_ref", "body_multipart.[0].body_raw_ref"}) {
		t.Fatalf("ref paths %v", paths)
	}
	out, ok := Redact(partnerP, version(raw), &f, mapLookup(w))
	want := `{"type":"email-message","spec_version":"2.1","id":"email-message--00000000-0000-4000-8000-0000000000f1","is_multipart":true,` +
		`"from_ref":"` + idIdent + `",` +
		`"body_multipart":[{"content_type":"a"},{"body":"b","content_type":"c"}],` +
		`"object_marking_refs":["` + TLP2GreenID + `"]}`
	if !ok || string(out) != want {
		t.Errorf("\n got %s\nwant %s", out, want)
	}
	// A reference under a name selectors cannot express fails closed.
	bad := `{"type":"x-y","id":"x-y--00000000-0000-4000-8000-0000000000f2","x_map":{"a.b":{"c_ref":"` + idAmber + `"}}}`
	if f, err := FactsOf([]byte(bad)); err == nil || !f.Broken {
		t.Errorf("unaddressable ref: %v", err)
	}
}

func TestLanguageContentFollowsItsObject(t *testing.T) {
	w := refWorld(t)
	raw := `{"type":"language-content","spec_version":"2.1","id":"language-content--00000000-0000-4000-8000-0000000000c9",` +
		`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","object_ref":"` + idAmber + `",` +
		`"object_modified":"2024-01-01T00:00:00.000Z","contents":{"de":{"name":"Übersetzung"}},"object_marking_refs":["` + TLP2ClearID + `"]}`
	f := mustFacts(t, raw)
	if CanRead(partnerP, version(raw), &f, LevelNone, mapLookup(w)) {
		t.Error("a partner reads the translation of an AMBER object")
	}
	if !CanRead(memberM, version(raw), &f, LevelNone, mapLookup(w)) {
		t.Error("a member cannot read the translation of an AMBER object")
	}
}

func TestTargetsAdd(t *testing.T) {
	older := indicator(idGreen, []string{TLP2GreenID})
	newer := strings.Replace(indicator(idGreen, []string{TLP2AmberID}), "2024-01-01T00:00:00.000Z\",\"pattern", "2024-02-01T00:00:00.000Z\",\"pattern", 1)
	t0, _ := time.Parse(time.RFC3339, "2024-01-01T00:00:00Z")
	t1 := t0.AddDate(0, 1, 0)
	m := Targets{}
	m.Add([]store.Version{
		{ID: idGreen, Source: orgS, Modified: t1, Raw: []byte(newer)},
		{ID: idGreen, Source: orgS, Modified: t0, Raw: []byte(older)},
		{ID: idIdent, Source: orgP, Raw: []byte(`{"type":"identity","id":"` + idIdent + `","object_marking_refs":["` + TLP2ClearID + `"]}`)},
		{ID: idMember, Source: orgP, Raw: []byte(`{"type":`)},
	}, LevelGreen)
	rel := relationship("relationship--00000000-0000-4000-8000-0000000000b1", idGreen, idIdent)
	f := mustFacts(t, rel)
	// The latest version (AMBER) counts, not the older GREEN one.
	if CanRead(partnerP, version(rel), &f, LevelNone, m.Lookup) {
		t.Error("the older version of an endpoint decided")
	}
	if !CanRead(memberM, version(rel), &f, LevelNone, m.Lookup) {
		t.Error("member cannot see the relationship")
	}
	if tg, ok := m.Lookup(idMember); !ok || !tg.Facts.Broken || tg.Source != orgP || tg.DefaultTLP != LevelGreen {
		t.Errorf("unreadable target: %+v", tg)
	}
	if _, ok := m.Lookup(idGhost); ok {
		t.Error("unknown id found")
	}
}
