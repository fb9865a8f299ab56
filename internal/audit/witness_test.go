package audit

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/policy"
	"fusion/internal/store"
)

// serveAdmin serves l's API to everyone as a hub admin.
func serveAdmin(t testing.TB, l *Log) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	NewHandler(l, HandlerOptions{Caller: func(context.Context) (policy.Caller, bool) {
		return policy.Caller{Org: store.Org{ID: "hub", Kind: store.KindHub}, Role: store.RoleAdmin}, true
	}}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// seenState is a witness state that saw the checkpoints of the given
// sizes, an hour apart, and checked the entries up to the last.
func seenState(t testing.TB, l *Log, sizes ...int64) *WitnessState {
	t.Helper()
	st := &WitnessState{Origin: l.Verifier().Name()}
	for i, size := range sizes {
		cp, err := l.CheckpointAt(context.Background(), size)
		if err != nil {
			t.Fatal(err)
		}
		st.Checkpoints = append(st.Checkpoints, SeenCheckpoint{Note: string(cp.Note), Seen: t0.Add(time.Duration(i) * time.Hour)})
		st.EntriesChecked = size
	}
	return st
}

func TestWitnessFollowsGrowth(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db, key, l := builtLog(t, open)
		srv := serveAdmin(t, l)
		dir := t.TempDir()
		state := filepath.Join(dir, "witness.json")
		w := &Witness{BaseURL: srv.URL, Verifier: key.Verifier, Entries: true}
		ctx := context.Background()
		st, err := LoadWitnessState(state, key.Verifier)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := w.Check(ctx, st, t0)
		if err != nil || !rep.FirstCheck || rep.Size != 300 || rep.EntriesOK != 300 {
			t.Fatalf("first check: %+v, %v", rep, err)
		}
		if err := st.Save(state); err != nil {
			t.Fatal(err)
		}
		for round := range 3 {
			appendN(t, db.lg, l, 300+round*10, 10, 4)
			if st, err = LoadWitnessState(state, key.Verifier); err != nil {
				t.Fatal(err)
			}
			rep, err := w.Check(ctx, st, t0.Add(time.Hour))
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if rep.Previous != int64(300+round*10) || rep.Size != int64(310+round*10) || rep.EntriesOK != 10 {
				t.Fatalf("round %d: %+v", round, rep)
			}
			if err := st.Save(state); err != nil {
				t.Fatal(err)
			}
		}
		// Nothing new: still fine, state unchanged.
		before, _ := os.ReadFile(state)
		st, _ = LoadWitnessState(state, key.Verifier)
		if _, err := w.Check(ctx, st, t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		st.Save(state)
		if after, _ := os.ReadFile(state); !bytes.Equal(before, after) {
			t.Fatalf("state changed without news:\n%s\n%s", before, after)
		}
		// A state file signed by another key is not trusted.
		if _, err := LoadWitnessState(state, testKey(t, "test").Verifier); err == nil {
			t.Fatal("state loaded with another key")
		}
		if _, err := LoadWitnessState(state, testKey(t, "other").Verifier); err == nil {
			t.Fatal("state loaded for another hub")
		}
	})
}

// A partner's witness checks the entries it may see.
func TestWitnessAsPartner(t *testing.T) {
	h := newHub(t, openSQLiteDB, HandlerOptions{})
	w := &Witness{BaseURL: h.srv.URL, Token: "acme", Verifier: h.key.Verifier, Entries: true}
	st := &WitnessState{Origin: h.key.Name}
	rep, err := w.Check(context.Background(), st, t0)
	if err != nil {
		t.Fatal(err)
	}
	// acme: its organisation, the entry accepting its two objects, the
	// entry serving them, the entry saying one was withheld from de.
	if rep.EntriesOK != 4 {
		t.Fatalf("partner witness checked %d entries, want 4", rep.EntriesOK)
	}
}

func TestWitnessThinsState(t *testing.T) {
	st := &WitnessState{}
	for i := range 1000 {
		st.Checkpoints = append(st.Checkpoints, SeenCheckpoint{Note: string(rune('a' + i%26)), Seen: t0.Add(time.Duration(i))})
		st.thin()
	}
	if len(st.Checkpoints) > maxKept || st.Checkpoints[len(st.Checkpoints)-1].Seen != t0.Add(999) {
		t.Fatalf("%d kept, last %v", len(st.Checkpoints), st.Checkpoints[len(st.Checkpoints)-1].Seen)
	}
	for i := 1; i < len(st.Checkpoints); i++ {
		if !st.Checkpoints[i].Seen.After(st.Checkpoints[i-1].Seen) {
			t.Fatal("thinning reordered checkpoints")
		}
	}
}

// The witness catches each tampering; where the evidence names entries,
// it names them.
func TestWitnessTamper(t *testing.T) {
	type want struct {
		index int64 // -1: the alarm cannot name an entry
		what  string
	}
	cases := map[string]want{
		"change a byte":                              {137, "not in the tree"},
		"delete one":                                 {137, "cannot produce entry 137"},
		"delete one and renumber":                    {137, "not in the tree"},
		"reorder two":                                {100, "not in the tree"},
		"truncate the tail":                          {250, "cannot produce entry 250"},
		"truncate the tail and its tree":             {-1, "will not prove"},
		"rewrite the tail, re-sign with another key": {-1, "does not verify"},
		"change a stored hash":                       {44, "not in the tree"}, // the first entry whose proof uses it
	}
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		for _, tc := range tamperCases {
			want, ok := cases[tc.name]
			if !ok {
				continue // a stored checkpoint the hub never serves: verify's job
			}
			t.Run(tc.name, func(t *testing.T) {
				db, key, l := builtLog(t, open)
				srv := serveAdmin(t, l)
				st := seenState(t, l, 100, 180, 300)
				tc.tamper(t, db, key)
				w := &Witness{BaseURL: srv.URL, Verifier: key.Verifier, Entries: true, Full: true}
				_, err := w.Check(context.Background(), st, t0.Add(24*time.Hour))
				var a *Alarm
				if !errors.As(err, &a) {
					t.Fatalf("Check = %v, want an alarm", err)
				}
				if !strings.Contains(a.What, want.what) || (want.index >= 0 && a.Index != want.index) {
					t.Fatalf("alarm %q (index %d); want index %d and %q", a.What, a.Index, want.index, want.what)
				}
				// The state is not advanced past an alarm.
				if len(st.Checkpoints) != 3 {
					t.Fatalf("state took the bad checkpoint: %d", len(st.Checkpoints))
				}
			})
		}
		// What only a witness can catch: history rewritten with the real
		// key, or rolled back with its tree and checkpoints.
		t.Run("rewrite the tail, re-sign with the real key", func(t *testing.T) {
			db, key, l := builtLog(t, open)
			srv := serveAdmin(t, l)
			st := seenState(t, l, 100, 180, 300)
			rewriteTail(t, db, 200, key)
			w := &Witness{BaseURL: srv.URL, Verifier: key.Verifier}
			_, err := w.Check(context.Background(), st, t0.Add(24*time.Hour))
			var a *Alarm
			if !errors.As(err, &a) || a.Index != 180 || a.End != 300 || !strings.Contains(a.What, "[180, 300) were changed") {
				t.Fatalf("Check = %v, want an alarm naming [180, 300)", err)
			}
			// Grown past the rewrite: the consistency proof fails.
			appendN(t, db.lg, New(db.lg, key, Config{}), 300, 7, 7)
			_, err = w.Check(context.Background(), st, t0.Add(25*time.Hour))
			if !errors.As(err, &a) || a.Index != 180 || a.End != 300 || a.NewSize != 307 || !strings.Contains(a.What, "does not extend the tree of 300") {
				t.Fatalf("Check = %v, want an alarm naming sizes 300 and 307", err)
			}
		})
		t.Run("roll back with tree and checkpoints", func(t *testing.T) {
			db, key, l := builtLog(t, open)
			srv := serveAdmin(t, l)
			st := seenState(t, l, 100, 180, 300)
			db.exec(t, `DELETE FROM log_entries WHERE idx >= 240`)
			db.dropHashes(t, tlog.StoredHashIndex(0, 240))
			db.exec(t, `DELETE FROM log_checkpoints WHERE size > 240`)
			db.setSizes(t, 240, 240)
			w := &Witness{BaseURL: srv.URL, Verifier: key.Verifier}
			_, err := w.Check(context.Background(), st, t0.Add(24*time.Hour))
			var a *Alarm
			if !errors.As(err, &a) || a.Index != 240 || a.End != 300 || a.OldSize != 300 || a.NewSize != 240 {
				t.Fatalf("Check = %v, want an alarm naming 240 and 300", err)
			}
		})
		t.Run("all checkpoints gone", func(t *testing.T) {
			db, key, l := builtLog(t, open)
			srv := serveAdmin(t, l)
			st := seenState(t, l, 300)
			db.exec(t, `DELETE FROM log_checkpoints`)
			_, err := (&Witness{BaseURL: srv.URL, Verifier: key.Verifier}).Check(context.Background(), st, t0)
			var a *Alarm
			if !errors.As(err, &a) {
				t.Fatalf("Check = %v, want an alarm", err)
			}
		})
	})
}

// A hub that cannot be reached is an error, not an alarm.
func TestWitnessUnreachable(t *testing.T) {
	key := testKey(t, "test")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	_, err := (&Witness{BaseURL: srv.URL, Verifier: key.Verifier}).Check(context.Background(), &WitnessState{Origin: key.Name}, t0)
	var a *Alarm
	if err == nil || errors.As(err, &a) || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Check = %v, want a plain error naming 503", err)
	}
}
