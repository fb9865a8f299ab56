package client

// These tests run the client against the real Fusion server (package
// server over a real SQLite store) over real HTTP. Fakes appear only to
// inject failures: a proxy in front of the server that answers 503 or
// 429, or cuts a connection in the middle of a body.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

type fixture struct {
	st         store.Store
	srv        *httptest.Server
	root       string // API root URL
	coll       string // collection id
	org        string // partner organisation name
	writeToken string // partner, read+write
	readToken  string // member, read only
}

func newFixture(t testing.TB, maxContent int64) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Now().UTC()
	f := &fixture{st: st, coll: "0b6c5b5e-3d5a-4c43-9d9c-6f1d2a9e8c01", org: "acme"}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.CreateCollection(ctx, store.Collection{ID: f.coll, APIRoot: store.DefaultAPIRoot, Title: "Test intel", Alias: "test", Created: now}))
	partner := store.Org{ID: "7d7c2a52-0f6e-4f0a-8a8e-1b2c3d4e5f60", Name: f.org, Kind: store.KindPartner, Created: now}
	member := store.Org{ID: "8e8d3b63-1a7f-4a1b-9b9f-2c3d4e5f6071", Name: "de-police", Kind: store.KindMember, Country: "DE", Created: now}
	must(st.CreateOrg(ctx, partner))
	must(st.CreateOrg(ctx, member))
	must(st.SetGrant(ctx, store.Grant{Collection: f.coll, OrgID: partner.ID, Read: true, Write: true}))
	must(st.SetGrant(ctx, store.Grant{Collection: f.coll, OrgID: member.ID, Read: true}))
	var hash []byte
	f.writeToken, hash = server.NewToken()
	must(st.CreateToken(ctx, store.Token{ID: "a1a1a1a1-0000-4000-8000-000000000001", OrgID: partner.ID, Role: store.RoleWrite, Hash: hash, Created: now}))
	f.readToken, hash = server.NewToken()
	must(st.CreateToken(ctx, store.Token{ID: "a1a1a1a1-0000-4000-8000-000000000002", OrgID: member.ID, Role: store.RoleRead, Hash: hash, Created: now}))
	s := server.New(st, server.Config{
		MaxContentLength: maxContent, Rate: -1, Validate: stix.Validate,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	f.root = f.srv.URL + "/" + store.DefaultAPIRoot + "/"
	return f
}

// testClient returns a client whose waits are recorded, not slept.
func testClient(opts Options) (*Client, *[]time.Duration) {
	c := New(opts)
	var mu sync.Mutex
	var waits []time.Duration
	c.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return c, &waits
}

func indicator(i int, modified time.Time) []byte {
	return []byte(fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-%012x",`+
		`"created":"2024-01-01T00:00:00.000Z","modified":"%s","name":"test indicator %d",`+
		`"pattern":"[ipv4-addr:value = '10.%d.%d.%d']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
		i, i, stix.FormatTimestamp(modified), i, i/65536%256, i/256%256, i%256))
}

func indicatorID(i int) string { return fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", i, i) }

func envelopeOf(t *testing.T, objs ...[]byte) []byte {
	t.Helper()
	b := NewEnvelopeBuilder(1 << 30)
	for _, o := range objs {
		if ok, err := b.Add(o); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	return append([]byte(nil), b.Bytes()...)
}

func TestDiscoveryAPIRootCollections(t *testing.T) {
	f := newFixture(t, 123456)
	ctx := t.Context()
	c := New(Options{Token: f.writeToken})

	d, err := c.Discovery(ctx, f.srv.URL+"/taxii2/")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range d.APIRoots {
		if !strings.HasPrefix(r, "http://") {
			t.Errorf("API root %q not resolved to an absolute URL", r)
		}
		if strings.TrimSuffix(r, "/") == strings.TrimSuffix(f.root, "/") {
			found = true
		}
	}
	if !found || d.Title == "" {
		t.Fatalf("discovery %+v does not list %s", d, f.root)
	}

	root, err := c.APIRoot(ctx, strings.TrimSuffix(f.root, "/")) // no trailing slash: added
	if err != nil {
		t.Fatal(err)
	}
	if root.MaxContentLength != 123456 || len(root.Versions) == 0 || root.Versions[0] != MediaTypeTAXII {
		t.Fatalf("API root %+v", root)
	}

	cols, err := c.Collections(ctx, f.root)
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 1 || cols[0].ID != f.coll || !cols[0].CanRead || !cols[0].CanWrite {
		t.Fatalf("collections %+v", cols)
	}
	col, err := New(Options{Token: f.readToken}).Collection(ctx, f.root, f.coll)
	if err != nil {
		t.Fatal(err)
	}
	if col.ID != f.coll || col.Title != "Test intel" || col.Alias != "test" || !col.CanRead || col.CanWrite {
		t.Fatalf("collection for the reader %+v", col)
	}
}

func TestAuthAndErrors(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()

	// HTTP Basic: user = organisation name, password = token.
	if _, err := New(Options{Username: f.org, Password: f.writeToken}).Collection(ctx, f.root, f.coll); err != nil {
		t.Fatalf("Basic auth: %v", err)
	}
	for _, tc := range []struct {
		name   string
		opts   Options
		do     func(c *Client) error
		status int
	}{
		{"no credentials", Options{}, func(c *Client) error { _, err := c.APIRoot(ctx, f.root); return err }, 401},
		{"bad token", Options{Token: "fsn_nope"}, func(c *Client) error { _, err := c.APIRoot(ctx, f.root); return err }, 401},
		{"Basic with wrong user", Options{Username: "someone", Password: f.writeToken}, func(c *Client) error { _, err := c.APIRoot(ctx, f.root); return err }, 401},
		{"unknown collection", Options{Token: f.writeToken}, func(c *Client) error {
			_, err := c.Collection(ctx, f.root, "00000000-0000-4000-8000-000000000000")
			return err
		}, 404},
		{"reader may not write", Options{Token: f.readToken}, func(c *Client) error {
			_, err := c.AddObjects(ctx, f.root, f.coll, envelopeOf(t, indicator(1, time.Now())))
			return err
		}, 403},
		{"malformed envelope", Options{Token: f.writeToken}, func(c *Client) error {
			_, err := c.AddObjects(ctx, f.root, f.coll, []byte(`{"objects":[`))
			return err
		}, 400},
		{"unknown status", Options{Token: f.writeToken}, func(c *Client) error {
			_, err := c.Status(ctx, f.root, "00000000-0000-4000-8000-000000000000")
			return err
		}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, waits := testClient(tc.opts)
			err := tc.do(c)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.StatusCode != tc.status || e.Title == "" || StatusOf(err) != tc.status {
				t.Fatalf("got %d %q (%v), want %d with a title", e.StatusCode, e.Title, err, tc.status)
			}
			if len(*waits) != 0 {
				t.Fatalf("a %d was retried", tc.status)
			}
		})
	}
}

func TestAddGetPageAndFilters(t *testing.T) {
	f := newFixture(t, 0)
	ctx := t.Context()
	c := New(Options{Token: f.writeToken})
	t1 := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)

	var objs [][]byte
	for i := range 25 {
		objs = append(objs, indicator(i, t1))
	}
	st, err := c.AddObjects(ctx, f.root, f.coll, envelopeOf(t, objs...))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Complete() || st.TotalCount != 25 || st.SuccessCount != 25 || st.FailureCount != 0 {
		t.Fatalf("status %+v", st)
	}
	again, err := c.Status(ctx, f.root, st.ID)
	if err != nil || again.ID != st.ID || again.SuccessCount != 25 {
		t.Fatalf("status read back: %+v %v", again, err)
	}
	done, err := c.WaitStatus(ctx, f.root, nil, st.ID, PollPolicy{})
	if err != nil || !done.Complete() {
		t.Fatalf("WaitStatus: %+v %v", done, err)
	}
	// A second version of indicator 3, and a bad object among good ones.
	bad := []byte(`{"type":"indicator","spec_version":"2.1","id":"indicator--bad"}`)
	st, err = c.AddObjects(ctx, f.root, f.coll, envelopeOf(t, indicator(3, t2), bad, indicator(25, t1)))
	if err != nil {
		t.Fatal(err)
	}
	if st.SuccessCount != 2 || st.FailureCount != 1 || len(st.Failures) != 1 || st.Failures[0].Message == "" {
		t.Fatalf("status with one bad object %+v", st)
	}

	// Page through everything (all versions) with next: 27 versions.
	r := New(Options{Token: f.readToken})
	var got []string
	var lastAdded time.Time
	flt := Filter{Limit: 10, Versions: []string{"all"}}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("too many pages")
		}
		env, err := r.GetObjects(ctx, f.root, f.coll, flt)
		if err != nil {
			t.Fatal(err)
		}
		if len(env.Objects) > 0 {
			if env.DateAddedFirst.IsZero() || env.DateAddedLast.Before(env.DateAddedFirst) || !env.DateAddedFirst.After(lastAdded) {
				t.Fatalf("date headers first %v last %v after previous %v", env.DateAddedFirst, env.DateAddedLast, lastAdded)
			}
			lastAdded = env.DateAddedLast
		}
		for _, o := range env.Objects {
			p, err := stix.Parse(o)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, p.ID+"@"+stix.FormatTimestamp(p.Modified))
		}
		if !env.More {
			break
		}
		if env.Next == "" || len(env.Objects) != 10 {
			t.Fatalf("more without next, or short page: %d objects next %q", len(env.Objects), env.Next)
		}
		flt.Next = env.Next
	}
	if len(got) != 27 {
		t.Fatalf("paged %d versions, want 27", len(got))
	}
	seen := map[string]bool{}
	for _, g := range got {
		if seen[g] {
			t.Fatalf("version %s listed twice", g)
		}
		seen[g] = true
	}

	// match[id] and match[version] on the objects endpoint.
	env, err := r.GetObjects(ctx, f.root, f.coll, Filter{IDs: []string{indicatorID(3), indicatorID(4)}, Versions: []string{"all"}})
	if err != nil || len(env.Objects) != 3 {
		t.Fatalf("match[id] all versions: %d objects, %v", len(env.Objects), err)
	}
	env, err = r.GetObjects(ctx, f.root, f.coll, Filter{IDs: []string{indicatorID(3)}, Versions: []string{"first"}})
	if err != nil || len(env.Objects) != 1 || !bytes.Contains(env.Objects[0], []byte(stix.FormatTimestamp(t1))) {
		t.Fatalf("match[version]=first: %q, %v", env.Objects, err)
	}
	// added_after: nothing after the last date_added.
	env, err = r.GetObjects(ctx, f.root, f.coll, Filter{AddedAfter: lastAdded})
	if err != nil || len(env.Objects) != 0 || env.More {
		t.Fatalf("added_after last: %d objects more=%v %v", len(env.Objects), env.More, err)
	}
	// match[type] that matches nothing.
	env, err = r.GetObjects(ctx, f.root, f.coll, Filter{Types: []string{"malware"}})
	if err != nil || len(env.Objects) != 0 {
		t.Fatalf("match[type]=malware: %d objects %v", len(env.Objects), err)
	}

	// Object, versions, manifest.
	env, err = r.GetObject(ctx, f.root, f.coll, indicatorID(3), Filter{})
	if err != nil || len(env.Objects) != 1 || !bytes.Contains(env.Objects[0], []byte(stix.FormatTimestamp(t2))) {
		t.Fatalf("GetObject (last version): %q %v", env.Objects, err)
	}
	vs, err := r.Versions(ctx, f.root, f.coll, indicatorID(3), Filter{})
	if err != nil || len(vs.Versions) != 2 || vs.Versions[0] != stix.FormatTimestamp(t1) || vs.Versions[1] != stix.FormatTimestamp(t2) {
		t.Fatalf("Versions: %+v %v", vs, err)
	}
	m, err := r.Manifest(ctx, f.root, f.coll, Filter{IDs: []string{indicatorID(3)}, Versions: []string{"all"}})
	if err != nil || len(m.Objects) != 2 || m.Objects[0].ID != indicatorID(3) || m.Objects[0].DateAdded == "" || m.DateAddedLast.IsZero() {
		t.Fatalf("Manifest: %+v %v", m, err)
	}

	// Delete the first version; the reader may not delete.
	if err := r.DeleteObject(ctx, f.root, f.coll, indicatorID(3), Filter{}); StatusOf(err) != http.StatusForbidden {
		t.Fatalf("reader delete: %v, want 403", err)
	}
	if err := c.DeleteObject(ctx, f.root, f.coll, indicatorID(3), Filter{Versions: []string{stix.FormatTimestamp(t1)}}); err != nil {
		t.Fatal(err)
	}
	vs, err = r.Versions(ctx, f.root, f.coll, indicatorID(3), Filter{})
	if err != nil || len(vs.Versions) != 1 || vs.Versions[0] != stix.FormatTimestamp(t2) {
		t.Fatalf("Versions after delete: %+v %v", vs, err)
	}
	if err := c.DeleteObject(ctx, f.root, f.coll, indicatorID(3), Filter{Versions: []string{stix.FormatTimestamp(t1)}}); StatusOf(err) != http.StatusNotFound {
		t.Fatalf("deleting a deleted version: %v, want 404", err)
	}
}

// proxy forwards to the real server, except that hook may answer a
// request itself (hook returns true).
type proxy struct {
	target string
	hook   func(n int64, w http.ResponseWriter, r *http.Request) bool
	n      atomic.Int64 // requests seen
	srv    *httptest.Server
}

func newProxy(t *testing.T, target string, hook func(n int64, w http.ResponseWriter, r *http.Request) bool) *proxy {
	p := &proxy{target: target, hook: hook}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := p.n.Add(1)
		if p.hook != nil && p.hook(n, w, r) {
			return
		}
		resp, body := forward(t, p.target, r)
		copyHeader(w, resp)
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// forward sends r to the target server and reads the whole answer.
func forward(t *testing.T, target string, r *http.Request) (*http.Response, []byte) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	req.Header = r.Header.Clone()
	req.ContentLength = r.ContentLength
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return nil, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp, body
}

func copyHeader(w http.ResponseWriter, resp *http.Response) {
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
}

// cut sends the real answer's headers and half its body, then drops the
// connection.
func cut(t *testing.T, target string, w http.ResponseWriter, r *http.Request) {
	resp, body := forward(t, target, r)
	copyHeader(w, resp)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	w.Write(body[:len(body)/2])
	w.(http.Flusher).Flush()
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func taxiiError(w http.ResponseWriter, code int, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", MediaTypeTAXII)
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"title":%q,"http_status":"%d"}`, http.StatusText(code), code)
}

func seed(t *testing.T, f *fixture, n int) {
	t.Helper()
	var objs [][]byte
	for i := range n {
		objs = append(objs, indicator(i, time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)))
	}
	st, err := New(Options{Token: f.writeToken}).AddObjects(t.Context(), f.root, f.coll, envelopeOf(t, objs...))
	if err != nil || st.SuccessCount != n {
		t.Fatalf("seed: %+v %v", st, err)
	}
}

func TestRetries(t *testing.T) {
	f := newFixture(t, 0)
	seed(t, f, 30)
	ctx := t.Context()
	for _, tc := range []struct {
		name     string
		hook     func(n int64, w http.ResponseWriter, r *http.Request) bool
		requests int64           // the proxy sees this many
		waits    []time.Duration // minimum of each recorded wait
		fail     int             // expected HTTP status of the final error; 0: success
	}{
		{"503 once", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				taxiiError(w, 503, "")
				return true
			}
			return false
		}, 2, []time.Duration{DefaultRetry.BaseDelay / 2}, 0},
		{"429 with Retry-After", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				taxiiError(w, 429, "7")
				return true
			}
			return false
		}, 2, []time.Duration{7 * time.Second}, 0},
		{"connection cut mid-body", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			if n == 1 {
				cut(t, f.srv.URL, w, r)
				return true
			}
			return false
		}, 2, []time.Duration{DefaultRetry.BaseDelay / 2}, 0},
		{"502 every time: bounded", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			taxiiError(w, 502, "")
			return true
		}, int64(DefaultRetry.Attempts), nil, 502},
		{"Retry-After beyond the maximum: no wait", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			taxiiError(w, 429, "3600")
			return true
		}, 1, nil, 429},
		{"400 not retried", func(n int64, w http.ResponseWriter, r *http.Request) bool {
			taxiiError(w, 400, "")
			return true
		}, 1, nil, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProxy(t, f.srv.URL, tc.hook)
			c, waits := testClient(Options{Token: f.readToken})
			env, err := c.GetObjects(ctx, p.srv.URL+"/api1/", f.coll, Filter{Limit: 1000})
			if got := p.n.Load(); got != tc.requests {
				t.Errorf("proxy saw %d requests, want %d", got, tc.requests)
			}
			if tc.fail != 0 {
				if StatusOf(err) != tc.fail {
					t.Fatalf("err = %v, want status %d", err, tc.fail)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(env.Objects) != 30 {
				t.Fatalf("%d objects after retry, want 30", len(env.Objects))
			}
			if len(*waits) != len(tc.waits) {
				t.Fatalf("waits %v, want %d", *waits, len(tc.waits))
			}
			for i, w := range tc.waits {
				if (*waits)[i] < w {
					t.Errorf("wait %d = %v, want at least %v", i, (*waits)[i], w)
				}
			}
		})
	}
}

// A POST answered 503 once is sent again and stored once.
func TestAddObjectsRetried(t *testing.T) {
	f := newFixture(t, 0)
	p := newProxy(t, f.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		if n == 1 {
			io.Copy(io.Discard, r.Body)
			taxiiError(w, 503, "1")
			return true
		}
		return false
	})
	c, waits := testClient(Options{Token: f.writeToken})
	st, err := c.AddObjects(t.Context(), p.srv.URL+"/api1/", f.coll, envelopeOf(t, indicator(1, time.Now()), indicator(2, time.Now())))
	if err != nil || st.SuccessCount != 2 {
		t.Fatalf("%+v %v", st, err)
	}
	if len(*waits) != 1 || (*waits)[0] < time.Second {
		t.Fatalf("waits %v, want one of at least 1s (Retry-After)", *waits)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	f := newFixture(t, 0)
	p := newProxy(t, f.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		taxiiError(w, 503, "")
		return true
	})
	ctx, cancel := context.WithCancel(t.Context())
	c := New(Options{Token: f.readToken, Retry: Retry{BaseDelay: time.Hour, MaxDelay: time.Hour}})
	done := make(chan error, 1)
	go func() {
		_, err := c.GetObjects(ctx, p.srv.URL+"/api1/", f.coll, Filter{})
		done <- err
	}()
	for p.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not stop the backoff wait")
	}
}

func TestResponseSizeLimit(t *testing.T) {
	f := newFixture(t, 0)
	seed(t, f, 50)
	c, waits := testClient(Options{Token: f.readToken, MaxResponseBytes: 4096})
	_, err := c.GetObjects(t.Context(), f.root, f.coll, Filter{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if len(*waits) != 0 {
		t.Fatal("an oversized answer was retried")
	}
}

// A page that is not TAXII (a proxy's HTML login page, say) is refused
// with a message naming what came back.
func TestWrongContentType(t *testing.T) {
	f := newFixture(t, 0)
	p := newProxy(t, f.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>login</html>"))
		return true
	})
	_, err := New(Options{Token: f.readToken}).APIRoot(t.Context(), p.srv.URL+"/api1/")
	if err == nil || !strings.Contains(err.Error(), "text/html") {
		t.Fatalf("err = %v", err)
	}
}

// The client sends exactly the media types of section 1.6.8 and the
// credentials it was given.
func TestRequestHeaders(t *testing.T) {
	f := newFixture(t, 0)
	var mu sync.Mutex
	var seen []http.Header
	p := newProxy(t, f.srv.URL, func(n int64, w http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		return false
	})
	c := New(Options{Token: f.writeToken})
	if _, err := c.AddObjects(t.Context(), p.srv.URL+"/api1/", f.coll, envelopeOf(t, indicator(1, time.Now()))); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Username: f.org, Password: f.writeToken}).APIRoot(t.Context(), p.srv.URL+"/api1/"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Fatalf("%d requests", len(seen))
	}
	if seen[0].Get("Accept") != MediaTypeTAXII || seen[0].Get("Content-Type") != MediaTypeTAXII || seen[0].Get("Authorization") != "Bearer "+f.writeToken {
		t.Fatalf("POST headers %v", seen[0])
	}
	if seen[1].Get("Accept") != MediaTypeTAXII || seen[1].Get("Content-Type") != "" || !strings.HasPrefix(seen[1].Get("Authorization"), "Basic ") {
		t.Fatalf("GET headers %v", seen[1])
	}
}
