package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

func testPutBasic(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	a := indicator(indicatorID(), ts("2024-02-01T10:00:00.123Z"))
	b := sco("ipv4-addr", "ipv4-addr--"+newUUID(), "198.51.100.7")
	// created but no modified: the version key is created.
	c := &stix.Object{Type: "note", ID: "note--" + newUUID(), SpecVersion: "2.1", Created: ts("2024-03-04T05:06:07.5Z")}
	c.Raw = fmt.Appendf(nil, `{"type":"note","spec_version":"2.1","id":%q,"created":"2024-03-04T05:06:07.5Z","content":"x","object_refs":[%q]}`, c.ID, a.ID)
	objs := []*stix.Object{a, b, c}

	before := time.Now()
	out, err := s.Put(ctx, coll, "org-1", objs)
	after := time.Now()
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if len(out) != len(objs) {
		t.Fatalf("Put returned %d outcomes for %d objects", len(out), len(objs))
	}
	for i, o := range out {
		if !o.Added {
			t.Errorf("outcome %d: not added", i)
		}
		checkMicros(t, o.DateAdded)
		if i > 0 && !o.DateAdded.After(out[i-1].DateAdded) {
			t.Errorf("outcome %d: date_added %s not after %s", i, o.DateAdded, out[i-1].DateAdded)
		}
		// date_added is the server's clock; allow for clock skew between
		// the test and a database server, and for the +1µs steps.
		if o.DateAdded.Before(before.Add(-5*time.Second)) || o.DateAdded.After(after.Add(5*time.Second)) {
			t.Errorf("outcome %d: date_added %s not near the time of the Put (%s .. %s)", i, o.DateAdded, before, after)
		}
	}

	vs := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}})
	if len(vs) != len(objs) {
		t.Fatalf("listed %d versions, want %d", len(vs), len(objs))
	}
	for i, v := range vs {
		o := objs[i]
		if v.Collection != coll {
			t.Errorf("version %d: Collection %q, want %q", i, v.Collection, coll)
		}
		if v.ID != o.ID || v.Type != o.Type || v.SpecVersion != o.SpecVersion {
			t.Errorf("version %d: id/type/spec %s/%s/%s, want %s/%s/%s", i, v.ID, v.Type, v.SpecVersion, o.ID, o.Type, o.SpecVersion)
		}
		if !v.Modified.Equal(o.Version()) {
			t.Errorf("version %d (%s): Modified %s, want version key %s", i, o.ID, v.Modified, o.Version())
		}
		if !v.DateAdded.Equal(out[i].DateAdded) {
			t.Errorf("version %d: DateAdded %s, Put said %s", i, v.DateAdded, out[i].DateAdded)
		}
		if v.Source != "org-1" {
			t.Errorf("version %d: Source %q, want org-1", i, v.Source)
		}
		if v.Revoked {
			t.Errorf("version %d: Revoked set", i)
		}
		if !equalBytes(v.Raw, o.Raw) {
			t.Errorf("version %d: Raw %s, want %s", i, v.Raw, o.Raw)
		}
	}
	if !vs[1].Modified.IsZero() {
		t.Errorf("SCO version key: got %s, want the zero time", vs[1].Modified)
	}

	out, err = s.Put(ctx, coll, "", nil)
	if err != nil || len(out) != 0 {
		t.Errorf("Put of an empty batch: %v, %d outcomes; want no error and none", err, len(out))
	}
}

func testPutUnknownCollection(t *testing.T, s store.Store) {
	ctx := context.Background()
	missing := newUUID()
	_, err := s.Put(ctx, missing, "", []*stix.Object{indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))})
	wantErr(t, "Put into a missing collection", err, store.ErrNotFound)
	_, err = s.List(ctx, missing, store.Query{Limit: 10})
	wantErr(t, "List of a missing collection", err, store.ErrNotFound)
	_, err = s.Delete(ctx, missing, indicatorID(), store.VersionMatch{All: true}, nil)
	wantErr(t, "Delete from a missing collection", err, store.ErrNotFound)
}

func testPutAtomic(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	first := indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))
	prior := put(t, s, coll, first)

	a := indicator(indicatorID(), ts("2024-01-02T00:00:00Z"))
	b := indicator(indicatorID(), ts("2024-01-03T00:00:00Z"))
	newer := indicator(first.ID, ts("2024-01-04T00:00:00Z"))

	cases := []struct {
		name string
		ctx  func() context.Context
		objs []*stix.Object
		want error // nil: any error
	}{
		{"cancelled context", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, []*stix.Object{a, newer, b}, context.Canceled},
		{"expired deadline", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, []*stix.Object{a, newer, b}, context.DeadlineExceeded},
		{"nil object after good ones", context.Background, []*stix.Object{a, newer, nil, b}, nil},
	}
	for _, tc := range cases {
		out, err := s.Put(tc.ctx(), coll, "", tc.objs)
		if err == nil {
			t.Errorf("%s: Put succeeded (%v), want an error", tc.name, out)
			continue
		}
		if tc.want != nil {
			wantErr(t, tc.name, err, tc.want)
		}
		vs := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}})
		if got := keys(vs); !sameKeys(got, []string{objKey(first)}) {
			t.Fatalf("%s: after the failed Put the collection holds %s, want only %s", tc.name, joinKeys(got), objKey(first))
		}
		last := listAll(t, s, coll, store.Query{})
		if len(last) != 1 || !last[0].Modified.Equal(first.Modified) {
			t.Fatalf("%s: after the failed Put the last version is %s, want %s", tc.name, joinKeys(keys(last)), objKey(first))
		}
	}

	// The same objects go in afterwards as new versions, after the earlier one.
	out := put(t, s, coll, a, newer, b)
	for i, o := range out {
		if !o.Added {
			t.Errorf("retry outcome %d not added: the failed Put left something behind", i)
		}
		if !o.DateAdded.After(prior[0].DateAdded) {
			t.Errorf("retry outcome %d: date_added %s not after the earlier %s", i, o.DateAdded, prior[0].DateAdded)
		}
	}
}

func testPutUnchanged(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	m1, m2 := ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z")
	aID, bID, cID := indicatorID(), indicatorID(), indicatorID()
	a1 := indicator(aID, m1)
	put(t, s, coll, a1)

	// Same id and version key with different content: left unchanged.
	a1b := sdo("indicator", aID, "2.1", ts("2024-01-01T00:00:00Z"), m1, `,"name":"changed"`)
	out := put(t, s, coll, a1b, indicator(bID, m1))
	if out[0].Added || !out[1].Added {
		t.Errorf("Put(existing, new): added %v %v, want false true", out[0].Added, out[1].Added)
	}
	vs := listAll(t, s, coll, store.Query{IDs: []string{aID}, Versions: store.VersionMatch{All: true}})
	if len(vs) != 1 || !equalBytes(vs[0].Raw, a1.Raw) {
		t.Errorf("after an unchanged Put the object holds %d versions / content %s, want the first content", len(vs), firstRaw(vs))
	}

	// Repeats inside one batch.
	out = put(t, s, coll, indicator(cID, m1), indicator(cID, m1), indicator(cID, m2), indicator(cID, m1), indicator(cID, m2))
	want := []bool{true, false, true, false, false}
	for i, o := range out {
		if o.Added != want[i] {
			t.Errorf("batch with repeats: outcome %d added=%v, want %v", i, o.Added, want[i])
		}
	}
	if got := len(listAll(t, s, coll, store.Query{IDs: []string{cID}, Versions: store.VersionMatch{All: true}})); got != 2 {
		t.Errorf("batch with repeats stored %d versions, want 2", got)
	}

	// Objects without created/modified have one version: repeats are unchanged.
	ip := sco("ipv4-addr", "ipv4-addr--"+newUUID(), "203.0.113.9")
	out = put(t, s, coll, ip, ip)
	if !out[0].Added || out[1].Added {
		t.Errorf("SCO twice in one batch: added %v %v, want true false", out[0].Added, out[1].Added)
	}
	out = put(t, s, coll, sco("ipv4-addr", ip.ID, "203.0.113.10"))
	if out[0].Added {
		t.Errorf("SCO put again: added, want unchanged")
	}

	// The same id in another collection is a different object.
	other := newCollection(t, s)
	out = put(t, s, other, a1)
	if !out[0].Added {
		t.Errorf("version present in another collection treated as unchanged")
	}
}

// testPutBetween: a version whose key lies between an object's first and
// last is new unless that very version is stored, whatever other objects
// hold at that key.
func testPutBetween(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	m1, m2, m3 := ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z"), ts("2024-01-03T00:00:00Z")
	a := indicatorID()
	put(t, s, coll, indicator(a, m1))
	put(t, s, coll, indicator(a, m3))
	// Other objects hold the key m2 (some backends may share an index
	// key between ids).
	var others []*stix.Object
	for i := 0; i < 8; i++ {
		others = append(others, indicator(indicatorID(), m2))
	}
	put(t, s, coll, others...)
	out := put(t, s, coll, indicator(a, m2))
	if !out[0].Added {
		t.Fatalf("version between first and last reported unchanged")
	}
	out = put(t, s, coll, indicator(a, m2), indicator(a, m1), indicator(a, m3))
	for i, o := range out {
		if o.Added {
			t.Errorf("stored version %d reported added again", i)
		}
	}
	got := keys(listAll(t, s, coll, store.Query{IDs: []string{a}, Versions: store.VersionMatch{All: true}}))
	if want := []string{key(a, m1), key(a, m3), key(a, m2)}; !sameKeys(got, want) {
		t.Errorf("versions %s, want %s", joinKeys(got), joinKeys(want))
	}
	first := keys(listAll(t, s, coll, store.Query{IDs: []string{a}, Versions: store.VersionMatch{First: true}}))
	last := keys(listAll(t, s, coll, store.Query{IDs: []string{a}}))
	if !sameKeys(first, []string{key(a, m1)}) || !sameKeys(last, []string{key(a, m3)}) {
		t.Errorf("first %s last %s, want %s %s", joinKeys(first), joinKeys(last), key(a, m1), key(a, m3))
	}
}

func firstRaw(vs []store.Version) string {
	if len(vs) == 0 {
		return "<none>"
	}
	return string(vs[0].Raw)
}

// testVersionKeyPrecision: version keys are compared as instants, to the
// nanosecond that STIX timestamps may carry, and come back exactly.
func testVersionKeyPrecision(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := indicatorID()
	base := ts("2024-05-06T07:08:09.123456789Z")
	ms := []time.Time{base, base.Add(time.Nanosecond), base.Add(time.Microsecond), base.Add(time.Millisecond)}
	for i, m := range ms {
		if out := put(t, s, coll, indicator(id, m)); !out[0].Added {
			t.Fatalf("version %d (%s) reported unchanged", i, stix.FormatTimestamp(m))
		}
	}
	vs := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}})
	if len(vs) != len(ms) {
		t.Fatalf("stored %d versions, want %d", len(vs), len(ms))
	}
	for i, v := range vs {
		if !v.Modified.Equal(ms[i]) {
			t.Errorf("version %d: Modified %s, want %s", i, stix.FormatTimestamp(v.Modified), stix.FormatTimestamp(ms[i]))
		}
	}
	at := list(t, s, coll, store.Query{Limit: 10, Versions: store.VersionMatch{At: []time.Time{ms[1]}}})
	if got := keys(at.Versions); !sameKeys(got, []string{key(id, ms[1])}) {
		t.Errorf("match at %s: got %s", stix.FormatTimestamp(ms[1]), joinKeys(got))
	}
	// A time in another zone names the same instant.
	loc := time.FixedZone("X", 5*3600)
	at = list(t, s, coll, store.Query{Limit: 10, Versions: store.VersionMatch{At: []time.Time{ms[2].In(loc)}}})
	if got := keys(at.Versions); !sameKeys(got, []string{key(id, ms[2])}) {
		t.Errorf("match at %s in another zone: got %s", ms[2].In(loc), joinKeys(got))
	}
	first := list(t, s, coll, store.Query{Limit: 10, Versions: store.VersionMatch{First: true}})
	last := list(t, s, coll, store.Query{Limit: 10})
	if len(first.Versions) != 1 || !first.Versions[0].Modified.Equal(ms[0]) {
		t.Errorf("first: got %s, want %s", joinKeys(keys(first.Versions)), key(id, ms[0]))
	}
	if len(last.Versions) != 1 || !last.Versions[0].Modified.Equal(ms[3]) {
		t.Errorf("last: got %s, want %s", joinKeys(keys(last.Versions)), key(id, ms[3]))
	}
}

func testDateAddedIncreasing(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	var all []store.PutOutcome
	// Many single-object Puts in quick succession, then large batches
	// that are sure to share microseconds of wall-clock time.
	for i := 0; i < 100; i++ {
		all = append(all, put(t, s, coll, indicator(indicatorID(), ts("2024-01-01T00:00:00Z")))...)
	}
	for i := 0; i < 3; i++ {
		batch := make([]*stix.Object, 500)
		for j := range batch {
			batch[j] = indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))
		}
		all = append(all, put(t, s, coll, batch...)...)
	}
	for i, o := range all {
		checkMicros(t, o.DateAdded)
		if i > 0 && !o.DateAdded.After(all[i-1].DateAdded) {
			t.Fatalf("outcome %d: date_added %s not after %s", i, o.DateAdded.Format(time.RFC3339Nano), all[i-1].DateAdded.Format(time.RFC3339Nano))
		}
	}
	vs := listAll(t, s, coll, store.Query{Limit: 333})
	if len(vs) != len(all) {
		t.Fatalf("listed %d, want %d", len(vs), len(all))
	}
	for i, v := range vs {
		if !v.DateAdded.Equal(all[i].DateAdded) {
			t.Fatalf("listing %d: date_added %s, Put said %s", i, v.DateAdded, all[i].DateAdded)
		}
	}
}

func testDateAddedConcurrentPuts(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	const writers, puts, batch = 4, 20, 25
	results := make([][]store.PutOutcome, writers*puts)
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for p := 0; p < puts; p++ {
				objs := make([]*stix.Object, batch)
				for i := range objs {
					objs[i] = indicator(indicatorID(), ts("2024-01-01T00:00:00Z"))
				}
				out, err := s.Put(context.Background(), coll, fmt.Sprintf("writer-%d", w), objs)
				if err != nil {
					errs <- fmt.Errorf("writer %d put %d: %w", w, p, err)
					return
				}
				results[w*puts+p] = out
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make(map[int64]bool)
	for _, out := range results {
		for i, o := range out {
			if !o.Added {
				t.Fatalf("new object reported unchanged")
			}
			checkMicros(t, o.DateAdded)
			if i > 0 && !o.DateAdded.After(out[i-1].DateAdded) {
				t.Errorf("within one Put, date_added %s not after %s", o.DateAdded, out[i-1].DateAdded)
			}
			us := o.DateAdded.UnixMicro()
			if seen[us] {
				t.Errorf("date_added %s given twice", o.DateAdded.Format(time.RFC3339Nano))
			}
			seen[us] = true
		}
	}
	vs := listAll(t, s, coll, store.Query{Limit: 500})
	if len(vs) != writers*puts*batch {
		t.Fatalf("listed %d versions, want %d", len(vs), writers*puts*batch)
	}
	for _, v := range vs {
		if !seen[v.DateAdded.UnixMicro()] {
			t.Errorf("listed date_added %s that no Put returned", v.DateAdded)
		}
	}
}

// fixture is a small collection used by the listing tests:
//
//	A: indicator 2.1, versions m1 < m2 < m3 put in the order m2, m3, m1
//	B: malware 2.1, one version m2
//	C: ipv4-addr SCO 2.1, no version key
//	D: indicator 2.0, one version m1
type fixture struct {
	coll       string
	a, b, c, d string
	m1, m2, m3 time.Time
	added      map[string]time.Time // key -> date_added
	order      []string             // keys in put order
}

func newFixture(t *testing.T, s store.Store) *fixture {
	f := &fixture{
		coll: newCollection(t, s),
		a:    indicatorID(), b: "malware--" + newUUID(), c: "ipv4-addr--" + newUUID(), d: indicatorID(),
		m1: ts("2024-01-01T00:00:00.001Z"), m2: ts("2024-01-02T00:00:00.002Z"), m3: ts("2024-01-03T00:00:00.003Z"),
		added: make(map[string]time.Time),
	}
	created := ts("2024-01-01T00:00:00.001Z")
	steps := [][]*stix.Object{
		{sdo("indicator", f.a, "2.1", created, f.m2, `,"name":"A2"`)},
		{sdo("indicator", f.a, "2.1", created, f.m3, `,"name":"A3"`)},
		{sdo("malware", f.b, "2.1", created, f.m2, `,"is_family":false`)},
		{sdo("indicator", f.a, "2.1", created, f.m1, `,"name":"A1"`), sco("ipv4-addr", f.c, "192.0.2.1")},
		{sdo("indicator", f.d, "2.0", created, f.m1, `,"name":"D"`)},
	}
	for _, objs := range steps {
		out := put(t, s, f.coll, objs...)
		for i, o := range objs {
			k := objKey(o)
			f.added[k] = out[i].DateAdded
			f.order = append(f.order, k)
		}
	}
	return f
}

func (f *fixture) k(id string, m time.Time) string { return key(id, m) }

func testListFilters(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	A1, A2, A3 := f.k(f.a, f.m1), f.k(f.a, f.m2), f.k(f.a, f.m3)
	B, C, D := f.k(f.b, f.m2), f.k(f.c, time.Time{}), f.k(f.d, f.m1)
	after := func(k string) time.Time { return f.added[k] }
	all := store.VersionMatch{All: true}
	first := store.VersionMatch{First: true}
	last := store.VersionMatch{Last: true}
	at := func(ts ...time.Time) store.VersionMatch { return store.VersionMatch{At: ts} }

	cases := []struct {
		name string
		q    store.Query
		want []string
	}{
		{"zero version match is last", store.Query{}, []string{A3, B, C, D}},
		{"last", store.Query{Versions: last}, []string{A3, B, C, D}},
		{"first", store.Query{Versions: first}, []string{B, A1, C, D}},
		{"all", store.Query{Versions: all}, []string{A2, A3, B, A1, C, D}},
		{"all and first", store.Query{Versions: store.VersionMatch{All: true, First: true}}, []string{A2, A3, B, A1, C, D}},
		{"first and last", store.Query{Versions: store.VersionMatch{First: true, Last: true}}, []string{A3, B, A1, C, D}},
		{"at m2", store.Query{Versions: at(f.m2)}, []string{A2, B}},
		{"at m1", store.Query{Versions: at(f.m1)}, []string{A1, D}},
		{"at m1 and m3", store.Query{Versions: at(f.m1, f.m3)}, []string{A3, A1, D}},
		{"at unknown", store.Query{Versions: at(ts("2020-01-01T00:00:00Z"))}, nil},
		{"at m2 or last", store.Query{Versions: store.VersionMatch{Last: true, At: []time.Time{f.m2}}}, []string{A2, A3, B, C, D}},
		{"at m2 or first", store.Query{Versions: store.VersionMatch{First: true, At: []time.Time{f.m2}}}, []string{A2, B, A1, C, D}},
		{"type indicator all", store.Query{Types: []string{"indicator"}, Versions: all}, []string{A2, A3, A1, D}},
		{"types indicator or malware", store.Query{Types: []string{"indicator", "malware"}}, []string{A3, B, D}},
		{"type ipv4-addr", store.Query{Types: []string{"ipv4-addr"}}, []string{C}},
		{"type unknown", store.Query{Types: []string{"tool"}}, nil},
		{"id A last", store.Query{IDs: []string{f.a}}, []string{A3}},
		{"id A first", store.Query{IDs: []string{f.a}, Versions: first}, []string{A1}},
		{"ids A or C all", store.Query{IDs: []string{f.a, f.c}, Versions: all}, []string{A2, A3, A1, C}},
		{"id unknown", store.Query{IDs: []string{indicatorID()}}, nil},
		{"spec 2.0 all", store.Query{SpecVersions: []string{"2.0"}, Versions: all}, []string{D}},
		{"spec 2.1", store.Query{SpecVersions: []string{"2.1"}}, []string{A3, B, C}},
		{"spec 2.0 or 2.1", store.Query{SpecVersions: []string{"2.0", "2.1"}}, []string{A3, B, C, D}},
		{"added after A2 all", store.Query{AddedAfter: after(A2), Versions: all}, []string{A3, B, A1, C, D}},
		{"added after A3 last", store.Query{AddedAfter: after(A3)}, []string{B, C, D}},
		{"added after B last", store.Query{AddedAfter: after(B)}, []string{C, D}},
		{"added after B first", store.Query{AddedAfter: after(B), Versions: first}, []string{A1, C, D}},
		{"added after the newest", store.Query{AddedAfter: after(D), Versions: all}, nil},
		{"added after a microsecond before A3", store.Query{AddedAfter: after(A3).Add(-time.Microsecond), Versions: all}, []string{A3, B, A1, C, D}},
		{"indicator 2.1 all after A2", store.Query{Types: []string{"indicator"}, SpecVersions: []string{"2.1"}, AddedAfter: after(A2), Versions: all}, []string{A3, A1}},
		{"id A, type malware", store.Query{IDs: []string{f.a}, Types: []string{"malware"}, Versions: all}, nil},
		{"ids A D, spec 2.0, at m1", store.Query{IDs: []string{f.a, f.d}, SpecVersions: []string{"2.0"}, Versions: at(f.m1)}, []string{D}},
		{"ids A B, first or last", store.Query{IDs: []string{f.a, f.b}, Versions: store.VersionMatch{First: true, Last: true}}, []string{A3, B, A1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Limit = 100
			p := list(t, s, f.coll, tc.q)
			if got := keys(p.Versions); !sameKeys(got, tc.want) {
				t.Errorf("got %s, want %s", joinKeys(got), joinKeys(tc.want))
			}
			if p.More {
				t.Errorf("More set on a complete listing")
			}
			for _, v := range p.Versions {
				k := key(v.ID, v.Modified)
				if !v.DateAdded.Equal(f.added[k]) {
					t.Errorf("%s: DateAdded %s, want its own %s", k, v.DateAdded, f.added[k])
				}
			}
		})
	}
}

func testListLimit(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	all := store.VersionMatch{All: true}
	for _, tc := range []struct {
		limit int
		n     int
		more  bool
	}{{1, 1, true}, {2, 2, true}, {5, 5, true}, {6, 6, false}, {7, 6, false}, {1000, 6, false}} {
		p := list(t, s, f.coll, store.Query{Limit: tc.limit, Versions: all})
		if len(p.Versions) != tc.n || p.More != tc.more {
			t.Errorf("limit %d: got %d versions more=%v, want %d more=%v", tc.limit, len(p.Versions), p.More, tc.n, tc.more)
		}
		if got, want := keys(p.Versions), f.order[:tc.n]; !sameKeys(got, want) {
			t.Errorf("limit %d: got %s, want %s", tc.limit, joinKeys(got), joinKeys(want))
		}
	}
	// More counts only versions that match the filters.
	p := list(t, s, f.coll, store.Query{Limit: 1, Types: []string{"malware"}, Versions: all})
	if len(p.Versions) != 1 || p.More {
		t.Errorf("limit 1 on the only malware: %d versions more=%v, want 1 false", len(p.Versions), p.More)
	}
	p = list(t, s, f.coll, store.Query{Limit: 3})
	if len(p.Versions) != 3 || !p.More {
		t.Errorf("limit 3 of 4 last versions: %d versions more=%v, want 3 true", len(p.Versions), p.More)
	}
	for _, limit := range []int{0, -1} {
		if _, err := s.List(context.Background(), f.coll, store.Query{Limit: limit}); err == nil {
			t.Errorf("List with Limit %d: no error", limit)
		}
	}
}

func testListMetaOnly(t *testing.T, s store.Store) {
	f := newFixture(t, s)
	meta := list(t, s, f.coll, store.Query{Limit: 100, MetaOnly: true, Versions: store.VersionMatch{All: true}})
	full := list(t, s, f.coll, store.Query{Limit: 100, Versions: store.VersionMatch{All: true}})
	if len(meta.Versions) != 6 || len(full.Versions) != 6 {
		t.Fatalf("listed %d meta / %d full versions, want 6", len(meta.Versions), len(full.Versions))
	}
	for i := range meta.Versions {
		m, v := meta.Versions[i], full.Versions[i]
		if m.Raw != nil {
			t.Errorf("MetaOnly version %d has Raw %s", i, m.Raw)
		}
		if len(v.Raw) == 0 {
			t.Errorf("full version %d has no Raw", i)
		}
		m.Raw = v.Raw
		if !sameVersion(m, v) {
			t.Errorf("MetaOnly version %d: %+v, full listing %+v", i, m, v)
		}
	}
	// Facts and Latest come with every listing (in this file because the
	// suite's table is in storetest.go).
	t.Run("Facts", func(t *testing.T) { testFacts(t, s) })
	t.Run("Latest", func(t *testing.T) { testLatest(t, s) })
}

func sameVersion(a, b store.Version) bool {
	return a.Collection == b.Collection && a.ID == b.ID && a.Type == b.Type && a.SpecVersion == b.SpecVersion &&
		a.Modified.Equal(b.Modified) && a.DateAdded.Equal(b.DateAdded) && a.Source == b.Source &&
		a.Revoked == b.Revoked && a.Latest == b.Latest && equalBytes(a.Raw, b.Raw) && equalBytes(a.Facts, b.Facts)
}

func testRevokedAndSource(t *testing.T, s store.Store) {
	ctx := context.Background()
	coll := newCollection(t, s)
	id := indicatorID()
	v1 := indicator(id, ts("2024-01-01T00:00:00Z"))
	v2 := sdo("indicator", id, "2.1", ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z"), `,"revoked":true`)
	v2.Revoked = true
	if _, err := s.Put(ctx, coll, "org-a", []*stix.Object{v1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, coll, "org-b", []*stix.Object{v2}); err != nil {
		t.Fatal(err)
	}
	vs := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}})
	if len(vs) != 2 {
		t.Fatalf("listed %d versions, want 2", len(vs))
	}
	if vs[0].Revoked || !vs[1].Revoked {
		t.Errorf("Revoked: %v %v, want false true", vs[0].Revoked, vs[1].Revoked)
	}
	if vs[0].Source != "org-a" || vs[1].Source != "org-b" {
		t.Errorf("Source: %q %q, want org-a org-b (each version keeps its own)", vs[0].Source, vs[1].Source)
	}
}

func testLastMoves(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	id := indicatorID()
	m0, m1, m2 := ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z"), ts("2024-01-03T00:00:00Z")
	out1 := put(t, s, coll, indicator(id, m1))
	p := list(t, s, coll, store.Query{Limit: 10})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m1)}) {
		t.Fatalf("last after one version: %s", joinKeys(got))
	}
	cursor := p.Versions[0].DateAdded

	out2 := put(t, s, coll, indicator(id, m2))
	if !out2[0].DateAdded.After(out1[0].DateAdded) {
		t.Fatalf("newer version's date_added %s not after %s", out2[0].DateAdded, out1[0].DateAdded)
	}
	p = list(t, s, coll, store.Query{Limit: 10, AddedAfter: cursor})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m2)}) {
		t.Errorf("a pager past the first version must see the newer one listed again: got %s", joinKeys(got))
	}
	p = list(t, s, coll, store.Query{Limit: 10})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m2)}) {
		t.Errorf("last from the start: got %s, want only the newer version", joinKeys(got))
	}
	cursor = p.Versions[0].DateAdded

	// An older version arriving later is not the last one.
	put(t, s, coll, indicator(id, m0))
	p = list(t, s, coll, store.Query{Limit: 10})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m2)}) {
		t.Errorf("last after an older version arrived: got %s, want %s", joinKeys(got), key(id, m2))
	}
	p = list(t, s, coll, store.Query{Limit: 10, AddedAfter: cursor})
	if len(p.Versions) != 0 {
		t.Errorf("last after the cursor: got %s, want nothing (the late version is older)", joinKeys(keys(p.Versions)))
	}
	// It is now the first version, listed at its own date_added.
	p = list(t, s, coll, store.Query{Limit: 10, AddedAfter: cursor, Versions: store.VersionMatch{First: true}})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m0)}) {
		t.Errorf("first after the cursor: got %s, want %s", joinKeys(got), key(id, m0))
	}
	p = list(t, s, coll, store.Query{Limit: 10, Versions: store.VersionMatch{All: true}})
	if got := keys(p.Versions); !sameKeys(got, []string{key(id, m1), key(id, m2), key(id, m0)}) {
		t.Errorf("all: got %s", joinKeys(got))
	}
}

func testPaging(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	var objs []*stix.Object
	var ids []string
	for i := 0; i < 120; i++ {
		ids = append(ids, indicatorID())
	}
	// Two versions of every third object, the second put later.
	for i, id := range ids {
		objs = append(objs, indicator(id, ts("2024-01-01T00:00:00Z")))
		if i%3 == 0 && i > 0 {
			objs = append(objs, indicator(ids[i-3], ts("2024-01-02T00:00:00Z")))
		}
	}
	for i := 0; i < len(objs); i += 17 {
		put(t, s, coll, objs[i:min(i+17, len(objs))]...)
	}
	allVersions := listAll(t, s, coll, store.Query{Limit: len(objs) + 1, Versions: store.VersionMatch{All: true}})
	if len(allVersions) != len(objs) {
		t.Fatalf("one page of everything: %d versions, want %d", len(allVersions), len(objs))
	}
	for _, limit := range []int{1, 7, 10, len(objs) - 1, len(objs)} {
		q := store.Query{Limit: limit, Versions: store.VersionMatch{All: true}}
		var got []store.Version
		pages := 0
		for {
			p := list(t, s, coll, q)
			pages++
			got = append(got, p.Versions...)
			wantMore := len(got) < len(objs)
			if p.More != wantMore {
				t.Fatalf("limit %d page %d: More=%v with %d of %d listed", limit, pages, p.More, len(got), len(objs))
			}
			if !p.More {
				break
			}
			if len(p.Versions) != limit {
				t.Fatalf("limit %d page %d: %d versions on a page with More", limit, pages, len(p.Versions))
			}
			q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
		}
		if !sameKeys(keys(got), keys(allVersions)) {
			t.Errorf("limit %d: paged listing differs from the full one", limit)
		}
	}
	// Paging the last versions lists each object once, at its newest version.
	last := listAll(t, s, coll, store.Query{Limit: 9})
	if len(last) != len(ids) {
		t.Errorf("paging last versions: %d, want %d objects", len(last), len(ids))
	}
	seen := map[string]bool{}
	for _, v := range last {
		if seen[v.ID] {
			t.Errorf("%s listed twice", v.ID)
		}
		seen[v.ID] = true
	}
}

// testPagingConcurrentWrites pages through a collection while another
// goroutine keeps adding objects and newer versions: no version may be
// skipped or repeated.
func testPagingConcurrentWrites(t *testing.T, s store.Store) {
	coll := newCollection(t, s)
	ctx := context.Background()
	const rounds, perRound = 60, 10
	base := ts("2024-01-01T00:00:00Z")
	var mu sync.Mutex
	var ids []string
	done := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() {
		defer close(done)
		for r := 0; r < rounds; r++ {
			objs := make([]*stix.Object, 0, perRound)
			mu.Lock()
			for i := 0; i < perRound; i++ {
				if i%2 == 1 && len(ids) > 0 {
					// a newer version of an earlier object
					objs = append(objs, indicator(ids[(r*7+i)%len(ids)], base.Add(time.Duration(r*perRound+i+1)*time.Second)))
					continue
				}
				id := indicatorID()
				ids = append(ids, id)
				objs = append(objs, indicator(id, base))
			}
			mu.Unlock()
			if _, err := s.Put(ctx, coll, "", objs); err != nil {
				writeErr <- err
				return
			}
		}
	}()

	type pager struct {
		q    store.Query
		seen []store.Version
	}
	pagers := []*pager{
		{q: store.Query{Limit: 13, Versions: store.VersionMatch{All: true}}},
		{q: store.Query{Limit: 5, Versions: store.VersionMatch{Last: true}}},
		{q: store.Query{Limit: 7, Versions: store.VersionMatch{First: true}, MetaOnly: true}},
	}
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true // one more full pass after the writer stopped
		default:
		}
		for _, p := range pagers {
			for {
				page, err := s.List(ctx, coll, p.q)
				if err != nil {
					t.Fatalf("List: %v", err)
				}
				for _, v := range page.Versions {
					if n := len(p.seen); n > 0 && !v.DateAdded.After(p.seen[n-1].DateAdded) {
						t.Fatalf("pager %+v: date_added %s after %s: repeated or out of order", p.q.Versions, v.DateAdded, p.seen[n-1].DateAdded)
					}
					p.seen = append(p.seen, v)
				}
				if len(page.Versions) > 0 {
					p.q.AddedAfter = page.Versions[len(page.Versions)-1].DateAdded
				}
				if !page.More {
					break
				}
			}
		}
	}
	select {
	case err := <-writeErr:
		t.Fatalf("writer: %v", err)
	default:
	}

	// The all-versions pager saw exactly every version.
	all := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}})
	if len(all) != rounds*perRound {
		t.Fatalf("collection holds %d versions, want %d", len(all), rounds*perRound)
	}
	if got, want := keys(pagers[0].seen), keys(all); !sameKeys(got, want) {
		t.Errorf("all-versions pager saw %d versions, the collection holds %d; skipped or repeated", len(got), len(want))
	}
	// The last and first pagers saw every object's final last / first
	// version (possibly after earlier ones that were superseded).
	for i, vm := range []store.VersionMatch{{Last: true}, {First: true}} {
		final := listAll(t, s, coll, store.Query{Versions: vm})
		if len(final) != len(ids) {
			t.Errorf("%+v: %d objects listed, want %d", vm, len(final), len(ids))
		}
		seen := map[string]bool{}
		for _, v := range pagers[i+1].seen {
			seen[key(v.ID, v.Modified)] = true
		}
		for _, v := range final {
			if !seen[key(v.ID, v.Modified)] {
				t.Errorf("%+v pager never saw %s", vm, key(v.ID, v.Modified))
			}
		}
	}
}

// testPagingLarge pages through 20,000 versions (2,000 with -short).
func testPagingLarge(t *testing.T, s store.Store) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	coll := newCollection(t, s)
	base := ts("2024-01-01T00:00:00Z")
	objects := n * 3 / 4
	ids := make([]string, objects)
	for i := range ids {
		ids[i] = indicatorID()
	}
	// objects first versions interleaved with n-objects second versions.
	var batch []*stix.Object
	next := 0
	for i := 0; i < n; i++ {
		if i%4 == 3 {
			batch = append(batch, indicator(ids[(i/4)], base.Add(time.Hour)))
		} else {
			batch = append(batch, indicator(ids[next], base))
			next++
		}
		if len(batch) == 1000 || i == n-1 {
			put(t, s, coll, batch...)
			batch = batch[:0]
		}
	}
	all := listAll(t, s, coll, store.Query{Limit: 1000, Versions: store.VersionMatch{All: true}, MetaOnly: true})
	if len(all) != n {
		t.Fatalf("paged %d versions, want %d", len(all), n)
	}
	last := listAll(t, s, coll, store.Query{Limit: 999})
	if len(last) != objects {
		t.Fatalf("paged %d last versions, want %d objects", len(last), objects)
	}
	seen := make(map[string]bool, objects)
	for _, v := range last {
		if seen[v.ID] {
			t.Fatalf("%s listed twice", v.ID)
		}
		seen[v.ID] = true
	}
	second := 0
	for _, v := range last {
		if v.Modified.Equal(base.Add(time.Hour)) {
			second++
		}
	}
	if want := n - objects; second != want {
		t.Errorf("%d objects listed at their second version, want %d", second, want)
	}
	typed := listAll(t, s, coll, store.Query{Limit: 500, Types: []string{"indicator"}, MetaOnly: true})
	if len(typed) != objects {
		t.Errorf("type-filtered last listing: %d, want %d", len(typed), objects)
	}
}

func testCollectionsAreSeparate(t *testing.T, s store.Store) {
	c1, c2 := newCollection(t, s), newCollection(t, s)
	id := indicatorID()
	put(t, s, c1, indicator(id, ts("2024-01-01T00:00:00Z")))
	put(t, s, c2, indicator(id, ts("2024-01-02T00:00:00Z")), indicator(indicatorID(), ts("2024-01-01T00:00:00Z")))
	v1 := listAll(t, s, c1, store.Query{Versions: store.VersionMatch{All: true}})
	v2 := listAll(t, s, c2, store.Query{Versions: store.VersionMatch{All: true}})
	if len(v1) != 1 || len(v2) != 2 {
		t.Fatalf("collections hold %d and %d versions, want 1 and 2", len(v1), len(v2))
	}
	if v1[0].Collection != c1 || v2[0].Collection != c2 {
		t.Errorf("Collection fields %q %q, want %q %q", v1[0].Collection, v2[0].Collection, c1, c2)
	}
	// first/last are per collection.
	f1 := listAll(t, s, c1, store.Query{Versions: store.VersionMatch{Last: true}})
	if len(f1) != 1 || !f1[0].Modified.Equal(ts("2024-01-01T00:00:00Z")) {
		t.Errorf("last in c1 affected by c2's newer version: %s", joinKeys(keys(f1)))
	}
	if n, err := s.Delete(context.Background(), c2, id, store.VersionMatch{All: true}, nil); err != nil || n != 1 {
		t.Errorf("Delete in c2: %d, %v", n, err)
	}
	if got := len(listAll(t, s, c1, store.Query{})); got != 1 {
		t.Errorf("Delete in c2 removed from c1: %d left", got)
	}
}

func testDelete(t *testing.T, s store.Store) {
	ctx := context.Background()
	type step struct {
		vm        store.VersionMatch
		spec      []string
		n         int   // versions removed; 0 means ErrNotFound
		wantFirst int   // index into ms of the first remaining, -1 none
		wantLast  int   // index into ms of the last remaining
		remaining []int // indexes into ms remaining, in put order
	}
	ms := []time.Time{ts("2024-01-01T00:00:00Z"), ts("2024-01-02T00:00:00Z"), ts("2024-01-03T00:00:00Z")}
	cases := []struct {
		name  string
		steps []step
	}{
		{"all", []step{{vm: store.VersionMatch{All: true}, n: 3, wantFirst: -1}}},
		{"zero means last", []step{{n: 1, wantFirst: 0, wantLast: 1, remaining: []int{1, 0}}}},
		{"last then last", []step{
			{vm: store.VersionMatch{Last: true}, n: 1, wantFirst: 0, wantLast: 1, remaining: []int{1, 0}},
			{vm: store.VersionMatch{Last: true}, n: 1, wantFirst: 0, wantLast: 0, remaining: []int{0}},
			{vm: store.VersionMatch{Last: true}, n: 1, wantFirst: -1},
			{vm: store.VersionMatch{Last: true}, n: 0, wantFirst: -1},
		}},
		{"first", []step{{vm: store.VersionMatch{First: true}, n: 1, wantFirst: 1, wantLast: 2, remaining: []int{1, 2}}}},
		{"first and last", []step{{vm: store.VersionMatch{First: true, Last: true}, n: 2, wantFirst: 1, wantLast: 1, remaining: []int{1}}}},
		{"middle", []step{{vm: store.VersionMatch{At: []time.Time{ms[1]}}, n: 1, wantFirst: 0, wantLast: 2, remaining: []int{2, 0}}}},
		{"at two", []step{{vm: store.VersionMatch{At: []time.Time{ms[0], ms[2]}}, n: 2, wantFirst: 1, wantLast: 1, remaining: []int{1}}}},
		{"at unknown", []step{{vm: store.VersionMatch{At: []time.Time{ts("2023-01-01T00:00:00Z")}}, n: 0, wantFirst: 0, wantLast: 2, remaining: []int{1, 2, 0}}}},
		{"other spec version", []step{{vm: store.VersionMatch{All: true}, spec: []string{"2.0"}, n: 0, wantFirst: 0, wantLast: 2, remaining: []int{1, 2, 0}}}},
		{"matching spec version", []step{{vm: store.VersionMatch{All: true}, spec: []string{"2.0", "2.1"}, n: 3, wantFirst: -1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			coll := newCollection(t, s)
			id, other := indicatorID(), indicatorID()
			// put order: ms[1], ms[2], ms[0]
			put(t, s, coll, indicator(id, ms[1]), indicator(other, ms[0]))
			put(t, s, coll, indicator(id, ms[2]))
			put(t, s, coll, indicator(id, ms[0]))
			for i, st := range tc.steps {
				n, err := s.Delete(ctx, coll, id, st.vm, st.spec)
				if st.n == 0 {
					wantErr(t, fmt.Sprintf("step %d", i), err, store.ErrNotFound)
				} else if err != nil || n != st.n {
					t.Fatalf("step %d: Delete = %d, %v; want %d", i, n, err, st.n)
				}
				var want []string
				for _, j := range st.remaining {
					want = append(want, key(id, ms[j]))
				}
				got := keys(listAll(t, s, coll, store.Query{IDs: []string{id}, Versions: store.VersionMatch{All: true}}))
				if !sameKeys(got, want) {
					t.Fatalf("step %d: remaining %s, want %s", i, joinKeys(got), joinKeys(want))
				}
				first := keys(listAll(t, s, coll, store.Query{IDs: []string{id}, Versions: store.VersionMatch{First: true}}))
				last := keys(listAll(t, s, coll, store.Query{IDs: []string{id}, Versions: store.VersionMatch{Last: true}}))
				if st.wantFirst < 0 {
					if len(first)+len(last) != 0 {
						t.Errorf("step %d: first %s last %s after deleting everything", i, joinKeys(first), joinKeys(last))
					}
				} else {
					if !sameKeys(first, []string{key(id, ms[st.wantFirst])}) {
						t.Errorf("step %d: first is %s, want %s", i, joinKeys(first), key(id, ms[st.wantFirst]))
					}
					if !sameKeys(last, []string{key(id, ms[st.wantLast])}) {
						t.Errorf("step %d: last is %s, want %s", i, joinKeys(last), key(id, ms[st.wantLast]))
					}
				}
			}
			if got := keys(listAll(t, s, coll, store.Query{IDs: []string{other}, Versions: store.VersionMatch{All: true}})); len(got) != 1 {
				t.Errorf("another object was touched: %s", joinKeys(got))
			}
			// Whatever was deleted can be added again.
			out := put(t, s, coll, indicator(id, ms[0]), indicator(id, ms[1]), indicator(id, ms[2]))
			added := 0
			for _, o := range out {
				if o.Added {
					added++
				}
			}
			if want := 3 - len(tc.steps[len(tc.steps)-1].remaining); added != want {
				t.Errorf("re-adding: %d added, want %d", added, want)
			}
			if last := keys(listAll(t, s, coll, store.Query{IDs: []string{id}})); !sameKeys(last, []string{key(id, ms[2])}) {
				t.Errorf("after re-adding, last is %s", joinKeys(last))
			}
		})
	}
	t.Run("unknown object", func(t *testing.T) {
		coll := newCollection(t, s)
		_, err := s.Delete(ctx, coll, indicatorID(), store.VersionMatch{All: true}, nil)
		wantErr(t, "Delete of an unknown object", err, store.ErrNotFound)
	})
	t.Run("SCO", func(t *testing.T) {
		coll := newCollection(t, s)
		ip := sco("ipv4-addr", "ipv4-addr--"+newUUID(), "192.0.2.44")
		put(t, s, coll, ip)
		n, err := s.Delete(ctx, coll, ip.ID, store.VersionMatch{}, nil)
		if err != nil || n != 1 {
			t.Fatalf("Delete SCO: %d, %v", n, err)
		}
		if got := listAll(t, s, coll, store.Query{Versions: store.VersionMatch{All: true}}); len(got) != 0 {
			t.Errorf("SCO still listed: %s", joinKeys(keys(got)))
		}
	})
}
