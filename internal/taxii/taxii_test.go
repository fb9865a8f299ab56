package taxii_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"fusion/internal/server"
	"fusion/internal/store"
)

func TestDiscoveryAndAPIRoot(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{MaxContentLength: 12345})
		// A collection in a second API root makes that root appear.
		f.adminDo("POST", "/api/v1/collections", `{"title":"Other","api_root":"trustgroup2"}`, 201, nil)

		r := f.get(f.tokens["member"], "/taxii2/", 200)
		if ct := r.header.Get("Content-Type"); ct != "application/taxii+json;version=2.1" {
			t.Errorf("discovery Content-Type %q", ct)
		}
		var d struct {
			Title    string   `json:"title"`
			Default  string   `json:"default"`
			APIRoots []string `json:"api_roots"`
		}
		r.json(t, &d)
		wantRoots := []string{f.srv.URL + "/api1/", f.srv.URL + "/trustgroup2/"}
		if d.Title == "" || d.Default != f.srv.URL+"/api1/" || !slices.Equal(d.APIRoots, wantRoots) {
			t.Errorf("discovery = %+v, want default %s and roots %v", d, f.srv.URL+"/api1/", wantRoots)
		}

		var root struct {
			Title            string   `json:"title"`
			Versions         []string `json:"versions"`
			MaxContentLength int64    `json:"max_content_length"`
		}
		f.get(f.tokens["member"], "/api1/", 200).json(t, &root)
		if !slices.Equal(root.Versions, []string{"application/taxii+json;version=2.1"}) || root.MaxContentLength != 12345 || root.Title == "" {
			t.Errorf("api root = %+v", root)
		}
		f.get(f.tokens["member"], "/trustgroup2/", 200)
		checkError(t, f.do(req{path: "/nosuchroot/", token: f.tokens["member"]}), 404)
		// Trailing slashes are part of the paths: without one, a redirect.
		for _, p := range []string{"/taxii2", "/api1/collections"} {
			r := f.do(req{path: p, token: f.tokens["member"]})
			if r.code/100 != 3 || r.header.Get("Location") != p+"/" {
				t.Errorf("GET %s: %d, Location %q", p, r.code, r.header.Get("Location"))
			}
		}
	})
}

func TestAcceptNegotiation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		tok := f.tokens["member"]
		for _, accept := range []string{
			"application/taxii+json;version=2.1",
			"application/taxii+json; version=2.1",
			"application/taxii+json",
			"*/*",
			"application/*",
			"text/html, application/taxii+json;version=2.1;q=0.9",
			"", // no Accept header at all
		} {
			r := f.do(req{path: "/taxii2/", token: tok, header: map[string]string{"Accept": accept}})
			if r.code != 200 {
				t.Errorf("Accept %q: status %d: %s", accept, r.code, r.body)
			}
		}
		for _, accept := range []string{
			"application/taxii+json;version=2.0",
			"application/taxii+json;version=3.0",
			"application/json",
			"application/stix+json;version=2.1",
			"application/taxii+json;version=2.1;q=0",
		} {
			for _, path := range []string{"/taxii2/", "/api1/", f.objectsPath(), f.collPath() + "manifest/"} {
				r := f.do(req{path: path, token: tok, header: map[string]string{"Accept": accept}})
				checkError(t, r, http.StatusNotAcceptable)
			}
		}
	})
}

func TestCollectionsAndGrants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		type coll struct {
			ID         string   `json:"id"`
			Title      string   `json:"title"`
			Alias      string   `json:"alias"`
			CanRead    bool     `json:"can_read"`
			CanWrite   bool     `json:"can_write"`
			MediaTypes []string `json:"media_types"`
		}
		list := func(token string) []coll {
			var res struct {
				Collections []coll `json:"collections"`
			}
			f.get(token, "/api1/collections/", 200).json(t, &res)
			return res.Collections
		}
		cases := []struct {
			who         string
			token       string
			read, write bool
		}{
			{"partner write token", f.tokens["partner-write"], true, true},
			{"partner read token", f.tokens["partner-read"], true, false},
			{"member", f.tokens["member"], true, false},
		}
		for _, c := range cases {
			got := list(c.token)
			if len(got) != 1 || got[0].ID != f.coll || got[0].CanRead != c.read || got[0].CanWrite != c.write ||
				got[0].Alias != "shared" || !slices.Equal(got[0].MediaTypes, []string{"application/stix+json;version=2.1"}) {
				t.Errorf("%s: collections = %+v, want the shared one with can_read %v can_write %v", c.who, got, c.read, c.write)
			}
			var one coll
			f.get(c.token, f.collPath(), 200).json(t, &one)
			if one.ID != f.coll || one.CanRead != c.read || one.CanWrite != c.write {
				t.Errorf("%s: collection = %+v", c.who, one)
			}
			// By alias too.
			f.get(c.token, "/api1/collections/shared/", 200).json(t, &one)
			if one.ID != f.coll {
				t.Errorf("%s: collection by alias = %+v", c.who, one)
			}
		}
		// An organisation without a grant sees nothing, and the collection
		// is a 404 to it, not a 403.
		if got := list(f.tokens["stranger"]); len(got) != 0 {
			t.Errorf("stranger sees %+v", got)
		}
		checkError(t, f.do(req{path: f.collPath(), token: f.tokens["stranger"]}), 404)
		checkError(t, f.do(req{path: f.objectsPath(), token: f.tokens["stranger"]}), 404)
		// The hub admin sees every collection, with full access.
		all := list(f.admin)
		if len(all) < 2 { // the default collection and the shared one
			t.Errorf("admin sees %d collections, want at least 2", len(all))
		}
		for _, c := range all {
			if !c.CanRead || !c.CanWrite {
				t.Errorf("admin: %+v", c)
			}
		}
		// A collection of another root is not found under api1.
		var other server.CollectionJSON
		f.adminDo("POST", "/api/v1/collections", `{"title":"Other","api_root":"tg2"}`, 201, &other)
		checkError(t, f.do(req{path: "/api1/collections/" + other.ID + "/", token: f.admin}), 404)
		f.get(f.admin, "/tg2/collections/"+other.ID+"/", 200)
		// Unknown collection.
		checkError(t, f.do(req{path: "/api1/collections/" + uuidN(999) + "/", token: f.admin}), 404)
		// A write-only grant: visible, can_write, cannot read objects (403).
		f.adminDo("PUT", "/api/v1/collections/shared/grants/stranger", `{"write":true}`, 200, nil)
		got := list(f.tokens["stranger"])
		if len(got) != 1 || got[0].CanRead || !got[0].CanWrite {
			t.Errorf("write-only grant: %+v", got)
		}
		checkError(t, f.do(req{path: f.objectsPath(), token: f.tokens["stranger"]}), 403)
		checkError(t, f.do(req{path: f.collPath() + "manifest/", token: f.tokens["stranger"]}), 403)
	})
}

func TestAddObjects(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		bad := `{"type":"indicator","spec_version":"2.1","id":"indicator--` + uuidN(2) + `","created":"not a time","modified":"2020-01-01T00:00:00.000Z"}`
		dup := `{"type":"malware","id":"malware--` + uuidN(3) + `","id":"malware--` + uuidN(4) + `","spec_version":"2.1"}`
		st := f.post(indicator(1, "2020-01-01T00:00:00.000Z"), bad, malware(5), dup, `{"no":"type"}`)
		if st.TotalCount != 5 || st.SuccessCount != 2 || st.FailureCount != 3 || st.PendingCount != 0 {
			t.Fatalf("status counts: %+v", st)
		}
		if len(st.Successes) != 2 || st.Successes[0].ID != "indicator--"+uuidN(1) || st.Successes[0].Version != "2020-01-01T00:00:00.000Z" ||
			st.Successes[1].ID != "malware--"+uuidN(5) {
			t.Errorf("successes: %+v", st.Successes)
		}
		if len(st.Failures) != 3 || st.Failures[0].ID != "indicator--"+uuidN(2) || !strings.Contains(st.Failures[0].Message, "created") ||
			!strings.Contains(st.Failures[1].Message, "objects[3]") || !strings.Contains(st.Failures[2].Message, "type") {
			t.Errorf("failures: %+v", st.Failures)
		}
		if _, err := time.Parse(time.RFC3339Nano, st.RequestTimestamp); err != nil || !strings.HasSuffix(st.RequestTimestamp, "Z") {
			t.Errorf("request_timestamp %q", st.RequestTimestamp)
		}

		// STIX validation (stix.Validate) applies per object: an indicator
		// without its required pattern fails alone, with the property named.
		noPattern := `{"type":"indicator","spec_version":"2.1","id":"indicator--` + uuidN(6) + `","created":"2020-01-01T00:00:00.000Z","modified":"2020-01-01T00:00:00.000Z","pattern_type":"stix","valid_from":"2020-01-01T00:00:00Z"}`
		st3 := f.post(malware(7), noPattern)
		if st3.SuccessCount != 1 || st3.FailureCount != 1 || !strings.Contains(st3.Failures[0].Message, "pattern") ||
			st3.Failures[0].ID != "indicator--"+uuidN(6) || st3.Failures[0].Version != "2020-01-01T00:00:00.000Z" {
			t.Errorf("validation failure: %+v", st3)
		}

		// Posting the same version again: success, unchanged.
		st2 := f.post(indicator(1, "2020-01-01T00:00:00.000Z"))
		if st2.SuccessCount != 1 || !strings.Contains(st2.Successes[0].Message, "unchanged") {
			t.Errorf("re-post: %+v", st2)
		}

		// Status can be read back by the poster and the hub admin, from
		// the store, and by nobody else.
		statusPath := "/api1/status/" + st.ID + "/"
		var got statusResource
		f.get(f.tokens["partner-read"], statusPath, 200).json(t, &got)
		if got.ID != st.ID || got.TotalCount != 5 || got.SuccessCount != 2 || len(got.Failures) != 3 {
			t.Errorf("GET status = %+v", got)
		}
		f.get(f.admin, statusPath, 200)
		checkError(t, f.do(req{path: statusPath, token: f.tokens["member"]}), 404)
		checkError(t, f.do(req{path: "/api1/status/" + uuidN(77) + "/", token: f.admin}), 404)
		checkError(t, f.do(req{path: "/api1/status/not-a-uuid/", token: f.admin}), 404)

		// The stored objects are readable.
		var env envelopeResource
		f.get(f.tokens["member"], f.objectsPath(), 200).json(t, &env)
		if ids := env.ids(); !slices.Equal(ids, []string{"indicator--" + uuidN(1), "malware--" + uuidN(5), "malware--" + uuidN(7)}) {
			t.Errorf("objects after POST: %v", ids)
		}
	})
}

func TestAddObjectsErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{MaxContentLength: 4096})
		path := f.objectsPath()
		body := func(s string) *strings.Reader { return strings.NewReader(s) }
		one := envelope(indicator(1, "2020-01-01T00:00:00.000Z"))

		// 415: wrong or missing Content-Type.
		for _, ct := range []string{"application/json", "application/stix+json;version=2.1", "application/taxii+json;version=2.0", "text/plain", ""} {
			r := f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(one), header: map[string]string{"Content-Type": ct}})
			checkError(t, r, http.StatusUnsupportedMediaType)
		}
		// An unversioned taxii+json Content-Type is accepted.
		r := f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(one), header: map[string]string{"Content-Type": "application/taxii+json"}})
		if r.code != 202 {
			t.Errorf("unversioned Content-Type: %d %s", r.code, r.body)
		}
		// 403: read-only grant, read-role token.
		checkError(t, f.do(req{method: "POST", path: path, token: f.tokens["member"], body: body(one)}), 403)
		checkError(t, f.do(req{method: "POST", path: path, token: f.tokens["partner-read"], body: body(one)}), 403)
		// 404: no grant at all.
		checkError(t, f.do(req{method: "POST", path: path, token: f.tokens["stranger"], body: body(one)}), 404)
		// 413: declared length over max_content_length.
		big := envelope(strings.Repeat(malware(9)+",", 40) + malware(9))
		e := checkError(t, f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(big)}), 413)
		if !strings.Contains(e.Description, "4096") {
			t.Errorf("413 description %q does not name the limit", e.Description)
		}
		// 413: a chunked body (no Content-Length) that runs over.
		r = f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: struct{ *strings.Reader }{body(big)}})
		checkError(t, r, 413)
		// 400: malformed, truncated, trailing data.
		for _, b := range []string{`{"objects":[{"type":"x"`, `{"objects":[]} {}`, ``, `{"objects":[}`, `{objects:[]}`} {
			r := f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(b)})
			checkError(t, r, 400)
		}
		// 422: JSON, but not an envelope.
		for _, b := range []string{`[]`, `"x"`, `{"objects":{}}`, `{"objects":[1]}`, `{"objects":[],"objects":[]}`} {
			r := f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(b)})
			checkError(t, r, 422)
		}
		// A fault after some objects were stored says how many.
		r = f.do(req{method: "POST", path: path, token: f.tokens["partner-write"], body: body(`{"objects":[` + malware(50) + `,7]}`)})
		if e := checkError(t, r, 422); e.Details["stored_before_fault"] != nil {
			t.Errorf("details %v: the batch was not flushed before the fault, so nothing is stored", e.Details)
		}
		checkError(t, f.do(req{path: path + "malware--" + uuidN(50) + "/", token: f.tokens["partner-write"]}), 404)
		// 401 without credentials.
		r = f.do(req{method: "POST", path: path, body: body(one)})
		checkError(t, r, 401)
	})
}

// TestAddObjectsBatches posts more objects than one batch holds, with
// bad ones in between: every good one is stored, each bad one fails
// alone.
func TestAddObjectsBatches(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		var objs []string
		for i := 0; i < 2500; i++ {
			if i%500 == 7 {
				objs = append(objs, `{"type":"indicator","id":"indicator--`+uuidN(i)+`","created":"yesterday"}`)
				continue
			}
			objs = append(objs, indicator(i, "2021-01-01T00:00:00.000Z"))
		}
		st := f.post(objs...)
		if st.TotalCount != 2500 || st.FailureCount != 5 || st.SuccessCount != 2495 || len(st.Successes) != 2495 {
			t.Fatalf("counts: total %d success %d failure %d", st.TotalCount, st.SuccessCount, st.FailureCount)
		}
		var m manifestResource
		f.get(f.tokens["member"], f.collPath()+"manifest/?limit=1000", 200).json(t, &m)
		if len(m.Objects) != 1000 || !m.More {
			t.Errorf("manifest page: %d objects, more %v", len(m.Objects), m.More)
		}

		// A fault after a full batch was stored: the batch stays, and the
		// error says so and names a status resource describing it.
		var more []string
		for i := 0; i < 1200; i++ {
			more = append(more, malware(10000+i))
		}
		r := f.do(req{method: "POST", path: f.objectsPath(), token: f.tokens["partner-write"],
			body: strings.NewReader(`{"objects":[` + strings.Join(more, ",") + `,{"truncated":`)})
		e := checkError(t, r, 400)
		if e.Details["stored_before_fault"] != float64(1000) {
			t.Fatalf("details %v, want 1000 stored before the fault", e.Details)
		}
		var st2 statusResource
		f.get(f.tokens["partner-write"], "/api1/status/"+e.Details["status_id"].(string)+"/", 200).json(t, &st2)
		if st2.SuccessCount != 1000 {
			t.Errorf("status after fault %+v", st2)
		}
		f.get(f.tokens["member"], f.objectsPath()+"malware--"+uuidN(10999)+"/", 200)
		checkError(t, f.do(req{path: f.objectsPath() + "malware--" + uuidN(11000) + "/", token: f.tokens["member"]}), 404)
	})
}

// seed posts a known set: indicator 1 in three versions, malware 2, and
// indicator 3, each post a separate request so date_added differ.
func seed(f *fixture) {
	f.post(indicator(1, "2020-01-01T00:00:00.000Z"))
	f.post(malware(2))
	f.post(indicator(1, "2020-06-01T00:00:00.000Z"))
	f.post(indicator(3, "2020-01-01T00:00:00.000Z"))
	f.post(indicator(1, "2021-01-01T00:00:00.000Z"))
}

func TestGetObjectsFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		seed(f)
		i1, m2, i3 := "indicator--"+uuidN(1), "malware--"+uuidN(2), "indicator--"+uuidN(3)
		type obj struct{ id, modified string }
		get := func(query string) ([]obj, response) {
			t.Helper()
			r := f.get(f.tokens["member"], f.objectsPath()+query, 200)
			var env envelopeResource
			r.json(t, &env)
			var out []obj
			for _, o := range env.Objects {
				out = append(out, obj{o["id"].(string), o["modified"].(string)})
			}
			return out, r
		}
		cases := []struct {
			query string
			want  []obj
		}{
			// Default: the last version of each object, in date_added order.
			{"", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[version]=last", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[version]=first", []obj{{i1, "2020-01-01T00:00:00.000Z"}, {m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}}},
			{"?match[version]=all", []obj{{i1, "2020-01-01T00:00:00.000Z"}, {m2, "2020-01-01T00:00:00.000Z"}, {i1, "2020-06-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[version]=2020-06-01T00:00:00.000Z", []obj{{i1, "2020-06-01T00:00:00.000Z"}}},
			{"?match[version]=first,last&match[id]=" + i1, []obj{{i1, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[version]=2020-06-01T00:00:00.000Z,2021-01-01T00:00:00Z", []obj{{i1, "2020-06-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[type]=malware", []obj{{m2, "2020-01-01T00:00:00.000Z"}}},
			{"?match[type]=malware,indicator", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[type]=malware&match[type]=indicator", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[type]=campaign", nil},
			{"?match[id]=" + i3 + "," + m2, []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}}},
			{"?match[id]=" + i3 + "&match[type]=malware", nil},
			{"?match[spec_version]=2.1", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
			{"?match[spec_version]=2.0", nil},
			{"?match[spec_version]=2.0,2.1&match[type]=malware", []obj{{m2, "2020-01-01T00:00:00.000Z"}}},
			{"?match[unknown]=x&foo=bar", []obj{{m2, "2020-01-01T00:00:00.000Z"}, {i3, "2020-01-01T00:00:00.000Z"}, {i1, "2021-01-01T00:00:00.000Z"}}},
		}
		for _, c := range cases {
			got, _ := get(c.query)
			if !slices.Equal(got, c.want) {
				t.Errorf("objects%s\n got %v\nwant %v", c.query, got, c.want)
			}
		}

		// added_after, with the date_added headers.
		_, r := get("?match[version]=all")
		first, last := r.header.Get("X-TAXII-Date-Added-First"), r.header.Get("X-TAXII-Date-Added-Last")
		if first == "" || last == "" || first >= last {
			t.Fatalf("date added headers first %q last %q", first, last)
		}
		got, r := get("?match[version]=all&added_after=" + first)
		if len(got) != 4 || r.header.Get("X-TAXII-Date-Added-Last") != last {
			t.Errorf("added_after first: %v, last %q", got, r.header.Get("X-TAXII-Date-Added-Last"))
		}
		got, r = get("?added_after=" + last)
		if len(got) != 0 || r.header.Get("X-TAXII-Date-Added-First") != "" {
			t.Errorf("added_after last: %v, headers %v", got, r.header)
		}
		if !strings.Contains(string(r.body), `"more":false`) || strings.Contains(string(r.body), `"objects"`) {
			t.Errorf("empty envelope: %s", r.body)
		}
	})
}

func TestBadParameters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		seed(f)
		obj := f.objectsPath() + "indicator--" + uuidN(1) + "/"
		for _, path := range []string{f.objectsPath(), f.collPath() + "manifest/", obj, obj + "versions/"} {
			for _, q := range []string{
				"limit=0", "limit=-1", "limit=abc", "limit=1.5", "limit=99999999999999999999", "limit=1&limit=2",
				"added_after=yesterday", "added_after=2020-01-01", "added_after=2020-01-01T00:00:00+01:00",
				"next=garbage", "next=AgAAAAAAAAAA", "next=", "next=AAAAAAAAAAAA", "next=AQAAAAAAAAAA=", "next=_____________",
				"match[spec_version]=two",
			} {
				r := f.do(req{path: path + "?" + q, token: f.tokens["member"]})
				if r.code != 400 {
					t.Errorf("%s?%s: status %d, want 400", path, q, r.code)
					continue
				}
				e := checkError(t, r, 400)
				name, _, _ := strings.Cut(q, "=")
				if !strings.Contains(e.Description, name) {
					t.Errorf("%s?%s: description %q does not name %s", path, q, e.Description, name)
				}
			}
		}
		for _, q := range []string{"match[version]=newest", "match[version]=2020-13-01T00:00:00Z"} {
			checkError(t, f.do(req{path: f.objectsPath() + "?" + q, token: f.tokens["member"]}), 400)
			checkError(t, f.do(req{path: obj + "?" + q, token: f.tokens["member"]}), 400)
		}
		for _, q := range []string{"match[type]=IND", "match[type]=a", "match[id]=indicator", "match[id]=indicator--xyz",
			"match[type]=" + strings.Repeat("a,", 100) + "abc"} {
			checkError(t, f.do(req{path: f.objectsPath() + "?" + q, token: f.tokens["member"]}), 400)
			checkError(t, f.do(req{path: f.collPath() + "manifest/?" + q, token: f.tokens["member"]}), 400)
		}
		// match[id] and match[type] are not parameters of the object
		// endpoint: ignored there.
		f.get(f.tokens["member"], obj+"?match[type]=IND", 200)
		// A limit over the server's maximum is clamped, not refused.
		f.get(f.tokens["member"], f.objectsPath()+"?limit=999999999", 200)
	})
}

// TestPagination walks a collection with limit and next, with a writer
// adding objects concurrently: every object version present before the
// walk started is seen exactly once, in date_added order.
func TestPagination(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{MaxPageSize: 7})
		var objs []string
		for i := 0; i < 60; i++ {
			objs = append(objs, indicator(i, "2020-01-01T00:00:00.000Z"))
		}
		f.post(objs...)

		done := make(chan struct{})
		writerErr := make(chan error, 1)
		posted := make(chan struct{}, 1000)
		go func() {
			defer close(writerErr)
			for i := 1000; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				r := f.do(req{method: "POST", path: f.objectsPath(), token: f.tokens["partner-write"],
					body: strings.NewReader(envelope(indicator(i, "2020-01-01T00:00:00.000Z"), indicator(i%60, fmt.Sprintf("2022-01-01T00:00:%02d.000Z", i%60))))})
				if r.code != 202 {
					writerErr <- fmt.Errorf("writer: %d %s", r.code, r.body)
					return
				}
				posted <- struct{}{}
			}
		}()
		<-posted // the writer is under way before the walk starts
		stopWriter := func() {
			select {
			case <-done:
				return
			default:
			}
			close(done)
			if err := <-writerErr; err != nil {
				t.Fatal(err)
			}
		}
		defer stopWriter()

		seen := map[string]int{}
		var order []string
		path := f.objectsPath() + "?match[version]=all&limit=5"
		pages := 0
		lastAdded := ""
		for {
			r := f.get(f.tokens["member"], path, 200)
			var env envelopeResource
			r.json(t, &env)
			pages++
			if len(env.Objects) > 5 {
				t.Fatalf("page of %d objects with limit 5", len(env.Objects))
			}
			if fa := r.header.Get("X-TAXII-Date-Added-First"); len(env.Objects) > 0 && fa <= lastAdded {
				t.Fatalf("page starts at %s, not after the previous page's last %s", fa, lastAdded)
			}
			if len(env.Objects) > 0 {
				lastAdded = r.header.Get("X-TAXII-Date-Added-Last")
			}
			for _, o := range env.Objects {
				k := o["id"].(string) + "@" + o["modified"].(string)
				seen[k]++
				order = append(order, k)
			}
			if !env.More {
				if env.Next != "" {
					t.Errorf("next %q with more false", env.Next)
				}
				break
			}
			if env.Next == "" {
				t.Fatal("more without next")
			}
			if pages < 6 {
				// Besides the concurrent writer, a write between pages that
				// lands both before and after the cursor (a new object,
				// and a new version of one already seen).
				f.post(indicator(2000+pages, "2020-01-01T00:00:00.000Z"), indicator(pages, "2023-01-01T00:00:00.000Z"))
			}
			if pages == 6 {
				// Stop writing mid-walk, so that the walk's end can be
				// compared with the collection's final content.
				stopWriter()
				if len(posted) == 0 {
					t.Log("the writer posted nothing during the first pages")
				}
			}
			// Keep added_after while following next, as some clients do.
			path = f.objectsPath() + "?match[version]=all&limit=5&added_after=2000-01-01T00:00:00Z&next=" + url.QueryEscape(env.Next)
			if pages > 10000 {
				t.Fatal("pagination does not end")
			}
		}
		stopWriter()
		for k, n := range seen {
			if n != 1 {
				t.Errorf("%s seen %d times", k, n)
			}
		}
		for i := 0; i < 60; i++ {
			k := "indicator--" + uuidN(i) + "@2020-01-01T00:00:00.000Z"
			if seen[k] != 1 {
				t.Errorf("%s seen %d times, want 1", k, seen[k])
			}
		}
		for i := 1; i < 6; i++ {
			for _, k := range []string{"indicator--" + uuidN(2000+i) + "@2020-01-01T00:00:00.000Z", "indicator--" + uuidN(i) + "@2023-01-01T00:00:00.000Z"} {
				if seen[k] != 1 {
					t.Errorf("%s, written during the walk, seen %d times, want 1", k, seen[k])
				}
			}
		}
		// Everything stored is what the walk saw (the writer stopped
		// before the walk ended).
		var all []string
		p := f.objectsPath() + "?match[version]=all&limit=7"
		for {
			var env envelopeResource
			f.get(f.admin, p, 200).json(t, &env)
			for _, o := range env.Objects {
				all = append(all, o["id"].(string)+"@"+o["modified"].(string))
			}
			if !env.More {
				break
			}
			p = f.objectsPath() + "?match[version]=all&limit=7&next=" + url.QueryEscape(env.Next)
		}
		if !slices.Equal(all, order) {
			t.Errorf("walk saw %d versions, collection holds %d (or in another order)", len(order), len(all))
		}
	})
}

func TestManifest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		seed(f)
		r := f.get(f.tokens["member"], f.collPath()+"manifest/?match[version]=all&limit=4", 200)
		if ct := r.header.Get("Content-Type"); ct != "application/taxii+json;version=2.1" {
			t.Errorf("manifest Content-Type %q", ct)
		}
		var m manifestResource
		r.json(t, &m)
		if len(m.Objects) != 4 || !m.More || m.Next == "" {
			t.Fatalf("manifest: %s", r.body)
		}
		for _, rec := range m.Objects {
			if rec.MediaType != "application/stix+json;version=2.1" || rec.Version == "" || !strings.HasSuffix(rec.DateAdded, "Z") {
				t.Errorf("manifest record %+v", rec)
			}
		}
		if m.Objects[0].ID != "indicator--"+uuidN(1) || m.Objects[0].Version != "2020-01-01T00:00:00.000Z" {
			t.Errorf("first record %+v", m.Objects[0])
		}
		if r.header.Get("X-TAXII-Date-Added-First") != m.Objects[0].DateAdded || r.header.Get("X-TAXII-Date-Added-Last") != m.Objects[3].DateAdded {
			t.Errorf("headers %v vs records %+v", r.header, m.Objects)
		}
		var m2 manifestResource
		f.get(f.tokens["member"], f.collPath()+"manifest/?match[version]=all&limit=4&next="+url.QueryEscape(m.Next), 200).json(t, &m2)
		if len(m2.Objects) != 1 || m2.More || m2.Objects[0].Version != "2021-01-01T00:00:00.000Z" {
			t.Errorf("second manifest page %+v", m2)
		}
		var mt manifestResource
		f.get(f.tokens["member"], f.collPath()+"manifest/?match[type]=malware", 200).json(t, &mt)
		if len(mt.Objects) != 1 || mt.Objects[0].ID != "malware--"+uuidN(2) {
			t.Errorf("manifest match[type]: %+v", mt)
		}
	})
}

func TestObjectAndVersions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		seed(f)
		i1 := "indicator--" + uuidN(1)
		obj := f.objectsPath() + i1 + "/"
		mods := func(query string) []string {
			var env envelopeResource
			f.get(f.tokens["member"], obj+query, 200).json(t, &env)
			var out []string
			for _, o := range env.Objects {
				if o["id"] != i1 {
					t.Errorf("object endpoint returned %v", o["id"])
				}
				out = append(out, o["modified"].(string))
			}
			return out
		}
		if got := mods(""); !slices.Equal(got, []string{"2021-01-01T00:00:00.000Z"}) {
			t.Errorf("object default = %v, want the last version", got)
		}
		if got := mods("?match[version]=all"); len(got) != 3 {
			t.Errorf("object all = %v", got)
		}
		if got := mods("?match[version]=first"); !slices.Equal(got, []string{"2020-01-01T00:00:00.000Z"}) {
			t.Errorf("object first = %v", got)
		}
		if got := mods("?match[version]=2020-06-01T00:00:00.000Z"); !slices.Equal(got, []string{"2020-06-01T00:00:00.000Z"}) {
			t.Errorf("object at = %v", got)
		}
		if got := mods("?match[version]=all&limit=2"); !slices.Equal(got, []string{"2020-01-01T00:00:00.000Z", "2020-06-01T00:00:00.000Z"}) {
			t.Errorf("object all limit 2 = %v", got)
		}
		if got := mods("?match[version]=1999-01-01T00:00:00.000Z"); len(got) != 0 {
			t.Errorf("object at unknown version = %v", got)
		}
		checkError(t, f.do(req{path: f.objectsPath() + "indicator--" + uuidN(404) + "/", token: f.tokens["member"]}), 404)
		checkError(t, f.do(req{path: f.objectsPath() + "not-an-id/", token: f.tokens["member"]}), 404)

		// Versions.
		type versions struct {
			More     bool     `json:"more"`
			Versions []string `json:"versions"`
		}
		var v versions
		r := f.get(f.tokens["member"], obj+"versions/", 200)
		r.json(t, &v)
		if v.More || !slices.Equal(v.Versions, []string{"2020-01-01T00:00:00.000Z", "2020-06-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z"}) {
			t.Errorf("versions = %+v", v)
		}
		if r.header.Get("X-TAXII-Date-Added-First") == "" || r.header.Get("X-TAXII-Date-Added-Last") == "" {
			t.Errorf("versions headers: %v", r.header)
		}
		f.get(f.tokens["member"], obj+"versions/?limit=2", 200).json(t, &v)
		if !v.More || len(v.Versions) != 2 {
			t.Errorf("versions limit 2 = %+v", v)
		}
		v = versions{}
		f.get(f.tokens["member"], obj+"versions/?match[spec_version]=2.0", 200).json(t, &v)
		if len(v.Versions) != 0 {
			t.Errorf("versions spec 2.0 = %+v", v)
		}
		checkError(t, f.do(req{path: f.objectsPath() + "indicator--" + uuidN(404) + "/versions/", token: f.tokens["member"]}), 404)
	})
}

func TestDeleteObject(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		seed(f)
		i1 := f.objectsPath() + "indicator--" + uuidN(1) + "/"
		// Only writers who may also read may delete.
		checkError(t, f.do(req{method: "DELETE", path: i1, token: f.tokens["member"]}), 403)
		checkError(t, f.do(req{method: "DELETE", path: i1, token: f.tokens["partner-read"]}), 403)
		checkError(t, f.do(req{method: "DELETE", path: i1, token: f.tokens["stranger"]}), 404)
		// Delete one version, then the rest.
		r := f.do(req{method: "DELETE", path: i1 + "?match[version]=2020-06-01T00:00:00.000Z", token: f.tokens["partner-write"]})
		if r.code != 200 {
			t.Fatalf("DELETE version: %d %s", r.code, r.body)
		}
		var v struct {
			Versions []string `json:"versions"`
		}
		f.get(f.tokens["member"], i1+"versions/", 200).json(t, &v)
		if !slices.Equal(v.Versions, []string{"2020-01-01T00:00:00.000Z", "2021-01-01T00:00:00.000Z"}) {
			t.Errorf("after deleting one version: %v", v.Versions)
		}
		checkError(t, f.do(req{method: "DELETE", path: i1 + "?match[version]=2020-06-01T00:00:00.000Z", token: f.tokens["partner-write"]}), 404)
		checkError(t, f.do(req{method: "DELETE", path: i1 + "?match[version]=bogus", token: f.tokens["partner-write"]}), 400)
		r = f.do(req{method: "DELETE", path: i1, token: f.tokens["partner-write"]})
		if r.code != 200 {
			t.Fatalf("DELETE: %d %s", r.code, r.body)
		}
		checkError(t, f.do(req{path: i1, token: f.tokens["member"]}), 404)
		checkError(t, f.do(req{method: "DELETE", path: i1, token: f.tokens["partner-write"]}), 404)
		var env envelopeResource
		f.get(f.tokens["member"], f.objectsPath(), 200).json(t, &env)
		if len(env.Objects) != 2 {
			t.Errorf("after delete: %v", env.ids())
		}
	})
}

func TestMethodNotAllowed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		for _, c := range []struct{ method, path, allow string }{
			{"POST", "/taxii2/", "GET, HEAD"},
			{"DELETE", "/api1/collections/", "GET, HEAD"},
			{"PUT", f.objectsPath(), "GET, HEAD, POST"},
			{"POST", f.objectsPath() + "indicator--" + uuidN(1) + "/", "GET, HEAD, DELETE"},
		} {
			r := f.do(req{method: c.method, path: c.path, token: f.tokens["partner-write"]})
			checkError(t, r, http.StatusMethodNotAllowed)
			if r.header.Get("Allow") != c.allow {
				t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, r.header.Get("Allow"), c.allow)
			}
		}
		// HEAD works where GET does.
		if r := f.do(req{method: "HEAD", path: f.objectsPath(), token: f.tokens["member"]}); r.code != 200 {
			t.Errorf("HEAD objects: %d", r.code)
		}
	})
}

func TestUnauthenticated(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(tb testing.TB) store.Store) {
		f := newFixture(t, open, server.Config{})
		for _, path := range []string{"/taxii2/", "/api1/", "/api1/collections/", f.collPath(), f.objectsPath(), f.collPath() + "manifest/",
			"/api1/status/" + uuidN(1) + "/", "/api/v1/orgs", "/metrics", "/nowhere"} {
			r := f.do(req{path: path})
			checkError(t, r, 401)
			if len(r.header.Values("WWW-Authenticate")) == 0 {
				t.Errorf("%s: 401 without WWW-Authenticate", path)
			}
		}
		r := f.do(req{path: "/healthz"})
		if r.code != 200 {
			t.Errorf("/healthz: %d", r.code)
		}
	})
}
