package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fusion/internal/server"
	"fusion/internal/stix"
)

// rtWantVersions is what a push of raws must leave in a collection.
func rtWantVersions(t *testing.T, raws [][]byte) map[string][]byte {
	out := map[string][]byte{}
	for _, r := range raws {
		o, err := stix.Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		out[o.ID+"@"+stix.FormatTimestamp(o.Modified)] = o.Raw
	}
	return out
}

func rtPush(t *testing.T, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(t.Context(), append([]string{"push"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

var pushSummary = regexp.MustCompile(`pushed (\d+) objects in (\d+) envelopes \(up to (\d+) bytes each\).*: (\d+) accepted, (\d+) failed \((\d+) of them before sending\)`)

type pushLine struct{ sent, envelopes, limit, accepted, failed, rejected int }

func parsePushSummary(t *testing.T, stdout string) pushLine {
	t.Helper()
	m := pushSummary.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no summary line in %q", stdout)
	}
	n := make([]int, 6)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return pushLine{n[0], n[1], n[2], n[3], n[4], n[5]}
}

// The OASIS example bundles pushed to a server with a small
// max_content_length: several envelopes, none over the limit, and every
// object arrives exactly as it was in the files.
func TestPushOASISExamples(t *testing.T) {
	const limit = 16 << 10
	a := rtNewServer(t, server.Config{MaxContentLength: limit})
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	raws := rtOASIS(t)
	code, out, errOut := rtPush(t, append([]string{a.root, "--collection", a.coll, "--token", a.writeToken}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s := parsePushSummary(t, out)
	if s.sent != len(raws) || s.accepted != len(raws) || s.failed != 0 || s.limit != limit {
		t.Fatalf("summary %+v, want %d sent and accepted, limit %d", s, len(raws), limit)
	}
	if s.envelopes < 5 || int64(s.envelopes) != a.posts.Load() {
		t.Errorf("%d envelopes (server saw %d POSTs), want several", s.envelopes, a.posts.Load())
	}
	if a.maxPost.Load() > limit {
		t.Errorf("largest envelope %d bytes, over max_content_length %d", a.maxPost.Load(), limit)
	}
	if a.maxPost.Load() < limit/2 {
		t.Errorf("largest envelope %d bytes: envelopes are not filled (limit %d)", a.maxPost.Load(), limit)
	}
	rtSameVersions(t, rtWantVersions(t, raws), rtVersions(t, a.st, a.coll))

	// Pushing again stores nothing twice.
	code, out, _ = rtPush(t, append([]string{a.root, "--collection", "shared", "--user", a.partner, "--password", a.writeToken}, files...)...)
	if code != 0 {
		t.Fatalf("second push: exit %d %s", code, out)
	}
	rtSameVersions(t, rtWantVersions(t, raws), rtVersions(t, a.st, a.coll))
}

// One invalid object in a file: it is reported (id and reason), the
// others arrive, and the exit status is 1.
func TestPushReportsInvalidObject(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	t1 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	bad := `{"type":"indicator","spec_version":"2.1","id":"indicator--dead0000-0000-4000-8000-000000000001","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = ","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`
	good := [][]byte{rtIndicator(1, t1), rtIndicator(2, t1), rtIndicator(3, t1)}
	file := filepath.Join(t.TempDir(), "mixed.json")
	bundle := fmt.Sprintf(`{"type":"bundle","id":"bundle--5d0092c5-5f74-4287-9642-33f4c354e56d","objects":[%s,%s,%s,%s]}`, good[0], good[1], bad, good[2])
	if err := os.WriteFile(file, []byte(bundle), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := rtPush(t, a.root, "--collection", a.coll, "--token", a.writeToken, file)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "indicator--dead0000-0000-4000-8000-000000000001") || !strings.Contains(errOut, "pattern") || !strings.Contains(errOut, "mixed.json") {
		t.Errorf("stderr does not name the object, the file and the reason:\n%s", errOut)
	}
	s := parsePushSummary(t, out)
	if s.sent != 3 || s.accepted != 3 || s.failed != 1 || s.rejected != 1 {
		t.Errorf("summary %+v", s)
	}
	rtSameVersions(t, rtWantVersions(t, good), rtVersions(t, a.st, a.coll))
}

// An object the server refuses (its own rule, here: no objects named
// "forbidden") comes back in the status resource's failures; push
// reports its id and the server's message.
func TestPushReportsServerFailure(t *testing.T) {
	a := rtNewServer(t, server.Config{Validate: func(o *stix.Object) error {
		if bytes.Contains(o.Raw, []byte(`"name":"forbidden"`)) {
			return fmt.Errorf("objects named forbidden are refused here")
		}
		return stix.Validate(o)
	}})
	t1 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	refused := bytes.Replace(rtIndicator(9, t1), []byte(`"name":"pull test 9"`), []byte(`"name":"forbidden"`), 1)
	var lines []string
	for i := range 5 {
		lines = append(lines, string(rtIndicator(i, t1)))
	}
	lines = append(lines, string(refused))
	file := filepath.Join(t.TempDir(), "lines.jsonl")
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	code, out, errOut := rtPush(t, a.root, "--collection", a.coll, "--token", a.writeToken, file)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	o, _ := stix.Parse(refused)
	if !strings.Contains(errOut, o.ID) || !strings.Contains(errOut, "objects named forbidden are refused here") {
		t.Errorf("stderr:\n%s", errOut)
	}
	if s := parsePushSummary(t, out); s.sent != 6 || s.accepted != 5 || s.failed != 1 || s.rejected != 0 {
		t.Errorf("summary %+v", s)
	}
}

// 503 on the first POST and 429 (Retry-After) on the next: push retries
// and every object is stored once.
func TestPushRetries503And429(t *testing.T) {
	a := rtNewServer(t, server.Config{MaxContentLength: 16 << 10})
	var posts atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodPost {
			return false
		}
		switch posts.Add(1) {
		case 1:
			rtTAXIIError(w, http.StatusServiceUnavailable, "")
			return true
		case 3:
			rtTAXIIError(w, http.StatusTooManyRequests, "1")
			return true
		}
		return false
	})
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	code, out, errOut := rtPush(t, append([]string{px.srv.URL + "/api1/", "--collection", a.coll, "--token", a.writeToken}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s := parsePushSummary(t, out)
	if posts.Load() != int64(s.envelopes)+2 || a.posts.Load() != int64(s.envelopes) {
		t.Errorf("proxy saw %d POSTs, server %d, for %d envelopes: want 2 retried", posts.Load(), a.posts.Load(), s.envelopes)
	}
	rtSameVersions(t, rtWantVersions(t, rtOASIS(t)), rtVersions(t, a.st, a.coll))
}

// A server whose real limit is below what it advertises answers 413:
// push splits the envelope and sends the halves.
func TestPushSplitsOn413(t *testing.T) {
	a := rtNewServer(t, server.Config{MaxContentLength: 64 << 10})
	const real = 20 << 10
	var refused atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.ContentLength > real {
			refused.Add(1)
			rtTAXIIError(w, http.StatusRequestEntityTooLarge, "")
			return true
		}
		return false
	})
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	code, out, errOut := rtPush(t, append([]string{px.srv.URL + "/api1/", "--collection", a.coll, "--token", a.writeToken}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if refused.Load() == 0 || a.maxPost.Load() > real {
		t.Errorf("%d envelopes refused; largest stored %d bytes", refused.Load(), a.maxPost.Load())
	}
	rtSameVersions(t, rtWantVersions(t, rtOASIS(t)), rtVersions(t, a.st, a.coll))
}

// A status that is still pending when the POST answers is polled until
// complete. (Fusion answers complete; the proxy rewrites the first
// answer to pending so that the polling path runs against the real
// status endpoint.)
func TestPushPollsPendingStatus(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	var statusGets atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/status/") {
			statusGets.Add(1)
			return false
		}
		if r.Method != http.MethodPost {
			return false
		}
		resp, body := rtForward(t, a.srv.URL, r)
		var st map[string]any
		if err := json.Unmarshal(body, &st); err != nil {
			t.Error(err)
		}
		st["status"], st["pending_count"], st["pendings"] = "pending", st["success_count"], st["successes"]
		st["success_count"], st["successes"] = 0, nil
		body, _ = json.Marshal(st)
		rtCopy(w, resp, body)
		return true
	})
	file := filepath.Join(t.TempDir(), "one.json")
	os.WriteFile(file, rtIndicator(1, time.Now()), 0o644)
	code, out, errOut := rtPush(t, px.srv.URL+"/api1/", "--collection", a.coll, "--token", a.writeToken, file)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if statusGets.Load() == 0 {
		t.Error("the status was never polled")
	}
	if s := parsePushSummary(t, out); s.accepted != 1 || s.failed != 0 {
		t.Errorf("summary %+v", s)
	}
}

// A truncated file: the objects before the fault are sent, the fault is
// reported, and the exit status is 1. A missing file likewise.
func TestPushStreamFault(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	t1 := time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC)
	file := filepath.Join(t.TempDir(), "cut.json")
	os.WriteFile(file, []byte(fmt.Sprintf(`[%s,%s,{"type":"indic`, rtIndicator(1, t1), rtIndicator(2, t1))), 0o644)
	code, out, errOut := rtPush(t, a.root, "--collection", a.coll, "--token", a.writeToken, file, filepath.Join(t.TempDir(), "missing.json"))
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "cut.json") || !strings.Contains(errOut, "missing.json") || !strings.Contains(out, "2 files not read to the end") {
		t.Errorf("stderr:\n%s", errOut)
	}
	rtSameVersions(t, rtWantVersions(t, [][]byte{rtIndicator(1, t1), rtIndicator(2, t1)}), rtVersions(t, a.st, a.coll))
}

// Credentials that may not write stop the push before anything is sent;
// bad credentials end it with the server's 401.
func TestPushRefusedCredentials(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	code, _, errOut := rtPush(t, append([]string{a.root, "--collection", a.coll, "--token", a.readToken}, files...)...)
	if code != 1 || !strings.Contains(errOut, "may not write") || a.posts.Load() != 0 {
		t.Errorf("read-only token: exit %d, %d POSTs, stderr %s", code, a.posts.Load(), errOut)
	}
	code, _, errOut = rtPush(t, append([]string{a.root, "--collection", a.coll, "--token", "fsn_wrong"}, files...)...)
	if code != 1 || !strings.Contains(errOut, "401") {
		t.Errorf("bad token: exit %d, stderr %s", code, errOut)
	}
	if code, _, _ := rtPush(t, a.root, "--collection", a.coll); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
}

// An envelope refused as a whole (422) fails its objects, with the
// server's message, and the push goes on with the next envelope.
func TestPushEnvelopeRefused(t *testing.T) {
	a := rtNewServer(t, server.Config{MaxContentLength: 16 << 10})
	var posts atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && posts.Add(1) == 2 {
			rtTAXIIError(w, http.StatusUnprocessableEntity, "")
			return true
		}
		return false
	})
	files, _ := filepath.Glob("testdata/oasis-push/*.json")
	code, out, errOut := rtPush(t, append([]string{px.srv.URL + "/api1/", "--collection", a.coll, "--token", a.writeToken}, files...)...)
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s := parsePushSummary(t, out)
	stored := len(rtVersions(t, a.st, a.coll))
	if s.failed == 0 || s.accepted+s.failed != s.sent || !strings.Contains(errOut, "injected by the test proxy") {
		t.Errorf("summary %+v\n%s", s, errOut)
	}
	if stored != len(rtWantVersions(t, rtOASIS(t)))-s.failed || s.envelopes != int(posts.Load())-1 {
		t.Errorf("%d stored, %d failed, %d envelopes accepted of %d posted", stored, s.failed, s.envelopes, posts.Load())
	}
}
