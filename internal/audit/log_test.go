package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// refRoot is the RFC 6962 section 2.1 Merkle tree hash of leaves, written
// from the definition with transparency-dev's hasher: independent of tlog
// and of this package's frontier.
func refRoot(leaves [][]byte) []byte {
	h := rfc6962.DefaultHasher
	switch len(leaves) {
	case 0:
		return h.EmptyRoot()
	case 1:
		return h.HashLeaf(leaves[0])
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return h.HashChildren(refRoot(leaves[:k]), refRoot(leaves[k:]))
}

func readAll(t testing.TB, lg store.Log) [][]byte {
	t.Helper()
	ctx := context.Background()
	n, err := lg.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := lg.ReadLog(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestRecorderEntries(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db := open(t)
		db.lg.SetRecorder(Recorder(clock()))
		hub, acme, de := uuidN(9001), uuidN(9002), uuidN(9003)
		coll, coll2 := uuidN(9100), uuidN(9101)
		ctx := WithActor(context.Background(), hub)
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(db.CreateOrg(ctx, store.Org{ID: hub, Name: "hub", Kind: store.KindHub, Created: t0}))
		must(db.CreateOrg(ctx, store.Org{ID: acme, Name: "acme", Kind: store.KindPartner, Created: t0}))
		must(db.CreateOrg(ctx, store.Org{ID: de, Name: "de-police", Kind: store.KindMember, Country: "DE", Created: t0}))
		secret := "fsn_very-secret-token-value"
		hash := sha256.Sum256([]byte(secret))
		tok := uuidN(9200)
		must(db.CreateToken(ctx, store.Token{ID: tok, OrgID: acme, Role: store.RoleWrite, Hash: hash[:],
			Label: "ingest", Created: t0, Expires: t0.Add(90 * 24 * time.Hour)}))
		must(db.CreateCollection(ctx, store.Collection{ID: coll, APIRoot: store.DefaultAPIRoot, Title: "Ransomware",
			Alias: "ransomware", DefaultTLP: "amber", Created: t0}))
		must(db.CreateCollection(ctx, store.Collection{ID: coll2, APIRoot: store.DefaultAPIRoot, Title: "Scratch", Created: t0}))
		must(db.SetGrant(ctx, store.Grant{Collection: coll, OrgID: de, Read: true}))

		actx := WithActor(context.Background(), acme)
		o1, o2 := indicator(t, 1, t0), indicator(t, 2, t0)
		out, err := db.Put(actx, coll, acme, []*stix.Object{o1, o2, o1})
		must(err)
		if !out[0].Added || !out[1].Added || out[2].Added {
			t.Fatalf("Put outcomes %+v", out)
		}
		n, err := db.Delete(actx, coll, o2.ID, store.VersionMatch{All: true}, nil)
		must(err)
		if n != 1 {
			t.Fatalf("Delete removed %d", n)
		}
		must(db.RevokeToken(ctx, tok, t0.Add(time.Hour)))
		must(db.UpdateCollection(ctx, store.Collection{ID: coll2, APIRoot: store.DefaultAPIRoot, Title: "Scratch 2", Created: t0}))
		must(db.DeleteCollection(ctx, coll2))
		// A failed change records nothing.
		if _, err := db.Put(actx, uuidN(9999), acme, []*stix.Object{o2}); err == nil {
			t.Fatal("Put into a missing collection succeeded")
		}

		raw := readAll(t, db.lg)
		var es []Entry
		for i, b := range raw {
			e, err := ParseEntry(b)
			if err != nil {
				t.Fatalf("entry %d: %v", i, err)
			}
			if !bytes.Equal(Encode(&e), b) {
				t.Errorf("entry %d is not canonical:\n%s\n%s", i, b, Encode(&e))
			}
			if bytes.Contains(b, []byte(secret)) || bytes.Contains(b, []byte(hex.EncodeToString(hash[:]))) {
				t.Errorf("entry %d holds the token secret or its hash: %s", i, b)
			}
			es = append(es, e)
		}
		wantKinds := []string{KindOrgCreated, KindOrgCreated, KindOrgCreated, KindTokenCreated,
			KindCollectionCreated, KindCollectionCreated, KindGrantSet,
			KindAccepted, KindObjectDeleted, KindTokenRevoked,
			KindCollectionUpdated, KindCollectionDeleted}
		if len(es) != len(wantKinds) {
			for _, b := range raw {
				t.Logf("%s", b)
			}
			t.Fatalf("%d entries, want %d", len(es), len(wantKinds))
		}
		for i, k := range wantKinds {
			if es[i].Kind != k {
				t.Errorf("entry %d kind %q, want %q", i, es[i].Kind, k)
			}
			if es[i].V != SchemaVersion || es[i].Time == "" {
				t.Errorf("entry %d: v %d t %q", i, es[i].V, es[i].Time)
			}
		}
		check := func(i int, got, want string) {
			t.Helper()
			if got != want {
				t.Errorf("entry %d (%s): got %q, want %q", i, es[i].Kind, got, want)
			}
		}
		check(1, es[1].Org, acme)
		check(1, es[1].Actor, hub)
		check(2, es[2].Country, "DE")
		check(2, es[2].OrgKind, store.KindMember)
		check(3, es[3].Token, tok)
		check(3, es[3].Org, acme)
		check(3, es[3].Role, store.RoleWrite)
		check(3, es[3].Expires, FormatTime(t0.Add(90*24*time.Hour)))
		check(4, es[4].Alias, "ransomware")
		check(4, es[4].DefaultTLP, "amber")
		check(6, es[6].Org, de)
		if !es[6].Read || es[6].Write {
			t.Errorf("grant entry read %v write %v", es[6].Read, es[6].Write)
		}
		check(7, es[7].Actor, acme)
		check(7, es[7].Source, acme)
		check(7, es[7].Collection, coll)
		if len(es[7].Accepted) != 2 {
			t.Fatalf("accepted entry names %d versions, want 2", len(es[7].Accepted))
		}
		for i, o := range []*stix.Object{o1, o2} {
			a := es[7].Accepted[i]
			check(7, a.ID, o.ID)
			check(7, a.Version, stix.FormatTimestamp(o.Modified))
			check(7, a.SHA256, ObjectSHA256(o.Raw))
			check(7, a.Added, FormatTime(out[i].DateAdded))
		}
		check(8, es[8].ID, o2.ID)
		if es[8].Count != 1 {
			t.Errorf("delete entry count %d", es[8].Count)
		}
		check(9, es[9].Token, tok)
		check(10, es[10].Title, "Scratch 2")
		check(11, es[11].Collection, coll2)
		// Timestamps come from the recorder's clock, one per change.
		for i := 1; i < len(es); i++ {
			if es[i].Time <= es[i-1].Time {
				t.Errorf("entry %d time %s not after %s", i, es[i].Time, es[i-1].Time)
			}
		}
	})
}

// A recorder that cannot describe a change stops it.
func TestRecorderUnknownOp(t *testing.T) {
	r := Recorder(nil)
	if _, err := r(context.Background(), store.Change{Op: "mystery"}); err == nil {
		t.Fatal("unknown op recorded")
	}
	if _, err := r(context.Background(), store.Change{Op: store.OpPut, Objects: make([]*stix.Object, 2)}); err == nil {
		t.Fatal("put without outcomes recorded")
	}
	if _, err := r(context.Background(), store.Change{Op: store.OpOrgCreate}); err == nil {
		t.Fatal("org.create without an org recorded")
	}
}

// Integrate builds the tree tlog expects; proofs verify with an
// independent implementation.
func TestIntegrateAndProofs(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db := open(t)
		key := testKey(t, "test")
		l := New(db.lg, key, Config{MaxBatch: 64})
		ctx := context.Background()
		if _, err := l.Latest(ctx); !errors.Is(err, ErrNoCheckpoint) {
			t.Fatalf("Latest of an empty log: %v", err)
		}
		if n, err := l.Integrate(ctx); err != nil || n != 0 {
			t.Fatalf("Integrate empty: %d, %v", n, err)
		}
		appendN(t, db.lg, l, 0, 300, 37)
		appendN(t, db.lg, nil, 300, 200, 200) // one append longer than MaxBatch
		if n, err := l.Integrate(ctx); err != nil || n != 500 {
			t.Fatalf("Integrate: %d, %v", n, err)
		}
		leaves := readAll(t, db.lg)
		cps, err := db.lg.Checkpoints(ctx, 0, 1<<40)
		if err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for _, c := range cps {
			sizes = append(sizes, c.Size)
		}
		// 37-entry batches up to 300, then 200 split by MaxBatch 64.
		want := []int64{37, 74, 111, 148, 185, 222, 259, 296, 300, 364, 428, 492, 500}
		if len(sizes) != len(want) {
			t.Fatalf("checkpoint sizes %v, want %v", sizes, want)
		}
		for i := range want {
			if sizes[i] != want[i] {
				t.Fatalf("checkpoint sizes %v, want %v", sizes, want)
			}
		}
		h := rfc6962.DefaultHasher
		rng := rand.New(rand.NewPCG(1, 2))
		opened := make([]Checkpoint, len(cps))
		for i, c := range cps {
			cp, err := OpenCheckpoint(c.Note, key.Verifier)
			if err != nil {
				t.Fatalf("checkpoint %d: %v", c.Size, err)
			}
			if cp.Size != c.Size || cp.Origin != "fusion.hub/test" {
				t.Fatalf("checkpoint %d opened as %+v", c.Size, cp)
			}
			if !bytes.Equal(cp.Root[:], refRoot(leaves[:cp.Size])) {
				t.Fatalf("checkpoint %d: root differs from the RFC 6962 definition", cp.Size)
			}
			opened[i] = cp
			for range 20 {
				idx := rng.Int64N(cp.Size)
				p, err := l.ProveEntry(ctx, idx, cp.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(h, uint64(idx), uint64(cp.Size), h.HashLeaf(leaves[idx]), hashes(p), cp.Root[:]); err != nil {
					t.Fatalf("entry %d in tree %d: %v", idx, cp.Size, err)
				}
				// A proof for another entry does not pass for this one.
				if err := proof.VerifyInclusion(h, uint64(idx), uint64(cp.Size), h.HashLeaf(append(leaves[idx], ' ')), hashes(p), cp.Root[:]); err == nil {
					t.Fatalf("a changed entry %d verified", idx)
				}
			}
		}
		for i := range opened {
			for j := i; j < len(opened); j++ {
				a, b := opened[i], opened[j]
				p, err := l.ProveConsistency(ctx, a.Size, b.Size)
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyConsistency(h, uint64(a.Size), uint64(b.Size), hashes(p), a.Root[:], b.Root[:]); err != nil {
					t.Fatalf("consistency %d→%d: %v", a.Size, b.Size, err)
				}
			}
		}
		for _, bad := range [][2]int64{{0, 10}, {10, 501}, {-1, 10}, {11, 10}} {
			if _, err := l.ProveConsistency(ctx, bad[0], bad[1]); !errors.Is(err, ErrRange) {
				t.Errorf("ProveConsistency(%d, %d): %v, want ErrRange", bad[0], bad[1], err)
			}
		}
		for _, bad := range [][2]int64{{10, 10}, {0, 501}, {-1, 10}} {
			if _, err := l.ProveEntry(ctx, bad[0], bad[1]); !errors.Is(err, ErrRange) {
				t.Errorf("ProveEntry(%d, %d): %v, want ErrRange", bad[0], bad[1], err)
			}
		}
	})
}

func hashes[T ~[32]byte](hs []T) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = append([]byte(nil), hs[i][:]...)
	}
	return out
}

// Two nodes integrating the same store while entries are appended through
// both end with one tree that verifies.
func TestConcurrentIntegrators(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db := open(t)
		_, lg2 := db.node(t)
		key := testKey(t, "test")
		ctx, cancel := context.WithCancel(context.Background())
		nodes := []*Log{New(db.lg, key, Config{Interval: 5 * time.Millisecond}), New(lg2, key, Config{Interval: 5 * time.Millisecond})}
		var run sync.WaitGroup
		for _, l := range nodes {
			run.Add(1)
			go func() { defer run.Done(); l.Run(ctx) }()
		}
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l := nodes[w%2]
				for i := range 60 {
					e := Entry{Kind: KindDenied, V: SchemaVersion, Time: FormatTime(t0), Actor: uuidN(w), Reason: "test", Count: int64(i)}
					if err := l.Append(context.Background(), [][]byte{Encode(&e)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		cancel()
		run.Wait()
		n, err := nodes[1].Integrate(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n != 240 {
			t.Fatalf("tree of %d, want 240", n)
		}
		res, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{ChunkBits: 4})
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if res.Tree != 240 || res.Checkpoints == 0 {
			t.Fatalf("Verify: %+v", res)
		}
	})
}

// Appends at the same time are grouped, each call's entries contiguous
// and in order, directly and through a spool.
func TestAppendGroups(t *testing.T) {
	for _, spooled := range []bool{false, true} {
		t.Run(fmt.Sprintf("spool=%v", spooled), func(t *testing.T) {
			db := openSQLiteDB(t)
			l := New(db.lg, testKey(t, "test"), Config{})
			if spooled {
				openTestSpool(t, l, filepath.Join(t.TempDir(), "audit.spool"))
			}
			var wg sync.WaitGroup
			for g := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var es [][]byte
					for j := range 3 {
						e := Entry{Kind: KindDenied, V: SchemaVersion, Time: FormatTime(t0), Actor: uuidN(g), Count: int64(j + 1)}
						es = append(es, Encode(&e))
					}
					if err := l.Append(context.Background(), es); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if err := l.Sync(context.Background()); err != nil {
				t.Fatal(err)
			}
			all := readAll(t, db.lg)
			if len(all) != 120 {
				t.Fatalf("%d entries", len(all))
			}
			seen := map[string]bool{}
			for i := 0; i < len(all); i += 3 {
				var actor string
				for j := range 3 {
					e, err := ParseEntry(all[i+j])
					if err != nil {
						t.Fatal(err)
					}
					if j == 0 {
						actor = e.Actor
					}
					if e.Actor != actor || e.Count != int64(j+1) {
						t.Fatalf("entry %d is %+v: not entry %d of the call of %s", i+j, e, j+1, actor)
					}
				}
				if seen[actor] {
					t.Fatalf("call of %s twice", actor)
				}
				seen[actor] = true
			}
		})
	}
}

// Run keeps checkpoints close behind appends.
func TestRunFollowsAppends(t *testing.T) {
	db := openSQLiteDB(t)
	l := New(db.lg, testKey(t, "test"), Config{Interval: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for round := int64(1); round <= 3; round++ {
		e := Entry{Kind: KindDenied, V: SchemaVersion, Time: FormatTime(t0), Count: round}
		if err := l.Append(ctx, [][]byte{Encode(&e)}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			cp, err := l.Latest(ctx)
			if err == nil && cp.Size == round {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: no checkpoint of size %d after 10 s (latest %+v, %v)", round, round, cp.Size, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A store whose state disagrees with itself (a checkpoint stored beyond
// the tree) makes Integrate fail, not spin.
func TestIntegrateConflictWithoutProgress(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db, key, _ := builtLog(t, open)
		db.dropHashes(t, tlog.StoredHashIndex(0, 200))
		db.setSizes(t, -1, 200)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		n, err := New(db.lg, key, Config{MaxBatch: 1000}).Integrate(ctx)
		if err == nil || !errors.Is(err, store.ErrConflict) || n != 200 || ctx.Err() != nil {
			t.Fatalf("Integrate = %d, %v", n, err)
		}
	})
}
