package audit

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// builtLog is a store with 300 entries integrated every 20 (checkpoints
// at 20, 40, …, 300).
func builtLog(t testing.TB, open func(testing.TB) *testDB) (*testDB, *Key, *Log) {
	t.Helper()
	db := open(t)
	key := testKey(t, "test")
	l := New(db.lg, key, Config{})
	appendN(t, db.lg, l, 0, 300, 20)
	return db, key, l
}

func TestVerifyClean(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db, key, _ := builtLog(t, open)
		leaves := readAll(t, db.lg)
		for _, bits := range []int{1, 3, 4, 7, 16} {
			var calls int
			var last int64
			res, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{ChunkBits: bits, HashBatch: 50,
				Progress: func(done, total int64) { calls++; last = done }})
			if err != nil {
				t.Fatalf("chunk bits %d: %v", bits, err)
			}
			if res.Entries != 300 || res.Tree != 300 || res.Checkpoints != 15 {
				t.Fatalf("chunk bits %d: %+v", bits, res)
			}
			if !bytes.Equal(res.Root[:], refRoot(leaves)) {
				t.Fatalf("chunk bits %d: root differs from the RFC 6962 definition", bits)
			}
			if calls == 0 || last != 300 {
				t.Fatalf("progress: %d calls, last %d", calls, last)
			}
		}
		// Entries appended but not integrated are counted, not an error.
		appendN(t, db.lg, nil, 300, 5, 5)
		res, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{})
		if err != nil || res.Entries != 305 || res.Tree != 300 {
			t.Fatalf("with pending entries: %+v, %v", res, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		db := openSQLiteDB(t)
		res, err := Verify(context.Background(), db.lg, testKey(t, "test").Verifier, VerifyOptions{})
		if err != nil || res.Tree != 0 || res.Root != emptyRoot {
			t.Fatalf("%+v, %v", res, err)
		}
	})
}

// setEntry overwrites entry idx in the store's table.
func setEntry(t testing.TB, db *testDB, idx int64, data []byte) {
	t.Helper()
	db.exec(t, `UPDATE log_entries SET data = $1 WHERE idx = $2`, data, idx)
}

func entryAt(t testing.TB, db *testDB, idx int64) []byte {
	t.Helper()
	es, err := db.lg.ReadLog(context.Background(), idx, idx+1)
	if err != nil {
		t.Fatal(err)
	}
	return es[0]
}

// rewriteTail replaces entries from `from` on with other content and
// rebuilds the tree and checkpoints over them with key: what someone with
// write access to the database (and perhaps the key) would do to hide
// something.
func rewriteTail(t testing.TB, db *testDB, from int64, key *Key) {
	t.Helper()
	n, _ := db.lg.LogSize(context.Background())
	for i := from; i < n; i++ {
		e := Entry{Kind: KindServed, V: SchemaVersion, Time: FormatTime(t0), Actor: "someone-else", Path: PathExport}
		setEntry(t, db, i, Encode(&e))
	}
	db.dropHashes(t, tlog.StoredHashIndex(0, from))
	db.exec(t, `DELETE FROM log_checkpoints WHERE size > $1`, from)
	db.setSizes(t, -1, from)
	if _, err := New(db.lg, key, Config{MaxBatch: 20}).Integrate(context.Background()); err != nil {
		t.Fatalf("re-integrate: %v", err)
	}
}

// tamperCases change a built log (300 entries, checkpoints every 20) and
// say which entries verify must name.
var tamperCases = []struct {
	name       string
	tamper     func(t testing.TB, db *testDB, key *Key)
	index, end int64
	what       string
}{
	{"change a byte", func(t testing.TB, db *testDB, _ *Key) {
		e := entryAt(t, db, 137)
		e = bytes.Replace(e, []byte("org-"), []byte("org_"), 1)
		setEntry(t, db, 137, e)
	}, 137, 138, "changed"},
	{"delete one", func(t testing.TB, db *testDB, _ *Key) {
		db.exec(t, `DELETE FROM log_entries WHERE idx = 137`)
	}, 137, 138, "missing"},
	{"delete one and renumber", func(t testing.TB, db *testDB, _ *Key) {
		db.exec(t, `DELETE FROM log_entries WHERE idx = 137`)
		db.exec(t, `UPDATE log_entries SET idx = -idx WHERE idx > 137`)
		db.exec(t, `UPDATE log_entries SET idx = -idx - 1 WHERE idx < 0`)
	}, 137, 138, "changed"},
	// Beyond the first leafReadStep (256) entries of a chunk: reads go on
	// in steps, and a failed step is searched from its own start.
	{"delete one after a read step", func(t testing.TB, db *testDB, _ *Key) {
		db.exec(t, `DELETE FROM log_entries WHERE idx = 290`)
	}, 290, 291, "missing"},
	{"change a byte after a read step", func(t testing.TB, db *testDB, _ *Key) {
		setEntry(t, db, 290, bytes.Replace(entryAt(t, db, 290), []byte("org-"), []byte("org_"), 1))
	}, 290, 291, "changed"},
	{"reorder two", func(t testing.TB, db *testDB, _ *Key) {
		a, b := entryAt(t, db, 100), entryAt(t, db, 200)
		setEntry(t, db, 100, b)
		setEntry(t, db, 200, a)
	}, 100, 101, "changed"},
	{"truncate the tail", func(t testing.TB, db *testDB, _ *Key) {
		db.exec(t, `DELETE FROM log_entries WHERE idx >= 250`)
	}, 250, 251, "missing"},
	{"truncate the tail and its tree", func(t testing.TB, db *testDB, _ *Key) {
		db.exec(t, `DELETE FROM log_entries WHERE idx >= 250`)
		db.dropHashes(t, tlog.StoredHashIndex(0, 250))
		db.setSizes(t, 250, 250)
	}, 250, 251, "missing"},
	{"rewrite the tail, re-sign with another key", func(t testing.TB, db *testDB, _ *Key) {
		rewriteTail(t, db, 200, testKey(t, "test"))
	}, 200, 220, "not attested"},
	{"change a stored hash", func(t testing.TB, db *testDB, _ *Key) {
		db.setHash(t, tlog.StoredHashIndex(2, 10), make([]byte, 32))
	}, 40, 44, "stored hash"},
	{"change a checkpoint", func(t testing.TB, db *testDB, _ *Key) {
		cps, _ := db.lg.Checkpoints(context.Background(), 160, 160)
		bad := bytes.Replace(cps[0].Note, []byte("\n160\n"), []byte("\n161\n"), 1)
		db.exec(t, `UPDATE log_checkpoints SET note = $1 WHERE size = 160`, bad)
	}, 140, 160, "not attested"},
}

// Verify catches each tampering and names the first bad entry.
func TestVerifyTamper(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		for _, tc := range tamperCases {
			t.Run(tc.name, func(t *testing.T) {
				db, key, _ := builtLog(t, open)
				tc.tamper(t, db, key)
				for _, bits := range []int{3, 6, 16} {
					_, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{ChunkBits: bits})
					var m *Mismatch
					if !errors.As(err, &m) {
						t.Fatalf("chunk bits %d: Verify = %v, want a Mismatch", bits, err)
					}
					if m.Index != tc.index || m.End != tc.end || !strings.Contains(m.What, tc.what) {
						t.Fatalf("chunk bits %d: %v; want entries [%d, %d) %s", bits, m, tc.index, tc.end, tc.what)
					}
				}
			})
		}
	})
}

// A history rewritten by someone holding the signing key verifies on its
// own; the checkpoints a witness kept catch it.
func TestVerifyOutsideCheckpoints(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db, key, l := builtLog(t, open)
		var kept []Checkpoint
		for _, size := range []int64{100, 180, 300} {
			cp, err := l.CheckpointAt(context.Background(), size)
			if err != nil {
				t.Fatal(err)
			}
			kept = append(kept, cp)
		}
		if _, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{Extra: kept}); err != nil {
			t.Fatalf("clean log with outside checkpoints: %v", err)
		}
		rewriteTail(t, db, 200, key)
		if _, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{}); err != nil {
			t.Fatalf("rewritten with the real key, no outside checkpoints: %v (expected to pass: nothing to compare with)", err)
		}
		_, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{Extra: kept, ChunkBits: 5})
		var m *Mismatch
		if !errors.As(err, &m) || m.Index != 180 || m.End != 300 {
			t.Fatalf("Verify = %v, want a Mismatch in [180, 300)", err)
		}

		// Truncated with its tree and checkpoints: the outside checkpoint
		// of 300 entries shows entries are gone.
		db.exec(t, `DELETE FROM log_entries WHERE idx >= 240`)
		db.dropHashes(t, tlog.StoredHashIndex(0, 240))
		db.exec(t, `DELETE FROM log_checkpoints WHERE size > 240`)
		db.setSizes(t, 240, 240)
		if _, err = Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{}); err != nil {
			t.Fatalf("truncated with its tree, no outside checkpoints: %v (expected to pass: nothing to compare with)", err)
		}
		if _, err = Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{Extra: kept[:1]}); err != nil {
			t.Fatalf("truncated, checked against a checkpoint it still covers: %v", err)
		}
		_, err = Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{Extra: kept})
		if !errors.As(err, &m) || m.Index != 240 || !strings.Contains(m.What, "outside checkpoint covers 300") {
			t.Fatalf("Verify = %v, want entry 240 missing", err)
		}
	})
}
