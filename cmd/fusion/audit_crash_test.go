package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/server"
	"fusion/internal/store"
)

// childEnv makes the test binary run `fusion` with its arguments instead
// of the tests (TestServerCrash kills it).
const childEnv = "FUSION_CMD_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

const crashAdminToken = "crash-test-admin-token-0123456789abcdef"

// crashServer is one `fusion serve` process.
type crashServer struct {
	cmd  *exec.Cmd
	base string
}

var servingRE = regexp.MustCompile(`msg="fusion serving" addr=(\S+)`)

func startCrashServer(t *testing.T, db []string) *crashServer {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--rate", "0"}, db...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1", "FUSION_ADMIN_TOKEN="+crashAdminToken)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingRE.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
	}()
	select {
	case a := <-addr:
		return &crashServer{cmd: cmd, base: "http://" + a}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("fusion serve did not start")
	}
	return nil
}

func (s *crashServer) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.cmd.Wait()
	if ws, ok := s.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("fusion serve was not killed by SIGKILL: %v", s.cmd.ProcessState)
	}
}

func (s *crashServer) do(method, path, token, ctype string, body []byte, want int, out any) error {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// Kill `fusion serve` (SIGKILL) while a partner posts and a member pages
// through the collection as fast as they can, twice, restarting it in
// between: `fusion audit verify` passes each time, every object the
// server reported stored is in an accepted entry, and, once the server
// has started again (and stored what its audit spool held), every object
// the member received in a whole response is in a served entry naming
// the member: nothing was accepted or served unlogged.
func TestServerCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills fusion serve")
	}
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			if !slices.Contains(db, "--data") {
				// serve keeps its audit key in the data directory: one
				// for both rounds, never ./fusion-data in the source tree.
				db = append(db, "--data", t.TempDir())
			}
			var (
				mu       sync.Mutex
				accepted = map[string]bool{}      // reported stored by POST status
				received = map[string]time.Time{} // in a whole GET response: when the latest was asked for
			)
			var member string
			var objectsPath, partnerTok, memberTok string
			seq := 0
			spooled := 0 // rounds whose kill left entries in the spool
			for round := range 2 {
				s := startCrashServer(t, db)
				if round == 0 {
					admin := func(method, path, body string, out any) {
						t.Helper()
						if err := s.do(method, path, crashAdminToken, "application/json", []byte(body), map[string]int{"POST": 201, "PUT": 200}[method], out); err != nil {
							t.Fatal(err)
						}
					}
					var org server.OrgJSON
					admin("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, &org)
					admin("POST", "/api/v1/orgs", `{"name":"de-police","kind":"member","country":"DE"}`, &org)
					member = org.ID
					var col server.CollectionJSON
					admin("POST", "/api/v1/collections", `{"title":"Crash","alias":"crash"}`, &col)
					admin("PUT", "/api/v1/collections/"+col.ID+"/grants/acme", `{"read":true,"write":true}`, nil)
					admin("PUT", "/api/v1/collections/"+col.ID+"/grants/de-police", `{"read":true}`, nil)
					var tok server.TokenJSON
					admin("POST", "/api/v1/tokens", `{"org":"acme","role":"write"}`, &tok)
					partnerTok = tok.Token
					admin("POST", "/api/v1/tokens", `{"org":"de-police","role":"read"}`, &tok)
					memberTok = tok.Token
					objectsPath = "/" + col.APIRoot + "/collections/" + col.ID + "/objects/"
				}
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { // the partner
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						var objs []string
						for range 50 {
							seq++
							objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-%012x","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '203.0.113.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":["marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"]}`,
								round, seq, seq%250))
						}
						var st struct {
							Status    string `json:"status"`
							Successes []struct {
								ID string `json:"id"`
							} `json:"successes"`
						}
						err := s.do("POST", objectsPath, partnerTok, "application/taxii+json;version=2.1",
							[]byte(`{"objects":[`+strings.Join(objs, ",")+`]}`), 202, &st)
						if err != nil {
							return // the server is gone
						}
						mu.Lock()
						for _, o := range st.Successes {
							accepted[o.ID] = true
						}
						mu.Unlock()
					}
				}()
				go func() { // the member
					defer wg.Done()
					next := ""
					for {
						select {
						case <-stop:
							return
						default:
						}
						path := objectsPath + "?limit=200"
						if next != "" {
							path += "&next=" + url.QueryEscape(next)
						}
						var env struct {
							More    bool             `json:"more"`
							Next    string           `json:"next"`
							Objects []map[string]any `json:"objects"`
						}
						asked := time.Now()
						if err := s.do("GET", path, memberTok, "", nil, 200, &env); err != nil {
							return
						}
						mu.Lock()
						for _, o := range env.Objects {
							received[o["id"].(string)] = asked
						}
						mu.Unlock()
						next = ""
						if env.More {
							next = env.Next
						}
					}
				}()
				time.Sleep(time.Duration(1500+1000*round) * time.Millisecond)
				s.kill(t)
				close(stop)
				wg.Wait()

				time.Sleep(300 * time.Millisecond) // PostgreSQL: let it see the closed connections
				code, out, errs := fusion(t, append([]string{"audit", "verify"}, db...)...)
				if code != 0 {
					t.Fatalf("round %d: audit verify after SIGKILL: exit %d\n%s%s", round, code, out, errs)
				}
				// Served entries may still be in the killed server's spool
				// file (verify says so; the member paged until the kill, so
				// some almost always are): the next start stores them
				// before it serves.
				if strings.Contains(out, "wait in") {
					spooled++
				}
				startCrashServer(t, db).kill(t)
				if code, out, errs := fusion(t, append([]string{"audit", "verify"}, db...)...); code != 0 || strings.Contains(out, "wait in") {
					t.Fatalf("round %d: audit verify after the restart: exit %d\n%s%s", round, code, out, errs)
				}
				logged, served := crashLog(t, db, member)
				mu.Lock()
				for id := range accepted {
					if !logged[id] {
						t.Errorf("round %d: %s was reported stored but is in no accepted entry", round, id)
					}
				}
				// Every reception has its own served entry, made after it
				// was asked for: one from an earlier pass over the same
				// page does not count.
				for id, asked := range received {
					if at, ok := served[id]; !ok || at.Before(asked) {
						t.Errorf("round %d: %s reached the member (asked at %s) without a served entry (latest: %s)", round, id, asked.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
					}
				}
				if len(accepted) == 0 || len(received) == 0 {
					t.Fatalf("round %d: nothing happened before the kill (%d stored, %d received)", round, len(accepted), len(received))
				}
				t.Logf("round %d: killed after %d objects stored and %d received; all logged", round, len(accepted), len(received))
				mu.Unlock()
			}
			if spooled == 0 {
				t.Errorf("no kill left served entries in the spool that audit verify reported")
			}
		})
	}
}

// crashLog reads the store's log: the ids named by accepted entries,
// and those in served entries for org with the latest such entry's time.
func crashLog(t *testing.T, db []string, org string) (accepted map[string]bool, served map[string]time.Time) {
	t.Helper()
	ctx := context.Background()
	st := openFromFlags(t, db)
	defer st.Close()
	lg := st.(store.Log)
	n, err := lg.LogSize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	accepted, served = map[string]bool{}, map[string]time.Time{}
	for start := int64(0); start < n; start += 5000 {
		es, err := lg.ReadLog(ctx, start, min(start+5000, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range es {
			e, err := audit.ParseEntry(b)
			if err != nil {
				t.Fatalf("entry %s: %v", b, err)
			}
			switch {
			case len(e.AcceptedVersions()) > 0:
				for _, a := range e.AcceptedVersions() {
					accepted[a.ID] = true
				}
			case e.Kind == audit.KindServed && e.Org == org:
				at, err := time.Parse(time.RFC3339Nano, e.Time)
				if err != nil {
					t.Fatalf("entry %s: t: %v", b, err)
				}
				for _, it := range e.Objects {
					if at.After(served[it.ID]) {
						served[it.ID] = at
					}
				}
			}
		}
	}
	return accepted, served
}
