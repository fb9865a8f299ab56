package postgres

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// modelVersion is one version in the reference model.
type modelVersion struct {
	id        string
	key       time.Time
	dateAdded time.Time
}

// TestVersionsAgainstModel runs random sequences of Put and Delete against
// a fresh collection and, after each step, compares every kind of version
// listing (all, first, last, first+last, exact keys) with a plain in-memory
// model. It checks date_added ordering, unchanged detection within and
// across batches, and that the first/last flags follow out-of-order
// arrivals and deletions.
func TestVersionsAgainstModel(t *testing.T) {
	// Each check runs dozens of round trips; 40 checks (instead of rapid's
	// 100) keep the test to a few seconds on a shared machine. An explicit
	// -rapid.checks wins.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
	if !explicit {
		flag.Set("rapid.checks", "40")
	}
	db := openTest(t)
	ctx := context.Background()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		coll := uuidN(1000 + n)
		if err := db.CreateCollection(ctx, store.Collection{ID: coll, APIRoot: "model", Title: coll}); err != nil {
			rt.Fatalf("CreateCollection: %v", err)
		}
		model := map[string]map[int64]modelVersion{} // id -> version key -> version
		genObj := rapid.Custom(func(rt *rapid.T) *stix.Object {
			o := rapid.IntRange(0, 3).Draw(rt, "object")
			if o == 3 {
				return ipv4(t, 3) // no version key
			}
			return indicator(t, o, t0.Add(time.Duration(rapid.IntRange(0, 4).Draw(rt, "minute"))*time.Minute))
		})
		rt.Repeat(map[string]func(*rapid.T){
			"put": func(rt *rapid.T) {
				objs := rapid.SliceOfN(genObj, 0, 8).Draw(rt, "batch")
				out, err := db.Put(ctx, coll, "src", objs)
				if err != nil {
					rt.Fatalf("Put: %v", err)
				}
				for i, o := range objs {
					k, _ := versionKey(o.Version())
					_, had := model[o.ID][k]
					if out[i].Added == had {
						rt.Fatalf("objs[%d] %s@%v: Added=%v but model had it=%v", i, o.ID, o.Version(), out[i].Added, had)
					}
					if out[i].Added {
						if model[o.ID] == nil {
							model[o.ID] = map[int64]modelVersion{}
						}
						model[o.ID][k] = modelVersion{o.ID, o.Version(), out[i].DateAdded}
					}
				}
			},
			"delete": func(rt *rapid.T) {
				id := rapid.SampledFrom([]string{indicator(t, 0, t0).ID, indicator(t, 1, t0).ID, ipv4(t, 3).ID}).Draw(rt, "id")
				vm := drawMatch(rt)
				want := selectVersions(model, vm)
				var del []modelVersion
				for _, v := range want {
					if v.id == id {
						del = append(del, v)
					}
				}
				got, err := db.Delete(ctx, coll, id, vm, nil)
				if len(del) == 0 {
					if err == nil {
						rt.Fatalf("Delete(%s, %+v) of nothing = %d, nil", id, vm, got)
					}
					return
				}
				if err != nil || got != len(del) {
					rt.Fatalf("Delete(%s, %+v) = %d, %v; want %d", id, vm, got, err, len(del))
				}
				for _, v := range del {
					k, _ := versionKey(v.key)
					delete(model[id], k)
				}
			},
			"": func(rt *rapid.T) {
				for _, vm := range []store.VersionMatch{{}, drawMatch(rt)} {
					want := selectVersions(model, vm)
					p, err := db.List(ctx, coll, store.Query{Versions: vm, Limit: 1000, MetaOnly: true})
					if err != nil {
						rt.Fatalf("List: %v", err)
					}
					var got []modelVersion
					for _, v := range p.Versions {
						got = append(got, modelVersion{v.ID, v.Modified, v.DateAdded})
					}
					if !slices.EqualFunc(got, want, func(a, b modelVersion) bool {
						return a.id == b.id && a.key.Equal(b.key) && a.dateAdded.Equal(b.dateAdded)
					}) {
						rt.Fatalf("List %+v:\n got  %v\n want %v", vm, got, want)
					}
				}
			},
		})
	})
}

func drawMatch(rt *rapid.T) store.VersionMatch {
	var vm store.VersionMatch
	vm.All = rapid.IntRange(0, 4).Draw(rt, "all") == 0
	vm.First = rapid.Bool().Draw(rt, "first")
	vm.Last = rapid.Bool().Draw(rt, "last")
	for _, m := range rapid.SliceOfN(rapid.IntRange(-1, 4), 0, 2).Draw(rt, "at") {
		if m < 0 {
			vm.At = append(vm.At, time.Time{})
		} else {
			vm.At = append(vm.At, t0.Add(time.Duration(m)*time.Minute))
		}
	}
	return vm
}

// selectVersions is the model's answer to a version match, in date_added
// order.
func selectVersions(model map[string]map[int64]modelVersion, vm store.VersionMatch) []modelVersion {
	if vm.IsZero() {
		vm.Last = true
	}
	var out []modelVersion
	for _, vs := range model {
		if len(vs) == 0 {
			continue
		}
		var ks []int64
		for k := range vs {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		for _, k := range ks {
			v := vs[k]
			ok := vm.All || (vm.First && k == ks[0]) || (vm.Last && k == ks[len(ks)-1])
			for _, at := range vm.At {
				ok = ok || at.Equal(v.key)
			}
			if ok {
				out = append(out, v)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].dateAdded.Before(out[j].dateAdded) })
	return out
}

func (v modelVersion) String() string {
	return fmt.Sprintf("%s@%s/%d", v.id[:12], stix.FormatTimestamp(v.key), v.dateAdded.UnixMicro()%1e6)
}
