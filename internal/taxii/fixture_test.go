package taxii_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// The HTTP tests run on every backend: SQLite always, PostgreSQL when
// FUSION_TEST_POSTGRES_URL is set (and then an unreachable server is a
// failure, not a skip). Each test gets a fresh store: a new SQLite file,
// or a new PostgreSQL schema dropped afterwards.
type backend struct {
	name string
	open func(tb testing.TB) store.Store
}

func backends() []backend {
	var bs []backend
	for _, b := range testdb.Backends() {
		bs = append(bs, backend{b.Name, b.Open})
	}
	return bs
}

// forEachBackend runs fn as a subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, open func(tb testing.TB) store.Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { fn(t, b.open) })
	}
}

// fixture is a running server with a hub admin, a partner with write and
// read tokens, a member country with a read token, an org without
// grants, and a collection the partner may write and the member read.
type fixture struct {
	tb     testing.TB
	st     store.Store
	srv    *httptest.Server
	admin  string
	coll   string            // collection id
	tokens map[string]string // "partner-write", "partner-read", "member", "stranger"
}

const adminToken = "test-admin-token-0123456789abcdef"

func newFixture(tb testing.TB, open func(tb testing.TB) store.Store, cfg server.Config) *fixture {
	tb.Helper()
	st := open(tb)
	if cfg.Logger == nil {
		var w io.Writer = io.Discard
		if os.Getenv("FUSION_TEST_LOG") != "" {
			w = os.Stderr
		}
		cfg.Logger = slog.New(slog.NewTextHandler(w, nil))
	}
	if cfg.Rate == 0 {
		cfg.Rate = -1 // no rate limit unless the test asks
	}
	if cfg.Validate == nil {
		cfg.Validate = stix.Validate // as fusion serve wires it
	}
	ctx := context.Background()
	if _, err := server.Bootstrap(ctx, st, tb.TempDir(), adminToken, time.Now()); err != nil {
		tb.Fatalf("Bootstrap: %v", err)
	}
	s := server.New(st, cfg)
	srv := httptest.NewServer(s.Handler())
	tb.Cleanup(srv.Close)
	f := &fixture{tb: tb, st: st, srv: srv, admin: adminToken, tokens: map[string]string{}}

	var org server.OrgJSON
	f.adminDo("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, &org)
	f.adminDo("POST", "/api/v1/orgs", `{"name":"fr-police","kind":"member","country":"FR"}`, 201, &org)
	f.adminDo("POST", "/api/v1/orgs", `{"name":"stranger","kind":"partner"}`, 201, &org)
	var col server.CollectionJSON
	f.adminDo("POST", "/api/v1/collections", `{"title":"Shared","alias":"shared","description":"test collection"}`, 201, &col)
	f.coll = col.ID
	f.adminDo("PUT", "/api/v1/collections/"+col.ID+"/grants/acme", `{"read":true,"write":true}`, 200, nil)
	f.adminDo("PUT", "/api/v1/collections/shared/grants/fr-police", `{"read":true}`, 200, nil)
	for name, spec := range map[string]string{
		"partner-write": `{"org":"acme","role":"write"}`,
		"partner-read":  `{"org":"acme","role":"read"}`,
		"member":        `{"org":"fr-police","role":"read"}`,
		"stranger":      `{"org":"stranger","role":"write"}`,
	} {
		var tok server.TokenJSON
		f.adminDo("POST", "/api/v1/tokens", spec, 201, &tok)
		f.tokens[name] = tok.Token
	}
	return f
}

// adminDo calls the admin API and checks the status.
func (f *fixture) adminDo(method, path, body string, want int, out any) {
	f.tb.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		f.tb.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.tb.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// noRedirect shows redirects to the test instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// response is a finished HTTP exchange.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		tb.Fatalf("decoding %s: %v", r.body, err)
	}
}

// req is one request; token "" sends no credentials.
type req struct {
	method, path, token string
	body                io.Reader
	header              map[string]string
}

func (f *fixture) do(r req) response {
	f.tb.Helper()
	if r.method == "" {
		r.method = "GET"
	}
	hr, err := http.NewRequest(r.method, f.srv.URL+r.path, r.body)
	if err != nil {
		f.tb.Fatal(err)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	hr.Header.Set("Accept", "application/taxii+json;version=2.1")
	if r.body != nil {
		hr.Header.Set("Content-Type", "application/taxii+json;version=2.1")
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
		} else {
			hr.Header.Set(k, v)
		}
	}
	resp, err := noRedirect.Do(hr)
	if err != nil {
		f.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.tb.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// get is a GET with a token that must answer want.
func (f *fixture) get(token, path string, want int) response {
	f.tb.Helper()
	r := f.do(req{path: path, token: token})
	if r.code != want {
		f.tb.Fatalf("GET %s: status %d, want %d: %s", path, r.code, want, r.body)
	}
	return r
}

// post posts an envelope of objects with the partner's write token and
// returns the status resource, which must be complete.
func (f *fixture) post(objs ...string) statusResource {
	f.tb.Helper()
	r := f.do(req{method: "POST", path: f.objectsPath(), token: f.tokens["partner-write"], body: strings.NewReader(envelope(objs...))})
	if r.code != http.StatusAccepted {
		f.tb.Fatalf("POST objects: status %d: %s", r.code, r.body)
	}
	var st statusResource
	r.json(f.tb, &st)
	if st.Status != "complete" || st.PendingCount != 0 {
		f.tb.Fatalf("status not complete: %s", r.body)
	}
	return st
}

func (f *fixture) collPath() string    { return "/api1/collections/" + f.coll + "/" }
func (f *fixture) objectsPath() string { return f.collPath() + "objects/" }

func envelope(objs ...string) string {
	return `{"objects":[` + strings.Join(objs, ",") + `]}`
}

// uuidN is a valid, deterministic UUID for n.
func uuidN(n int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", n, n)
}

// indicator is an indicator with id number n and a modified time.
func indicator(n int, modified string) string {
	return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%s","created":"2020-01-01T00:00:00.000Z","modified":%q,"name":"ind %d","pattern":"[ipv4-addr:value = '10.0.%d.%d']","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}`,
		uuidN(n), modified, n, n/256%256, n%256)
}

func malware(n int) string {
	return fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--%s","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","name":"mw %d","is_family":true}`, uuidN(n), n)
}

// Resources as the tests read them.
type statusDetail struct {
	ID      string `json:"id"`
	Version string `json:"version"`
	Message string `json:"message"`
}

type statusResource struct {
	ID               string         `json:"id"`
	Status           string         `json:"status"`
	RequestTimestamp string         `json:"request_timestamp"`
	TotalCount       int            `json:"total_count"`
	SuccessCount     int            `json:"success_count"`
	Successes        []statusDetail `json:"successes"`
	FailureCount     int            `json:"failure_count"`
	Failures         []statusDetail `json:"failures"`
	PendingCount     int            `json:"pending_count"`
	Pendings         []statusDetail `json:"pendings"`
}

type envelopeResource struct {
	More    bool             `json:"more"`
	Next    string           `json:"next"`
	Objects []map[string]any `json:"objects"`
}

type manifestRecord struct {
	ID        string `json:"id"`
	DateAdded string `json:"date_added"`
	Version   string `json:"version"`
	MediaType string `json:"media_type"`
}

type manifestResource struct {
	More    bool             `json:"more"`
	Next    string           `json:"next"`
	Objects []manifestRecord `json:"objects"`
}

type errorMessage struct {
	Title       string         `json:"title"`
	Description string         `json:"description"`
	HTTPStatus  string         `json:"http_status"`
	Details     map[string]any `json:"details"`
}

// ids lists the "id" of each object of an envelope.
func (e envelopeResource) ids() []string {
	var out []string
	for _, o := range e.Objects {
		out = append(out, o["id"].(string))
	}
	return out
}

// checkError checks that r is a TAXII error message with status want.
func checkError(tb testing.TB, r response, want int) errorMessage {
	tb.Helper()
	if r.code != want {
		tb.Fatalf("status %d, want %d: %s", r.code, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/taxii+json;version=2.1" {
		tb.Errorf("error Content-Type %q", ct)
	}
	var e errorMessage
	if err := json.Unmarshal(r.body, &e); err != nil {
		tb.Fatalf("error body is not JSON: %v: %s", err, r.body)
	}
	if e.Title == "" || e.HTTPStatus != fmt.Sprint(want) {
		tb.Errorf("error message %s: want a title and http_status %d", r.body, want)
	}
	return e
}
