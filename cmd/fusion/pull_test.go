package main

// Tests of pull (and the helpers push_test.go shares): two real Fusion
// servers (package server over SQLite stores in t.TempDir()) talking
// over real HTTP. Fakes appear only to inject failures: a proxy in
// front of a server that cuts connections, answers 503/429/413, or
// strips headers.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"fusion/internal/store/testdb"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
	"fusion/internal/taxii/client"
)

// rtServer is one real Fusion server for the pull and push tests.
type rtServer struct {
	st         store.Store
	dir        string // data directory holding fusion.db
	srv        *httptest.Server
	root       string // API root URL
	coll       string // collection id
	partner    string // partner organisation name
	partnerID  string
	writeToken string // partner: read and write
	readToken  string // member country: read only
	// mirrorToken is a hub admin's, of a second hub node mirroring this
	// one: it sees every object whatever its marking, so pull tests can
	// demand that the mirror holds exactly the source's versions (a
	// member country rightly does not receive the OASIS TLP:RED object).
	mirrorToken string

	posts   atomic.Int64 // POST requests seen
	maxPost atomic.Int64 // largest POST body seen, bytes
}

// rtNewServer starts a Fusion server; cfg's zero fields take test
// defaults (no rate limit, STIX validation, silent logs).
func rtNewServer(t *testing.T, cfg server.Config) *rtServer {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := rtNewServerOn(t, st, cfg)
	s.dir = dir
	return s
}

// rtNewServerOn starts a Fusion server on an open store.
func rtNewServerOn(t *testing.T, st store.Store, cfg server.Config) *rtServer {
	t.Helper()
	ctx := context.Background()
	s := &rtServer{st: st, coll: "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c", partner: "acme-security",
		partnerID: "11111111-2222-4333-8444-555555555555"}
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCollection(ctx, store.Collection{ID: s.coll, APIRoot: store.DefaultAPIRoot, Title: "Shared intel", Alias: "shared", Created: now}))
	member := store.Org{ID: "66666666-7777-4888-9999-aaaaaaaaaaaa", Name: "nl-police", Kind: store.KindMember, Country: "NL", Created: now}
	must(st.CreateOrg(ctx, store.Org{ID: s.partnerID, Name: s.partner, Kind: store.KindPartner, Created: now}))
	must(st.CreateOrg(ctx, member))
	must(st.SetGrant(ctx, store.Grant{Collection: s.coll, OrgID: s.partnerID, Read: true, Write: true}))
	must(st.SetGrant(ctx, store.Grant{Collection: s.coll, OrgID: member.ID, Read: true}))
	var hash []byte
	s.writeToken, hash = server.NewToken()
	must(st.CreateToken(ctx, store.Token{ID: "b0b0b0b0-0000-4000-8000-000000000001", OrgID: s.partnerID, Role: store.RoleWrite, Hash: hash, Created: now}))
	s.readToken, hash = server.NewToken()
	must(st.CreateToken(ctx, store.Token{ID: "b0b0b0b0-0000-4000-8000-000000000002", OrgID: member.ID, Role: store.RoleRead, Hash: hash, Created: now}))
	mirror := store.Org{ID: "77777777-8888-4999-aaaa-bbbbbbbbbbbb", Name: "hub-mirror", Kind: store.KindHub, Created: now}
	must(st.CreateOrg(ctx, mirror))
	s.mirrorToken, hash = server.NewToken()
	must(st.CreateToken(ctx, store.Token{ID: "b0b0b0b0-0000-4000-8000-000000000003", OrgID: mirror.ID, Role: store.RoleAdmin, Hash: hash, Created: now}))
	if cfg.Rate == 0 {
		cfg.Rate = -1
	}
	if cfg.Validate == nil {
		cfg.Validate = stix.Validate
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := server.New(st, cfg).Handler()
	// Observe POST sizes (measurement only; the request goes through).
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			s.posts.Add(1)
			for {
				old := s.maxPost.Load()
				if r.ContentLength <= old || s.maxPost.CompareAndSwap(old, r.ContentLength) {
					break
				}
			}
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	s.root = s.srv.URL + "/" + store.DefaultAPIRoot + "/"
	return s
}

// rtVersions lists every version in a collection as id@version → raw.
func rtVersions(t *testing.T, st store.Store, coll string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	q := store.Query{Versions: store.VersionMatch{All: true}, Limit: 1000}
	for {
		p, err := st.List(context.Background(), coll, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range p.Versions {
			k := v.ID + "@" + stix.FormatTimestamp(v.Modified)
			if _, dup := out[k]; dup {
				t.Fatalf("version %s listed twice", k)
			}
			out[k] = v.Raw
		}
		if !p.More || len(p.Versions) == 0 {
			return out
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
}

// rtSameVersions fails unless both collections hold exactly the same
// versions with the same content.
func rtSameVersions(t *testing.T, want, got map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d versions, want %d", len(got), len(want))
	}
	n := 0
	for k, raw := range want {
		g, ok := got[k]
		if !ok {
			if n++; n <= 5 {
				t.Errorf("missing %s", k)
			}
			continue
		}
		if !bytes.Equal(compactJSON(t, g), compactJSON(t, raw)) {
			t.Errorf("%s differs:\n got %s\nwant %s", k, g, raw)
		}
	}
}

func compactJSON(t *testing.T, raw []byte) []byte {
	o, err := stix.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return o.Raw
}

func rtIndicator(i int, modified time.Time) []byte {
	return []byte(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-1111-4000-8000-%012x",`+
		`"created":"2024-01-01T00:00:00.000Z","modified":"%s","name":"pull test %d","indicator_types":["malicious-activity"],`+
		`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
		i, i, stix.FormatTimestamp(modified), i, i/65536%256, i/256%256, i%256))
}

// rtSeed stores objects straight into a server's store (as ingest
// would), in batches so that date_added grows across batches.
func rtSeed(t *testing.T, s *rtServer, raws [][]byte) {
	t.Helper()
	for len(raws) > 0 {
		n := min(len(raws), 300)
		var objs []*stix.Object
		for _, r := range raws[:n] {
			o, err := stix.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
		}
		if _, err := s.st.Put(context.Background(), s.coll, s.partnerID, objs); err != nil {
			t.Fatal(err)
		}
		raws = raws[n:]
	}
}

// rtOASIS returns the objects of the OASIS example files in testdata.
func rtOASIS(t *testing.T) [][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/oasis-push/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("OASIS examples: %v", err)
	}
	sort.Strings(files)
	var out [][]byte
	for _, f := range files {
		out = append(out, rtReadObjects(t, f)...)
	}
	return out
}

func rtReadObjects(t *testing.T, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r := stix.NewReader(bytes.NewReader(b))
	var out [][]byte
	for {
		it, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, it.Raw)
	}
}

// rtMixed is the test content of a source server: the OASIS examples,
// n generated indicators, and a second version of every tenth one.
func rtMixed(t *testing.T, n int) [][]byte {
	raws := rtOASIS(t)
	t1 := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		raws = append(raws, rtIndicator(i, t1))
	}
	for i := 0; i < n; i += 10 {
		raws = append(raws, rtIndicator(i, t1.Add(time.Hour)))
	}
	return raws
}

// rtProxy forwards to a real server, except that hook may answer (or
// alter) a request itself by returning true.
type rtProxy struct {
	srv *httptest.Server
	n   atomic.Int64
}

func rtNewProxy(t *testing.T, target string, hook func(n int64, w http.ResponseWriter, r *http.Request) bool) *rtProxy {
	p := &rtProxy{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.n.Add(1)
		if hook != nil && hook(n, w, r) {
			return
		}
		resp, body := rtForward(t, target, r)
		if resp == nil {
			http.Error(w, "proxy: upstream failed", http.StatusBadGateway)
			return
		}
		rtCopy(w, resp, body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func rtForward(t *testing.T, target string, r *http.Request) (*http.Response, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, nil // the client went away
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func rtCopy(w http.ResponseWriter, resp *http.Response, body []byte) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// rtCut sends the real answer's headers and half of its body, then drops
// the connection.
func rtCut(t *testing.T, target string, w http.ResponseWriter, r *http.Request) {
	resp, body := rtForward(t, target, r)
	if resp == nil {
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body[:len(body)/2])
	http.NewResponseController(w).Flush()
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	} else {
		t.Errorf("hijack: %v", err)
	}
}

func rtTAXIIError(w http.ResponseWriter, code int, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", client.MediaTypeTAXII)
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"title":%q,"description":"injected by the test proxy","http_status":"%d"}`, http.StatusText(code), code)
}

func isObjectsGET(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/objects/")
}

// rtMirror makes a local collection to pull into.
func rtMirror(t *testing.T, s *rtServer) string {
	id := "99999999-8888-4777-8666-555555555555"
	err := s.st.CreateCollection(context.Background(), store.Collection{ID: id, APIRoot: store.DefaultAPIRoot, Title: "Mirror", Alias: "mirror", Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func rtPuller(src *rtServer, url string, dst store.Store, into string, pageSize int, retry client.Retry) *puller {
	return &puller{
		st: dst, c: client.New(client.Options{Token: src.mirrorToken, Retry: retry}),
		rootURL: url, collection: src.coll, into: into, pageSize: pageSize, warn: io.Discard,
	}
}

var fastRetry = client.Retry{Attempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}

// Two servers: B pulls A's collection, page by page; everything arrives
// once, B serves it over TAXII, and a second pull fetches only what is
// new.
func TestPullTwoServers(t *testing.T) {
	ctx := t.Context()
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 1200))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)

	p := rtPuller(a, a.root, b.st, into, 100, client.Retry{})
	s, err := p.run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s.Received != len(want) || s.Added != len(want) || s.Unchanged != 0 || s.Rejected != 0 {
		t.Fatalf("stats %+v, want %d received and added", s, len(want))
	}
	if s.Pages != (len(want)+99)/100 {
		t.Errorf("%d pages for %d versions at 100 a page", s.Pages, len(want))
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))

	// B serves what it pulled: read it back from B with the client.
	c := client.New(client.Options{Token: b.mirrorToken})
	served := 0
	f := client.Filter{Limit: 1000, Versions: []string{"all"}}
	for {
		// The partner of B has a grant on B's own collection, not the
		// mirror; B's hub would read the mirror. Grant it for the test.
		if served == 0 && f.Next == "" {
			if err := b.st.SetGrant(ctx, store.Grant{Collection: into, OrgID: b.partnerID, Read: true}); err != nil {
				t.Fatal(err)
			}
		}
		env, err := c.GetObjects(ctx, b.root, into, f)
		if err != nil {
			t.Fatal(err)
		}
		served += len(env.Objects)
		if !env.More {
			break
		}
		f.Next = env.Next
	}
	if served != len(want) {
		t.Errorf("B serves %d versions, want %d", served, len(want))
	}

	// Nothing new: nothing fetched.
	s, err = p.run(ctx)
	if err != nil || s.Received != 0 || s.Added != 0 {
		t.Fatalf("second pull %+v %v, want nothing", s, err)
	}

	// New objects and a new version on A: only those come.
	t2 := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	rtSeed(t, a, [][]byte{rtIndicator(5000, t2), rtIndicator(5001, t2), rtIndicator(7, t2)})
	s, err = p.run(ctx)
	if err != nil || s.Received != 3 || s.Added != 3 {
		t.Fatalf("incremental pull %+v %v, want 3 received and added", s, err)
	}
	rtSameVersions(t, rtVersions(t, a.st, a.coll), rtVersions(t, b.st, into))
}

// A proxy cuts every objects request after the third page: the pull
// fails after its retries with three pages stored, and a later pull
// resumes at page four: nothing lost, nothing stored twice, nothing
// fetched twice.
func TestPullResumesAfterCutConnection(t *testing.T) {
	ctx := t.Context()
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 700))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	var pages atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if isObjectsGET(r) && pages.Add(1) > 3 {
			rtCut(t, a.srv.URL, w, r)
			return true
		}
		return false
	})
	s1, err := rtPuller(a, px.srv.URL+"/api1", b.st, into, 100, fastRetry).run(ctx)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("pull through the cutting proxy: %v, want a truncated-body error", err)
	}
	if s1.Pages != 3 || s1.Added != 300 {
		t.Fatalf("interrupted pull %+v, want 3 pages, 300 added", s1)
	}
	if got := len(rtVersions(t, b.st, into)); got != 300 {
		t.Fatalf("%d versions stored after the interruption, want 300", got)
	}
	if pages.Load() != 3+int64(fastRetry.Attempts) {
		t.Errorf("%d objects requests, want 3 + %d tries", pages.Load(), fastRetry.Attempts)
	}
	// Resume against the same server (its URL without the proxy: the
	// position is per URL, so use the proxy URL again with the cut off).
	pages.Store(-1 << 40)
	s2, err := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 100, fastRetry).run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Received != len(want)-300 || s2.Added != len(want)-300 || s2.Unchanged != 0 {
		t.Fatalf("resumed pull %+v, want %d received and added", s2, len(want)-300)
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// Cancelling the context mid-pull (Ctrl-C) keeps the pages stored so far
// and the position; the next pull resumes after them.
func TestPullResumesAfterCancel(t *testing.T) {
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 500))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	p := rtPuller(a, a.root, b.st, into, 80, client.Retry{})
	p.progress = func(s pullStats) {
		if s.Pages == 2 {
			cancel()
		}
	}
	s1, err := p.run(ctx)
	if !errors.Is(err, context.Canceled) || s1.Added != 160 {
		t.Fatalf("cancelled pull %+v %v, want 160 added and context.Canceled", s1, err)
	}
	p.progress = nil
	s2, err := p.run(t.Context())
	if err != nil || s2.Received != len(want)-160 || s2.Added != len(want)-160 {
		t.Fatalf("resumed pull %+v %v, want %d", s2, err, len(want)-160)
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// A server that sends no X-TAXII-Date-Added-* headers: the position comes
// from the manifest's date_added of each page's last object, and an
// interrupted pull still resumes exactly.
func TestPullWithoutDateHeaders(t *testing.T) {
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 300))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	var manifests atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if strings.HasSuffix(r.URL.Path, "/manifest/") {
			manifests.Add(1)
		}
		resp, body := rtForward(t, a.srv.URL, r)
		resp.Header.Del("X-TAXII-Date-Added-First")
		resp.Header.Del("X-TAXII-Date-Added-Last")
		rtCopy(w, resp, body)
		return true
	})
	ctx, cancel := context.WithCancel(t.Context())
	p := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 50, client.Retry{})
	p.progress = func(s pullStats) {
		if s.Pages == 3 {
			cancel()
		}
	}
	if _, err := p.run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	p.progress = nil
	s2, err := p.run(t.Context())
	if err != nil || s2.Received != len(want)-150 {
		t.Fatalf("resumed pull %+v %v, want %d received", s2, err, len(want)-150)
	}
	if manifests.Load() == 0 {
		t.Error("the manifest was never asked for a date_added")
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// Transient failures on the way (503 once, 429 with Retry-After once)
// are retried inside one pull.
func TestPullRetries503And429(t *testing.T) {
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 200))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	var gets atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if !isObjectsGET(r) {
			return false
		}
		switch gets.Add(1) {
		case 2:
			rtTAXIIError(w, http.StatusServiceUnavailable, "")
			return true
		case 4:
			rtTAXIIError(w, http.StatusTooManyRequests, "1")
			return true
		}
		return false
	})
	s, err := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 100, client.Retry{BaseDelay: 10 * time.Millisecond}).run(t.Context())
	if err != nil || s.Added != len(want) {
		t.Fatalf("%+v %v", s, err)
	}
	if gets.Load() != int64(s.Pages)+2 {
		t.Errorf("%d objects requests for %d pages, want 2 retried", gets.Load(), s.Pages)
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// The command end to end: flags, the store in --data, the summary line,
// Basic auth, the position kept across runs, and rejected objects.
func TestPullCommand(t *testing.T) {
	a := rtNewServer(t, server.Config{})
	raws := rtMixed(t, 120)
	// An object the source stored without validation: no pattern.
	bad := `{"type":"indicator","spec_version":"2.1","id":"indicator--0badbad0-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`
	raws = append(raws, []byte(bad))
	rtSeed(t, a, raws)
	want := rtVersions(t, a.st, a.coll)
	data := t.TempDir()

	var out, errb bytes.Buffer
	args := []string{"pull", a.root, "--collection", a.coll, "--user", "hub-mirror", "--password", a.mirrorToken, "--data", data, "--page-size", "40"}
	code := run(t.Context(), args, &out, &errb)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one object rejected)\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "indicator--0badbad0-0000-4000-8000-000000000000") || !strings.Contains(errb.String(), "pattern") {
		t.Errorf("stderr does not name the rejected object and why:\n%s", errb.String())
	}
	wantLine := fmt.Sprintf("pulled %d objects in %d pages", len(want), (len(want)+39)/40)
	if !strings.Contains(out.String(), wantLine) || !strings.Contains(out.String(), fmt.Sprintf("%d new, 0 unchanged, 1 rejected", len(want)-1)) {
		t.Errorf("stdout %q, want %q…", out.String(), wantLine)
	}

	out.Reset()
	errb.Reset()
	args = []string{"pull", a.root, "--collection", "shared", "--token", a.mirrorToken, "--data", data}
	// The alias names another source (different collection text): it
	// starts from the beginning, and every version is unchanged.
	if code := run(t.Context(), args, &out, &errb); code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("0 new, %d unchanged", len(want)-1)) {
		t.Errorf("pull by alias: %q", out.String())
	}
	out.Reset()
	errb.Reset()
	args = []string{"pull", "--token", a.mirrorToken, a.root, "--data", data, "--collection", a.coll}
	if code := run(t.Context(), args, &out, &errb); code != 0 {
		t.Fatalf("third pull: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "pulled 0 objects in 1 pages") {
		t.Errorf("third pull fetched again: %q", out.String())
	}

	out.Reset()
	errb.Reset()
	args = append(args, "--reset")
	if code := run(t.Context(), args, &out, &errb); code != 1 {
		t.Fatalf("pull --reset: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("pulled %d objects", len(want))) || !strings.Contains(out.String(), fmt.Sprintf("0 new, %d unchanged", len(want)-1)) {
		t.Errorf("pull --reset: %q", out.String())
	}

	st, err := openStore(t.Context(), "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	delete(want, "indicator--0badbad0-0000-4000-8000-000000000000@2024-01-01T00:00:00.000Z")
	rtSameVersions(t, want, rtVersions(t, st, store.DefaultCollectionID))

	for _, bad := range [][]string{
		{"pull", a.root},                                             // no --collection
		{"pull", "--collection", a.coll},                             // no URL
		{"pull", a.root, "x", "--collection", a.coll},                // two URLs
		{"pull", a.root, "--collection", a.coll, "--page-size", "0"}, // bad size
	} {
		out.Reset()
		errb.Reset()
		if code := run(t.Context(), append(bad, "--data", data), &out, &errb); code == 0 {
			t.Errorf("%q: exit 0", bad)
		}
	}
}

func TestCursorKey(t *testing.T) {
	k1 := cursorKey("https://h/api1", "c", "d")
	if k1 != cursorKey("https://h/api1/", "c", "d") {
		t.Error("trailing slash changes the key")
	}
	if k1 == cursorKey("https://h/api1/", "c2", "d") || k1 == cursorKey("https://h/api1/", "c", "d2") || k1 == cursorKey("https://h/api2/", "c", "d") {
		t.Error("different sources share a key")
	}
	if !strings.HasPrefix(k1, "pull:") || len(k1) != len("pull:")+64 {
		t.Errorf("key %q", k1)
	}
}

func TestParseRemoteArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		coll string
	}{
		{[]string{"URL", "--collection", "C"}, []string{"URL"}, "C"},
		{[]string{"--collection", "C", "URL"}, []string{"URL"}, "C"},
		{[]string{"URL", "--collection", "C", "f1", "f2"}, []string{"URL", "f1", "f2"}, "C"},
		{[]string{"URL", "f1", "--collection=C", "f2"}, []string{"URL", "f1", "f2"}, "C"},
		{[]string{"URL", "--", "--collection", "C"}, []string{"URL", "--collection", "C"}, ""},
		{[]string{"URL", "-"}, []string{"URL", "-"}, ""},
	} {
		fs := newFlagSet(&command{name: "t"}, io.Discard)
		coll := fs.String("collection", "", "")
		if err := parseRemoteArgs(fs, tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if fmt.Sprint(fs.Args()) != fmt.Sprint(tc.pos) || *coll != tc.coll {
			t.Errorf("%q: args %q collection %q; want %q %q", tc.args, fs.Args(), *coll, tc.pos, tc.coll)
		}
	}
}

// failingStore injects a storage failure: the nth Put fails.
type failingStore struct {
	store.Store
	n, calls int
}

func (f *failingStore) Put(ctx context.Context, coll, source string, objs []*stix.Object) ([]store.PutOutcome, error) {
	if f.calls++; f.calls == f.n {
		return nil, errors.New("injected: disk full")
	}
	return f.Store.Put(ctx, coll, source, objs)
}

// The position moves only after a page is stored: when storing page 3
// fails, the next pull starts again at page 3.
func TestPullPositionFollowsStorage(t *testing.T) {
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 400))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	p := rtPuller(a, a.root, &failingStore{Store: b.st, n: 3}, into, 100, client.Retry{})
	s1, err := p.run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "disk full") || s1.Added != 200 {
		t.Fatalf("pull with a failing store: %+v %v", s1, err)
	}
	p.st = b.st
	s2, err := p.run(t.Context())
	if err != nil || s2.Received != len(want)-200 || s2.Added != len(want)-200 {
		t.Fatalf("resumed pull %+v %v, want %d", s2, err, len(want)-200)
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// A server that keeps sending the same page with more=true is stopped.
func TestPullStopsOnRepeatedPage(t *testing.T) {
	a, b := rtNewServer(t, server.Config{}), rtNewServer(t, server.Config{})
	rtSeed(t, a, rtMixed(t, 100))
	into := rtMirror(t, b)
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if !isObjectsGET(r) {
			return false
		}
		q := r.URL.Query()
		q.Del("next")
		q.Del("added_after")
		r.URL.RawQuery = q.Encode()
		resp, body := rtForward(t, a.srv.URL, r)
		rtCopy(w, resp, body)
		return true
	})
	s, err := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 10, client.Retry{}).run(t.Context())
	if err == nil || !strings.Contains(err.Error(), "not after the previous page") || s.Pages != 2 {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestRemoteAuthOptions(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		a                     remoteAuth
		envToken, envPassword string
		token, user, password string
		err                   bool
	}{
		{"token", remoteAuth{token: "T"}, "", "", "T", "", "", false},
		{"basic", remoteAuth{user: "u", password: "p"}, "", "", "", "u", "p", false},
		{"user with token", remoteAuth{user: "u", token: "T"}, "", "E", "", "u", "T", false},
		{"token from env", remoteAuth{}, "E", "", "E", "", "", false},
		{"flag beats env", remoteAuth{token: "T"}, "E", "", "T", "", "", false},
		{"password from env", remoteAuth{user: "u"}, "", "P", "", "u", "P", false},
		{"user without password", remoteAuth{user: "u"}, "", "", "", "", "", true},
		{"colon in user", remoteAuth{user: "a:b", password: "p"}, "", "", "", "", "", true},
		{"none", remoteAuth{}, "", "", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("FUSION_REMOTE_TOKEN", tc.envToken)
			t.Setenv("FUSION_REMOTE_PASSWORD", tc.envPassword)
			o, err := tc.a.options()
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if err == nil && (o.Token != tc.token || o.Username != tc.user || o.Password != tc.password) {
				t.Fatalf("options %+v, want token %q user %q password %q", o, tc.token, tc.user, tc.password)
			}
		})
	}
	// --help must not print a secret from the environment.
	t.Setenv("FUSION_REMOTE_TOKEN", "fsn_secret_value")
	var out, errb bytes.Buffer
	run(t.Context(), []string{"pull", "--help"}, &out, &errb)
	if strings.Contains(out.String()+errb.String(), "fsn_secret_value") {
		t.Fatal("--help printed the token from the environment")
	}
}

// rtPostgres opens a PostgreSQL store (as fusion commands do) on a fresh
// schema of its own, dropped when the test ends.
func rtPostgres(t *testing.T) store.Store {
	t.Helper()
	st, err := openStore(t.Context(), testdb.PostgresURL(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// The pull into a PostgreSQL store (the scale-out backend): everything
// arrives once, and a pull cut after two pages resumes exactly. Runs when
// FUSION_TEST_POSTGRES_URL names a database.
func TestPullIntoPostgres(t *testing.T) {
	if os.Getenv("FUSION_TEST_POSTGRES_URL") == "" {
		t.Skip("FUSION_TEST_POSTGRES_URL is not set (CI sets it); the other pull tests use SQLite")
	}
	a := rtNewServer(t, server.Config{})
	b := rtNewServerOn(t, rtPostgres(t), server.Config{})
	rtSeed(t, a, rtMixed(t, 400))
	want := rtVersions(t, a.st, a.coll)
	into := rtMirror(t, b)
	var pages atomic.Int64
	px := rtNewProxy(t, a.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if isObjectsGET(r) && pages.Add(1) > 2 {
			rtCut(t, a.srv.URL, w, r)
			return true
		}
		return false
	})
	s1, err := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 100, fastRetry).run(t.Context())
	if err == nil || s1.Added != 200 {
		t.Fatalf("interrupted pull %+v %v", s1, err)
	}
	pages.Store(-1 << 40)
	s2, err := rtPuller(a, px.srv.URL+"/api1/", b.st, into, 100, fastRetry).run(t.Context())
	if err != nil || s2.Received != len(want)-200 || s2.Added != len(want)-200 {
		t.Fatalf("resumed pull %+v %v, want %d", s2, err, len(want)-200)
	}
	rtSameVersions(t, want, rtVersions(t, b.st, into))
}

// pull --source names a partner with a protected-asset list on this
// hub: the list screens every pulled object before it is stored, as
// fusion ingest --org does. The leaky object is reported by rule kind
// (never the value), counted as rejected, quarantined for the partner
// and not stored; the clean ones are stored.
func TestPullSourceGuard(t *testing.T) {
	ctx := t.Context()
	a := rtNewServer(t, server.Config{})
	clean := [][]byte{rtIndicator(1, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)), rtIndicator(2, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)), rtIndicator(3, time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC))}
	rtSeed(t, a, append(append([][]byte{}, clean...), []byte(leakyIndicator)))

	data := t.TempDir()
	st, err := openStore(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	const partnerID = "22222222-3333-4444-8555-666666666666"
	if err := st.CreateOrg(ctx, store.Org{ID: partnerID, Name: "northwind", Kind: store.KindPartner, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := server.NewGuard(st, nil, nil).SetList(ctx, partnerID, []byte(hubAssets), ""); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var out, errb bytes.Buffer
	args := []string{"pull", a.root, "--collection", a.coll, "--token", a.mirrorToken, "--data", data, "--page-size", "2", "--source", "northwind"}
	if code := run(ctx, args, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1 (one object blocked)\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	const leakyID = "indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01"
	if !strings.Contains(errb.String(), "rejected: page ") || !strings.Contains(errb.String(), leakyID) || !strings.Contains(errb.String(), "cidr") {
		t.Errorf("stderr does not report the blocked object by id and rule kind:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "customer-data guard: 1 objects blocked") {
		t.Errorf("no guard summary:\n%s", errb.String())
	}
	if strings.Contains(errb.String()+out.String(), "198.51.100") {
		t.Errorf("output echoes the protected value:\n%s\n%s", out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "pulled 4 objects") || !strings.Contains(out.String(), "3 new, 0 unchanged, 1 rejected") {
		t.Errorf("stdout %q", out.String())
	}

	st, err = openStore(ctx, "", data)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got := rtVersions(t, st, store.DefaultCollectionID)
	want := map[string][]byte{}
	for _, raw := range clean {
		o, err := stix.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		want[o.ID+"@"+stix.FormatTimestamp(o.Version())] = raw
	}
	rtSameVersions(t, want, got)
	for k := range got {
		if strings.HasPrefix(k, leakyID) {
			t.Errorf("the blocked object was stored: %s", k)
		}
	}
	q, err := server.NewGuard(st, nil, nil).QuarantineList(ctx, partnerID)
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 1 || q[0].ID != leakyID || q[0].Via != "pull" || q[0].Collection != store.DefaultCollectionID {
		t.Errorf("quarantine %+v, want the leaky indicator via pull", q)
	}
}
