package policy

import (
	"fmt"
	"strings"
	"testing"

	"fusion/internal/store"
)

// benchIndicator is a typical partner indicator: TLP 2.0 AMBER, source
// restrictions, a created_by_ref, one granular marking.
func benchIndicator() string {
	return `{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",` +
		`"created_by_ref":"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",` +
		`"created":"2016-04-06T20:03:48.000Z","modified":"2016-04-06T20:03:48.000Z",` +
		`"indicator_types":["malicious-activity"],"name":"Poison Ivy Malware","description":"This file is part of Poison Ivy",` +
		`"pattern":"[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]",` +
		`"pattern_type":"stix","valid_from":"2016-01-01T00:00:00Z",` +
		`"kill_chain_phases":[{"kill_chain_name":"mandiant-attack-lifecycle-model","phase_name":"establish-foothold"}],` +
		`"object_marking_refs":["` + TLP2AmberID + `"],` +
		`"granular_markings":[{"marking_ref":"` + TLP2AmberStrictID + `","selectors":["description"]}],` +
		ext(`,"deny_countries":["RU","BY"],"recipients":["`+orgM+`","`+orgN+`","`+orgH+`"]`) + `}`
}

func benchReport(n int) string {
	var b strings.Builder
	b.WriteString(`{"type":"report","spec_version":"2.1","id":"report--00000000-0000-4000-8000-0000000000e1","name":"r",` +
		`"published":"2024-01-01T00:00:00Z","object_marking_refs":["` + TLP2GreenID + `"],"object_refs":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"indicator--00000000-0000-4000-8000-%012d"`, i)
	}
	b.WriteString(`]}`)
	return b.String()
}

func BenchmarkCanRead(b *testing.B) {
	raw := benchIndicator()
	f := mustFacts(b, raw)
	v := &store.Version{Source: orgS}
	rel := relationship("relationship--00000000-0000-4000-8000-0000000000b1", idGreen, idIdent)
	fr := mustFacts(b, rel)
	w := map[string]Target{}
	for _, r := range []string{indicator(idGreen, []string{TLP2GreenID}), `{"type":"identity","id":"` + idIdent + `","object_marking_refs":["` + TLP2ClearID + `"]}`} {
		fx := mustFacts(b, r)
		w[fx.ID] = Target{Source: orgS, Facts: &fx}
	}
	look := mapLookup(w)
	for _, bc := range []struct {
		name string
		c    Caller
		f    *Facts
		refs Lookup
		want bool
	}{
		{"partner-denied", partnerP, &f, nil, false},
		{"member-allowed", memberM, &f, nil, true},
		{"member-denied-country", caller(orgM, store.KindMember, "RU", store.RoleRead), &f, nil, false},
		{"hub-admin", hubAdmin, &f, nil, true},
		{"relationship-endpoints", partnerP, &fr, look, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if CanRead(bc.c, v, bc.f, LevelAmber, bc.refs) != bc.want {
				b.Fatal("unexpected decision")
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				CanRead(bc.c, v, bc.f, LevelAmber, bc.refs)
			}
		})
	}
}

func BenchmarkFactsOf(b *testing.B) {
	apt1 := bundleObjects(b, "apt1.json")
	var biggest []byte
	for _, o := range apt1 {
		if len(o) > len(biggest) {
			biggest = o
		}
	}
	for _, bc := range []struct {
		name string
		raw  []byte
	}{
		{"indicator", []byte(benchIndicator())},
		{"apt1-largest", biggest},
		{"report-1000-refs", []byte(benchReport(1000))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.raw)))
			for i := 0; i < b.N; i++ {
				if _, err := FactsOf(bc.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	raw := benchIndicator()
	f := mustFacts(b, raw)
	v := &store.Version{Source: orgS, Raw: []byte(raw)}
	rep := benchReport(1000)
	fr := mustFacts(b, rep)
	vr := &store.Version{Source: orgS, Raw: []byte(rep)}
	clear := &Facts{TLP: LevelsOf(LevelClear)}
	half := func(id string) (Target, bool) { // every other object visible
		if (id[len(id)-1]-'0')%2 == 0 {
			return Target{Facts: clear}, true
		}
		return Target{}, false
	}
	for _, bc := range []struct {
		name string
		c    Caller
		v    *store.Version
		f    *Facts
		refs Lookup
	}{
		{"nothing-to-remove", hubRead, v, &f, mapLookup(map[string]Target{"identity--f431f809-377b-45e0-aa1c-6a4751cae5ff": {Facts: &Facts{TLP: LevelsOf(LevelClear)}}})},
		{"granular-removal", memberN, v, &f, nil},
		{"report-1000-refs-half-visible", partnerP, vr, &fr, half},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if _, ok := Redact(bc.c, bc.v, bc.f, bc.refs); !ok {
				b.Fatal("Redact refused")
			}
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				Redact(bc.c, bc.v, bc.f, bc.refs)
			}
		})
	}
}

// BenchmarkFactsUnmarshal is the cost of reading stored facts instead of
// computing them from the object.
func BenchmarkFactsUnmarshal(b *testing.B) {
	f := mustFacts(b, benchIndicator())
	data, err := f.MarshalBinary()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		var g Facts
		if err := g.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
	}
}
