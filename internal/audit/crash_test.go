package audit

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/postgres"
	"fusion/internal/store/sqlite"
)

// crashChild is set in the environment of the process TestCrashRecovery
// kills: it names the store ("sqlite:PATH" or a PostgreSQL URL) and the
// key file, separated by a space.
const crashChild = "FUSION_AUDIT_CRASH_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashChild); spec != "" {
		os.Exit(runCrashChild(spec))
	}
	os.Exit(m.Run())
}

func openURL(ctx context.Context, u string) (store.Store, error) {
	if p, ok := strings.CutPrefix(u, "sqlite:"); ok {
		return sqlite.Open(ctx, p)
	}
	return postgres.Open(ctx, u)
}

// runCrashChild ingests and serves as fast as it can, with the recorder
// and the integrator, until it is killed.
func runCrashChild(spec string) int {
	dbURL, keyFile, _ := strings.Cut(spec, " ")
	ctx := context.Background()
	st, err := openURL(ctx, dbURL)
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	lg := st.(store.Log)
	lg.SetRecorder(Recorder(nil))
	key, err := ReadKeyFile(keyFile)
	if err != nil {
		fmt.Println("key:", err)
		return 1
	}
	l := New(lg, key, Config{Interval: 20 * time.Millisecond})
	go l.Run(ctx)
	const src = "7b1f6c2e-5d3a-4c8e-9f10-2a4b6c8d0e1f"
	actx := WithActor(ctx, src)
	for round := 0; ; round++ {
		objs := make([]*stix.Object, 50)
		for i := range objs {
			raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-%012x","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"}`, round, i)
			if objs[i], err = stix.Parse([]byte(raw)); err != nil {
				fmt.Println("parse:", err)
				return 1
			}
		}
		if _, err := st.Put(actx, store.DefaultCollectionID, src, objs); err != nil {
			fmt.Println("put:", err)
			return 1
		}
		page, err := st.List(ctx, store.DefaultCollectionID, store.Query{Limit: 100})
		if err != nil {
			fmt.Println("list:", err)
			return 1
		}
		if err := l.Append(ctx, Served(Access{Time: time.Now(), Actor: "de", Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}, page.Versions)); err != nil {
			fmt.Println("append:", err)
			return 1
		}
		if round == 5 {
			fmt.Println("ready")
		}
	}
}

// Killed (SIGKILL) in the middle of ingesting and serving, the log is
// still whole: verify passes, integration resumes, and every stored
// object version is in an accepted entry with its digest.
func TestCrashRecovery(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		db := open(t)
		dir := t.TempDir()
		keyFile := filepath.Join(dir, "audit.key")
		key, _, err := LoadOrCreateKey(keyFile, OriginPrefix+"crash")
		if err != nil {
			t.Fatal(err)
		}
		for run := range 3 {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), crashChild+"="+db.URL+" "+keyFile)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			line, _ := bufio.NewReader(out).ReadString('\n')
			if strings.TrimSpace(line) != "ready" {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("run %d: child said %q", run, line)
			}
			time.Sleep(time.Duration(300+200*run) * time.Millisecond)
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			// PostgreSQL may still finish a COMMIT the child sent just
			// before it died; let the server notice the closed connection.
			time.Sleep(300 * time.Millisecond)

			ctx := context.Background()
			res, err := Verify(ctx, db.lg, key.Verifier, VerifyOptions{ChunkBits: 10})
			if err != nil {
				t.Fatalf("run %d: verify after SIGKILL: %v", run, err)
			}
			n, err := New(db.lg, key, Config{}).Integrate(ctx)
			size, serr := db.lg.LogSize(ctx)
			if err != nil || serr != nil || n != size {
				t.Fatalf("run %d: integrate after SIGKILL: tree of %d, log of %d, %v %v", run, n, size, err, serr)
			}
			if _, err := Verify(ctx, db.lg, key.Verifier, VerifyOptions{}); err != nil {
				t.Fatalf("run %d: verify after integrating: %v", run, err)
			}
			// Every stored version has its entry, with its digest.
			accepted := map[string]string{}
			for _, b := range readAll(t, db.lg) {
				e, err := ParseEntry(b)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range e.AcceptedVersions() {
					accepted[a.ID+" "+a.Version] = a.SHA256
				}
			}
			var versions int
			var after time.Time
			for {
				page, err := db.List(ctx, store.DefaultCollectionID, store.Query{AddedAfter: after, Limit: 1000, Versions: store.VersionMatch{All: true}})
				if err != nil {
					t.Fatal(err)
				}
				for _, v := range page.Versions {
					versions++
					if got := accepted[v.ID+" "+stix.FormatTimestamp(v.Modified)]; got != ObjectSHA256(v.Raw) {
						t.Fatalf("run %d: stored version %s %v is not in an accepted entry with its digest (%q)", run, v.ID, v.Modified, got)
					}
				}
				if !page.More {
					break
				}
				after = page.Versions[len(page.Versions)-1].DateAdded
			}
			if versions != len(accepted) {
				t.Fatalf("run %d: %d versions stored, %d named by accepted entries", run, versions, len(accepted))
			}
			t.Logf("run %d: killed with %d entries (%d in the tree); %d versions stored, each with its entry", run, res.Entries, res.Tree, versions)
		}
	})
}
