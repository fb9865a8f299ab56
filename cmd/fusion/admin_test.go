package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"fusion/internal/server"
	"fusion/internal/store/sqlite"
)

// runCLI runs the fusion command line in-process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestAdminCommands drives org, token and collection against a real
// server over HTTP.
func TestAdminCommands(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const admin = "cli-test-admin-token-0123456789"
	if _, err := server.Bootstrap(ctx, st, t.TempDir(), admin, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(st, server.Config{Rate: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	t.Setenv("FUSION_SERVER", srv.URL)
	t.Setenv("FUSION_TOKEN", admin)

	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("fusion %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	if out := mustRun("org", "add", "fr-police", "--kind", "member", "--country", "FR"); !strings.Contains(out, "created organisation fr-police (member, FR)") {
		t.Errorf("org add: %q", out)
	}
	mustRun("org", "add", "--kind=partner", "acme")
	if out := mustRun("org", "list"); !regexp.MustCompile(`(?m)^fr-police\s+member\s+FR\s`).MatchString(out) || !strings.Contains(out, "acme") {
		t.Errorf("org list:\n%s", out)
	}
	tok := strings.TrimSpace(mustRun("token", "add", "--org", "fr-police", "--role", "read", "--expires", "90d", "--label", "siem"))
	if !strings.HasPrefix(tok, "fsn_") {
		t.Fatalf("token add printed %q", tok)
	}
	out := mustRun("collection", "add", "Ransomware C2", "--alias", "ransomware", "--description", "C2 servers")
	if !strings.Contains(out, `created collection "Ransomware C2"`) {
		t.Errorf("collection add: %q", out)
	}
	mustRun("collection", "grant", "ransomware", "--org", "fr-police", "--read")
	if out := mustRun("collection", "list"); !strings.Contains(out, "ransomware") {
		t.Errorf("collection list:\n%s", out)
	}
	// The new token reads the granted collection over TAXII.
	req, _ := http.NewRequest("GET", srv.URL+"/api1/collections/ransomware/objects/", nil)
	req.SetBasicAuth("fr-police", tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("member reads: %v %v", res, err)
	}
	res.Body.Close()
	// token list shows it without the secret; revoke ends it.
	out = mustRun("token", "list", "--org", "fr-police")
	m := regexp.MustCompile(`(?m)^([0-9a-f-]{36})\s+fr-police\s+read\s`).FindStringSubmatch(out)
	if m == nil || strings.Contains(out, tok) {
		t.Fatalf("token list:\n%s", out)
	}
	mustRun("token", "revoke", m[1])
	res, _ = http.DefaultClient.Do(req)
	if res.StatusCode != 401 {
		t.Errorf("revoked token: %d", res.StatusCode)
	}
	res.Body.Close()

	// Errors: the server's description reaches the user; usage errors
	// exit 2; a missing token is named.
	if code, _, errs := runCLI(t, "org", "add", "x y", "--kind", "partner"); code != 1 || !strings.Contains(errs, "organisation name") {
		t.Errorf("bad org name: exit %d, %q", code, errs)
	}
	if code, _, _ := runCLI(t, "org", "add", "--kind", "partner"); code != 2 {
		t.Errorf("org add without NAME: exit %d", code)
	}
	if code, _, _ := runCLI(t, "collection", "frobnicate"); code != 1 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	if code, _, errs := runCLI(t, "token", "add", "--org", "acme", "--role", "read", "--expires", "forever"); code != 1 || !strings.Contains(errs, "expires") {
		t.Errorf("bad expiry: exit %d %q", code, errs)
	}
	t.Setenv("FUSION_TOKEN", "")
	if code, _, errs := runCLI(t, "org", "list"); code != 1 || !strings.Contains(errs, "no admin token") {
		t.Errorf("no token: exit %d %q", code, errs)
	}
	// A non-admin token is refused by the server.
	if code, _, errs := runCLI(t, "org", "list", "--token", tok); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("revoked token as admin: exit %d %q", code, errs)
	}
	// --help exits 0 and documents the flags.
	if code, out, errs := runCLI(t, "collection", "grant", "--help"); code != 0 || !strings.Contains(out+errs, "-write") {
		t.Errorf("collection grant --help: exit %d %q", code, out+errs)
	}
}

// syncBuffer is a bytes.Buffer safe to read while serve writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeDemo runs `fusion serve --demo` on a free port, follows the
// printed curl commands' URLs and tokens, and stops it with the context.
func TestServeDemo(t *testing.T) {
	data := t.TempDir()
	t.Setenv("FUSION_ADMIN_TOKEN", "")
	t.Setenv("FUSION_DB", "")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data}, &out, &errb)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Discovery:") {
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no demo: %s %s", out.String(), errb.String())
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d: %s %s", code, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	text := out.String()
	adminTok := regexp.MustCompile(`\n    (fsn_\S+)\n`).FindStringSubmatch(text)
	file, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if adminTok == nil || err != nil || strings.TrimSpace(string(file)) != adminTok[1] {
		t.Fatalf("admin token printed %v, file %q %v", adminTok, file, err)
	}
	fi, _ := os.Stat(filepath.Join(data, "admin.token"))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v", fi.Mode())
	}
	member := regexp.MustCompile(`Authorization: Bearer (fsn_\S+)' -H 'Accept: application/taxii\+json;version=2.1' \\\n    '(http://[^']+)'`).FindStringSubmatch(text)
	if member == nil {
		t.Fatalf("no member curl command in:\n%s", text)
	}
	req, _ := http.NewRequest("GET", member[2], nil)
	req.Header.Set("Authorization", "Bearer "+member[1])
	req.Header.Set("Accept", "application/taxii+json;version=2.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"type":"indicator"`) {
		t.Errorf("member curl: %d %.300s", res.StatusCode, body)
	}
	if strings.Contains(text, "rejected") {
		t.Errorf("demo objects rejected:\n%s", text)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exit %d after SIGINT-equivalent: %s", code, errb.String())
		}
	case <-time.After(35 * time.Second):
		t.Fatal("serve did not stop")
	}
	// A second start on the same data neither bootstraps nor seeds.
	ctx2, cancel2 := context.WithCancel(context.Background())
	var out2, err2 syncBuffer
	done2 := make(chan int, 1)
	go func() {
		done2 <- run(ctx2, []string{"serve", "--demo", "--addr", "127.0.0.1:0", "--data", data}, &out2, &err2)
	}()
	for !strings.Contains(err2.String(), "fusion serving") {
		select {
		case code := <-done2:
			t.Fatalf("second serve exited %d: %s", code, err2.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel2()
	<-done2
	if s := out2.String(); strings.Contains(s, "fsn_") || !strings.Contains(s, "not empty") {
		t.Errorf("second start printed:\n%s", s)
	}
}
