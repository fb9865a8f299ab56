package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// RunLog (part of Run) runs the conformance tests of store.Log, the
// audit log's storage: dense entry indexes shared by AppendLog and the
// entries the Recorder returns, the Change each mutating method reports,
// the all-or-nothing coupling of a change and its entries, stored hashes
// in golang.org/x/mod/sumdb/tlog's order (RFC 6962 trees) and
// conditional tree extension with checkpoints. open is as for Run.
func RunLog(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, l store.Log)
	}{
		{"Empty", testLogEmpty},
		{"AppendRead", testLogAppendRead},
		{"AppendSpooled", testLogAppendSpooled},
		{"RecordedChanges", testLogRecordedChanges},
		{"RecorderError", testLogRecorderError},
		{"FailedChangeNoEntry", testLogFailedChange},
		{"ConcurrentAppends", func(t *testing.T, s store.Store, _ store.Log) { ConcurrentAppends(t, []store.Store{s}) }},
		{"Tree", testLogTree},
		{"TreeSteps", testLogTreeSteps},
		{"ConcurrentExtend", testLogConcurrentExtend},
		{"DeleteCheckpoints", testLogDeleteCheckpoints},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s, asLog(t, s))
		})
	}
}

// asLog returns the store's Log.
func asLog(_ testing.TB, s store.Store) store.Log { return s }

// readAll reads the whole log and checks that LogSize agrees.
func readAll(t testing.TB, l store.Log) [][]byte {
	t.Helper()
	ctx := context.Background()
	n, err := l.LogSize(ctx)
	if err != nil {
		t.Fatalf("LogSize: %v", err)
	}
	es, err := l.ReadLog(ctx, 0, n)
	if err != nil {
		t.Fatalf("ReadLog(0, %d): %v", n, err)
	}
	if int64(len(es)) != n {
		t.Fatalf("ReadLog(0, %d) returned %d entries", n, len(es))
	}
	return es
}

func logSize(t testing.TB, l store.Log) int64 {
	t.Helper()
	n, err := l.LogSize(context.Background())
	if err != nil {
		t.Fatalf("LogSize: %v", err)
	}
	return n
}

func sameEntries(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

func showEntries(es [][]byte) string {
	var b strings.Builder
	for i, e := range es {
		fmt.Fprintf(&b, "\n\t%d: %q", i, e)
	}
	return b.String()
}

func testLogEmpty(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	if n := logSize(t, l); n != 0 {
		t.Errorf("LogSize of a fresh store = %d", n)
	}
	if n, err := l.TreeSize(ctx); err != nil || n != 0 {
		t.Errorf("TreeSize of a fresh store = %d, %v", n, err)
	}
	if es, err := l.ReadLog(ctx, 0, 0); err != nil || len(es) != 0 {
		t.Errorf("ReadLog(0, 0) = %d entries, %v", len(es), err)
	}
	_, err := l.ReadLog(ctx, 0, 1)
	wantErr(t, "ReadLog(0, 1) of an empty log", err, store.ErrNotFound)
	_, err = l.ReadHashes(ctx, []int64{0})
	wantErr(t, "ReadHashes([0]) of an empty tree", err, store.ErrNotFound)
	if hs, err := l.ReadHashes(ctx, nil); err != nil || len(hs) != 0 {
		t.Errorf("ReadHashes(nil) = %d hashes, %v", len(hs), err)
	}
	_, err = l.LatestCheckpoint(ctx)
	wantErr(t, "LatestCheckpoint of an empty log", err, store.ErrNotFound)
	if cps, err := l.Checkpoints(ctx, 0, 1<<40); err != nil || len(cps) != 0 {
		t.Errorf("Checkpoints of an empty log = %d, %v", len(cps), err)
	}

	// Appending nothing returns the size and changes nothing.
	if first, err := l.AppendLog(ctx, nil); err != nil || first != 0 {
		t.Errorf("AppendLog(nil) = %d, %v; want 0", first, err)
	}
	// A cancelled context appends nothing.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.AppendLog(cctx, [][]byte{[]byte("x")}); err == nil {
		t.Errorf("AppendLog with a cancelled context: no error")
	}
	if n := logSize(t, l); n != 0 {
		t.Errorf("LogSize after appending nothing = %d", n)
	}
}

// testLogAppendSpooled: AppendSpooled stores a move once (a repeat, or a
// lower seq, is ErrConflict with nothing stored), keeps each spool's mark
// apart, and interleaves with AppendLog in one dense sequence.
func testLogAppendSpooled(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	mark := func(spool string, want int64) {
		t.Helper()
		got, err := l.SpoolMark(ctx, spool)
		if err != nil || got != want {
			t.Fatalf("SpoolMark(%s) = %d, %v; want %d", spool, got, err, want)
		}
	}
	mark("node-a", 0)
	var want [][]byte
	add := func(spool string, seq int64, es ...string) {
		t.Helper()
		b := make([][]byte, len(es))
		for i, e := range es {
			b[i] = []byte(e)
		}
		first, err := l.AppendSpooled(ctx, spool, seq, b)
		if err != nil {
			t.Fatalf("AppendSpooled(%s, %d): %v", spool, seq, err)
		}
		if first != int64(len(want)) {
			t.Errorf("AppendSpooled(%s, %d): first %d, want %d", spool, seq, first, len(want))
		}
		want = append(want, b...)
	}
	add("node-a", 3, "a1", "a2", "a3")
	mark("node-a", 3)
	mark("node-b", 0)
	if _, err := l.AppendLog(ctx, [][]byte{[]byte("direct")}); err != nil {
		t.Fatal(err)
	}
	want = append(want, []byte("direct"))
	add("node-b", 1, "b1")
	for _, seq := range []int64{3, 2} {
		_, err := l.AppendSpooled(ctx, "node-a", seq, [][]byte{[]byte("again")})
		wantErr(t, fmt.Sprintf("AppendSpooled(node-a, %d) after a move to 3", seq), err, store.ErrConflict)
	}
	add("node-a", 5, "a4", "a5")
	mark("node-a", 5)
	mark("node-b", 1)
	if got := readAll(t, l); !sameEntries(got, want) {
		t.Errorf("log after spooled appends:%s\nwant:%s", showEntries(got), showEntries(want))
	}
}

func testLogAppendRead(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	batches := [][][]byte{
		{[]byte(`{"a":1}`), {}, {0, 0xff, '\n', 0}},
		{[]byte("four")},
		{big, []byte("six")},
	}
	// Enough entries for several INSERT statements of a batch.
	var many [][]byte
	for i := range 1001 {
		many = append(many, fmt.Appendf(nil, "many %d", i))
	}
	batches = append(batches, many)
	var want [][]byte
	for i, b := range batches {
		first, err := l.AppendLog(ctx, b)
		if err != nil {
			t.Fatalf("AppendLog batch %d: %v", i, err)
		}
		if first != int64(len(want)) {
			t.Errorf("AppendLog batch %d: first index %d, want %d", i, first, len(want))
		}
		want = append(want, b...)
		if n := logSize(t, l); n != int64(len(want)) {
			t.Errorf("LogSize after batch %d = %d, want %d", i, n, len(want))
		}
	}
	if got := readAll(t, l); !sameEntries(got, want) {
		t.Errorf("ReadLog(0, %d) differs from what was appended", len(want))
	}
	for _, r := range [][2]int64{{0, 0}, {1, 4}, {3, 3}, {4, 6}, {5, 1007}, {int64(len(want)), int64(len(want))}} {
		got, err := l.ReadLog(ctx, r[0], r[1])
		if err != nil {
			t.Errorf("ReadLog(%d, %d): %v", r[0], r[1], err)
			continue
		}
		if !sameEntries(got, want[r[0]:r[1]]) {
			t.Errorf("ReadLog(%d, %d) = %d entries, not the ones appended", r[0], r[1], len(got))
		}
	}
	n := int64(len(want))
	for _, r := range [][2]int64{{0, n + 1}, {n, n + 1}, {n + 5, n + 10}} {
		_, err := l.ReadLog(ctx, r[0], r[1])
		wantErr(t, fmt.Sprintf("ReadLog(%d, %d) of a log of %d", r[0], r[1], n), err, store.ErrNotFound)
	}
	for _, r := range [][2]int64{{-1, 2}, {3, 2}} {
		if _, err := l.ReadLog(ctx, r[0], r[1]); err == nil {
			t.Errorf("ReadLog(%d, %d): no error", r[0], r[1])
		}
	}
	// An entry handed back is the caller's: changing it changes nothing
	// stored.
	got, _ := l.ReadLog(ctx, 0, 1)
	got[0][0] = 'X'
	if again, _ := l.ReadLog(ctx, 0, 1); !bytes.Equal(again[0], want[0]) {
		t.Errorf("changing a returned entry changed the next read: %q", again[0])
	}
}

// ---- the Recorder ----

var errRecorder = errors.New("the recorder refuses this change")

type ctxKey struct{}

// call is one Recorder call as the recorder saw it.
type call struct {
	c        store.Change
	outcomes []store.PutOutcome // copied during the call
	ctxValue any
}

// testRecorder keeps every call and returns changeEntries; it fails the
// op named by fail.
type testRecorder struct {
	mu    sync.Mutex
	calls []call
	fail  string
}

func (r *testRecorder) record(ctx context.Context, c store.Change) ([][]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.Op == r.fail {
		return nil, errRecorder
	}
	r.calls = append(r.calls, call{c: c, outcomes: slices.Clone(c.Outcomes), ctxValue: ctx.Value(ctxKey{})})
	return changeEntries(c), nil
}

func (r *testRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// changeEntries is what the test recorders log for a change: one entry
// per added version for a put (none when nothing was added), one entry
// for any other change.
func changeEntries(c store.Change) [][]byte {
	switch c.Op {
	case store.OpPut:
		var es [][]byte
		for i, o := range c.Objects {
			if i < len(c.Outcomes) && c.Outcomes[i].Added {
				es = append(es, fmt.Appendf(nil, "put %s %s %s from %s", c.Collection, o.ID, objKey(o), c.Source))
			}
		}
		return es
	case store.OpDelete:
		return [][]byte{fmt.Appendf(nil, "delete %s %s %d", c.Collection, c.ObjectID, c.Deleted)}
	}
	return [][]byte{fmt.Appendf(nil, "%s %s", c.Op, c.Collection)}
}

// checkChange compares a recorded call with the change expected, field by
// field; the fields want leaves zero must be zero.
func checkChange(t *testing.T, what string, got call, want store.Change) {
	t.Helper()
	c := got.c
	bad := func(field string, g, w any) { t.Errorf("%s: Change.%s = %v, want %v", what, field, g, w) }
	if got.ctxValue != "caller" {
		t.Errorf("%s: the recorder's context is not the caller's (value %v)", what, got.ctxValue)
	}
	if c.Op != want.Op {
		bad("Op", c.Op, want.Op)
	}
	if c.Collection != want.Collection {
		bad("Collection", c.Collection, want.Collection)
	}
	if c.Source != want.Source {
		bad("Source", c.Source, want.Source)
	}
	if c.ObjectID != want.ObjectID {
		bad("ObjectID", c.ObjectID, want.ObjectID)
	}
	if c.Deleted != want.Deleted {
		bad("Deleted", c.Deleted, want.Deleted)
	}
	if len(c.Objects) != len(want.Objects) {
		bad("Objects", len(c.Objects), len(want.Objects))
	} else {
		for i := range c.Objects {
			if c.Objects[i] != want.Objects[i] {
				t.Errorf("%s: Change.Objects[%d] is not input %d", what, i, i)
			}
		}
	}
	if len(got.outcomes) != len(want.Outcomes) {
		bad("Outcomes", len(got.outcomes), len(want.Outcomes))
	} else {
		for i, o := range got.outcomes {
			if o.Added != want.Outcomes[i].Added || !o.DateAdded.Equal(want.Outcomes[i].DateAdded) {
				bad(fmt.Sprintf("Outcomes[%d]", i), o, want.Outcomes[i])
			}
		}
	}
	switch {
	case (c.Coll == nil) != (want.Coll == nil):
		bad("Coll", c.Coll, want.Coll)
	case c.Coll != nil && !sameCollection(*c.Coll, *want.Coll):
		bad("Coll", *c.Coll, *want.Coll)
	}
	switch {
	case (c.Org == nil) != (want.Org == nil):
		bad("Org", c.Org, want.Org)
	case c.Org != nil && !sameOrg(*c.Org, *want.Org):
		bad("Org", *c.Org, *want.Org)
	}
	switch {
	case (c.Token == nil) != (want.Token == nil):
		bad("Token", c.Token, want.Token)
	case c.Token != nil && !sameToken(*c.Token, *want.Token):
		bad("Token", *c.Token, *want.Token)
	}
	if c.Token != nil && c.Token.Hash != nil {
		t.Errorf("%s: Change.Token.Hash is set: the recorder must never see a token's hash", what)
	}
	switch {
	case (c.Grant == nil) != (want.Grant == nil):
		bad("Grant", c.Grant, want.Grant)
	case c.Grant != nil && *c.Grant != *want.Grant:
		bad("Grant", *c.Grant, *want.Grant)
	}
}

// logTracker follows what the log must hold while a test changes the
// store.
type logTracker struct {
	t     *testing.T
	l     store.Log
	rec   *testRecorder
	calls int // recorder calls accounted for
	want  [][]byte
}

// changed checks that the last operation called the recorder exactly once
// with want and appended that call's entries at the end of the log.
func (k *logTracker) changed(what string, want store.Change) {
	k.t.Helper()
	k.rec.mu.Lock()
	calls := slices.Clone(k.rec.calls)
	k.rec.mu.Unlock()
	if len(calls) != k.calls+1 {
		k.t.Fatalf("%s: the recorder was called %d times, want once", what, len(calls)-k.calls)
	}
	k.calls++
	got := calls[len(calls)-1]
	checkChange(k.t, what, got, want)
	k.want = append(k.want, changeEntries(got.c)...)
	k.check(what)
}

// appended checks an AppendLog of entries.
func (k *logTracker) appended(entries ...string) {
	k.t.Helper()
	var es [][]byte
	for _, e := range entries {
		es = append(es, []byte(e))
	}
	first, err := k.l.AppendLog(context.Background(), es)
	if err != nil {
		k.t.Fatalf("AppendLog: %v", err)
	}
	if first != int64(len(k.want)) {
		k.t.Errorf("AppendLog after %d entries returned first index %d", len(k.want), first)
	}
	k.want = append(k.want, es...)
	k.check("AppendLog")
}

// unchanged checks that a failed operation left the log as it was. The
// recorder may have been called (a backend may learn of the failure only
// after), but none of its entries may be in the log.
func (k *logTracker) unchanged(what string) {
	k.t.Helper()
	k.calls = k.rec.count()
	k.check(what)
}

// check compares the whole log with what it must hold.
func (k *logTracker) check(what string) {
	k.t.Helper()
	if got := readAll(k.t, k.l); !sameEntries(got, k.want) {
		k.t.Fatalf("after %s the log holds:%s\nwant:%s", what, showEntries(got), showEntries(k.want))
	}
}

func testLogRecordedChanges(t *testing.T, s store.Store, l store.Log) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	rec := &testRecorder{}
	l.SetRecorder(rec.record)
	k := &logTracker{t: t, l: l, rec: rec}
	k.appended("before any change")

	// Created left zero: the Change carries what was stored (a backend
	// may store the current time instead).
	org := store.Org{ID: newUUID(), Name: "partner " + newUUID(), Kind: store.KindPartner}
	if err := s.CreateOrg(ctx, org); err != nil {
		t.Fatalf("CreateOrg: %v", err)
	}
	storedOrg, err := s.GetOrg(ctx, org.ID)
	if err != nil {
		t.Fatalf("GetOrg: %v", err)
	}
	k.changed("CreateOrg", store.Change{Op: store.OpOrgCreate, Org: &storedOrg})

	coll := store.Collection{ID: newUUID(), APIRoot: store.DefaultAPIRoot, Title: "logged", Description: "about it",
		Alias: "logged-" + newUUID()[:8], MediaTypes: []string{"application/stix+json;version=2.1"}, DefaultTLP: "green"}
	if err := s.CreateCollection(ctx, coll); err != nil {
		t.Fatalf("CreateCollection: %v", err)
	}
	storedColl, err := s.GetCollection(ctx, coll.ID)
	if err != nil {
		t.Fatalf("GetCollection: %v", err)
	}
	k.changed("CreateCollection", store.Change{Op: store.OpCollectionCreate, Collection: coll.ID, Coll: &storedColl})

	upd := storedColl
	upd.Title, upd.Description, upd.DefaultTLP, upd.Alias = "renamed", "changed", "amber", ""
	if err := s.UpdateCollection(ctx, upd); err != nil {
		t.Fatalf("UpdateCollection: %v", err)
	}
	k.changed("UpdateCollection", store.Change{Op: store.OpCollectionUpdate, Collection: coll.ID, Coll: &upd})
	k.appended("between", "changes")

	secret := sha256.Sum256([]byte("secret " + newUUID()))
	tok := store.Token{ID: newUUID(), OrgID: org.ID, Role: store.RoleWrite, Hash: secret[:], Label: "ingest", Expires: now().Add(time.Hour)}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	storedTok, err := s.TokenByHash(ctx, secret[:])
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	logged := storedTok
	logged.Hash = nil
	k.changed("CreateToken", store.Change{Op: store.OpTokenCreate, Token: &logged})

	at := now().Add(-time.Minute)
	if err := s.RevokeToken(ctx, tok.ID, at); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	k.changed("RevokeToken", store.Change{Op: store.OpTokenRevoke, Token: &store.Token{ID: tok.ID, OrgID: org.ID, Revoked: at}})

	g := store.Grant{Collection: coll.ID, OrgID: org.ID, Read: true}
	if err := s.SetGrant(ctx, g); err != nil {
		t.Fatalf("SetGrant: %v", err)
	}
	k.changed("SetGrant", store.Change{Op: store.OpGrantSet, Collection: coll.ID, Grant: &g})
	none := store.Grant{Collection: coll.ID, OrgID: org.ID}
	if err := s.SetGrant(ctx, none); err != nil {
		t.Fatalf("SetGrant removing: %v", err)
	}
	k.changed("SetGrant removing", store.Change{Op: store.OpGrantSet, Collection: coll.ID, Grant: &none})

	// A batch with a new object, an SCO, a repeat of the first input and
	// another new object: three added, the repeat unchanged.
	aID := indicatorID()
	a1 := indicator(aID, ts("2024-05-01T00:00:00Z"))
	objs := []*stix.Object{a1, sco("ipv4-addr", "ipv4-addr--"+newUUID(), "203.0.113.9"),
		indicator(aID, ts("2024-05-01T00:00:00Z")), indicator(indicatorID(), ts("2024-05-02T00:00:00Z"))}
	out, err := s.Put(ctx, coll.ID, org.ID, objs)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	if added := []bool{out[0].Added, out[1].Added, out[2].Added, out[3].Added}; !slices.Equal(added, []bool{true, true, false, true}) {
		t.Fatalf("Put outcomes %v", added)
	}
	k.changed("Put", store.Change{Op: store.OpPut, Collection: coll.ID, Source: org.ID, Objects: objs, Outcomes: out})

	objs = []*stix.Object{a1, indicator(aID, ts("2024-05-03T00:00:00Z"))}
	out, err = s.Put(ctx, coll.ID, org.ID, objs)
	if err != nil {
		t.Fatalf("Put a new version: %v", err)
	}
	k.changed("Put a new version", store.Change{Op: store.OpPut, Collection: coll.ID, Source: org.ID, Objects: objs, Outcomes: out})

	// Nothing added is still a change the recorder hears of; it logs
	// nothing for it here.
	objs = []*stix.Object{a1}
	out, err = s.Put(ctx, coll.ID, "", objs)
	if err != nil || out[0].Added {
		t.Fatalf("Put unchanged: %+v, %v", out, err)
	}
	k.changed("Put unchanged", store.Change{Op: store.OpPut, Collection: coll.ID, Objects: objs, Outcomes: out})
	out, err = s.Put(ctx, coll.ID, org.ID, nil)
	if err != nil {
		t.Fatalf("Put of nothing: %v", err)
	}
	k.changed("Put of nothing", store.Change{Op: store.OpPut, Collection: coll.ID, Source: org.ID, Outcomes: out})
	k.appended("after the puts")

	n, err := s.Delete(ctx, coll.ID, aID, store.VersionMatch{All: true}, nil)
	if err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v; want 2", n, err)
	}
	k.changed("Delete", store.Change{Op: store.OpDelete, Collection: coll.ID, Source: org.ID, ObjectID: aID, Deleted: 2})

	if err := s.DeleteCollection(ctx, coll.ID); err != nil {
		t.Fatalf("DeleteCollection: %v", err)
	}
	k.changed("DeleteCollection", store.Change{Op: store.OpCollectionDelete, Collection: coll.ID})
	k.appended("last")

	// Without a recorder, changes log nothing.
	l.SetRecorder(nil)
	if err := s.CreateOrg(ctx, store.Org{ID: newUUID(), Name: "unlogged", Kind: store.KindMember, Country: "NL"}); err != nil {
		t.Fatalf("CreateOrg without a recorder: %v", err)
	}
	if rec.count() != k.calls {
		t.Errorf("a removed recorder was called")
	}
	k.check("a change without a recorder")
}

// logSetup makes an organisation, a collection with one object, a token
// and a grant, all with the recorder installed, and starts a tracker at
// the log that results.
type logSetup struct {
	org    store.Org
	coll   store.Collection
	obj    *stix.Object
	tok    store.Token
	grant  store.Grant
	secret []byte
}

func newLogSetup(t *testing.T, ctx context.Context, s store.Store, l store.Log, rec *testRecorder) (*logSetup, *logTracker) {
	t.Helper()
	secret := sha256.Sum256([]byte("secret " + newUUID()))
	su := &logSetup{
		org:    store.Org{ID: newUUID(), Name: "partner " + newUUID(), Kind: store.KindPartner, Created: now()},
		coll:   store.Collection{ID: newUUID(), APIRoot: store.DefaultAPIRoot, Title: "before", Created: now()},
		obj:    indicator(indicatorID(), ts("2024-06-01T00:00:00Z")),
		secret: secret[:],
	}
	su.tok = store.Token{ID: newUUID(), OrgID: su.org.ID, Role: store.RoleRead, Hash: su.secret, Created: now()}
	su.grant = store.Grant{Collection: su.coll.ID, OrgID: su.org.ID, Read: true}
	l.SetRecorder(rec.record)
	if err := s.CreateOrg(ctx, su.org); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateCollection(ctx, su.coll); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, su.coll.ID, su.org.ID, []*stix.Object{su.obj}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateToken(ctx, su.tok); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrant(ctx, su.grant); err != nil {
		t.Fatal(err)
	}
	k := &logTracker{t: t, l: l, rec: rec, calls: rec.count(), want: readAll(t, l)}
	if len(k.want) != 5 {
		t.Fatalf("setup logged %d entries, want 5:%s", len(k.want), showEntries(k.want))
	}
	return su, k
}

// versionsOf lists every version of one object.
func versionsOf(t *testing.T, s store.Store, coll, id string) []store.Version {
	t.Helper()
	return list(t, s, coll, store.Query{IDs: []string{id}, Versions: store.VersionMatch{All: true}, Limit: 100}).Versions
}

func testLogRecorderError(t *testing.T, s store.Store, l store.Log) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	rec := &testRecorder{}
	su, k := newLogSetup(t, ctx, s, l, rec)
	newObj := indicator(indicatorID(), ts("2024-06-02T00:00:00Z"))
	secret2 := sha256.Sum256([]byte("other " + newUUID()))
	org2 := store.Org{ID: newUUID(), Name: "refused " + newUUID(), Kind: store.KindMember, Country: "FR"}
	coll2 := store.Collection{ID: newUUID(), APIRoot: store.DefaultAPIRoot, Title: "refused"}

	cases := []struct {
		op    string
		do    func() error
		check func() // that nothing changed
	}{
		{store.OpPut, func() error {
			_, err := s.Put(ctx, su.coll.ID, su.org.ID, []*stix.Object{newObj})
			return err
		}, func() {
			if vs := versionsOf(t, s, su.coll.ID, newObj.ID); len(vs) != 0 {
				t.Errorf("refused Put stored %d versions", len(vs))
			}
		}},
		{store.OpDelete, func() error {
			_, err := s.Delete(ctx, su.coll.ID, su.obj.ID, store.VersionMatch{All: true}, nil)
			return err
		}, func() {
			if vs := versionsOf(t, s, su.coll.ID, su.obj.ID); len(vs) != 1 {
				t.Errorf("refused Delete left %d versions, want 1", len(vs))
			}
		}},
		{store.OpCollectionCreate, func() error { return s.CreateCollection(ctx, coll2) }, func() {
			_, err := s.GetCollection(ctx, coll2.ID)
			wantErr(t, "GetCollection after a refused create", err, store.ErrNotFound)
		}},
		{store.OpCollectionUpdate, func() error {
			c := su.coll
			c.Title = "after"
			return s.UpdateCollection(ctx, c)
		}, func() {
			if c, err := s.GetCollection(ctx, su.coll.ID); err != nil || c.Title != "before" {
				t.Errorf("after a refused update: %+v, %v", c, err)
			}
		}},
		{store.OpCollectionDelete, func() error { return s.DeleteCollection(ctx, su.coll.ID) }, func() {
			if _, err := s.GetCollection(ctx, su.coll.ID); err != nil {
				t.Errorf("after a refused delete: %v", err)
			}
			if vs := versionsOf(t, s, su.coll.ID, su.obj.ID); len(vs) != 1 {
				t.Errorf("refused DeleteCollection left %d versions, want 1", len(vs))
			}
			if _, err := s.GetGrant(ctx, su.coll.ID, su.org.ID); err != nil {
				t.Errorf("refused DeleteCollection: grant: %v", err)
			}
		}},
		{store.OpOrgCreate, func() error { return s.CreateOrg(ctx, org2) }, func() {
			_, err := s.GetOrg(ctx, org2.ID)
			wantErr(t, "GetOrg after a refused create", err, store.ErrNotFound)
		}},
		{store.OpTokenCreate, func() error {
			return s.CreateToken(ctx, store.Token{ID: newUUID(), OrgID: su.org.ID, Role: store.RoleAdmin, Hash: secret2[:]})
		}, func() {
			_, err := s.TokenByHash(ctx, secret2[:])
			wantErr(t, "TokenByHash after a refused create", err, store.ErrNotFound)
		}},
		{store.OpTokenRevoke, func() error { return s.RevokeToken(ctx, su.tok.ID, now()) }, func() {
			if tok, err := s.TokenByHash(ctx, su.secret); err != nil || !tok.Revoked.IsZero() {
				t.Errorf("after a refused revoke: %+v, %v", tok, err)
			}
		}},
		{store.OpGrantSet, func() error {
			return s.SetGrant(ctx, store.Grant{Collection: su.coll.ID, OrgID: su.org.ID, Read: true, Write: true})
		}, func() {
			if g, err := s.GetGrant(ctx, su.coll.ID, su.org.ID); err != nil || g != su.grant {
				t.Errorf("after a refused grant: %+v, %v", g, err)
			}
		}},
		{store.OpGrantSet, func() error { return s.SetGrant(ctx, store.Grant{Collection: su.coll.ID, OrgID: su.org.ID}) }, func() {
			if g, err := s.GetGrant(ctx, su.coll.ID, su.org.ID); err != nil || g != su.grant {
				t.Errorf("after a refused grant removal: %+v, %v", g, err)
			}
		}},
	}
	for _, tc := range cases {
		rec.mu.Lock()
		rec.fail = tc.op
		rec.mu.Unlock()
		err := tc.do()
		rec.mu.Lock()
		rec.fail = ""
		rec.mu.Unlock()
		if !errors.Is(err, errRecorder) {
			t.Errorf("%s refused by the recorder: error %v, want the recorder's", tc.op, err)
		}
		k.unchanged(tc.op + " refused by the recorder")
		tc.check()
	}

	// The log goes on densely after the refusals.
	objs := []*stix.Object{newObj}
	out, err := s.Put(ctx, su.coll.ID, su.org.ID, objs)
	if err != nil {
		t.Fatalf("Put after the refusals: %v", err)
	}
	k.changed("Put after the refusals", store.Change{Op: store.OpPut, Collection: su.coll.ID, Source: su.org.ID, Objects: objs, Outcomes: out})
}

func testLogFailedChange(t *testing.T, s store.Store, l store.Log) {
	ctx := context.WithValue(context.Background(), ctxKey{}, "caller")
	rec := &testRecorder{}
	su, k := newLogSetup(t, ctx, s, l, rec)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	newObj := func() []*stix.Object { return []*stix.Object{indicator(indicatorID(), ts("2024-06-03T00:00:00Z"))} }
	ghostSecret := sha256.Sum256([]byte("ghost " + newUUID()))
	dupColl := su.coll
	dupColl.Title = "duplicate"
	missingColl := store.Collection{ID: newUUID(), APIRoot: store.DefaultAPIRoot, Title: "missing"}

	cases := []struct {
		what string
		do   func() error
		want error // nil: any error
	}{
		{"Put into a missing collection", func() error { _, err := s.Put(ctx, newUUID(), su.org.ID, newObj()); return err }, store.ErrNotFound},
		{"Put with a nil object", func() error { _, err := s.Put(ctx, su.coll.ID, su.org.ID, append(newObj(), nil)); return err }, nil},
		{"Put with a cancelled context", func() error { _, err := s.Put(cancelled, su.coll.ID, su.org.ID, newObj()); return err }, context.Canceled},
		{"Delete of a missing object", func() error {
			_, err := s.Delete(ctx, su.coll.ID, indicatorID(), store.VersionMatch{All: true}, nil)
			return err
		}, store.ErrNotFound},
		{"Delete from a missing collection", func() error {
			_, err := s.Delete(ctx, newUUID(), su.obj.ID, store.VersionMatch{All: true}, nil)
			return err
		}, store.ErrNotFound},
		{"CreateCollection with a taken id", func() error { return s.CreateCollection(ctx, dupColl) }, store.ErrExists},
		{"UpdateCollection of a missing collection", func() error { return s.UpdateCollection(ctx, missingColl) }, store.ErrNotFound},
		{"DeleteCollection of a missing collection", func() error { return s.DeleteCollection(ctx, newUUID()) }, store.ErrNotFound},
		{"CreateOrg with a taken id", func() error { return s.CreateOrg(ctx, su.org) }, store.ErrExists},
		{"CreateToken for a missing org", func() error {
			return s.CreateToken(ctx, store.Token{ID: newUUID(), OrgID: newUUID(), Role: store.RoleRead, Hash: ghostSecret[:]})
		}, store.ErrNotFound},
		{"CreateToken with a taken hash", func() error {
			return s.CreateToken(ctx, store.Token{ID: newUUID(), OrgID: su.org.ID, Role: store.RoleRead, Hash: su.secret})
		}, store.ErrExists},
		{"RevokeToken of a missing token", func() error { return s.RevokeToken(ctx, newUUID(), now()) }, store.ErrNotFound},
		{"SetGrant for a missing org", func() error {
			return s.SetGrant(ctx, store.Grant{Collection: su.coll.ID, OrgID: newUUID(), Read: true})
		}, store.ErrNotFound},
		{"SetGrant on a missing collection", func() error {
			return s.SetGrant(ctx, store.Grant{Collection: newUUID(), OrgID: su.org.ID, Read: true})
		}, store.ErrNotFound},
	}
	for _, tc := range cases {
		err := tc.do()
		switch {
		case err == nil:
			t.Errorf("%s: no error", tc.what)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: error %v, want %v", tc.what, err, tc.want)
		}
		k.unchanged(tc.what)
	}
}

// ConcurrentAppends appends to the log from several goroutines on each of
// stores at once - by AppendLog and by Puts with a recorder - and checks
// that the log then holds every entry exactly once at dense indexes, the
// entries of each call contiguous and in order. stores share one database
// (several nodes); ConcurrentAppends installs its own recorder on each.
func ConcurrentAppends(t *testing.T, stores []store.Store) {
	ctx := context.Background()
	coll := newCollection(t, stores[0])
	for _, s := range stores {
		asLog(t, s).SetRecorder(func(_ context.Context, c store.Change) ([][]byte, error) { return changeEntries(c), nil })
	}
	const appenders, putters, rounds, perPut = 3, 2, 15, 5
	type appendCall struct {
		first   int64
		entries [][]byte
	}
	type putCall struct {
		source string
		objs   []*stix.Object
	}
	var (
		mu      sync.Mutex
		appends []appendCall
		puts    []putCall
		wg      sync.WaitGroup
		errs    = make(chan error, len(stores)*(appenders+putters))
	)
	for si, s := range stores {
		l := asLog(t, s)
		for g := range appenders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					es := make([][]byte, 1+(g+r)%4)
					for j := range es {
						es[j] = fmt.Appendf(nil, "append node %d goroutine %d round %d entry %d", si, g, r, j)
					}
					first, err := l.AppendLog(ctx, es)
					if err != nil {
						errs <- fmt.Errorf("AppendLog on node %d: %w", si, err)
						return
					}
					mu.Lock()
					appends = append(appends, appendCall{first, es})
					mu.Unlock()
				}
			}()
		}
		for g := range putters {
			wg.Add(1)
			go func() {
				defer wg.Done()
				gen := newObjectGen()
				src := fmt.Sprintf("node %d putter %d", si, g)
				for range rounds {
					objs := gen.batch(perPut)
					if _, err := s.Put(ctx, coll, src, objs); err != nil {
						errs <- fmt.Errorf("Put on node %d: %w", si, err)
						return
					}
					mu.Lock()
					puts = append(puts, putCall{src, objs})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	all := readAll(t, asLog(t, stores[len(stores)-1]))
	total := 0
	for _, a := range appends {
		total += len(a.entries)
	}
	total += len(puts) * perPut
	if len(all) != total {
		t.Fatalf("the log holds %d entries, %d were appended", len(all), total)
	}
	at := make(map[string]int, len(all))
	for i, e := range all {
		if j, dup := at[string(e)]; dup {
			t.Fatalf("entry %q at indexes %d and %d", e, j, i)
		}
		at[string(e)] = i
	}
	for _, a := range appends {
		for j, e := range a.entries {
			if i := a.first + int64(j); !bytes.Equal(all[i], e) {
				t.Errorf("AppendLog returned first index %d, but entry %d (%q) is at %d", a.first, j, e, at[string(e)])
			}
		}
	}
	for _, p := range puts {
		added := make([]store.PutOutcome, len(p.objs))
		for i := range added {
			added[i].Added = true
		}
		es := changeEntries(store.Change{Op: store.OpPut, Collection: coll, Source: p.source, Objects: p.objs, Outcomes: added})
		first, ok := at[string(es[0])]
		if !ok {
			t.Errorf("no entry for a Put of %d objects by %s", len(p.objs), p.source)
			continue
		}
		for j, e := range es {
			if i, ok := at[string(e)]; !ok || i != first+j {
				t.Errorf("entry %d of a Put is at index %d (found %v), want %d", j, i, ok, first+j)
			}
		}
	}
}

// ---- the tree ----

// localTree is an RFC 6962 tree of entries kept in memory by tlog.
type localTree struct {
	n      int64       // records
	hashes []tlog.Hash // by storage index
}

func (lt *localTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(lt.hashes)) {
			return nil, fmt.Errorf("local tree: no hash %d", x)
		}
		out[i] = lt.hashes[x]
	}
	return out, nil
}

func (lt *localTree) add(t testing.TB, entries [][]byte) {
	t.Helper()
	for _, e := range entries {
		hs, err := tlog.StoredHashes(lt.n, e, lt)
		if err != nil {
			t.Fatalf("tlog.StoredHashes: %v", err)
		}
		lt.hashes = append(lt.hashes, hs...)
		lt.n++
	}
}

// grow returns the hashes a tree of oldSize gains growing to newSize.
func (lt *localTree) grow(oldSize, newSize int64) [][32]byte {
	var out [][32]byte
	for _, h := range lt.hashes[tlog.StoredHashCount(oldSize):tlog.StoredHashCount(newSize)] {
		out = append(out, [32]byte(h))
	}
	return out
}

// storeHashes reads a Log's stored hashes as a tlog.HashReader.
func storeHashes(l store.Log) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		hs, err := l.ReadHashes(context.Background(), indexes)
		if err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(hs))
		for i, h := range hs {
			out[i] = tlog.Hash(h)
		}
		return out, nil
	})
}

func checkpoint(size int64, text string) store.Checkpoint {
	return store.Checkpoint{Size: size, Note: fmt.Appendf(nil, "fusion test\n%d\n%s\n\n— sig \x00\xff\n", size, text)}
}

func testLogTree(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	treeSize := func(want int64, what string) {
		t.Helper()
		if n, err := l.TreeSize(ctx); err != nil || n != want {
			t.Fatalf("%s: TreeSize = %d, %v; want %d", what, n, err, want)
		}
	}
	var entries [][]byte
	for i := range 8 {
		entries = append(entries, fmt.Appendf(nil, `{"entry":%d}`, i))
	}
	if _, err := l.AppendLog(ctx, entries); err != nil {
		t.Fatal(err)
	}
	lt := &localTree{}
	lt.add(t, entries)

	// The empty tree can be signed once.
	cp0 := checkpoint(0, "empty")
	if err := l.ExtendTree(ctx, 0, 0, nil, cp0); err != nil {
		t.Fatalf("ExtendTree(0, 0): %v", err)
	}
	treeSize(0, "after signing the empty tree")
	err := l.ExtendTree(ctx, 0, 0, nil, checkpoint(0, "again"))
	wantErr(t, "ExtendTree(0, 0) with a checkpoint for 0 stored", err, store.ErrConflict)

	cp5 := checkpoint(5, "five")
	if err := l.ExtendTree(ctx, 0, 5, lt.grow(0, 5), cp5); err != nil {
		t.Fatalf("ExtendTree(0, 5): %v", err)
	}
	treeSize(5, "ExtendTree(0, 5)")
	want5, err := tlog.TreeHash(5, lt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tlog.TreeHash(5, storeHashes(l)); err != nil || got != want5 {
		t.Errorf("tlog.TreeHash(5) over the stored hashes = %v, %v; want %v", got, err, want5)
	}
	// Any order, with repeats.
	count5 := tlog.StoredHashCount(5)
	idx := []int64{count5 - 1, 0, 3, 3, 1}
	hs, err := l.ReadHashes(ctx, idx)
	if err != nil {
		t.Fatalf("ReadHashes(%v): %v", idx, err)
	}
	for i, x := range idx {
		if hs[i] != [32]byte(lt.hashes[x]) {
			t.Errorf("ReadHashes(%v)[%d] is not stored hash %d", idx, i, x)
		}
	}
	for _, idx := range [][]int64{{count5}, {0, count5}, {-1}} {
		_, err := l.ReadHashes(ctx, idx)
		wantErr(t, fmt.Sprintf("ReadHashes(%v) of a tree of 5", idx), err, store.ErrNotFound)
	}

	// Refusals store nothing.
	err = l.ExtendTree(ctx, 0, 8, lt.grow(0, 8), checkpoint(8, "stale"))
	wantErr(t, "ExtendTree(0, 8) of a tree of 5", err, store.ErrConflict)
	err = l.ExtendTree(ctx, 6, 7, lt.grow(6, 7), checkpoint(7, "ahead"))
	wantErr(t, "ExtendTree(6, 7) of a tree of 5", err, store.ErrConflict)
	bad := []struct {
		what     string
		old, new int64
		hashes   [][32]byte
		cp       store.Checkpoint
	}{
		{"beyond the log", 5, 9, make([][32]byte, tlog.StoredHashCount(9)-count5), checkpoint(9, "nine")},
		{"one hash short", 5, 8, lt.grow(5, 8)[1:], checkpoint(8, "eight")},
		{"one hash too many", 5, 7, lt.grow(5, 8)[:tlog.StoredHashCount(7)-count5+1], checkpoint(7, "seven")},
		{"checkpoint of another size", 5, 8, lt.grow(5, 8), checkpoint(7, "eight")},
		{"shrinking", 5, 4, nil, checkpoint(4, "four")},
	}
	for _, tc := range bad {
		if err := l.ExtendTree(ctx, tc.old, tc.new, tc.hashes, tc.cp); err == nil {
			t.Errorf("ExtendTree %s: no error", tc.what)
		}
	}
	treeSize(5, "after the refused extensions")
	_, err = l.ReadHashes(ctx, []int64{count5})
	wantErr(t, "ReadHashes past a tree of 5 after refused extensions", err, store.ErrNotFound)
	if cps, err := l.Checkpoints(ctx, 6, 100); err != nil || len(cps) != 0 {
		t.Errorf("refused extensions stored checkpoints: %d, %v", len(cps), err)
	}

	cp8 := checkpoint(8, "eight")
	if err := l.ExtendTree(ctx, 5, 8, lt.grow(5, 8), cp8); err != nil {
		t.Fatalf("ExtendTree(5, 8): %v", err)
	}
	treeSize(8, "ExtendTree(5, 8)")
	root, err := tlog.TreeHash(8, lt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tlog.TreeHash(8, storeHashes(l)); err != nil || got != root {
		t.Errorf("tlog.TreeHash(8) over the stored hashes = %v, %v; want %v", got, err, root)
	}
	// Proofs from the stored hashes verify.
	for n := range int64(8) {
		p, err := tlog.ProveRecord(8, n, storeHashes(l))
		if err != nil {
			t.Fatalf("tlog.ProveRecord(8, %d): %v", n, err)
		}
		if err := tlog.CheckRecord(p, 8, root, n, tlog.RecordHash(entries[n])); err != nil {
			t.Errorf("inclusion proof of entry %d: %v", n, err)
		}
	}
	tp, err := tlog.ProveTree(8, 5, storeHashes(l))
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(tp, 8, root, 5, want5); err != nil {
		t.Errorf("consistency proof 5 -> 8: %v", err)
	}

	for _, tc := range []struct {
		from, to int64
		want     []int64
	}{
		{0, 100, []int64{0, 5, 8}},
		{1, 8, []int64{5, 8}},
		{5, 5, []int64{5}},
		{6, 7, nil},
		{9, 100, nil},
	} {
		cps, err := l.Checkpoints(ctx, tc.from, tc.to)
		if err != nil || !slices.Equal(sizes(cps), tc.want) {
			t.Errorf("Checkpoints(%d, %d) = sizes %v, %v; want %v", tc.from, tc.to, sizes(cps), err, tc.want)
		}
		for _, cp := range cps {
			if want := map[int64][]byte{0: cp0.Note, 5: cp5.Note, 8: cp8.Note}[cp.Size]; !bytes.Equal(cp.Note, want) {
				t.Errorf("checkpoint %d: note %q, want %q", cp.Size, cp.Note, want)
			}
		}
	}
	latest, err := l.LatestCheckpoint(ctx)
	if err != nil || latest.Size != 8 || !bytes.Equal(latest.Note, cp8.Note) {
		t.Errorf("LatestCheckpoint = %d %q, %v; want 8 %q", latest.Size, latest.Note, err, cp8.Note)
	}
	if n := logSize(t, l); n != 8 {
		t.Errorf("LogSize = %d after extending the tree, want 8", n)
	}
}

// testLogTreeSteps grows a tree of 300 entries in uneven steps (a backend
// may store hashes in rows of several: steps start and end inside and on
// the edges of such rows) and reads every stored hash back, in one call
// and in scattered ones; a hash past the tree is missing.
func testLogTreeSteps(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	var entries [][]byte
	for i := range 300 {
		entries = append(entries, fmt.Appendf(nil, `{"step":%d}`, i))
	}
	if _, err := l.AppendLog(ctx, entries); err != nil {
		t.Fatal(err)
	}
	lt := &localTree{}
	lt.add(t, entries)
	old := int64(0)
	for _, n := range []int64{1, 2, 3, 16, 17, 33, 64, 65, 100, 128, 129, 255, 256, 257, 300} {
		if err := l.ExtendTree(ctx, old, n, lt.grow(old, n), checkpoint(n, "step")); err != nil {
			t.Fatalf("ExtendTree(%d, %d): %v", old, n, err)
		}
		old = n
		count := tlog.StoredHashCount(n)
		all := make([]int64, count)
		for i := range all {
			all[i] = int64(i)
		}
		got, err := l.ReadHashes(ctx, all)
		if err != nil {
			t.Fatalf("tree of %d: ReadHashes of all %d: %v", n, count, err)
		}
		for i, h := range got {
			if h != [32]byte(lt.hashes[i]) {
				t.Fatalf("tree of %d: stored hash %d differs", n, i)
			}
		}
		_, err = l.ReadHashes(ctx, []int64{0, count})
		wantErr(t, fmt.Sprintf("tree of %d: ReadHashes past the tree", n), err, store.ErrNotFound)
	}
	// Scattered, repeated, out of order.
	idx := []int64{595, 0, 31, 32, 33, 595, 5, 300, 63, 64}
	got, err := l.ReadHashes(ctx, idx)
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range idx {
		if got[i] != [32]byte(lt.hashes[x]) {
			t.Errorf("ReadHashes(%v)[%d] is not hash %d", idx, i, x)
		}
	}
	root, _ := tlog.TreeHash(300, lt)
	if got, err := tlog.TreeHash(300, storeHashes(l)); err != nil || got != root {
		t.Errorf("tlog.TreeHash(300) over the stored hashes = %v, %v; want %v", got, err, root)
	}
}

// testLogDeleteCheckpoints: thinning removes the checkpoints asked for
// and nothing else; the newest is never removed; proofs still work.
func testLogDeleteCheckpoints(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	if n, err := l.DeleteCheckpoints(ctx, []int64{1, 2}); err != nil || n != 0 {
		t.Errorf("DeleteCheckpoints with none stored = %d, %v", n, err)
	}
	var entries [][]byte
	for i := range 10 {
		entries = append(entries, fmt.Appendf(nil, `{"cp":%d}`, i))
	}
	if _, err := l.AppendLog(ctx, entries); err != nil {
		t.Fatal(err)
	}
	lt := &localTree{}
	lt.add(t, entries)
	old := int64(0)
	for n := int64(1); n <= 10; n++ {
		if err := l.ExtendTree(ctx, old, n, lt.grow(old, n), checkpoint(n, "c")); err != nil {
			t.Fatal(err)
		}
		old = n
	}
	if n, err := l.DeleteCheckpoints(ctx, []int64{3, 9, 10}); err == nil || n != 0 {
		t.Errorf("DeleteCheckpoints with the newest = %d, %v; want an error", n, err)
	}
	if n, err := l.DeleteCheckpoints(ctx, nil); err != nil || n != 0 {
		t.Errorf("DeleteCheckpoints() = %d, %v", n, err)
	}
	if n, err := l.DeleteCheckpoints(ctx, []int64{2, 3, 5, 5, 42, 7}); err != nil || n != 4 {
		t.Errorf("DeleteCheckpoints(2, 3, 5, 5, 42, 7) = %d, %v; want 4", n, err)
	}
	cps, err := l.Checkpoints(ctx, 0, 100)
	if want := []int64{1, 4, 6, 8, 9, 10}; err != nil || !slices.Equal(sizes(cps), want) {
		t.Errorf("after thinning: checkpoints %v, %v; want %v", sizes(cps), err, want)
	}
	if latest, err := l.LatestCheckpoint(ctx); err != nil || latest.Size != 10 {
		t.Errorf("LatestCheckpoint after thinning = %d, %v", latest.Size, err)
	}
	root, _ := tlog.TreeHash(10, lt)
	old3, _ := tlog.TreeHash(3, lt)
	p, err := tlog.ProveTree(10, 3, storeHashes(l))
	if err != nil || tlog.CheckTree(p, 10, root, 3, old3) != nil {
		t.Errorf("consistency 3 -> 10 after removing checkpoint 3: %v", err)
	}
}

// testLogConcurrentExtend: of several extensions of the same tree at
// once, exactly one wins; the others get ErrConflict and store nothing.
func testLogConcurrentExtend(t *testing.T, s store.Store, l store.Log) {
	ctx := context.Background()
	var entries [][]byte
	for i := range 6 {
		entries = append(entries, fmt.Appendf(nil, "entry %d", i))
	}
	if _, err := l.AppendLog(ctx, entries); err != nil {
		t.Fatal(err)
	}
	lt := &localTree{}
	lt.add(t, entries)
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			size := int64(3 + i%4) // several target sizes from the same base
			errs[i] = l.ExtendTree(ctx, 0, size, lt.grow(0, size), checkpoint(size, fmt.Sprintf("node %d", i)))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("extensions %d and %d of the same tree both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("extension %d: error %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no extension succeeded")
	}
	size := int64(3 + winner%4)
	if got, err := l.TreeSize(ctx); err != nil || got != size {
		t.Errorf("TreeSize = %d, %v; want the winner's %d", got, err, size)
	}
	cps, err := l.Checkpoints(ctx, 0, 100)
	if err != nil || len(cps) != 1 || !bytes.Equal(cps[0].Note, checkpoint(size, fmt.Sprintf("node %d", winner)).Note) {
		t.Errorf("Checkpoints = %v, %v; want only the winner's", sizes(cps), err)
	}
	_, err = l.ReadHashes(ctx, []int64{tlog.StoredHashCount(size)})
	wantErr(t, "ReadHashes past the winner's tree", err, store.ErrNotFound)
	root, _ := tlog.TreeHash(size, lt)
	if got, err := tlog.TreeHash(size, storeHashes(l)); err != nil || got != root {
		t.Errorf("tree hash over the stored hashes = %v, %v; want %v", got, err, root)
	}
}

func sizes(cps []store.Checkpoint) []int64 {
	var ns []int64
	for _, cp := range cps {
		ns = append(ns, cp.Size)
	}
	return ns
}

// ---- benchmarks ----

// BenchLog measures what the audit log costs. open is as for Bench.
//
//   - PutBatch1000 and PutBatch1000Logged: Put of 1,000 new indicators per
//     iteration, without a recorder and with one that returns an entry of
//     about 200 bytes per added object (appended in the same
//     transaction); both report objects/s, to be compared with each other.
//   - PutBatch1000Paired: the same two Puts alternating in one loop (same
//     batch into a store without and one with the recorder); reports both
//     rates and the logged Put's extra time in percent. Less sensitive to
//     the load of a shared machine than comparing the two above.
//   - PutBatch1000PairedBatchEntry: the same with one entry per Put that
//     lists the added versions (the same bytes in one row).
//   - AppendLog1000: AppendLog of 1,000 entries of about 200 bytes;
//     reports entries/s.
//   - AppendLog1Parallel: AppendLog of one entry per call from 8
//     goroutines per CPU; reports appends/s (appends are serialised).
func BenchLog(b *testing.B, open func(b *testing.B) store.Store) {
	for _, logged := range []bool{false, true} {
		name := "PutBatch1000"
		if logged {
			name += "Logged"
		}
		b.Run(name, func(b *testing.B) {
			s := open(b)
			if logged {
				asLog(b, s).SetRecorder(benchRecorder)
			}
			coll := newCollection(b, s)
			gen := newObjectGen()
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				objs := gen.batch(1000)
				b.StartTimer()
				if _, err := s.Put(ctx, coll, "bench", objs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "objects/s")
			if logged {
				if n := logSize(b, asLog(b, s)); n != int64(b.N)*1000 {
					b.Fatalf("log holds %d entries after %d objects", n, b.N*1000)
				}
			}
		})
	}
	// The two Puts alternate on two stores, so that both see the same
	// machine load; the overhead is the difference of their times.
	for _, v := range []struct {
		name string
		rec  store.Recorder
	}{{"PutBatch1000Paired", benchRecorder}, {"PutBatch1000PairedBatchEntry", benchBatchRecorder}} {
		b.Run(v.name, func(b *testing.B) { benchPaired(b, open, v.rec) })
	}
	b.Run("AppendLog1000", func(b *testing.B) {
		s := open(b)
		l := asLog(b, s)
		ctx := context.Background()
		es := make([][]byte, 1000)
		for i := range es {
			es[i] = fmt.Appendf(nil, `{"ts":"2024-06-01T00:00:00.000000Z","op":"served","to":"%s","path":"taxii objects","n":%d,"pad":"%s"}`,
				newUUID(), i, strings.Repeat("x", 64))
		}
		b.ResetTimer()
		for range b.N {
			if _, err := l.AppendLog(ctx, es); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("AppendLog1Parallel", func(b *testing.B) { benchAppendParallel(b, asLog(b, open(b))) })
}

// BenchAppendParallel is BenchLog's AppendLog1Parallel on stores that
// share one database (several nodes), the goroutines spread over them.
func BenchAppendParallel(b *testing.B, stores []store.Store) {
	var next sync.Mutex
	i := 0
	l := &roundRobin{pick: func() store.Log {
		next.Lock()
		defer next.Unlock()
		i++
		return asLog(b, stores[i%len(stores)])
	}}
	benchAppendParallel(b, l)
}

// roundRobin is a store.Log whose AppendLog goes to the next of several.
type roundRobin struct {
	store.Log
	pick func() store.Log
}

func (r *roundRobin) AppendLog(ctx context.Context, entries [][]byte) (int64, error) {
	return r.pick().AppendLog(ctx, entries)
}

// benchPaired alternates the same Put into a store without and one with
// rec and reports both rates and the logged Put's extra time in percent.
func benchPaired(b *testing.B, open func(b *testing.B) store.Store, rec store.Recorder) {
	plain, logged := open(b), open(b)
	asLog(b, logged).SetRecorder(rec)
	stores := []store.Store{plain, logged}
	colls := []string{newCollection(b, plain), newCollection(b, logged)}
	gen := newObjectGen()
	ctx := context.Background()
	var spent [2]time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		objs := gen.batch(1000)
		b.StartTimer()
		for j := range 2 {
			k := (i + j) % 2 // alternate which goes first
			start := time.Now()
			if _, err := stores[k].Put(ctx, colls[k], "bench", objs); err != nil {
				b.Fatal(err)
			}
			spent[k] += time.Since(start)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)*1000/spent[0].Seconds(), "plain-objects/s")
	b.ReportMetric(float64(b.N)*1000/spent[1].Seconds(), "logged-objects/s")
	b.ReportMetric(100*(spent[1].Seconds()-spent[0].Seconds())/spent[0].Seconds(), "overhead-%")
}

// benchAppendParallel appends one entry per call from many goroutines
// (8 per CPU): the rate at which the log's total order admits small,
// separate appends.
func benchAppendParallel(b *testing.B, l store.Log) {
	entry := []byte(`{"ts":"2024-06-01T00:00:00.000000Z","op":"served","to":"9b2f7c1e-3a8d-4d55-9f0e-6c1b2a3d4e5f","path":"taxii objects","n":1000}`)
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := l.AppendLog(ctx, [][]byte{entry}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// benchBatchRecorder returns one entry per Put listing the added
// versions, a line of about 170 bytes each: the same facts as
// benchRecorder's entries in one row of the log.
func benchBatchRecorder(ctx context.Context, c store.Change) ([][]byte, error) {
	es, err := benchRecorder(ctx, c)
	if err != nil || len(es) == 0 {
		return nil, err
	}
	n := 0
	for _, e := range es {
		n += len(e) + 1
	}
	batch := make([]byte, 0, n)
	for _, e := range es {
		batch = append(append(batch, e...), '\n')
	}
	return [][]byte{batch}, nil
}

// benchRecorder returns one entry of about 200 bytes per added object,
// like the audit log's "version accepted" entry. It appends bytes rather
// than using fmt, as a production recorder would: the benchmark measures
// the store's cost of logging, not fmt's (fmt.Appendf with %q costs about
// 1.7 µs per entry here, as much as the store's share).
func benchRecorder(_ context.Context, c store.Change) ([][]byte, error) {
	if c.Op != store.OpPut {
		return nil, nil
	}
	es := make([][]byte, 0, len(c.Objects))
	buf := make([]byte, 0, 256*len(c.Objects))
	field := func(name, value string) {
		buf = append(buf, `,"`...)
		buf = append(buf, name...)
		buf = append(buf, `":"`...)
		buf = append(buf, value...) // ids and names here need no JSON escaping
		buf = append(buf, '"')
	}
	for i, o := range c.Objects {
		if !c.Outcomes[i].Added {
			continue
		}
		start := len(buf)
		buf = append(buf, `{"ts":"`...)
		buf = c.Outcomes[i].DateAdded.AppendFormat(buf, "2006-01-02T15:04:05.000000Z07:00")
		buf = append(buf, '"')
		field("op", "put")
		field("org", c.Source)
		field("coll", c.Collection)
		field("id", o.ID)
		field("version", stix.FormatTimestamp(o.Version()))
		buf = append(buf, '}')
		es = append(es, buf[start:len(buf):len(buf)])
	}
	return es, nil
}
