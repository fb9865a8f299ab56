package sqlite

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/storetest"
)

// TestLogTwoHandles appends through two DBs on one file at once (as two
// processes would): the indexes stay dense and unique.
func TestLogTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fusion.db")
	a := openPath(t, path)
	b := openPath(t, path)
	storetest.ConcurrentAppends(t, []store.Store{a, b})
}

func BenchmarkLog(b *testing.B) {
	storetest.BenchLog(b, func(b *testing.B) store.Store { return openTemp(b) })
}

// crashEnv, when set, makes TestLogCrash the child: it writes to the
// store at that path until it is killed.
const crashEnv = "FUSION_SQLITE_LOG_CRASH_CHILD"

const (
	crashPutters  = 2
	crashBatch    = 100
	crashMinCount = 20 // batches the parent waits for before the kill
)

// crashObject is object i of putter w in the crash test.
func crashObject(w, i int) *stix.Object {
	return indicator(fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", w, i), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
}

// crashRecorder logs one entry per added version.
func crashRecorder(_ context.Context, c store.Change) ([][]byte, error) {
	var es [][]byte
	for i, o := range c.Objects {
		if c.Outcomes[i].Added {
			es = append(es, fmt.Appendf(nil, "put %s %s", o.ID, stix.FormatTimestamp(o.Version())))
		}
	}
	return es, nil
}

// TestLogCrash kills a process (SIGKILL) while it puts objects with a
// recorder and appends other entries, then reopens the file: every
// stored version has exactly one entry and every put entry its version,
// the log is dense, and every batch the child saw committed is there.
// Three rounds on the same file, killed at different moments.
func TestLogCrash(t *testing.T) {
	if env := os.Getenv(crashEnv); env != "" {
		path, round, _ := strings.Cut(env, "|")
		r, _ := strconv.Atoi(round)
		crashChild(path, r)
		return
	}
	path := filepath.Join(t.TempDir(), "fusion.db")
	committed := map[int]int{} // putter (over all rounds) -> batches committed
	for round, delay := range []time.Duration{0, 3 * time.Millisecond, 20 * time.Millisecond} {
		crashRound(t, path, round, delay, committed)
		crashCheck(t, path, committed)
	}
}

// crashRound runs a child until it has committed crashMinCount batches,
// waits delay and kills it.
func crashRound(t *testing.T, path string, round int, delay time.Duration, committed map[int]int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLogCrash$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d", crashEnv, path, round))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Lines "committed W N": putter W's batch N committed.
	batches := 0
	sc := bufio.NewScanner(out)
	for batches < crashMinCount && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[0] != "committed" {
			continue
		}
		w, _ := strconv.Atoi(f[1])
		n, _ := strconv.Atoi(f[2])
		committed[w] = max(committed[w], n+1)
		batches++
	}
	if batches < crashMinCount {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("round %d: the child stopped after %d batches: %v", round, batches, sc.Err())
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill count as committed too.
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "committed" {
			w, _ := strconv.Atoi(f[1])
			n, _ := strconv.Atoi(f[2])
			committed[w] = max(committed[w], n+1)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("round %d: the child was not killed by SIGKILL: %v", round, err)
	}
}

// crashCheck reopens the file and compares versions, entries and what
// the children saw committed.
func crashCheck(t *testing.T, path string, committed map[int]int) {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open after the crash: %v", err)
	}
	defer func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	ctx := context.Background()
	n, err := db.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := db.ReadLog(ctx, 0, n)
	if err != nil {
		t.Fatalf("ReadLog(0, %d) after the crash: %v", n, err)
	}
	var rows int64
	if err := db.r.QueryRow(`SELECT count(*) FROM log_entries`).Scan(&rows); err != nil || rows != n {
		t.Errorf("log_entries holds %d rows, log size %d (%v)", rows, n, err)
	}
	putEntries := map[string]int{}
	other := 0
	for _, e := range entries {
		s := string(e)
		switch {
		case strings.HasPrefix(s, "put "):
			putEntries[strings.TrimPrefix(s, "put ")]++
		case strings.HasPrefix(s, "served "):
			other++
		default:
			t.Errorf("unexpected entry %q", e)
		}
	}
	stored := map[string]bool{}
	q := store.Query{Versions: store.VersionMatch{All: true}, Limit: 1000, MetaOnly: true}
	for {
		p, err := db.List(ctx, store.DefaultCollectionID, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Versions {
			stored[v.ID+" "+stix.FormatTimestamp(v.Modified)] = true
		}
		if !p.More {
			break
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
	for k, c := range putEntries {
		if c != 1 {
			t.Errorf("%d entries for version %s", c, k)
		}
		if !stored[k] {
			t.Errorf("entry for version %s, which is not stored", k)
		}
	}
	for k := range stored {
		if putEntries[k] == 0 {
			t.Errorf("version %s is stored without its entry", k)
		}
	}
	seen := 0
	for w, b := range committed {
		seen += b
		for i := 0; i < b*crashBatch; i++ {
			o := crashObject(w, i)
			if k := o.ID + " " + stix.FormatTimestamp(o.Version()); !stored[k] {
				t.Errorf("version %s of a batch a child saw committed is missing", k)
				break
			}
		}
	}
	t.Logf("after SIGKILL: %d versions stored, %d put entries, %d other entries, log size %d; %d batches seen committed",
		len(stored), len(putEntries), other, n, seen)
	if len(stored) < seen*crashBatch {
		t.Errorf("only %d versions stored, %d seen committed", len(stored), seen*crashBatch)
	}
}

// crashChild writes until it is killed: crashPutters goroutines put
// batches of new objects with a recorder, another appends entries.
// It gives up after a minute in case the parent is gone.
func crashChild(path string, round int) {
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	db.SetRecorder(crashRecorder)
	var mu sync.Mutex // one line at a time on stdout
	for p := range crashPutters {
		w := round*crashPutters + p
		go func() {
			for n := 0; ; n++ {
				objs := make([]*stix.Object, crashBatch)
				for i := range objs {
					objs[i] = crashObject(w, n*crashBatch+i)
				}
				if _, err := db.Put(ctx, store.DefaultCollectionID, "crash", objs); err != nil {
					fmt.Fprintln(os.Stderr, "child: put:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Printf("committed %d %d\n", w, n)
				mu.Unlock()
			}
		}()
	}
	go func() {
		for n := 0; ; n++ {
			es := make([][]byte, 1+n%7)
			for i := range es {
				es[i] = fmt.Appendf(nil, "served %d.%d.%d", round, n, i)
			}
			if _, err := db.AppendLog(ctx, es); err != nil {
				fmt.Fprintln(os.Stderr, "child: append:", err)
				os.Exit(2)
			}
		}
	}()
	time.Sleep(time.Minute)
	os.Exit(3)
}
