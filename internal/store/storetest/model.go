package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// testModel compares the store with a plain in-memory model of the
// contract under random sequences of Puts and Deletes on a few objects,
// checking random paged listings after each step. Each rapid run uses a
// fresh collection of the one store.
func testModel(t *testing.T, s store.Store) {
	rapid.Check(t, func(rt *rapid.T) {
		m := &model{s: s, coll: newModelCollection(rt, s)}
		rt.Repeat(map[string]func(*rapid.T){
			"put":    m.put,
			"delete": m.delete,
			"":       m.check,
		})
	})
}

// modelObjects are the objects the model plays with: three indicators,
// a malware and an SCO (whose version key is always zero).
var modelObjects = []struct{ id, typ string }{
	{"indicator--00000000-0000-4000-8000-000000000001", "indicator"},
	{"indicator--00000000-0000-4000-8000-000000000002", "indicator"},
	{"indicator--00000000-0000-4000-8000-000000000003", "indicator"},
	{"malware--00000000-0000-4000-8000-000000000004", "malware"},
	{"ipv4-addr--00000000-0000-4000-8000-000000000005", "ipv4-addr"},
}

var modelBase = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type modelVersion struct {
	id, typ, spec string
	key           time.Time
	added         time.Time
}

type model struct {
	s        store.Store
	coll     string
	versions []modelVersion // in date_added order
}

func newModelCollection(rt *rapid.T, s store.Store) string {
	id := newUUID()
	if err := s.CreateCollection(context.Background(), store.Collection{ID: id, APIRoot: store.DefaultAPIRoot, Title: "model"}); err != nil {
		rt.Fatalf("CreateCollection: %v", err)
	}
	return id
}

func (m *model) find(id string, key time.Time) int {
	return slices.IndexFunc(m.versions, func(v modelVersion) bool { return v.id == id && v.key.Equal(key) })
}

// bounds returns the first and last version keys of an object.
func (m *model) bounds(id string) (first, last time.Time, ok bool) {
	for _, v := range m.versions {
		if v.id != id {
			continue
		}
		if !ok || v.key.Before(first) {
			first = v.key
		}
		if !ok || v.key.After(last) {
			last = v.key
		}
		ok = true
	}
	return first, last, ok
}

func (m *model) selects(v modelVersion, vm store.VersionMatch) bool {
	if vm.IsZero() {
		vm.Last = true
	}
	first, last, _ := m.bounds(v.id)
	return vm.All || vm.First && v.key.Equal(first) || vm.Last && v.key.Equal(last) ||
		slices.ContainsFunc(vm.At, func(t time.Time) bool { return t.Equal(v.key) })
}

func drawKey(rt *rapid.T, typ, label string) time.Time {
	if typ == "ipv4-addr" {
		return time.Time{}
	}
	return modelBase.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, label)) * time.Millisecond)
}

func drawVersionMatch(rt *rapid.T, label string) store.VersionMatch {
	vm := store.VersionMatch{
		All:   rapid.IntRange(0, 5).Draw(rt, label+".all") == 0,
		First: rapid.Bool().Draw(rt, label+".first"),
		Last:  rapid.Bool().Draw(rt, label+".last"),
	}
	for range rapid.IntRange(0, 2).Draw(rt, label+".at") {
		vm.At = append(vm.At, modelBase.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, label+".at"))*time.Millisecond))
	}
	return vm
}

func drawSpecs(rt *rapid.T, label string) []string {
	return rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"2.0", "2.1"}), 0, 2, rapid.ID[string]).Draw(rt, label)
}

func (m *model) put(rt *rapid.T) {
	n := rapid.IntRange(1, 4).Draw(rt, "batch")
	objs := make([]*stix.Object, n)
	for i := range objs {
		o := rapid.SampledFrom(modelObjects).Draw(rt, "object")
		key := drawKey(rt, o.typ, "key")
		spec := rapid.SampledFrom([]string{"2.0", "2.1"}).Draw(rt, "spec")
		if key.IsZero() {
			objs[i] = sco(o.typ, o.id, "192.0.2.1")
			objs[i].SpecVersion = spec
		} else {
			objs[i] = sdo(o.typ, o.id, spec, modelBase, key, "")
		}
	}
	out, err := m.s.Put(context.Background(), m.coll, "", objs)
	if err != nil {
		rt.Fatalf("Put: %v", err)
	}
	for i, o := range objs {
		exists := m.find(o.ID, o.Version()) >= 0
		if out[i].Added == exists {
			rt.Fatalf("Put %s: added=%v, but the model says it was stored=%v", key(o.ID, o.Version()), out[i].Added, exists)
		}
		if !out[i].Added {
			continue
		}
		if n := len(m.versions); n > 0 && !out[i].DateAdded.After(m.versions[n-1].added) {
			rt.Fatalf("Put %s: date_added %s not after %s", key(o.ID, o.Version()), out[i].DateAdded, m.versions[n-1].added)
		}
		m.versions = append(m.versions, modelVersion{id: o.ID, typ: o.Type, spec: o.SpecVersion, key: o.Version(), added: out[i].DateAdded})
	}
}

func (m *model) delete(rt *rapid.T) {
	o := rapid.SampledFrom(modelObjects).Draw(rt, "object")
	vm := drawVersionMatch(rt, "versions")
	specs := drawSpecs(rt, "specs")
	var keep []modelVersion
	gone := 0
	for _, v := range m.versions {
		if v.id == o.id && m.selects(v, vm) && (len(specs) == 0 || slices.Contains(specs, v.spec)) {
			gone++
			continue
		}
		keep = append(keep, v)
	}
	n, err := m.s.Delete(context.Background(), m.coll, o.id, vm, specs)
	if gone == 0 {
		if !errors.Is(err, store.ErrNotFound) {
			rt.Fatalf("Delete(%s, %+v, %v) = %d, %v; the model matches nothing", o.id, vm, specs, n, err)
		}
		return
	}
	if err != nil || n != gone {
		rt.Fatalf("Delete(%s, %+v, %v) = %d, %v; the model removes %d", o.id, vm, specs, n, err, gone)
	}
	m.versions = keep
}

func (m *model) check(rt *rapid.T) {
	q := store.Query{
		Limit:        rapid.IntRange(1, 4).Draw(rt, "limit"),
		Versions:     drawVersionMatch(rt, "query.versions"),
		SpecVersions: drawSpecs(rt, "query.specs"),
		MetaOnly:     rapid.Bool().Draw(rt, "meta"),
	}
	for _, o := range modelObjects {
		if rapid.IntRange(0, 4).Draw(rt, "query.id") == 0 {
			q.IDs = append(q.IDs, o.id)
		}
	}
	q.Types = rapid.SliceOfNDistinct(rapid.SampledFrom([]string{"indicator", "malware", "ipv4-addr", "tool"}), 0, 2, rapid.ID[string]).Draw(rt, "query.types")
	if len(m.versions) > 0 && rapid.Bool().Draw(rt, "query.after") {
		q.AddedAfter = m.versions[rapid.IntRange(0, len(m.versions)-1).Draw(rt, "query.afterIndex")].added
	}

	var want []string
	for _, v := range m.versions {
		if v.added.After(q.AddedAfter) && m.selects(v, q.Versions) &&
			(len(q.IDs) == 0 || slices.Contains(q.IDs, v.id)) &&
			(len(q.Types) == 0 || slices.Contains(q.Types, v.typ)) &&
			(len(q.SpecVersions) == 0 || slices.Contains(q.SpecVersions, v.spec)) {
			want = append(want, fmt.Sprintf("%s %s", key(v.id, v.key), v.added.Format(time.RFC3339Nano)))
		}
	}
	var got []string
	for pages := 0; ; pages++ {
		if pages > len(m.versions)+1 {
			rt.Fatalf("paging does not end")
		}
		p, err := m.s.List(context.Background(), m.coll, q)
		if err != nil {
			rt.Fatalf("List(%+v): %v", q, err)
		}
		for _, v := range p.Versions {
			got = append(got, fmt.Sprintf("%s %s", key(v.ID, v.Modified), v.DateAdded.Format(time.RFC3339Nano)))
			if q.MetaOnly != (v.Raw == nil) {
				rt.Fatalf("MetaOnly=%v but Raw is %q", q.MetaOnly, v.Raw)
			}
		}
		if more := len(got) < len(want); p.More != more || (more && len(p.Versions) != q.Limit) {
			rt.Fatalf("List(%+v): page of %d with More=%v after %d of %d", q, len(p.Versions), p.More, len(got), len(want))
		}
		if !p.More {
			break
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
	if !slices.Equal(got, want) {
		rt.Fatalf("List(%+v):\n got %q\nwant %q", q, got, want)
	}
}
