package policy

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// FuzzFactsOf feeds FactsOf (and Redact, on what FactsOf accepts) with
// arbitrary bytes; the seed corpus is in testdata/fuzz/FuzzFactsOf.
func FuzzFactsOf(f *testing.F) {
	f.Add([]byte(granularObject(gm(TLP2RedID, "pattern", "description"), gm(TLP2AmberID, "name", "indicator_types.[1]"))))
	f.Add([]byte(ExtensionDefinition()))
	// Targets for references: ids ending in an even digit are visible.
	look := func(id string) (Target, bool) {
		if id == "" || (id[len(id)-1]-'0')%2 != 0 {
			return Target{}, false
		}
		return Target{Facts: &Facts{TLP: LevelsOf(LevelClear)}}, true
	}
	readers := []Caller{partnerP, memberM, hubRead, memberN}
	f.Fuzz(func(t *testing.T, data []byte) {
		facts, err := FactsOf(data)
		if err != nil {
			var ve *stix.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *stix.ValidationError: %v", err, err)
			}
			if !facts.Broken {
				t.Fatal("an error without broken facts")
			}
			for _, c := range readers {
				if CanRead(c, &store.Version{Source: orgS, Raw: data}, &facts, LevelClear, look) {
					t.Fatal("broken facts are visible")
				}
			}
			return
		}
		if !json.Valid(data) {
			t.Fatalf("FactsOf accepted JSON encoding/json rejects: %q", data)
		}
		b, err := facts.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var back Facts
		if err := back.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(back, facts) {
			t.Fatalf("binary round trip: %v\n%+v\n%+v", err, facts, back)
		}
		v := &store.Version{Source: orgS, Raw: data}
		for _, c := range readers {
			if !CanRead(c, v, &facts, LevelClear, look) {
				continue
			}
			out, ok := Redact(c, v, &facts, look)
			if !ok {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("Redact made invalid JSON for %s:\n in %s\nout %s", c.Org.ID, data, out)
			}
			again, err := FactsOf(out)
			if err != nil {
				t.Fatalf("FactsOf(redacted copy): %v\n in %s\nout %s", err, data, out)
			}
			// A second redaction has nothing left to remove.
			if out2, ok := Redact(c, &store.Version{Source: orgS, Raw: out}, &again, look); !ok || string(out2) != string(out) {
				t.Fatalf("redaction is not idempotent:\n in %s\nout %s\nout2 %s", data, out, out2)
			}
		}
	})
}

// FuzzUnmarshalBinary: stored facts that are corrupt are an error, never a
// panic, and what decodes encodes back to the same facts.
func FuzzUnmarshalBinary(f *testing.F) {
	for _, raw := range []string{
		granularObject(gm(TLP2RedID, "pattern")),
		indicator("indicator--00000000-0000-4000-8000-000000000001", []string{TLP1AmberID}, ext(`,"allow_countries":["DE"],"recipients":["`+orgM+`"]`)),
		`{"type":"report","id":"report--00000000-0000-4000-8000-0000000000e1","object_refs":["` + idGreen + `",7,"` + idAmber + `"]}`,
	} {
		fa, _ := FactsOf([]byte(raw))
		b, _ := fa.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fa Facts
		if err := fa.UnmarshalBinary(data); err != nil {
			return
		}
		b, err := fa.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var fb Facts
		if err := fb.UnmarshalBinary(b); err != nil || !reflect.DeepEqual(fa, fb) {
			t.Fatalf("re-encoding changed the facts: %v", err)
		}
	})
}

// The seed corpus holds the cases it was written for.
func TestFuzzSeedsDecode(t *testing.T) {
	for name, wantErr := range map[string]string{
		"duplicate-key":         "duplicate member name",
		"duplicate-escaped-key": "duplicate member name",
		"lone-surrogate":        "unpaired surrogate",
		"deep":                  "nesting too deep",
		"not-an-object":         "not a JSON object",
		"trailing-garbage":      "data after the JSON value",
		"ext-bad-country":       "upper case",
		"unaddressable-ref":     "cannot express",
		"bad-selector":          "empty selector component",
	} {
		data := readSeed(t, name)
		if _, err := FactsOf(data); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: %v, want an error with %q", name, err, wantErr)
		}
	}
	f, err := FactsOf(readSeed(t, "surrogate-pair"))
	if err != nil || len(f.Granular) != 1 {
		t.Errorf("surrogate pair: %v", err)
	}
}

func readSeed(t *testing.T, name string) []byte {
	t.Helper()
	data := mustRead(t, "testdata/fuzz/FuzzFactsOf/"+name)
	lines := strings.SplitN(string(data), "\n", 3)
	if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
		t.Fatalf("%s: not a fuzz corpus file", name)
	}
	s, err := unquoteGo(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}
