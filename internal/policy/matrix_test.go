package policy

import (
	"fmt"
	"strings"
	"testing"

	"fusion/internal/store"
)

// The authorisation matrix: every reader (organisation kind × role, plus
// the source itself) against every TLP marking (2.0 and 1.0 ids, and no
// marking under each collection default), under each kind of source
// restriction. Each grid below is written out by hand from the rules in
// the issue; every cell is one assertion.

// matrixColumn is one marking situation: the object's marking ids and the
// collection default.
type matrixColumn struct {
	name     string
	markings []string
	def      string // store.Collection.DefaultTLP
}

var matrixColumns = []matrixColumn{
	{"CLEAR", []string{TLP2ClearID}, ""},
	{"WHITE1", []string{TLP1WhiteID}, ""},
	{"GREEN", []string{TLP2GreenID}, ""},
	{"GREEN1", []string{TLP1GreenID}, ""},
	{"AMBER", []string{TLP2AmberID}, ""},
	{"AMBER1", []string{TLP1AmberID}, ""},
	{"STRICT", []string{TLP2AmberStrictID}, ""},
	{"RED", []string{TLP2RedID}, ""},
	{"RED1", []string{TLP1RedID}, ""},
	{"none/default", nil, ""},
	{"none/clear", nil, "clear"},
	{"none/green", nil, "green"},
	{"none/amber", nil, "amber"},
	{"none/strict", nil, "amber+strict"},
	{"none/red", nil, "red"},
}

// matrixRows are the readers, in grid order.
var matrixRows = []struct {
	name string
	c    Caller
}{
	{"P-read", caller(orgP, store.KindPartner, "", store.RoleRead)},
	{"P-write", caller(orgP, store.KindPartner, "", store.RoleWrite)},
	{"P-admin", caller(orgP, store.KindPartner, "", store.RoleAdmin)},
	{"Q-read", caller(orgQ, store.KindPartner, "", store.RoleRead)},
	{"H-read", caller(orgH, store.KindHub, "", store.RoleRead)},
	{"H-write", caller(orgH, store.KindHub, "", store.RoleWrite)},
	{"H-admin", caller(orgH, store.KindHub, "", store.RoleAdmin)},
	{"M-read", caller(orgM, store.KindMember, "DE", store.RoleRead)},
	{"M-write", caller(orgM, store.KindMember, "DE", store.RoleWrite)},
	{"M-admin", caller(orgM, store.KindMember, "DE", store.RoleAdmin)},
	{"N-read", caller(orgN, store.KindMember, "FR", store.RoleRead)},
	{"S-read", caller(orgS, store.KindPartner, "", store.RoleRead)},
	{"S-admin", caller(orgS, store.KindPartner, "", store.RoleAdmin)},
}

// matrixGrids: restriction (the Fusion extension's body) → one line per
// reader, one Y/N per column:
//
//	CLEAR WHITE1 GREEN GREEN1 AMBER AMBER1 STRICT RED RED1 | none under default "" clear green amber amber+strict red
var matrixGrids = []struct {
	name  string
	ext   string
	lines string
}{
	{"no restriction", "", `
P-read   YYYYNNNNN NYYNNN
P-write  YYYYNNNNN NYYNNN
P-admin  YYYYNNNNN NYYNNN
Q-read   YYYYNNNNN NYYNNN
H-read   YYYYYYYNN YYYYYN
H-write  YYYYYYYNN YYYYYN
H-admin  YYYYYYYYY YYYYYY
M-read   YYYYYYNNN YYYYNN
M-write  YYYYYYNNN YYYYNN
M-admin  YYYYYYNNN YYYYNN
N-read   YYYYYYNNN YYYYNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"recipients P and M", `,"recipients":["` + orgP + `","` + orgM + `"]`, `
P-read   YYYYNNNYY NYYNNY
P-write  YYYYNNNYY NYYNNY
P-admin  YYYYNNNYY NYYNNY
Q-read   NNNNNNNNN NNNNNN
H-read   NNNNNNNNN NNNNNN
H-write  NNNNNNNNN NNNNNN
H-admin  YYYYYYYYY YYYYYY
M-read   YYYYYYNYY YYYYNY
M-write  YYYYYYNYY YYYYNY
M-admin  YYYYYYNYY YYYYNY
N-read   NNNNNNNNN NNNNNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"recipients H and N", `,"recipients":["` + orgH + `","` + orgN + `"]`, `
P-read   NNNNNNNNN NNNNNN
P-write  NNNNNNNNN NNNNNN
P-admin  NNNNNNNNN NNNNNN
Q-read   NNNNNNNNN NNNNNN
H-read   YYYYYYYYY YYYYYY
H-write  YYYYYYYYY YYYYYY
H-admin  YYYYYYYYY YYYYYY
M-read   NNNNNNNNN NNNNNN
M-write  NNNNNNNNN NNNNNN
M-admin  NNNNNNNNN NNNNNN
N-read   YYYYYYNYY YYYYNY
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"allow DE", `,"allow_countries":["DE"]`, `
P-read   YYYYNNNNN NYYNNN
P-write  YYYYNNNNN NYYNNN
P-admin  YYYYNNNNN NYYNNN
Q-read   YYYYNNNNN NYYNNN
H-read   YYYYYYYNN YYYYYN
H-write  YYYYYYYNN YYYYYN
H-admin  YYYYYYYYY YYYYYY
M-read   YYYYYYNNN YYYYNN
M-write  YYYYYYNNN YYYYNN
M-admin  YYYYYYNNN YYYYNN
N-read   NNNNNNNNN NNNNNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"allow FR and IT", `,"allow_countries":["FR","IT"]`, `
P-read   YYYYNNNNN NYYNNN
P-write  YYYYNNNNN NYYNNN
P-admin  YYYYNNNNN NYYNNN
Q-read   YYYYNNNNN NYYNNN
H-read   YYYYYYYNN YYYYYN
H-write  YYYYYYYNN YYYYYN
H-admin  YYYYYYYYY YYYYYY
M-read   NNNNNNNNN NNNNNN
M-write  NNNNNNNNN NNNNNN
M-admin  NNNNNNNNN NNNNNN
N-read   YYYYYYNNN YYYYNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"deny DE", `,"deny_countries":["DE"]`, `
P-read   YYYYNNNNN NYYNNN
P-write  YYYYNNNNN NYYNNN
P-admin  YYYYNNNNN NYYNNN
Q-read   YYYYNNNNN NYYNNN
H-read   YYYYYYYNN YYYYYN
H-write  YYYYYYYNN YYYYYN
H-admin  YYYYYYYYY YYYYYY
M-read   NNNNNNNNN NNNNNN
M-write  NNNNNNNNN NNNNNN
M-admin  NNNNNNNNN NNNNNN
N-read   YYYYYYNNN YYYYNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"deny FR", `,"deny_countries":["FR"]`, `
P-read   YYYYNNNNN NYYNNN
P-write  YYYYNNNNN NYYNNN
P-admin  YYYYNNNNN NYYNNN
Q-read   YYYYNNNNN NYYNNN
H-read   YYYYYYYNN YYYYYN
H-write  YYYYYYYNN YYYYYN
H-admin  YYYYYYYYY YYYYYY
M-read   YYYYYYNNN YYYYNN
M-write  YYYYYYNNN YYYYNN
M-admin  YYYYYYNNN YYYYNN
N-read   NNNNNNNNN NNNNNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"recipients P and M, deny DE", `,"recipients":["` + orgP + `","` + orgM + `"],"deny_countries":["DE"]`, `
P-read   YYYYNNNYY NYYNNY
P-write  YYYYNNNYY NYYNNY
P-admin  YYYYNNNYY NYYNNY
Q-read   NNNNNNNNN NNNNNN
H-read   NNNNNNNNN NNNNNN
H-write  NNNNNNNNN NNNNNN
H-admin  YYYYYYYYY YYYYYY
M-read   NNNNNNNNN NNNNNN
M-write  NNNNNNNNN NNNNNN
M-admin  NNNNNNNNN NNNNNN
N-read   NNNNNNNNN NNNNNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
	{"allow DE, deny FR, recipients M and N", `,"allow_countries":["DE"],"deny_countries":["FR"],"recipients":["` + orgM + `","` + orgN + `"]`, `
P-read   NNNNNNNNN NNNNNN
P-write  NNNNNNNNN NNNNNN
P-admin  NNNNNNNNN NNNNNN
Q-read   NNNNNNNNN NNNNNN
H-read   NNNNNNNNN NNNNNN
H-write  NNNNNNNNN NNNNNN
H-admin  YYYYYYYYY YYYYYY
M-read   YYYYYYNYY YYYYNY
M-write  YYYYYYNYY YYYYNY
M-admin  YYYYYYNYY YYYYNY
N-read   NNNNNNNNN NNNNNN
S-read   YYYYYYYYY YYYYYY
S-admin  YYYYYYYYY YYYYYY`},
}

func TestAuthorisationMatrix(t *testing.T) {
	cells := 0
	for gi, grid := range matrixGrids {
		lines := strings.Split(strings.TrimSpace(grid.lines), "\n")
		if len(lines) != len(matrixRows) {
			t.Fatalf("grid %q has %d lines, want %d", grid.name, len(lines), len(matrixRows))
		}
		for ri, line := range lines {
			fields := strings.Fields(line)
			want := strings.Join(fields[1:], "")
			if fields[0] != matrixRows[ri].name || len(want) != len(matrixColumns) {
				t.Fatalf("grid %q line %d %q: want reader %s and %d cells", grid.name, ri, line, matrixRows[ri].name, len(matrixColumns))
			}
			for ci, col := range matrixColumns {
				var extra []string
				if grid.ext != "" {
					extra = append(extra, ext(grid.ext))
				}
				id := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", gi*1000+ci)
				raw := indicator(id, col.markings, extra...)
				f := mustFacts(t, raw)
				got := CanRead(matrixRows[ri].c, version(raw), &f, CollectionDefault(col.def), nil)
				if got != (want[ci] == 'Y') {
					t.Errorf("%s / %s / %s: CanRead = %v, want %c", grid.name, matrixRows[ri].name, col.name, got, want[ci])
				}
				// Redact agrees: an allowed object comes out whole (no
				// granular markings or references here); a denied one is
				// never asked for.
				if got {
					out, ok := Redact(matrixRows[ri].c, version(raw), &f, nil)
					if !ok || string(out) != raw {
						t.Errorf("%s / %s / %s: Redact changed an unmarked object: %v %s", grid.name, matrixRows[ri].name, col.name, ok, out)
					}
				}
				cells++
			}
		}
	}
	if want := len(matrixGrids) * len(matrixRows) * len(matrixColumns); cells != want {
		t.Fatalf("checked %d cells, want %d", cells, want)
	}
}

// Several TLP markings: a reader must be admitted by every one (for the
// nested levels CLEAR ⊇ GREEN ⊇ AMBER ⊇ AMBER+STRICT, the most restrictive
// wins); non-TLP markings do not count.
func TestMostRestrictiveMarking(t *testing.T) {
	const stmt = "marking-definition--d771aceb-3148-4315-b4b4-130b888533d0"
	for _, tc := range []struct {
		markings []string
		want     Level
		partner  bool // partnerP may read
		member   bool // memberM may read
		hub      bool // hubRead may read
	}{
		{[]string{TLP2GreenID, TLP2RedID}, LevelRed, false, false, false},
		{[]string{TLP2RedID, TLP2GreenID}, LevelRed, false, false, false},
		{[]string{TLP2ClearID, TLP2AmberID}, LevelAmber, false, true, true},
		{[]string{TLP1WhiteID, TLP2AmberStrictID}, LevelAmberStrict, false, false, true},
		{[]string{TLP1GreenID, TLP2ClearID}, LevelGreen, true, true, true},
		{[]string{TLP1AmberID, TLP2AmberStrictID, TLP1GreenID}, LevelAmberStrict, false, false, true},
		{[]string{stmt, TLP2GreenID}, LevelGreen, true, true, true},
		{[]string{stmt}, LevelNone, false, true, true}, // default AMBER
		// An id that differs from a TLP id in one character is not TLP.
		{[]string{"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ec"}, LevelNone, false, true, true},
	} {
		raw := indicator("indicator--00000000-0000-4000-8000-000000000001", tc.markings)
		f := mustFacts(t, raw)
		if f.TLP.Max() != tc.want {
			t.Errorf("%v: TLP = %v, want %v", tc.markings, f.TLP, tc.want)
		}
		for _, r := range []struct {
			c    Caller
			want bool
		}{{partnerP, tc.partner}, {memberM, tc.member}, {hubRead, tc.hub}} {
			if got := CanRead(r.c, version(raw), &f, LevelNone, nil); got != r.want {
				t.Errorf("%v: %s reads = %v, want %v", tc.markings, r.c.Org.Kind, got, r.want)
			}
		}
	}
}

// Escaped characters in a marking id must not hide a TLP:RED marking.
func TestEscapedMarkingID(t *testing.T) {
	red := strings.Replace(TLP2RedID, "-", `\u002d`, 3)
	raw := `{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001","object_marking_refs":["` + red + `"]}`
	f := mustFacts(t, raw)
	if f.TLP != LevelsOf(LevelRed) {
		t.Fatalf("TLP = %v, want RED", f.TLP)
	}
	if CanRead(memberM, version(raw), &f, LevelClear, nil) {
		t.Fatal("a member reads a TLP:RED object it is not named for")
	}
}

func TestDecisionEdges(t *testing.T) {
	green := indicator("indicator--00000000-0000-4000-8000-000000000001", []string{TLP2GreenID})
	clear := indicator("indicator--00000000-0000-4000-8000-000000000002", []string{TLP2ClearID})
	allowDE := indicator("indicator--00000000-0000-4000-8000-000000000003", []string{TLP2ClearID}, ext(`,"allow_countries":["DE"]`))
	denyDE := indicator("indicator--00000000-0000-4000-8000-000000000004", []string{TLP2ClearID}, ext(`,"deny_countries":["DE"]`))
	idRed := indicator("indicator--00000000-0000-4000-8000-000000000005", []string{TLP2ClearID},
		`"granular_markings":[{"marking_ref":"`+TLP2RedID+`","selectors":["id"]}]`)
	typeStrict := indicator("indicator--00000000-0000-4000-8000-000000000006", []string{TLP2ClearID},
		`"granular_markings":[{"marking_ref":"`+TLP2AmberStrictID+`","selectors":["type"]}]`)
	noCountry := caller(orgM, store.KindMember, "", store.RoleRead)
	lowerCountry := caller(orgM, store.KindMember, "de", store.RoleRead)
	observer := caller(orgP, "observer", "", store.RoleAdmin)
	anonymous := Caller{}
	operator := Caller{Org: store.Org{Name: "local operator", Kind: store.KindHub}, Role: store.RoleAdmin}
	noID := Caller{Org: store.Org{Kind: store.KindHub}, Role: store.RoleRead}

	for _, tc := range []struct {
		name   string
		c      Caller
		raw    string
		source string
		want   bool
	}{
		{"anonymous, clear", anonymous, clear, orgS, false},
		{"anonymous, operator-loaded", anonymous, clear, "", false},
		{"hub without id, clear", noID, clear, "", false},
		{"local operator (hub admin without id)", operator, green, "", true},
		{"unknown kind, clear", observer, clear, orgS, true},
		{"unknown kind, green", observer, green, orgS, false},
		{"member without country, no country rule", noCountry, clear, orgS, true},
		{"member without country, allow list", noCountry, allowDE, orgS, false},
		{"member without country, deny list", noCountry, denyDE, orgS, false},
		{"member with lower-case country, allow DE", lowerCountry, allowDE, orgS, true},
		{"member with lower-case country, deny DE", lowerCountry, denyDE, orgS, false},
		{"id marked RED: partner", partnerP, idRed, orgS, false},
		{"id marked RED: member", memberM, idRed, orgS, false},
		{"id marked RED: hub admin", hubAdmin, idRed, orgS, true},
		{"id marked RED: source", sourceS, idRed, orgS, true},
		{"type marked AMBER+STRICT: hub", hubRead, typeStrict, orgS, true},
		{"type marked AMBER+STRICT: member", memberM, typeStrict, orgS, false},
		{"reader is the source", partnerP, denyDE, orgP, true},
	} {
		f := mustFacts(t, tc.raw)
		v := &store.Version{Source: tc.source, Raw: []byte(tc.raw)}
		if got := CanRead(tc.c, v, &f, LevelNone, nil); got != tc.want {
			t.Errorf("%s: CanRead = %v, want %v", tc.name, got, tc.want)
		}
	}

	// Missing or broken facts: only the source and hub admins.
	broken, err := FactsOf([]byte(`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000001",` + ext(`,"allow_countries":["de"]`) + `}`))
	if err == nil || !broken.Broken {
		t.Fatalf("bad country code: err %v, broken %v", err, broken.Broken)
	}
	v := version(clear)
	for _, tc := range []struct {
		c    Caller
		f    *Facts
		want bool
	}{
		{partnerP, nil, false}, {hubRead, nil, false}, {hubAdmin, nil, true}, {sourceS, nil, true},
		{memberM, &broken, false}, {hubRead, &broken, false}, {hubAdmin, &broken, true}, {sourceS, &broken, true},
	} {
		if got := CanRead(tc.c, v, tc.f, LevelClear, nil); got != tc.want {
			t.Errorf("facts %v, %s/%s: CanRead = %v, want %v", tc.f, tc.c.Org.Kind, tc.c.Role, got, tc.want)
		}
	}
	if CanRead(hubAdmin, nil, &broken, LevelClear, nil) {
		t.Error("CanRead allowed a nil version")
	}
	// An unparsable collection default fails closed (RED).
	if CollectionDefault("purple") != LevelRed || CollectionDefault("") != LevelAmber || CollectionDefault("TLP:Amber+Strict") != LevelAmberStrict {
		t.Error("CollectionDefault")
	}
}

// The TLP ids agree with the stix package's table (written independently
// from the same spec sections).
func TestTLPIDsAgreeWithStix(t *testing.T) {
	for id, want := range map[string]Level{
		TLP1WhiteID: LevelClear, TLP1GreenID: LevelGreen, TLP1AmberID: LevelAmber, TLP1RedID: LevelRed,
		TLP2ClearID: LevelClear, TLP2GreenID: LevelGreen, TLP2AmberID: LevelAmber, TLP2AmberStrictID: LevelAmberStrict, TLP2RedID: LevelRed,
	} {
		if LevelOf(id) != want {
			t.Errorf("LevelOf(%s) = %v, want %v", id, LevelOf(id), want)
		}
		name, _, ok := stixTLPLevel(id)
		if !ok {
			t.Errorf("stix does not know %s", id)
			continue
		}
		if name == "white" {
			name = "clear"
		}
		if name != want.name() {
			t.Errorf("%s: stix says %q, policy %q", id, name, want.name())
		}
	}
	for l := LevelClear; l <= LevelRed; l++ {
		if LevelOf(l.MarkingID()) != l {
			t.Errorf("MarkingID(%v) round trip", l)
		}
		back, err := ParseLevel(l.String())
		if err != nil || back != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), back, err)
		}
	}
	if _, err := ParseLevel("amber strict"); err == nil {
		t.Error("ParseLevel accepted a bad level")
	}
}

// RED names recipients, so RED with a lower marking admits only the
// recipients the lower marking admits too.
func TestRedWithAnotherMarking(t *testing.T) {
	recipients := ext(`,"recipients":["` + orgP + `","` + orgM + `","` + orgH + `"]`)
	for _, tc := range []struct {
		markings             []string
		partner, member, hub bool
	}{
		{[]string{TLP2AmberID, TLP2RedID}, false, true, true},
		{[]string{TLP2RedID, TLP2AmberStrictID}, false, false, true},
		{[]string{TLP2GreenID, TLP1RedID}, true, true, true},
		{[]string{TLP2RedID}, true, true, true},
	} {
		raw := indicator("indicator--00000000-0000-4000-8000-000000000001", tc.markings, recipients)
		f := mustFacts(t, raw)
		for _, r := range []struct {
			c    Caller
			want bool
		}{{partnerP, tc.partner}, {memberM, tc.member}, {hubRead, tc.hub}, {memberN, false}, {hubAdmin, true}} {
			if got := CanRead(r.c, version(raw), &f, LevelNone, nil); got != r.want {
				t.Errorf("%v: %s %s reads = %v, want %v", tc.markings, r.c.Org.Kind, r.c.Org.ID, got, r.want)
			}
		}
	}
	// An invalid collection default fails closed.
	raw := indicator("indicator--00000000-0000-4000-8000-000000000002", nil)
	f := mustFacts(t, raw)
	if CanRead(hubRead, version(raw), &f, Level(9), nil) {
		t.Error("an invalid default admitted the hub")
	}
}
