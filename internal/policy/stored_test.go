package policy

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"

	"pgregory.net/rapid"
)

// Facts stored at write time must give exactly the decisions facts read
// from Raw give: the codec round trip is lossless for every object, and a
// Filter reading stored facts returns what one reading Raw returns.

// storedRoundTrip checks that the stored form of raw decodes to FactsOf(raw).
func storedRoundTrip(t interface {
	Helper()
	Fatalf(string, ...any)
}, id, typ string, raw []byte) {
	t.Helper()
	want, _ := FactsOf(raw)
	o := &stix.Object{ID: id, Type: typ, Raw: raw}
	b := StoredFacts(o)
	if len(b) == 0 {
		t.Fatalf("StoredFacts(%s) is empty", raw)
	}
	if !bytes.Equal(o.FactsBlob(), b) {
		t.Fatalf("FactsBlob differs from StoredFacts: the policy's facts function is not installed")
	}
	got := VersionFacts(&store.Version{ID: id, Type: typ, Facts: b})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored facts of %s decode to\n%+v\nFactsOf gives\n%+v", raw, got, want)
	}
	// Without stored facts, Raw is read.
	if got := VersionFacts(&store.Version{ID: id, Type: typ, Raw: raw}); !reflect.DeepEqual(got, want) {
		t.Fatalf("VersionFacts without a blob: %+v, want %+v", got, want)
	}
}

func TestPropertyStoredFacts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		typ := rapid.SampledFrom([]string{"indicator", "relationship", "report", "marking-definition"}).Draw(t, "type")
		id := typ + "--00000000-0000-4000-8000-000000000001"
		if typ == "marking-definition" && rapid.Bool().Draw(t, "tlp") {
			id = rapid.SampledFrom(genMarkings).Draw(t, "marking")
		}
		o := drawObj(t, id, typ)
		refs := []string{idGreen, idAmber, "relationship--00000000-0000-4000-8000-000000000002", "not-an-id"}
		if typ == "relationship" {
			o.endpoints = []string{rapid.SampledFrom(refs).Draw(t, "src"), rapid.SampledFrom(refs).Draw(t, "dst")}
		}
		o.objectRefs = subset(t, refs, "object_refs")
		if rapid.Bool().Draw(t, "creator") {
			o.createdBy = rapid.SampledFrom(refs).Draw(t, "created_by")
		}
		raw := o.json()
		if rapid.IntRange(0, 4).Draw(t, "granular") == 0 {
			raw = raw[:len(raw)-1] + `,"granular_markings":[` + gm(rapid.SampledFrom(genMarkings).Draw(t, "gm"),
				rapid.SampledFrom([]string{"object_refs", "id", "type", "object_refs.[0]", "bad..sel"}).Draw(t, "sel")) + `]}`
		}
		if rapid.IntRange(0, 9).Draw(t, "garbage") == 0 {
			raw = raw[:rapid.IntRange(0, len(raw)).Draw(t, "cut")]
		}
		// The version's id and type usually match the JSON's; when they do
		// not, the blob carries the JSON's.
		vid, vtyp := id, typ
		if rapid.IntRange(0, 5).Draw(t, "mismatch") == 0 {
			vid, vtyp = "indicator--00000000-0000-4000-8000-0000000000ff", "indicator"
		}
		storedRoundTrip(t, vid, vtyp, []byte(raw))
	})
}

func TestStoredFactsOASIS(t *testing.T) {
	for _, name := range []string{"apt1.json", "poisonivy.json", "interop-objectmarking-test.json",
		"indicator-to-campaign-relationship.json", "malicious-email-indicator-with-attachment.json"} {
		for _, raw := range bundleObjects(t, name) {
			o, err := stix.Parse(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			storedRoundTrip(t, o.ID, o.Type, o.Raw)
		}
	}
}

// TestVersionFactsFallback: a version stored before facts were kept (nil)
// or in another format reads Raw; a corrupt blob in the current format
// fails closed whatever Raw says.
func TestVersionFactsFallback(t *testing.T) {
	raw := []byte(indicator(idGreen, []string{TLP2GreenID}))
	want, err := FactsOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	good := StoredFacts(&stix.Object{ID: idGreen, Type: "indicator", Raw: raw})
	other := append([]byte{factsFormat + 1}, good[1:]...)
	for _, tc := range []struct {
		name  string
		facts []byte
		raw   []byte
		want  Facts
	}{
		{"no blob", nil, raw, want},
		{"older format", other, raw, want},
		{"no blob, no raw", nil, nil, brokenFacts("", "")},
		{"truncated", good[:len(good)-1], raw, brokenFacts(idGreen, "indicator")},
		{"trailing byte", append(slices.Clone(good), 0), raw, brokenFacts(idGreen, "indicator")},
		{"bad flags", append([]byte{factsFormat, good[1], good[2], 0x80}, good[4:]...), raw, brokenFacts(idGreen, "indicator")},
	} {
		got := VersionFacts(&store.Version{ID: idGreen, Type: "indicator", Raw: tc.raw, Facts: tc.facts})
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
		v := &store.Version{ID: idGreen, Source: orgS}
		if tc.want.Broken && CanRead(memberM, v, &got, LevelAmber, nil) {
			t.Errorf("%s: a member may read a version with unreadable facts", tc.name)
		}
	}
}

// FuzzVersionFacts: any stored blob gives facts or fails closed, never a
// panic; what decodes encodes back to the same facts.
func FuzzVersionFacts(f *testing.F) {
	for _, raw := range []string{
		indicator(idGreen, []string{TLP2GreenID}),
		granularObject(gm(TLP2RedID, "pattern")),
		indicator(idAmber, []string{TLP1AmberID}, ext(`,"allow_countries":["DE"],"deny_countries":["FR"],"recipients":["`+orgM+`"]`)),
		relationship("relationship--00000000-0000-4000-8000-0000000000b1", idGreen, idAmber),
		`{"type":"report","id":"report--00000000-0000-4000-8000-0000000000e1","created_by_ref":"` + idGreen + `","object_refs":["` + idGreen + `",7,"` + idAmber + `"]}`,
	} {
		fa, _ := FactsOf([]byte(raw))
		f.Add(StoredFacts(&stix.Object{ID: fa.ID, Type: fa.Type, Raw: []byte(raw)}), fa.ID, fa.Type)
	}
	f.Fuzz(func(t *testing.T, data []byte, id, typ string) {
		v := &store.Version{ID: id, Type: typ, Facts: data}
		fa := VersionFacts(v)
		if fa.Broken {
			if CanRead(memberM, v, &fa, LevelClear, nil) {
				t.Fatal("broken facts readable")
			}
			return
		}
		b, err := fa.appendBinary(nil, fa.ID == id && fa.Type == typ)
		if err != nil {
			t.Fatal(err)
		}
		if fb := VersionFacts(&store.Version{ID: id, Type: typ, Facts: b}); !reflect.DeepEqual(fa, fb) {
			t.Fatalf("re-encoding changed the facts:\n%+v\n%+v", fa, fb)
		}
	})
}

// TestPropertyFilterStoredEquivalence: random object graphs stored twice
// in SQLite, once with facts and once as rows stored before facts were
// kept (no facts function installed); every reader gets byte-identical
// pages from both. A third copy with corrupt blobs shows non-sources
// nothing.
func TestPropertyFilterStoredEquivalence(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Cleanup(func() { stix.SetFactsFunc(StoredFacts) })
	n := 0
	rapid.Check(t, func(t *rapid.T) {
		def := rapid.SampledFrom(genDefaults).Draw(t, "default")
		var objs []*oObj
		nBase := rapid.IntRange(1, 5).Draw(t, "objects")
		var ids []string
		for i := 0; i < nBase; i++ {
			o := drawObj(t, fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", i), "indicator")
			objs = append(objs, o)
			ids = append(ids, o.id)
		}
		ids = append(ids, "malware--00000000-0000-4000-8000-00000000dead") // not stored
		for i := 0; i < rapid.IntRange(0, 3).Draw(t, "relationships"); i++ {
			o := drawObj(t, fmt.Sprintf("relationship--00000000-0000-4000-8000-%012d", i), "relationship")
			o.endpoints = []string{rapid.SampledFrom(ids).Draw(t, "src"), rapid.SampledFrom(ids).Draw(t, "dst")}
			objs = append(objs, o)
			ids = append(ids, o.id)
		}
		for i := 0; i < rapid.IntRange(0, 2).Draw(t, "reports"); i++ {
			o := drawObj(t, fmt.Sprintf("report--00000000-0000-4000-8000-%012d", i), "report")
			o.objectRefs = rapid.SliceOfNDistinct(rapid.SampledFrom(ids), 1, len(ids), rapid.ID[string]).Draw(t, "object_refs")
			if rapid.Bool().Draw(t, "creator") {
				o.createdBy = rapid.SampledFrom(ids).Draw(t, "created_by")
			}
			objs = append(objs, o)
		}
		corrupt := func(o *stix.Object) []byte {
			b := StoredFacts(o)
			return b[:len(b)-1]
		}
		colls := make([]store.Collection, 3)
		for i, fn := range []func(*stix.Object) []byte{StoredFacts, nil, corrupt} {
			n++
			colls[i] = store.Collection{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), APIRoot: store.DefaultAPIRoot,
				Title: "c", DefaultTLP: def}
			if err := db.CreateCollection(ctx, colls[i]); err != nil {
				t.Fatal(err)
			}
			stix.SetFactsFunc(fn)
			for _, o := range objs {
				so, err := stix.Parse([]byte(o.json()))
				if err != nil {
					t.Fatalf("%s: %v", o.json(), err)
				}
				if _, err := db.Put(ctx, colls[i].ID, o.source, []*stix.Object{so}); err != nil {
					t.Fatal(err)
				}
			}
		}
		stix.SetFactsFunc(StoredFacts)
		c := drawReader(t).caller()
		read := func(col store.Collection) []store.Version {
			flt := NewFilter(db, c, col)
			var out []store.Version
			q := store.Query{Limit: rapid.IntRange(1, 4).Draw(t, "limit")}
			for {
				p, err := db.List(ctx, col.ID, q)
				if err != nil {
					t.Fatal(err)
				}
				if len(p.Versions) == 0 {
					return out
				}
				last := p.Versions[len(p.Versions)-1].DateAdded
				vis, err := flt.Visible(ctx, p.Versions)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, vis...)
				if !p.More {
					return out
				}
				q.AddedAfter = last
			}
		}
		stored, old, bad := read(colls[0]), read(colls[1]), read(colls[2])
		if len(stored) != len(old) {
			t.Fatalf("stored facts show %d versions, Raw %d", len(stored), len(old))
		}
		for i := range stored {
			if stored[i].ID != old[i].ID || !bytes.Equal(stored[i].Raw, old[i].Raw) {
				t.Fatalf("version %d: stored facts give %s\n%s\nRaw gives %s\n%s", i, stored[i].ID, stored[i].Raw, old[i].ID, old[i].Raw)
			}
		}
		for _, v := range bad {
			if !c.IsHubAdmin() && v.Source != c.Org.ID {
				t.Fatalf("%s with corrupt facts shown to %+v", v.ID, c)
			}
		}
		if c.IsHubAdmin() && len(bad) != len(objs) {
			t.Fatalf("hub admin sees %d of %d", len(bad), len(objs))
		}
	})
}

// TestValidateObjectCachesFacts: the facts ValidateObject reads are the
// ones Put stores, without a second parse; a Raw replaced afterwards is
// not stored with the old facts.
func TestValidateObjectCachesFacts(t *testing.T) {
	o, err := stix.Parse([]byte(indicator(idAmber, []string{TLP2AmberID}, ext(`,"deny_countries":["FR"]`))))
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateObject(o); err != nil {
		t.Fatal(err)
	}
	want := StoredFacts(o)
	stix.SetFactsFunc(nil) // nothing to compute with: only the cache answers
	defer stix.SetFactsFunc(StoredFacts)
	if got := o.FactsBlob(); !bytes.Equal(got, want) {
		t.Fatalf("after ValidateObject, FactsBlob %x, want %x", got, want)
	}
	o.Raw = slices.Clone(o.Raw)
	if got := o.FactsBlob(); got != nil {
		t.Fatalf("a new Raw kept the facts cached for the old one: %x", got)
	}
}
