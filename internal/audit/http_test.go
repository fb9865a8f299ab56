package audit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

type callerKey struct{}

// hub is a small hub for API tests: organisations, objects from two
// partners, what was served to a member, a denial, and a test server
// whose "auth" maps Bearer NAME to that organisation (admins: NAME-admin).
type hub struct {
	db   *testDB
	key  *Key
	l    *Log
	srv  *httptest.Server
	orgs map[string]store.Org
	// objs are the object ids each partner submitted.
	objs map[string][]string
}

func newHub(t testing.TB, open func(testing.TB) *testDB, opts HandlerOptions) *hub {
	t.Helper()
	h := &hub{db: open(t), key: testKey(t, "test"), orgs: map[string]store.Org{}, objs: map[string][]string{}}
	h.db.lg.SetRecorder(Recorder(clock()))
	h.l = New(h.db.lg, h.key, Config{})
	ctx := context.Background()
	for i, o := range []store.Org{
		{Name: "hub", Kind: store.KindHub}, {Name: "acme", Kind: store.KindPartner},
		{Name: "telco", Kind: store.KindPartner}, {Name: "de", Kind: store.KindMember, Country: "DE"},
	} {
		o.ID, o.Created = uuidN(500+i), t0
		if err := h.db.CreateOrg(WithActor(ctx, uuidN(500)), o); err != nil {
			t.Fatal(err)
		}
		h.orgs[o.Name] = o
	}
	var served []store.Version
	for i, p := range []string{"acme", "telco"} {
		var objs []*stix.Object
		for j := range 2 {
			o := indicator(t, 10*i+j, t0)
			objs = append(objs, o)
			h.objs[p] = append(h.objs[p], o.ID)
			served = append(served, store.Version{ID: o.ID, Modified: o.Modified, Source: h.orgs[p].ID})
		}
		if _, err := h.db.Put(WithActor(ctx, h.orgs[p].ID), store.DefaultCollectionID, h.orgs[p].ID, objs); err != nil {
			t.Fatal(err)
		}
	}
	de := h.orgs["de"].ID
	if err := h.l.Append(ctx, Served(Access{Time: t0, Actor: de, Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}, served)); err != nil {
		t.Fatal(err)
	}
	if err := h.l.Append(ctx, Denied(Access{Time: t0, Actor: de, Path: PathTAXIIObject, Collection: store.DefaultCollectionID, Reason: "not visible"}, nil)); err != nil {
		t.Fatal(err)
	}
	// An acme object withheld from de: for acme's eyes (and hub admins'), not de's.
	if err := h.l.Append(ctx, Response(Access{Time: t0, Actor: de, Path: PathTAXIIObjects, Collection: store.DefaultCollectionID}, nil, served[:1])); err != nil {
		t.Fatal(err)
	}
	if _, err := h.l.Integrate(ctx); err != nil {
		t.Fatal(err)
	}
	opts.Caller = func(ctx context.Context) (policy.Caller, bool) {
		c, ok := ctx.Value(callerKey{}).(policy.Caller)
		return c, ok
	}
	mux := http.NewServeMux()
	NewHandler(h.l, opts).Routes(mux)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if ok {
			role := store.RoleRead
			if n, admin := strings.CutSuffix(name, "-admin"); admin {
				name, role = n, store.RoleAdmin
			}
			if o, known := h.orgs[name]; known {
				r = r.WithContext(context.WithValue(r.Context(), callerKey{}, policy.Caller{Org: o, Role: role}))
			}
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hub) get(t testing.TB, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (h *hub) getJSON(t testing.TB, token, path string, v any) {
	t.Helper()
	code, b := h.get(t, token, path)
	if code != 200 {
		t.Fatalf("GET %s as %s: %d %s", path, token, code, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, b)
	}
}

// allEntries follows next through /entries.
func (h *hub) allEntries(t testing.TB, token string) (EntriesJSON, []EntryJSON) {
	t.Helper()
	var first EntriesJSON
	var all []EntryJSON
	for start, page := int64(0), 0; ; page++ {
		var p EntriesJSON
		h.getJSON(t, token, fmt.Sprintf("/api/v1/audit/entries?start=%d&proofs=true", start), &p)
		if page == 0 {
			first = p
		}
		all = append(all, p.Entries...)
		if p.Next == 0 {
			return first, all
		}
		start = p.Next
	}
}

func TestHTTPVisibilityAndProofs(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(testing.TB) *testDB) {
		for _, opts := range []HandlerOptions{{}, {MaxEntries: 2, MaxScan: 3}, {MaxBytes: 1}} {
			h := newHub(t, open, opts)
			raw := readAll(t, h.db.lg)
			code, note := h.get(t, "de", "/api/v1/audit/checkpoint")
			if code != 200 {
				t.Fatalf("checkpoint: %d %s", code, note)
			}
			cp, err := OpenCheckpoint(note, h.key.Verifier)
			if err != nil || cp.Size != int64(len(raw)) {
				t.Fatalf("checkpoint %+v, %v; log has %d", cp, err, len(raw))
			}
			hasher := rfc6962.DefaultHasher
			// What each caller must see, by the test's own account of who
			// did what: entries naming the organisation as actor, subject
			// or source; of denied entries, only those whose withheld data
			// is its own.
			id := func(n string) string { return h.orgs[n].ID }
			for _, who := range []string{"hub-admin", "hub", "acme", "telco", "de"} {
				name := strings.TrimSuffix(who, "-admin")
				var want []int64
				for i, b := range raw {
					mine := bytes.Contains(b, []byte(`"`+id(name)+`"`))
					if bytes.Contains(b, []byte(`"kind":"denied"`)) {
						mine = bytes.Contains(b, []byte(`"source":"`+id(name)+`"`))
					}
					if who == "hub-admin" || mine {
						want = append(want, int64(i))
					}
				}
				first, got := h.allEntries(t, who)
				if first.TreeSize != cp.Size || first.Checkpoint != string(cp.Note) {
					t.Fatalf("%s: entries answer for tree %d", who, first.TreeSize)
				}
				var idx []int64
				for _, e := range got {
					idx = append(idx, e.Index)
					if !bytes.Equal(e.Entry, raw[e.Index]) {
						t.Fatalf("%s: entry %d differs from the store's", who, e.Index)
					}
					if err := proof.VerifyInclusion(hasher, uint64(e.Index), uint64(cp.Size), hasher.HashLeaf(e.Entry), hashes(e.Proof), cp.Root[:]); err != nil {
						t.Fatalf("%s: entry %d: %v", who, e.Index, err)
					}
				}
				if !slices.Equal(idx, want) {
					t.Fatalf("%s sees entries %v, want %v", who, idx, want)
				}
				if who == "hub" && !slices.Equal(idx, []int64{0, 1, 2, 3}) {
					// Its own actions (it created the organisations), nothing else.
					t.Fatalf("the hub organisation, not as admin, sees %v", idx)
				}
				// One partner never sees the other's objects.
				for _, e := range got {
					for p, ids := range h.objs {
						if p == name || who == "hub-admin" || name == "de" {
							continue
						}
						for _, oid := range ids {
							if bytes.Contains(e.Entry, []byte(oid)) {
								t.Fatalf("%s sees %s's object %s in entry %d", who, p, oid, e.Index)
							}
						}
					}
				}
				// One entry at a time: visible ones with proofs, hidden
				// ones answered as missing.
				for i := range raw {
					code, b := h.get(t, who, fmt.Sprintf("/api/v1/audit/entries/%d", i))
					visible := slices.Contains(want, int64(i))
					if !visible {
						if code != 404 {
							t.Fatalf("%s: hidden entry %d: %d %s", who, i, code, b)
						}
						continue
					}
					var ep EntryProofJSON
					if code != 200 || json.Unmarshal(b, &ep) != nil {
						t.Fatalf("%s: entry %d: %d %s", who, i, code, b)
					}
					if ep.TreeSize != cp.Size || ep.Index != int64(i) || !bytes.Equal(ep.Entry, raw[i]) {
						t.Fatalf("%s: entry %d answer %+v", who, i, ep)
					}
					if err := proof.VerifyInclusion(hasher, uint64(i), uint64(cp.Size), hasher.HashLeaf(ep.Entry), hashes(ep.Proof), cp.Root[:]); err != nil {
						t.Fatalf("%s: entry %d: %v", who, i, err)
					}
				}
			}
		}
	})
}

func TestHTTPConsistencyAndErrors(t *testing.T) {
	h := newHub(t, openSQLiteDB, HandlerOptions{})
	ctx := context.Background()
	old, err := h.l.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, h.db.lg, h.l, 0, 25, 7)
	cp, _ := h.l.Latest(ctx)
	hasher := rfc6962.DefaultHasher
	var c ConsistencyJSON
	h.getJSON(t, "acme", fmt.Sprintf("/api/v1/audit/consistency?from=%d&to=%d", old.Size, cp.Size), &c)
	if err := proof.VerifyConsistency(hasher, uint64(old.Size), uint64(cp.Size), hashes(c.Proof), old.Root[:], cp.Root[:]); err != nil {
		t.Fatalf("consistency proof: %v", err)
	}
	// A stored checkpoint by size.
	code, note := h.get(t, "acme", fmt.Sprintf("/api/v1/audit/checkpoint?size=%d", old.Size))
	if code != 200 || !bytes.Equal(note, old.Note) {
		t.Fatalf("checkpoint?size=%d: %d %s", old.Size, code, note)
	}
	// An entry proved in an older tree.
	var ep EntryProofJSON
	h.getJSON(t, "hub-admin", fmt.Sprintf("/api/v1/audit/entries/1?size=%d", old.Size), &ep)
	if ep.TreeSize != old.Size {
		t.Fatalf("entry proved in tree %d, asked %d", ep.TreeSize, old.Size)
	}
	if err := proof.VerifyInclusion(hasher, 1, uint64(old.Size), hasher.HashLeaf(ep.Entry), hashes(ep.Proof), old.Root[:]); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{
		"/api/v1/audit/consistency?from=0&to=3":                              400,
		"/api/v1/audit/consistency?from=4&to=3":                              400,
		"/api/v1/audit/consistency?from=x&to=3":                              400,
		fmt.Sprintf("/api/v1/audit/consistency?from=1&to=%d", cp.Size+1):     404,
		"/api/v1/audit/entries/-1":                                           400,
		"/api/v1/audit/entries/abc":                                          400,
		fmt.Sprintf("/api/v1/audit/entries/%d", cp.Size):                     404,
		"/api/v1/audit/entries/0?size=3":                                     404, // no checkpoint of that size
		fmt.Sprintf("/api/v1/audit/checkpoint?size=%d", cp.Size+5):           404,
		"/api/v1/audit/entries?start=0&proofs=maybe":                         400,
		"/api/v1/audit/entries?start=-5":                                     400,
		fmt.Sprintf("/api/v1/audit/entries?start=%d&size=%d", 0, cp.Size+10): 404,
	} {
		code, b := h.get(t, "hub-admin", path)
		if code != want {
			t.Errorf("GET %s: %d %s, want %d", path, code, b, want)
			continue
		}
		var e struct {
			Title, Description, HTTPStatus string `json:",case:ignore"`
		}
		if json.Unmarshal(b, &e) != nil || e.Description == "" || e.HTTPStatus != fmt.Sprint(want) {
			t.Errorf("GET %s: error body %s", path, b)
		}
	}
	if code, _ := h.get(t, "", "/api/v1/audit/checkpoint"); code != 401 {
		t.Errorf("no caller: %d", code)
	}
	// Beyond the range end: nothing, no next.
	var p EntriesJSON
	h.getJSON(t, "hub-admin", fmt.Sprintf("/api/v1/audit/entries?start=%d", cp.Size+100), &p)
	if len(p.Entries) != 0 || p.Next != 0 {
		t.Errorf("entries beyond the tree: %+v", p)
	}
	h.getJSON(t, "hub-admin", "/api/v1/audit/entries?start=2&end=5", &p)
	if len(p.Entries) != 3 || p.Entries[0].Index != 2 || p.Entries[0].Proof != nil {
		t.Errorf("entries [2,5) without proofs: %+v", p)
	}
}

// An empty log has no checkpoint: 404, not 500.
func TestHTTPEmpty(t *testing.T) {
	db := openSQLiteDB(t)
	mux := http.NewServeMux()
	NewHandler(New(db.lg, testKey(t, "test"), Config{}), HandlerOptions{Caller: func(context.Context) (policy.Caller, bool) {
		return policy.Caller{Org: store.Org{ID: "x"}}, true
	}}).Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(srv.URL + "/api/v1/audit/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("checkpoint of an empty log: %d", resp.StatusCode)
	}
}
