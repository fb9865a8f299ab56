package audit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"fusion/internal/store"
)

// openTestSpool opens a spool at path for l, closed at cleanup.
func openTestSpool(t testing.TB, l *Log, path string) {
	t.Helper()
	if err := l.OpenSpool(context.Background(), path); err != nil {
		t.Fatalf("OpenSpool: %v", err)
	}
	t.Cleanup(func() {
		if l.spool != nil && l.spool.f != nil {
			if err := l.CloseSpool(context.Background()); err != nil {
				t.Errorf("CloseSpool: %v", err)
			}
		}
	})
}

// crashSpool stops l's spool as a killed process would: the mover stops,
// nothing more is stored, the file (and its lock) is let go as it is.
func crashSpool(t testing.TB, l *Log) {
	t.Helper()
	s := l.spool
	close(s.stop)
	<-s.done
	s.moveMu.Lock() // no move runs or starts
	if err := s.f.Close(); err != nil {
		t.Fatal(err)
	}
	s.f = nil
}

// spoolCalls appends n calls of two denied entries each to l and returns
// the entries in order.
func spoolCalls(t testing.TB, l *Log, from, n int) [][]byte {
	t.Helper()
	var all [][]byte
	for i := from; i < from+n; i++ {
		var es [][]byte
		for j := range 2 {
			e := Entry{Kind: KindDenied, V: SchemaVersion, Time: FormatTime(t0), Actor: uuidN(i), Count: int64(j + 1), Reason: "spool test"}
			es = append(es, Encode(&e))
		}
		if err := l.Append(context.Background(), es); err != nil {
			t.Fatalf("Append call %d: %v", i, err)
		}
		all = append(all, es...)
	}
	return all
}

func sameLog(t testing.TB, lg store.Log, want [][]byte) {
	t.Helper()
	got := readAll(t, lg)
	if len(got) != len(want) {
		t.Fatalf("log holds %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("entry %d is %s, want %s", i, got[i], want[i])
		}
	}
}

// What is spooled reaches the store once: through Sync, through the
// mover, and when the spool is closed; reopening stores nothing again.
func TestSpoolStoresOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t testing.TB) *testDB) {
		db := open(t)
		path := filepath.Join(t.TempDir(), "audit.spool")
		key := testKey(t, "test")
		l := New(db.lg, key, Config{})
		openTestSpool(t, l, path)
		want := spoolCalls(t, l, 0, 10)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameLog(t, db.lg, want)
		want = append(want, spoolCalls(t, l, 10, 5)...)
		if err := l.CloseSpool(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameLog(t, db.lg, want)
		if fi, err := os.Stat(path); err != nil || fi.Size() != int64(spoolHeaderLen) {
			t.Fatalf("closed spool: %v, %v; want only its header", fi, err)
		}
		l2 := New(db.lg, key, Config{})
		openTestSpool(t, l2, path)
		want = append(want, spoolCalls(t, l2, 15, 1)...)
		if err := l2.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		sameLog(t, db.lg, want)
		// The moved entries' leaf hashes are known: the tree and its
		// checkpoint come out right.
		if _, err := l2.Integrate(context.Background()); err != nil {
			t.Fatal(err)
		}
		res, err := Verify(context.Background(), db.lg, key.Verifier, VerifyOptions{})
		if err != nil || res.Tree != int64(len(want)) {
			t.Fatalf("Verify: %+v, %v", res, err)
		}
	})
}

// A process that dies with entries in its spool (before the mover stored
// them, or after, before the file was emptied) loses none and stores none
// twice: the next OpenSpool stores exactly those the store lacks.
func TestSpoolCrash(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t testing.TB) *testDB) {
		db := open(t)
		path := filepath.Join(t.TempDir(), "audit.spool")
		l := New(db.lg, testKey(t, "test"), Config{})
		openTestSpool(t, l, path)
		want := spoolCalls(t, l, 0, 4)
		if err := l.Sync(context.Background()); err != nil { // stored, still in the file
			t.Fatal(err)
		}
		want = append(want, spoolCalls(t, l, 4, 3)...) // only in the file
		crashSpool(t, l)
		backlog := func(want int) {
			t.Helper()
			if n, err := SpoolBacklog(context.Background(), db.lg, path); err != nil || n != want {
				t.Fatalf("SpoolBacklog = %d, %v; want %d", n, err, want)
			}
		}
		backlog(6)
		// Something else appends meanwhile (another node, an ingest).
		direct := []byte(`{"kind":"denied","reason":"direct","t":"2026-01-01T00:00:00.000000Z","v":3}`)
		if _, err := db.lg.AppendLog(context.Background(), [][]byte{direct}); err != nil {
			t.Fatal(err)
		}
		want = append(want[:8:8], append([][]byte{direct}, want[8:]...)...)

		l2 := New(db.lg, testKey(t, "test"), Config{})
		openTestSpool(t, l2, path)
		sameLog(t, db.lg, want)
		backlog(0)
		want = append(want, spoolCalls(t, l2, 7, 2)...)
		crashSpool(t, l2)
		backlog(4)
		l3 := New(db.lg, testKey(t, "test"), Config{})
		openTestSpool(t, l3, path)
		sameLog(t, db.lg, want)
		if n, err := SpoolBacklog(context.Background(), db.lg, filepath.Join(t.TempDir(), "none")); err != nil || n != 0 {
			t.Fatalf("SpoolBacklog of no file = %d, %v", n, err)
		}
	})
}

// A write cut short at the end of the file is ignored; the records before
// it are stored.
func TestSpoolTornTail(t *testing.T) {
	db := openSQLiteDB(t)
	path := filepath.Join(t.TempDir(), "audit.spool")
	l := New(db.lg, testKey(t, "test"), Config{})
	openTestSpool(t, l, path)
	want := spoolCalls(t, l, 0, 3)
	crashSpool(t, l)
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := spoolRecordHead + len(want[len(want)-1])
	for _, cut := range []int{1, spoolRecordHead - 3, spoolRecordHead + 5} {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			db := openSQLiteDB(t)
			p := filepath.Join(t.TempDir(), "audit.spool")
			// The last record only partly written.
			if err := os.WriteFile(p, whole[:len(whole)-last+cut], 0o600); err != nil {
				t.Fatal(err)
			}
			l := New(db.lg, testKey(t, "test"), Config{})
			openTestSpool(t, l, p)
			sameLog(t, db.lg, want[:len(want)-1])
		})
	}
	t.Run("checksum", func(t *testing.T) {
		db := openSQLiteDB(t)
		p := filepath.Join(t.TempDir(), "audit.spool")
		bad := bytes.Clone(whole)
		bad[len(bad)-2] ^= 1 // in the last entry
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		l := New(db.lg, testKey(t, "test"), Config{})
		openTestSpool(t, l, p)
		sameLog(t, db.lg, want[:len(want)-1])
	})
}

// OpenSpool refuses a file that is not a spool, and one another process
// (or Log) has open; it names the file.
func TestSpoolRefuses(t *testing.T) {
	db := openSQLiteDB(t)
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, []byte("this is not a spool file, it is something else entirely\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := New(db.lg, testKey(t, "test"), Config{})
	if err := l.OpenSpool(context.Background(), junk); err == nil || !strings.Contains(err.Error(), junk) || !strings.Contains(err.Error(), "not a spool file") {
		t.Fatalf("OpenSpool of a junk file: %v", err)
	}
	path := filepath.Join(dir, "audit.spool")
	openTestSpool(t, l, path)
	l2 := New(db.lg, testKey(t, "test"), Config{})
	if err := l2.OpenSpool(context.Background(), path); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second OpenSpool of one file: %v", err)
	}
	// A header cut short when the file was made is a new spool.
	cut := filepath.Join(dir, "cut.spool")
	if err := os.WriteFile(cut, []byte(spoolMagic[:5]), 0o600); err != nil {
		t.Fatal(err)
	}
	l3 := New(db.lg, testKey(t, "test"), Config{})
	openTestSpool(t, l3, cut)
}

// failingLog refuses AppendSpooled while fail is set.
type failingLog struct {
	store.Log
	fail atomic.Bool
}

var errInjected = errors.New("injected failure")

func (f *failingLog) AppendSpooled(ctx context.Context, spool string, seq int64, entries [][]byte) (int64, error) {
	if f.fail.Load() {
		return 0, errInjected
	}
	return f.Log.AppendSpooled(ctx, spool, seq, entries)
}

// While the store refuses, Append still keeps entries (in the file) up to
// the spool's bound, then refuses; once the store works again, everything
// kept is stored, in order, once.
func TestSpoolStoreFails(t *testing.T) {
	db := openSQLiteDB(t)
	fl := &failingLog{Log: db.lg}
	l := New(fl, testKey(t, "test"), Config{})
	openTestSpool(t, l, filepath.Join(t.TempDir(), "audit.spool"))
	fl.fail.Store(true)
	want := spoolCalls(t, l, 0, 5)
	if err := l.Sync(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("Sync with the store failing: %v", err)
	}
	if st := l.SpoolStats(); !st.Open || st.Entries != 10 || st.Bytes < 10*spoolRecordHead || !st.Failing {
		t.Fatalf("SpoolStats with the store failing: %+v; want 10 entries waiting, failing", st)
	}
	l.spool.mu.Lock()
	l.spool.maxPending = l.spool.bytes + 10
	l.spool.mu.Unlock()
	if err := l.Append(context.Background(), want[:1]); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("Append beyond the bound: %v", err)
	}
	fl.fail.Store(false)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameLog(t, db.lg, want)
	if st := l.SpoolStats(); !st.Open || st.Entries != 0 || st.Bytes != 0 || st.Failing {
		t.Fatalf("SpoolStats once stored: %+v", st)
	}
	want = append(want, spoolCalls(t, l, 5, 1)...)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameLog(t, db.lg, want)
}

// memSpoolLog keeps what AppendSpooled stores, for FuzzSpoolRecover.
type memSpoolLog struct {
	store.Log // nil: only the spool's methods are called
	entries   [][]byte
	mark      int64
}

func (m *memSpoolLog) SpoolMark(context.Context, string) (int64, error) { return m.mark, nil }

func (m *memSpoolLog) AppendSpooled(_ context.Context, _ string, seq int64, es [][]byte) (int64, error) {
	if seq <= m.mark {
		return 0, store.ErrConflict
	}
	first := int64(len(m.entries))
	m.entries, m.mark = append(m.entries, es...), seq
	return first, nil
}

// Whatever a spool file holds after its header, opening it neither panics
// nor stores anything but whole records in order: each stored entry is
// one the file holds intact.
func FuzzSpoolRecover(f *testing.F) {
	rec := func(seq uint64, e string) []byte {
		var h [spoolRecordHead]byte
		binary.BigEndian.PutUint64(h[0:8], seq)
		binary.BigEndian.PutUint32(h[8:12], uint32(len(e)))
		binary.BigEndian.PutUint32(h[12:16], recordCRC(h[:12], []byte(e)))
		return append(h[:], e...)
	}
	f.Add([]byte{})
	f.Add(rec(1, `{"a":1}`))
	f.Add(append(rec(1, "x"), rec(2, "yy")...))
	f.Add(append(rec(1, "x"), rec(3, "yy")...))
	f.Add(append(rec(1, "x"), rec(2, "yy")[:10]...))
	f.Add(rec(7, ""))
	header := []byte(spoolMagic + "0123456789abcdef0123456789abcdef\n")
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(t.TempDir(), "audit.spool")
		if err := os.WriteFile(path, append(slices.Clone(header), body...), 0o600); err != nil {
			t.Fatal(err)
		}
		st := &memSpoolLog{}
		s, err := openSpool(context.Background(), st, path, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		if err != nil {
			return // refused: a damaged file is reported, not stored
		}
		defer s.f.Close()
		for _, e := range st.entries {
			if !bytes.Contains(body, e) {
				t.Fatalf("stored %q, which the file does not hold", e)
			}
		}
		if fi, err := os.Stat(path); err != nil || fi.Size() != int64(spoolHeaderLen) {
			t.Fatalf("after opening, the spool is %v, %v; want only its header", fi, err)
		}
	})
}
