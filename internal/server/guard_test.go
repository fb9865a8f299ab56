package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"fusion/internal/guard"
	"fusion/internal/server"
	"fusion/internal/store"
)

// The guard corpus of package guard: its protected-asset list, leaky
// objects (each must be blocked or redacted) with what was injected into
// each, clean objects (none may be blocked) and the ids of objects that
// the leaky ones refer to as blocked earlier.
const corpusDir = "../guard/testdata/"

type guardCorpus struct {
	assets   []byte
	leaky    [][]byte
	leakyIDs []string
	injected []string // the protected value as injected, per leaky object
	clean    [][]byte
	cleanIDs []string
	prior    []string
}

func corpusLines(t testing.TB, name string) [][]byte {
	t.Helper()
	f, err := os.Open(corpusDir + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 || sc.Bytes()[0] == '#' {
			continue
		}
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func objectID(t testing.TB, raw []byte) string {
	t.Helper()
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &v, json.RejectUnknownMembers(false)); err != nil {
		t.Fatalf("corpus object: %v", err)
	}
	return v.ID
}

func readGuardCorpus(t testing.TB) guardCorpus {
	t.Helper()
	var c guardCorpus
	var err error
	if c.assets, err = os.ReadFile(corpusDir + "assets.txt"); err != nil {
		t.Fatal(err)
	}
	c.leaky = corpusLines(t, "corpus/leaky.jsonl")
	c.clean = corpusLines(t, "corpus/clean.jsonl")
	for _, l := range corpusLines(t, "corpus/prior.txt") {
		c.prior = append(c.prior, string(l))
	}
	for _, l := range corpusLines(t, "corpus/leaky.tsv") {
		f := strings.Split(string(l), "\t")
		inj, err := strconv.Unquote(f[6])
		if len(f) != 7 || err != nil {
			t.Fatalf("leaky.tsv: %q", l)
		}
		c.injected = append(c.injected, inj)
	}
	for _, raw := range c.leaky {
		c.leakyIDs = append(c.leakyIDs, objectID(t, raw))
	}
	for _, raw := range c.clean {
		c.cleanIDs = append(c.cleanIDs, objectID(t, raw))
	}
	if len(c.leaky) < 300 || len(c.clean) < 1000 || len(c.injected) != len(c.leaky) {
		t.Fatalf("corpus: %d leaky, %d expectations, %d clean", len(c.leaky), len(c.injected), len(c.clean))
	}
	return c
}

// syncBuffer collects the server's log output.
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

// guardEnv is a server with a partner (northwind, with the corpus's list),
// a second partner (other) and a member country (fr), all with grants on
// the default collection, and the server's logs captured.
type guardEnv struct {
	*env
	logs                     *syncBuffer
	nwAdmin, nwWrite, nwRead string
	otherAdmin, frAdmin      string
	frRead                   string
	hub                      string
}

func newGuardEnv(t testing.TB, open opener) *guardEnv {
	t.Helper()
	e := &env{tb: t, st: open(t), now: time.Now().UTC()}
	if _, err := server.Bootstrap(context.Background(), e.st, t.TempDir(), adminToken, e.now); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cfg := server.Config{Rate: -1, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now: func() time.Time { return e.now }}
	e.srv = httptest.NewServer(server.New(e.st, cfg).Handler())
	t.Cleanup(e.srv.Close)

	g := &guardEnv{env: e, logs: logs, hub: "Bearer " + adminToken}
	e.must("POST", "/api/v1/orgs", `{"name":"northwind","kind":"partner"}`, 201, nil)
	e.must("POST", "/api/v1/orgs", `{"name":"other","kind":"partner"}`, 201, nil)
	e.must("POST", "/api/v1/orgs", `{"name":"fr-police","kind":"member","country":"FR"}`, 201, nil)
	tok := func(org, role string) string {
		s, _ := e.token(fmt.Sprintf(`{"org":%q,"role":%q}`, org, role))
		return "Bearer " + s
	}
	g.nwAdmin, g.nwWrite, g.nwRead = tok("northwind", "admin"), tok("northwind", "write"), tok("northwind", "read")
	g.otherAdmin, g.frAdmin, g.frRead = tok("other", "admin"), tok("fr-police", "admin"), tok("fr-police", "read")
	for _, org := range []string{"northwind", "other", "fr-police"} {
		e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/"+org, `{"read":true,"write":true}`, 200, nil)
	}
	return g
}

// do sends a request with a raw body and content type.
func (g *guardEnv) do(method, path, auth, ctype string, body []byte) resp {
	g.tb.Helper()
	r, _ := http.NewRequest(method, g.srv.URL+path, bytes.NewReader(body))
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		g.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}

const taxiiType = "application/taxii+json;version=2.1"

var objectsPath = "/" + store.DefaultAPIRoot + "/collections/" + store.DefaultCollectionID + "/objects/"

type statusJSON struct {
	ID           string `json:"id"`
	TotalCount   int    `json:"total_count"`
	SuccessCount int    `json:"success_count"`
	FailureCount int    `json:"failure_count"`
	Successes    []struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	} `json:"successes"`
	Failures []struct {
		ID      string `json:"id"`
		Message string `json:"message"`
	} `json:"failures"`
}

// post sends objects in one envelope and returns the status resource.
func (g *guardEnv) post(auth string, objs [][]byte) (statusJSON, string) {
	g.tb.Helper()
	body := []byte(`{"objects":[` + string(bytes.Join(objs, []byte(","))) + `]}`)
	r := g.do("POST", objectsPath, auth, taxiiType, body)
	if r.code != http.StatusAccepted {
		g.tb.Fatalf("POST objects: %d %s", r.code, r.body)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(r.body), &st, json.RejectUnknownMembers(false)); err != nil {
		g.tb.Fatal(err)
	}
	return st, r.body
}

// distinctive returns the injected values that identify a customer on
// their own: those that occur nowhere in the clean corpus (where a value
// can occur harmlessly, e.g. as part of a lookalike domain).
func distinctive(c guardCorpus) []string {
	cleanText := strings.ToLower(string(bytes.Join(c.clean, nil)))
	seen := map[string]bool{}
	var out []string
	for _, v := range c.injected {
		lv := strings.ToLower(v)
		if len(lv) < 4 || seen[lv] || strings.Contains(cleanText, lv) {
			continue
		}
		seen[lv] = true
		out = append(out, v)
	}
	return out
}

// assetValues are the list's values as written and canonical.
func assetValues(t *testing.T, text []byte) []string {
	l, err := guard.ParseList(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := 0; i < l.Len(); i++ {
		_, v, _, _ := l.Asset(i)
		out = append(out, v)
	}
	for _, line := range strings.Split(string(text), "\n") {
		f := strings.Fields(strings.SplitN(line, "#", 2)[0])
		if len(f) >= 2 {
			out = append(out, strings.Join(f[1:], " "))
		}
	}
	return out
}

// leakCheck fails when body holds any of the values (case-insensitively,
// also after decoding JSON string escapes).
func leakCheck(t *testing.T, where, body string, values []string) {
	t.Helper()
	texts := []string{strings.ToLower(body)}
	if strings.Contains(body, `\`) {
		var v any
		if json.Unmarshal([]byte(body), &v) == nil {
			b, _ := json.Marshal(v, jsontext.EscapeForHTML(false))
			texts = append(texts, strings.ToLower(string(b)))
		}
	}
	for _, v := range values {
		for _, s := range texts {
			if containsValue(s, strings.ToLower(v)) {
				t.Errorf("%s contains the protected value %q", where, v)
				return
			}
		}
	}
}

// containsValue reports whether v occurs in s. A value of digits only (an
// AS number, an address as a decimal integer) counts only where it is not
// part of a longer number, since date_added timestamps carry microseconds
// and "…09:50:01.645112Z" must not read as AS 64511.
func containsValue(s, v string) bool {
	if strings.Trim(v, "0123456789") != "" {
		return strings.Contains(s, v)
	}
	isDigit := func(b byte) bool { return b >= '0' && b <= '9' }
	for i := 0; ; {
		j := strings.Index(s[i:], v)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(v)
		if (start == 0 || !isDigit(s[start-1])) && (end == len(s) || !isDigit(s[end])) {
			return true
		}
		i = start + 1
	}
}

func TestGuardTAXII(t *testing.T) {
	c := readGuardCorpus(t)
	forEachBackend(t, func(t *testing.T, open opener) {
		for _, action := range []string{"block", "redact"} {
			t.Run(action, func(t *testing.T) { testGuardTAXII(t, open, c, action) })
		}
	})
}

func testGuardTAXII(t *testing.T, open opener, c guardCorpus, action string) {
	g := newGuardEnv(t, open)
	r := g.do("PUT", "/api/v1/orgs/northwind/guard?action="+action, g.nwAdmin, "text/plain", c.assets)
	if r.code != 200 {
		t.Fatalf("PUT guard: %d %s", r.code, r.body)
	}
	var meta server.GuardJSON
	if err := json.Unmarshal([]byte(r.body), &meta, json.RejectUnknownMembers(false)); err != nil || !strings.HasPrefix(meta.Digest, "sha256:") || meta.Action != action || meta.List != "" {
		t.Fatalf("PUT guard answer: %v %+v", err, meta)
	}
	secrets := append(distinctive(c), assetValues(t, c.assets)...)
	// Values in the clean corpus are public (they may be lookalikes).
	cleanText := strings.ToLower(string(bytes.Join(c.clean, nil)))
	secrets = slicesFilter(secrets, func(v string) bool { return !strings.Contains(cleanText, strings.ToLower(v)) })
	if len(secrets) < 100 {
		t.Fatalf("only %d distinctive protected values to look for", len(secrets))
	}

	// Objects the partner's customers' identities: blocked in an earlier
	// POST, and referred to by leaky sightings.
	var priors [][]byte
	for _, id := range c.prior {
		priors = append(priors, []byte(fmt.Sprintf(`{"type":"identity","spec_version":"2.1","id":%q,"created":"2025-01-01T00:00:00.000Z","modified":"2025-01-01T00:00:00.000Z","name":"Acme Corporation","identity_class":"organization"}`, id)))
	}
	st, _ := g.post(g.nwWrite, priors)
	if st.FailureCount != len(priors) {
		t.Errorf("customer identities: %d of %d blocked", st.FailureCount, len(priors))
	}

	// The mixed corpus, leaky and clean interleaved, in envelopes of 600.
	all := append(append([][]byte{}, c.leaky...), c.clean...)
	var statuses []statusJSON
	var statusBodies []string
	for i := 0; i < len(all); i += 600 {
		st, body := g.post(g.nwWrite, all[i:min(i+600, len(all))])
		statuses, statusBodies = append(statuses, st), append(statusBodies, body)
	}
	failed, succeeded := map[string]string{}, map[string]string{}
	for _, st := range statuses {
		for _, f := range st.Failures {
			failed[f.ID] = f.Message
		}
		for _, s := range st.Successes {
			succeeded[s.ID] = s.Message
		}
	}
	leaks, falsePos, redacted := 0, 0, 0
	for i, id := range c.leakyIDs {
		msg, bad := failed[id]
		_, ok := succeeded[id]
		switch {
		case bad && strings.HasPrefix(msg, "customer-data guard blocked: "):
		case ok && action == "redact":
			redacted++ // checked below: what is stored holds no protected value
		default:
			leaks++
			t.Errorf("leaky object %d (%s) was not blocked: failure %q, success %v", i+1, id, msg, ok)
		}
	}
	for _, id := range c.cleanIDs {
		if msg, bad := failed[id]; bad {
			falsePos++
			t.Errorf("clean object %s failed: %s", id, msg)
		}
	}
	t.Logf("%s: %d leaky (%d redacted), %d clean: %d leaks, %d false positives", action, len(c.leaky), redacted, len(c.clean), leaks, falsePos)
	if action == "redact" && redacted == 0 {
		t.Errorf("redact mode redacted nothing")
	}

	// Status resources as posted and as read back.
	for i, st := range statuses {
		leakCheck(t, "status resource (POST answer)", statusBodies[i], secrets)
		r := g.do("GET", "/"+store.DefaultAPIRoot+"/status/"+st.ID+"/", g.nwWrite, "", nil)
		if r.code != 200 {
			t.Fatalf("GET status: %d %s", r.code, r.body)
		}
		leakCheck(t, "status resource", r.body, secrets)
		if r := g.do("GET", "/"+store.DefaultAPIRoot+"/status/"+st.ID+"/", g.frRead, "", nil); r.code != 404 {
			t.Errorf("member reading the partner's status: %d", r.code)
		}
	}

	// A member country reads the collection by every TAXII path.
	sc := guard.NewScanner(mustList(t, c.assets), guard.Options{})
	served := map[string]bool{}
	readAll := func(who, auth string) {
		bodies := g.readEverything(t, auth, served)
		for path, body := range bodies {
			leakCheck(t, who+" GET "+path, body, secrets)
		}
	}
	readAll("member", g.frRead)
	readAll("other partner", g.otherAdmin)
	readAll("hub admin", g.hub)
	for id := range served {
		if _, ok := failed[id]; ok {
			t.Errorf("blocked object %s is served", id)
		}
	}
	for _, id := range c.cleanIDs {
		if !served[id] {
			t.Errorf("clean object %s is not served", id)
		}
	}
	// Everything stored passes the guard: scanned with the list again.
	page, err := g.st.List(context.Background(), store.DefaultCollectionID, store.Query{Limit: 100000, Versions: store.VersionMatch{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Versions {
		if res := sc.Scan(v.Raw); res.Action != guard.Allow {
			t.Errorf("stored object %s: %s", v.ID, res.Reason())
		}
	}

	// The logs name the list by its digest, never by a value.
	// (Bare numbers such as an AS number can be byte counts there.)
	logSecrets := slicesFilter(secrets, func(v string) bool { return strings.Trim(v, "0123456789") != "" })
	logs := g.logs.String()
	leakCheck(t, "server log", logs, logSecrets)
	if !strings.Contains(logs, meta.Digest) {
		t.Errorf("the log does not name the list's digest")
	}

	g.checkGuardAccess(t, c)
	g.checkQuarantine(t, c, failed, secrets)
	leakCheck(t, "server log (end)", g.logs.String(), logSecrets)
}

func slicesFilter(s []string, keep func(string) bool) []string {
	var out []string
	for _, v := range s {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

func mustList(t *testing.T, text []byte) *guard.List {
	l, err := guard.ParseList(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// readEverything reads the collection as auth by every TAXII read path:
// discovery, API root, collections, the collection, its manifest and
// objects (all pages, all versions, also by type and id), each object and
// its versions. It returns the bodies by path and notes the ids served.
func (g *guardEnv) readEverything(t *testing.T, auth string, served map[string]bool) map[string]string {
	t.Helper()
	out := map[string]string{}
	get := func(path string) string {
		r := g.do("GET", path, auth, "", nil)
		if r.code != 200 {
			t.Fatalf("GET %s: %d %s", path, r.code, r.body)
		}
		out[path] = r.body
		return r.body
	}
	root := "/" + store.DefaultAPIRoot + "/"
	col := root + "collections/" + store.DefaultCollectionID + "/"
	get("/taxii2/")
	get(root)
	get(root + "collections/")
	get(col)
	pages := func(base, query string, each func(raw jsontext.Value)) {
		next := ""
		for n := 0; n < 1000; n++ {
			q := query
			if next != "" {
				q += "&next=" + url.QueryEscape(next)
			}
			body := get(base + "?" + q)
			var env struct {
				More    bool             `json:"more"`
				Next    string           `json:"next"`
				Objects []jsontext.Value `json:"objects"`
			}
			if err := json.Unmarshal([]byte(body), &env, json.RejectUnknownMembers(false)); err != nil {
				t.Fatalf("GET %s: %v", base, err)
			}
			for _, o := range env.Objects {
				each(o)
			}
			if !env.More {
				return
			}
			next = env.Next
		}
		t.Fatalf("GET %s: more than 1000 pages", base)
	}
	var ids []string
	pages(col+"objects/", "limit=300&match[version]=all", func(raw jsontext.Value) {
		var v struct {
			ID string `json:"id"`
		}
		json.Unmarshal(raw, &v, json.RejectUnknownMembers(false))
		if !served[v.ID] {
			ids = append(ids, v.ID)
		}
		served[v.ID] = true
	})
	pages(col+"manifest/", "limit=500&match[version]=all", func(jsontext.Value) {})
	for _, typ := range []string{"indicator", "report", "sighting", "relationship", "identity", "note"} {
		pages(col+"objects/", "limit=1000&match[type]="+typ, func(jsontext.Value) {})
	}
	for _, id := range ids {
		get(col + "objects/" + id + "/?match[version]=all")
		get(col + "objects/" + id + "/versions/")
	}
	return out
}

// checkGuardAccess: the list is the partner's admins' and hub admins'
// only; everyone else gets the same 404 as for an organisation that does
// not exist; parse errors name lines, not values.
func (g *guardEnv) checkGuardAccess(t *testing.T, c guardCorpus) {
	for _, who := range []struct {
		name, auth string
		want       int
	}{
		{"partner admin", g.nwAdmin, 200},
		{"hub admin", g.hub, 200},
		{"partner write token", g.nwWrite, 404},
		{"partner read token", g.nwRead, 404},
		{"other partner", g.otherAdmin, 404},
		{"member country", g.frAdmin, 404},
		{"member read token", g.frRead, 404},
	} {
		r := g.do("GET", "/api/v1/orgs/northwind/guard", who.auth, "", nil)
		if r.code != who.want {
			t.Errorf("%s: GET guard = %d, want %d", who.name, r.code, who.want)
		}
		if who.want == 200 {
			var j server.GuardJSON
			if err := json.Unmarshal([]byte(r.body), &j, json.RejectUnknownMembers(false)); err != nil || j.List != string(c.assets) {
				t.Errorf("%s: GET guard does not return the list as sent (%v)", who.name, err)
			}
			continue
		}
		if strings.Contains(r.body, "Acme") || strings.Contains(r.body, "198.51.100") {
			t.Errorf("%s: the refusal shows the list: %s", who.name, r.body)
		}
		if r := g.do("PUT", "/api/v1/orgs/northwind/guard", who.auth, "text/plain", []byte("domain evil.example\n")); r.code != 404 {
			t.Errorf("%s: PUT guard = %d, want 404", who.name, r.code)
		}
	}
	// A list the caller may not see and one that does not exist look alike.
	a := g.do("GET", "/api/v1/orgs/northwind/guard", g.otherAdmin, "", nil)
	b := g.do("GET", "/api/v1/orgs/nosuchorg/guard", g.otherAdmin, "", nil)
	if a.code != 404 || b.code != 404 || strings.Replace(a.body, "northwind", "X", 1) != strings.Replace(b.body, "nosuchorg", "X", 1) {
		t.Errorf("refusals differ: %s / %s", a.body, b.body)
	}
	// Only partners have a list.
	if r := g.do("PUT", "/api/v1/orgs/fr-police/guard", g.hub, "text/plain", []byte("domain x-customer.example\n")); r.code != 400 {
		t.Errorf("a member's list: %d", r.code)
	}
	if r := g.do("PUT", "/api/v1/orgs/fr-police/guard", g.frAdmin, "text/plain", []byte("domain x-customer.example\n")); r.code != 404 {
		t.Errorf("a member setting its own list: %d", r.code)
	}
	// Parse errors: line numbers, no values.
	bad := []byte("domain good-customer.example\ncidr 999.1.2.3/8\nname Secretname Holdings\nfrob zz-secret-value\n")
	r := g.do("PUT", "/api/v1/orgs/northwind/guard", g.nwAdmin, "text/plain", bad)
	if r.code != 400 || !strings.Contains(r.body, "line 2") || !strings.Contains(r.body, "line 4") {
		t.Errorf("bad list: %d %s", r.code, r.body)
	}
	for _, v := range []string{"999.1.2.3", "zz-secret-value", "frob", "good-customer"} {
		if strings.Contains(r.body, v) || strings.Contains(g.logs.String(), v) {
			t.Errorf("a parse error shows %q: %s", v, r.body)
		}
	}
	// The bad list did not replace the good one.
	if r := g.do("GET", "/api/v1/orgs/northwind/guard", g.nwAdmin, "", nil); !strings.Contains(r.body, "Acme Corporation") {
		t.Errorf("a rejected list replaced the stored one")
	}
}

// checkQuarantine: blocked objects are the partner's to list, inspect,
// drop and release; nobody else sees them.
func (g *guardEnv) checkQuarantine(t *testing.T, c guardCorpus, failed map[string]string, secrets []string) {
	qpath := "/api/v1/orgs/northwind/guard/quarantine"
	r := g.do("GET", qpath, g.nwWrite, "", nil)
	if r.code != 200 {
		t.Fatalf("quarantine list: %d %s", r.code, r.body)
	}
	var list []server.QuarantineEntry
	if err := json.Unmarshal([]byte(r.body), &list, json.RejectUnknownMembers(false)); err != nil {
		t.Fatal(err)
	}
	inQ := map[string]bool{}
	for _, e := range list {
		inQ[e.ID] = true
		if e.Raw != nil {
			t.Errorf("the listing carries object content")
		}
	}
	for id, msg := range failed {
		if strings.HasPrefix(msg, "customer-data guard blocked") && !inQ[id] {
			t.Errorf("blocked %s is not in the quarantine", id)
		}
	}
	for _, id := range c.prior {
		if !inQ[id] {
			t.Errorf("blocked identity %s is not in the quarantine", id)
		}
	}
	if r := g.do("GET", qpath, g.hub, "", nil); r.code != 200 {
		t.Errorf("hub admin quarantine list: %d", r.code)
	}
	var blockedIndicator string
	for i, id := range c.leakyIDs {
		if strings.HasPrefix(id, "indicator--") && inQ[id] && strings.Contains(string(c.leaky[i]), `"pattern":"[ipv4-addr:value = `) {
			blockedIndicator = id
			break
		}
	}
	if blockedIndicator == "" {
		t.Fatal("no blocked ipv4 indicator in the quarantine")
	}
	for _, who := range []struct{ name, auth string }{
		{"read token", g.nwRead}, {"other partner", g.otherAdmin}, {"member", g.frAdmin},
	} {
		for _, p := range []string{qpath, qpath + "/" + blockedIndicator} {
			if r := g.do("GET", p, who.auth, "", nil); r.code != 404 {
				t.Errorf("%s: GET %s = %d, want 404", who.name, p, r.code)
			}
		}
		if r := g.do("DELETE", qpath+"/"+blockedIndicator, who.auth, "", nil); r.code != 404 {
			t.Errorf("%s: drop = %d, want 404", who.name, r.code)
		}
		if r := g.do("POST", qpath+"/"+blockedIndicator+"/release", who.auth, "application/json", []byte("{}")); r.code != 404 {
			t.Errorf("%s: release = %d, want 404", who.name, r.code)
		}
	}
	r = g.do("GET", qpath+"/"+blockedIndicator, g.nwAdmin, "", nil)
	var shown []server.QuarantineEntry
	if r.code != 200 || json.Unmarshal([]byte(r.body), &shown, json.RejectUnknownMembers(false)) != nil || len(shown) != 1 || len(shown[0].Raw) == 0 {
		t.Fatalf("quarantine show: %d %s", r.code, r.body)
	}
	if len(shown[0].Findings) == 0 || shown[0].Findings[0].Rule != "cidr" || shown[0].Findings[0].Path != "pattern" || shown[0].Findings[0].AssetLine == 0 {
		t.Errorf("quarantine show findings: %+v", shown[0].Findings)
	}

	// Release: still leaky is refused (the reason names no value); edited
	// it is stored and the member sees it.
	release := qpath + "/" + blockedIndicator + "/release"
	r = g.do("POST", release, g.nwWrite, "application/json", shown[0].Raw)
	if r.code != 422 || !strings.Contains(r.body, "cidr at pattern") {
		t.Errorf("releasing the unedited object: %d %s", r.code, r.body)
	}
	leakCheck(t, "release refusal", r.body, secrets)
	var obj map[string]any
	if err := json.Unmarshal(shown[0].Raw, &obj); err != nil {
		t.Fatal(err)
	}
	obj["pattern"] = "[ipv4-addr:value = '45.77.10.99']"
	obj["modified"] = "2026-01-01T00:00:00.000Z"
	edited, _ := json.Marshal(obj)
	r = g.do("POST", release, g.nwWrite, "application/json", edited)
	if r.code != 200 {
		t.Fatalf("release: %d %s", r.code, r.body)
	}
	if r := g.do("GET", objectsPath+blockedIndicator+"/", g.frRead, "", nil); r.code != 200 || !strings.Contains(r.body, "45.77.10.99") {
		t.Errorf("the member does not see the released object: %d %s", r.code, r.body)
	}
	if r := g.do("GET", qpath+"/"+blockedIndicator, g.nwWrite, "", nil); r.code != 404 {
		t.Errorf("released object still in the quarantine: %d", r.code)
	}
	// Drop.
	var victim string
	for _, e := range list {
		if e.ID != blockedIndicator {
			victim = e.ID
			break
		}
	}
	if r := g.do("DELETE", qpath+"/"+victim, g.nwWrite, "", nil); r.code != 204 {
		t.Errorf("drop: %d %s", r.code, r.body)
	}
	if r := g.do("GET", qpath+"/"+victim, g.nwWrite, "", nil); r.code != 404 {
		t.Errorf("dropped object still shown: %d", r.code)
	}
	if r := g.do("DELETE", qpath+"/"+victim, g.nwWrite, "", nil); r.code != 404 {
		t.Errorf("second drop: %d", r.code)
	}
}

func TestContainsValue(t *testing.T) {
	for _, c := range []struct {
		s, v string
		want bool
	}{
		{`"date_added":"2026-11-29T09:50:01.645112Z"`, "64511", false},
		{`"number":64511,`, "64511", true},
		{`as64511`, "64511", true},
		{`164511 and 64511`, "64511", true},
		{`acme-corp.example`, "acme-corp.example", true},
	} {
		if got := containsValue(c.s, c.v); got != c.want {
			t.Errorf("containsValue(%q, %q) = %v, want %v", c.s, c.v, got, c.want)
		}
	}
}

// TestQuarantineReleaseWriteRule: a release goes through the write-side
// decision like every write: a partner cannot release, as a new version,
// an object another partner shared (the guard had quarantined the
// partner's leaky version of it).
func TestQuarantineReleaseWriteRule(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		g := newGuardEnv(t, open)
		if r := g.do("PUT", "/api/v1/orgs/northwind/guard", g.nwAdmin, "text/plain", []byte("cidr 198.51.100.0/24\n")); r.code != 200 {
			t.Fatalf("PUT guard: %d %s", r.code, r.body)
		}
		const id = "indicator--4a1b4a8f-5a44-4d5e-9d1c-6f1f3b9e7a01"
		ind := func(modified, ip string) []byte {
			return []byte(`{"type":"indicator","spec_version":"2.1","id":"` + id + `","created":"2026-01-01T00:00:00.000Z","modified":"` + modified +
				`","pattern":"[ipv4-addr:value = '` + ip + `']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z"}`)
		}
		if st, _ := g.post(g.otherAdmin, [][]byte{ind("2026-01-01T00:00:00.000Z", "45.77.10.1")}); st.SuccessCount != 1 {
			t.Fatalf("other's indicator: %+v", st)
		}
		if st, _ := g.post(g.nwWrite, [][]byte{ind("2026-01-02T00:00:00.000Z", "198.51.100.7")}); st.FailureCount != 1 {
			t.Fatalf("northwind's leaky version of it: %+v", st)
		}
		release := "/api/v1/orgs/northwind/guard/quarantine/" + id + "/release"
		r := g.do("POST", release, g.nwWrite, "application/json", ind("2026-01-03T00:00:00.000Z", "45.77.10.99"))
		if r.code != http.StatusForbidden || !strings.Contains(r.body, "only its source may version it") {
			t.Errorf("releasing a version of another partner's object: %d %s", r.code, r.body)
		}
		if r := g.do("GET", objectsPath+id+"/", g.frRead, "", nil); r.code != 200 || strings.Contains(r.body, "45.77.10.99") {
			t.Errorf("the member reads: %d %s; want other's version only", r.code, r.body)
		}
	})
}
