package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/server"
	"fusion/internal/store"
)

const adminToken = "server-test-admin-token-0123456789"

func quietLogger() *slog.Logger {
	if os.Getenv("FUSION_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is a running server over a bootstrapped store, with a clock the
// test can move.
type env struct {
	tb  testing.TB
	st  store.Store
	srv *httptest.Server
	now time.Time
}

func newEnv(tb testing.TB, open opener, cfg server.Config) *env {
	tb.Helper()
	e := &env{tb: tb, st: open(tb), now: time.Now().UTC()}
	if _, err := server.Bootstrap(context.Background(), e.st, tb.TempDir(), adminToken, e.now); err != nil {
		tb.Fatal(err)
	}
	cfg.Logger = quietLogger()
	if cfg.Rate == 0 {
		cfg.Rate = -1
	}
	cfg.Now = func() time.Time { return e.now }
	e.srv = httptest.NewServer(server.New(e.st, cfg).Handler())
	tb.Cleanup(e.srv.Close)
	return e
}

type resp struct {
	code   int
	header http.Header
	body   string
}

// call sends a request; auth is "Bearer X", "Basic user:pass" or "".
func (e *env) call(method, path, auth, body string) resp {
	e.tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, e.srv.URL+path, rd)
	switch {
	case strings.HasPrefix(auth, "Basic "):
		u, p, _ := strings.Cut(strings.TrimPrefix(auth, "Basic "), ":")
		r.SetBasicAuth(u, p)
	case auth != "":
		r.Header.Set("Authorization", auth)
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

func (e *env) must(method, path, body string, want int, out any) {
	e.tb.Helper()
	r := e.call(method, path, "Bearer "+adminToken, body)
	if r.code != want {
		e.tb.Fatalf("%s %s: %d, want %d: %s", method, path, r.code, want, r.body)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			e.tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// token creates a token and returns its secret and id.
func (e *env) token(spec string) (string, string) {
	e.tb.Helper()
	var tok server.TokenJSON
	e.must("POST", "/api/v1/tokens", spec, 201, &tok)
	if tok.Token == "" || tok.ID == "" {
		e.tb.Fatalf("token response without secret or id: %+v", tok)
	}
	return tok.Token, tok.ID
}

func TestAuthentication(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, server.Config{})
		e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, nil)
		e.must("POST", "/api/v1/orgs", `{"name":"other","kind":"partner"}`, 201, nil)
		secret, id := e.token(`{"org":"acme","role":"read"}`)
		short, _ := e.token(`{"org":"acme","role":"read","expires_in":"1h"}`)

		ok := []string{"Bearer " + secret, "bearer " + secret, "Basic acme:" + secret}
		for _, a := range ok {
			if r := e.call("GET", "/taxii2/", a, ""); r.code != 200 {
				t.Errorf("%q: %d %s", a[:8], r.code, r.body)
			}
		}
		bad := map[string]string{
			"none":             "",
			"unknown token":    "Bearer fsn_nope",
			"empty bearer":     "Bearer ",
			"other scheme":     "Digest abc",
			"basic wrong user": "Basic other:" + secret,
			"basic no pass":    "Basic acme:",
			"token as user":    "Basic " + secret + ":x",
			"huge token":       "Bearer " + strings.Repeat("x", 10000),
		}
		for name, a := range bad {
			r := e.call("GET", "/taxii2/", a, "")
			if r.code != 401 || len(r.header.Values("WWW-Authenticate")) != 2 {
				t.Errorf("%s: %d, WWW-Authenticate %v", name, r.code, r.header.Values("WWW-Authenticate"))
			}
			if strings.Contains(r.body, secret) {
				t.Errorf("%s: response echoes the token", name)
			}
		}
		// Expiry follows the server clock.
		if r := e.call("GET", "/taxii2/", "Bearer "+short, ""); r.code != 200 {
			t.Errorf("fresh short-lived token: %d", r.code)
		}
		e.now = e.now.Add(2 * time.Hour)
		if r := e.call("GET", "/taxii2/", "Bearer "+short, ""); r.code != 401 || !strings.Contains(r.body, "expired") {
			t.Errorf("expired token: %d %s", r.code, r.body)
		}
		// Revocation takes effect at once.
		e.must("DELETE", "/api/v1/tokens/"+id, "", 204, nil)
		if r := e.call("GET", "/taxii2/", "Bearer "+secret, ""); r.code != 401 || !strings.Contains(r.body, "revoked") {
			t.Errorf("revoked token: %d %s", r.code, r.body)
		}
		e.must("DELETE", "/api/v1/tokens/"+"00000000-0000-4000-8000-000000000000", "", 404, nil)
		// /healthz needs nothing.
		if r := e.call("GET", "/healthz", "", ""); r.code != 200 || r.body != "ok\n" {
			t.Errorf("/healthz: %d %q", r.code, r.body)
		}
	})
}

func TestRoles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, server.Config{})
		e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, nil)
		e.must("POST", "/api/v1/orgs", `{"name":"de","kind":"member","country":"de"}`, 201, nil)
		read, _ := e.token(`{"org":"acme","role":"read"}`)
		write, _ := e.token(`{"org":"acme","role":"write"}`)
		partnerAdmin, _ := e.token(`{"org":"acme","role":"admin"}`)
		memberAdmin, _ := e.token(`{"org":"de","role":"admin"}`)
		// The admin API refuses read and write tokens.
		for _, tok := range []string{read, write} {
			for _, p := range []string{"/api/v1/orgs", "/api/v1/tokens", "/api/v1/collections", "/metrics"} {
				if r := e.call("GET", p, "Bearer "+tok, ""); r.code != 403 {
					t.Errorf("GET %s with a non-admin token: %d", p, r.code)
				}
			}
		}
		// An organisation's admin manages its own tokens only.
		if r := e.call("GET", "/api/v1/orgs", "Bearer "+partnerAdmin, ""); r.code != 403 {
			t.Errorf("partner admin lists orgs: %d", r.code)
		}
		if r := e.call("POST", "/api/v1/collections", "Bearer "+partnerAdmin, `{"title":"x"}`); r.code != 403 {
			t.Errorf("partner admin creates a collection: %d", r.code)
		}
		r := e.call("GET", "/api/v1/tokens", "Bearer "+partnerAdmin, "")
		var toks []server.TokenJSON
		json.Unmarshal([]byte(r.body), &toks)
		if r.code != 200 || len(toks) != 3 {
			t.Errorf("partner admin lists tokens: %d, %d tokens: %s", r.code, len(toks), r.body)
		}
		for _, tk := range toks {
			if tk.Org != "acme" || tk.Token != "" {
				t.Errorf("listed token %+v", tk)
			}
		}
		if r := e.call("POST", "/api/v1/tokens", "Bearer "+partnerAdmin, `{"org":"de","role":"read"}`); r.code != 403 {
			t.Errorf("partner admin creates a token for another org: %d", r.code)
		}
		if r := e.call("POST", "/api/v1/tokens", "Bearer "+partnerAdmin, `{"org":"acme","role":"read"}`); r.code != 201 {
			t.Errorf("partner admin creates its own token: %d %s", r.code, r.body)
		}
		if r := e.call("GET", "/api/v1/tokens?org=acme", "Bearer "+memberAdmin, ""); r.code != 403 {
			t.Errorf("member admin lists another org's tokens: %d", r.code)
		}
		// Revoking another org's token is as if it did not exist.
		_, readID := e.token(`{"org":"acme","role":"read"}`)
		if r := e.call("DELETE", "/api/v1/tokens/"+readID, "Bearer "+memberAdmin, ""); r.code != 404 {
			t.Errorf("member admin revokes a partner token: %d", r.code)
		}
		if r := e.call("DELETE", "/api/v1/tokens/"+readID, "Bearer "+partnerAdmin, ""); r.code != 204 {
			t.Errorf("partner admin revokes its own token: %d %s", r.code, r.body)
		}
		// A partner admin token is not a hub admin: without a grant it
		// sees no collection.
		var cols struct {
			Collections []any `json:"collections"`
		}
		r = e.call("GET", "/api1/collections/", "Bearer "+partnerAdmin, "")
		json.Unmarshal([]byte(r.body), &cols)
		if r.code != 200 || len(cols.Collections) != 0 {
			t.Errorf("partner admin sees collections: %s", r.body)
		}
	})
}

func TestAdminAPI(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, server.Config{})
		// Organisations.
		var o server.OrgJSON
		e.must("POST", "/api/v1/orgs", `{"name":"fr-police","kind":"member","country":"fr"}`, 201, &o)
		if o.Country != "FR" || o.Kind != "member" || o.ID == "" {
			t.Errorf("created org %+v", o)
		}
		for _, bad := range []string{
			`{"name":"x y","kind":"partner"}`, `{"name":"","kind":"partner"}`, `{"name":"a","kind":"vendor"}`,
			`{"name":"a","kind":"member"}`, `{"name":"a","kind":"member","country":"FRA"}`, `{"name":"a","kind":"member","country":"XX"}`, `{"name":"a","kind":"partner","country":"FR"}`,
			`{"name":"a","kind":"partner","extra":1}`, `not json`,
		} {
			e.must("POST", "/api/v1/orgs", bad, 400, nil)
		}
		e.must("POST", "/api/v1/orgs", `{"name":"fr-police","kind":"partner"}`, 409, nil)
		var orgs []server.OrgJSON
		e.must("GET", "/api/v1/orgs", "", 200, &orgs)
		if len(orgs) != 2 || orgs[0].Name != "fr-police" || orgs[1].Name != server.HubOrgName {
			t.Errorf("orgs %+v", orgs)
		}
		// Tokens.
		for _, bad := range []string{`{"org":"fr-police","role":"god"}`, `{"org":"fr-police","role":"read","expires_in":"-1d"}`,
			`{"org":"fr-police","role":"read","expires_in":"soon"}`, `{"org":"fr-police","role":"read","expires":"2001-01-01T00:00:00Z"}`} {
			e.must("POST", "/api/v1/tokens", bad, 400, nil)
		}
		e.must("POST", "/api/v1/tokens", `{"org":"nobody","role":"read"}`, 404, nil)
		var tok server.TokenJSON
		e.must("POST", "/api/v1/tokens", `{"org":"fr-police","role":"read","expires_in":"90d","label":"siem"}`, 201, &tok)
		if !strings.HasPrefix(tok.Token, "fsn_") || tok.Expires == nil || tok.Expires.Sub(e.now) != 90*24*time.Hour {
			t.Errorf("token %+v", tok)
		}
		var toks []server.TokenJSON
		e.must("GET", "/api/v1/tokens?org=fr-police", "", 200, &toks)
		if len(toks) != 1 || toks[0].Token != "" || toks[0].Label != "siem" || toks[0].ID != tok.ID {
			t.Errorf("token list %+v", toks)
		}
		// The stored token is a hash, not the secret.
		stored, err := e.st.ListTokens(context.Background(), o.ID)
		if err != nil || len(stored) != 1 || string(stored[0].Hash) == tok.Token || len(stored[0].Hash) != 32 {
			t.Errorf("stored token %+v %v", stored, err)
		}
		// Collections.
		var c server.CollectionJSON
		e.must("POST", "/api/v1/collections", `{"title":"Ransomware","alias":"ransomware","api_root":"eu","description":"d"}`, 201, &c)
		if c.APIRoot != "eu" || c.Alias != "ransomware" || c.ID == "" {
			t.Errorf("collection %+v", c)
		}
		for _, bad := range []string{`{"title":""}`, `{"title":"x","api_root":"taxii2"}`, `{"title":"x","api_root":"a/b"}`,
			`{"title":"x","alias":"has space"}`, `{"title":"x","media_types":["text/plain"]}`} {
			e.must("POST", "/api/v1/collections", bad, 400, nil)
		}
		e.must("POST", "/api/v1/collections", `{"title":"Again","alias":"ransomware","api_root":"eu"}`, 409, nil)
		e.must("PATCH", "/api/v1/collections/ransomware", `{"title":"Ransomware 2026"}`, 200, &c)
		if c.Title != "Ransomware 2026" || c.Description != "d" {
			t.Errorf("updated collection %+v", c)
		}
		var cols []server.CollectionJSON
		e.must("GET", "/api/v1/collections?root=eu", "", 200, &cols)
		if len(cols) != 1 || cols[0].Title != "Ransomware 2026" {
			t.Errorf("collections %+v", cols)
		}
		// Grants.
		var g server.GrantJSON
		e.must("PUT", "/api/v1/collections/ransomware/grants/fr-police", `{"read":true}`, 200, &g)
		if !g.Read || g.Write || g.Org != "fr-police" {
			t.Errorf("grant %+v", g)
		}
		e.must("PUT", "/api/v1/collections/ransomware/grants/nobody", `{"read":true}`, 404, nil)
		e.must("PUT", "/api/v1/collections/nothing/grants/fr-police", `{"read":true}`, 404, nil)
		var gs []server.GrantJSON
		e.must("GET", "/api/v1/collections/"+c.ID+"/grants", "", 200, &gs)
		if len(gs) != 1 || gs[0].Org != "fr-police" {
			t.Errorf("grants %+v", gs)
		}
		// The grant works over TAXII.
		r := e.call("GET", "/eu/collections/ransomware/objects/", "Basic fr-police:"+tok.Token, "")
		if r.code != 200 {
			t.Errorf("member reads the granted collection: %d %s", r.code, r.body)
		}
		e.must("PUT", "/api/v1/collections/ransomware/grants/fr-police", `{}`, 200, nil)
		if r := e.call("GET", "/eu/collections/ransomware/objects/", "Basic fr-police:"+tok.Token, ""); r.code != 404 {
			t.Errorf("after removing the grant: %d", r.code)
		}
		// Delete.
		e.must("DELETE", "/api/v1/collections/ransomware", "", 204, nil)
		e.must("DELETE", "/api/v1/collections/ransomware", "", 404, nil)
		e.must("DELETE", "/api/v1/collections/"+store.DefaultCollectionID, "", 400, nil)
		// Bodies over 1 MiB are refused.
		e.must("POST", "/api/v1/orgs", `{"name":"`+strings.Repeat("a", 1<<20)+`"}`, 413, nil)
	})
}

func TestRateLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		e := newEnv(t, open, server.Config{Rate: 1, Burst: 3})
		e.now = e.now.Add(time.Second) // token buckets start full at the first request
		other, _ := func() (string, string) {
			e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, nil)
			return e.token(`{"org":"acme","role":"read"}`)
		}()
		// The admin has used 2 of its 3 above; the third passes, the
		// fourth is refused until the clock moves.
		var last resp
		codes := []int{}
		for i := 0; i < 3; i++ {
			last = e.call("GET", "/taxii2/", "Bearer "+adminToken, "")
			codes = append(codes, last.code)
		}
		if codes[0] != 200 || codes[2] != 429 {
			t.Fatalf("codes %v, want 200 first and 429 last", codes)
		}
		if ra, err := strconv.Atoi(last.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q", last.header.Get("Retry-After"))
		}
		if !strings.Contains(last.body, `"http_status":"429"`) {
			t.Errorf("429 body %s", last.body)
		}
		// Another token has its own bucket.
		if r := e.call("GET", "/taxii2/", "Bearer "+other, ""); r.code != 200 {
			t.Errorf("other token: %d", r.code)
		}
		// Time refills the bucket.
		e.now = e.now.Add(5 * time.Second)
		if r := e.call("GET", "/taxii2/", "Bearer "+adminToken, ""); r.code != 200 {
			t.Errorf("after waiting: %d", r.code)
		}
		// /healthz is never limited.
		for i := 0; i < 10; i++ {
			if r := e.call("GET", "/healthz", "", ""); r.code != 200 {
				t.Fatalf("/healthz: %d", r.code)
			}
		}
	})
}

// TestFailedAuthLimit: an address that keeps failing to authenticate is
// refused with 429, before any token lookup, until time passes.
func TestFailedAuthLimit(t *testing.T) {
	e := newEnv(t, openSQLite, server.Config{})
	for i := 0; i < 30; i++ {
		if r := e.call("GET", "/taxii2/", "Bearer wrong-"+strconv.Itoa(i), ""); r.code != 401 {
			t.Fatalf("attempt %d: %d", i, r.code)
		}
	}
	r := e.call("GET", "/taxii2/", "Bearer "+adminToken, "")
	if r.code != 429 || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 30 failures, a good token got %d (Retry-After %q)", r.code, r.header.Get("Retry-After"))
	}
	if r := e.call("GET", "/healthz", "", ""); r.code != 200 {
		t.Errorf("/healthz while blocked: %d", r.code)
	}
	e.now = e.now.Add(2 * time.Second)
	if r := e.call("GET", "/taxii2/", "Bearer "+adminToken, ""); r.code != 200 {
		t.Errorf("after waiting: %d", r.code)
	}
	// Successes do not use up the allowance.
	for i := 0; i < 50; i++ {
		if r := e.call("GET", "/taxii2/", "Bearer "+adminToken, ""); r.code != 200 {
			t.Fatalf("success %d: %d", i, r.code)
		}
	}
}

// TestFailedAuthLimitBehindProxy: behind a trusted proxy, failures count
// against the client in X-Forwarded-For, so one client's failures do not
// lock out the others.
func TestFailedAuthLimitBehindProxy(t *testing.T) {
	e := newEnv(t, openSQLite, server.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	call := func(xff, auth string) int {
		r, _ := http.NewRequest("GET", e.srv.URL+"/taxii2/", nil)
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Forwarded-For", xff)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for i := 0; i < 30; i++ {
		call("203.0.113.9, 127.0.0.1", "Bearer wrong")
	}
	if code := call("203.0.113.9", "Bearer "+adminToken); code != 429 {
		t.Errorf("the failing client: %d, want 429", code)
	}
	if code := call("198.51.100.1", "Bearer "+adminToken); code != 200 {
		t.Errorf("another client behind the same proxy: %d, want 200", code)
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, openSQLite, server.Config{})
	e.call("GET", "/taxii2/", "Bearer "+adminToken, "")
	e.call("GET", "/taxii2/", "Bearer wrong", "")
	r := e.call("GET", "/metrics", "Bearer "+adminToken, "")
	if r.code != 200 {
		t.Fatalf("/metrics: %d %s", r.code, r.body)
	}
	for _, want := range []string{
		`fusion_http_requests_total{code="200",method="GET",route="GET /taxii2/{$}"} 1`,
		`fusion_http_auth_failures_total 1`,
		`fusion_http_request_duration_seconds_bucket`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(r.body, adminToken) {
		t.Error("metrics contain the token")
	}
}

func TestBootstrap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		dir := filepath.Join(t.TempDir(), "data")
		b, err := server.Bootstrap(ctx, st, dir, "", time.Now())
		if err != nil || !b.Done || b.FromEnv || !strings.HasPrefix(b.Token, "fsn_") {
			t.Fatalf("Bootstrap = %+v, %v", b, err)
		}
		fi, err := os.Stat(b.TokenFile)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file %v %v", fi, err)
		}
		content, _ := os.ReadFile(b.TokenFile)
		if strings.TrimSpace(string(content)) != b.Token {
			t.Errorf("token file holds %q", content)
		}
		// The token works as a hub admin.
		srv := httptest.NewServer(server.New(st, server.Config{Logger: quietLogger(), Rate: -1}).Handler())
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/orgs", nil)
		req.Header.Set("Authorization", "Bearer "+b.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("admin token: %v %v", res, err)
		}
		res.Body.Close()
		// A second start leaves everything alone.
		b2, err := server.Bootstrap(ctx, st, dir, "", time.Now())
		if err != nil || b2.Done || b2.Token != "" {
			t.Errorf("second Bootstrap = %+v, %v", b2, err)
		}
		// From the environment: nothing written, too-short refused.
		st2 := open(t)
		dir2 := t.TempDir()
		if _, err := server.Bootstrap(ctx, st2, dir2, "short", time.Now()); err == nil {
			t.Error("a 5-character FUSION_ADMIN_TOKEN was accepted")
		}
		b3, err := server.Bootstrap(ctx, st2, dir2, adminToken, time.Now())
		if err != nil || !b3.FromEnv || b3.Token != "" || b3.TokenFile != "" {
			t.Errorf("env Bootstrap = %+v, %v", b3, err)
		}
		if _, err := os.Stat(filepath.Join(dir2, "admin.token")); !os.IsNotExist(err) {
			t.Errorf("admin.token written for an env token: %v", err)
		}
		if tk, err := st2.TokenByHash(ctx, server.HashToken(adminToken)); err != nil || tk.Role != store.RoleAdmin {
			t.Errorf("env token stored as %+v, %v", tk, err)
		}
		// Nodes starting together on one empty store: one bootstraps, the
		// others find it done; none fails.
		st3 := open(t)
		results := make(chan server.Bootstrapped, 4)
		errs := make(chan error, 4)
		for i := 0; i < 4; i++ {
			go func() {
				b, err := server.Bootstrap(ctx, st3, t.TempDir(), "", time.Now())
				results <- b
				errs <- err
			}()
		}
		done := 0
		for i := 0; i < 4; i++ {
			if b := <-results; b.Done {
				done++
			}
			if err := <-errs; err != nil {
				t.Errorf("concurrent Bootstrap: %v", err)
			}
		}
		orgs, _ := st3.ListOrgs(ctx)
		if done != 1 || len(orgs) != 1 {
			t.Errorf("concurrent Bootstrap: %d did it, %d organisations", done, len(orgs))
		}
	})
}

func TestDemo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		if _, err := server.Bootstrap(ctx, st, t.TempDir(), adminToken, time.Now()); err != nil {
			t.Fatal(err)
		}
		d, err := server.SeedDemo(ctx, st, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		objs, reasons, err := server.DemoObjects(nil)
		if err != nil || len(reasons) != 0 {
			t.Fatalf("DemoObjects: %v %v", reasons, err)
		}
		if d.Objects == 0 || d.Objects > len(objs) || d.Rejected != 0 {
			t.Errorf("demo stored %d of %d objects, rejected %d", d.Objects, len(objs), d.Rejected)
		}
		srv := httptest.NewServer(server.New(st, server.Config{Logger: quietLogger(), Rate: -1}).Handler())
		defer srv.Close()
		get := func(auth func(*http.Request), path string) (int, string) {
			req, _ := http.NewRequest("GET", srv.URL+path, nil)
			auth(req)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		member := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+d.MemberToken) }
		partner := func(r *http.Request) { r.SetBasicAuth(server.DemoPartner, d.PartnerToken) }
		code, body := get(member, "/api1/collections/demo/objects/?match[type]=campaign")
		if code != 200 || !strings.Contains(body, `"type":"campaign"`) {
			t.Errorf("member reads the demo: %d %.200s", code, body)
		}
		code, body = get(partner, "/api1/collections/demo/")
		if code != 200 || !strings.Contains(body, `"can_write":true`) {
			t.Errorf("partner sees the demo collection: %d %s", code, body)
		}
		code, body = get(member, "/api1/collections/demo/")
		if code != 200 || !strings.Contains(body, `"can_write":false`) {
			t.Errorf("member sees the demo collection: %d %s", code, body)
		}
	})
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fusion test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestRunTLSAndShutdown runs the real listener with TLS: TLS 1.2 and 1.3
// connect, TLS 1.1 is refused, and cancelling the context shuts the
// server down.
func TestRunTLSAndShutdown(t *testing.T) {
	st := openSQLite(t)
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := server.New(st, server.Config{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile, Logger: quietLogger(), Rate: -1})
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a string) { addrc <- a }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	}
	get := func(minV, maxV uint16) error {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: minV, MaxVersion: maxV}}}
		res, err := c.Get("https://" + addr + "/healthz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("healthz over TLS: %d", res.StatusCode)
		}
		return nil
	}
	if err := get(tls.VersionTLS12, tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2: %v", err)
	}
	if err := get(tls.VersionTLS13, tls.VersionTLS13); err != nil {
		t.Errorf("TLS 1.3: %v", err)
	}
	if err := get(tls.VersionTLS10, tls.VersionTLS11); err == nil {
		t.Error("TLS 1.1 was accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}
