package client

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite the fuzz seed corpora in testdata/fuzz from the real server's answers")

// TestWriteSeeds regenerates testdata/fuzz/* (go test -run TestWriteSeeds
// -write-seeds): answers captured from the real Fusion server, plus
// hand-written hostile ones.
func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate the seed corpora")
	}
	f := newFixture(t, 0)
	seed(t, f, 3)
	get := func(method, path, token, ct, body string) (string, []byte) {
		req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
		req.Header.Set("Accept", MediaTypeTAXII)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("Content-Type"), b
	}
	objects := "/api1/collections/" + f.coll + "/objects/"
	envelopes := map[string][]byte{}
	_, envelopes["real-page"] = get("GET", objects+"?limit=2", f.readToken, "", "")
	_, envelopes["real-empty"] = get("GET", objects+"?added_after=2099-01-01T00:00:00Z", f.readToken, "", "")
	_, envelopes["real-object"] = get("GET", objects+indicatorID(1)+"/", f.readToken, "", "")
	for k, v := range map[string]string{
		"deep":        `{"objects":[` + strings.Repeat(`{"a":[`, 200) + strings.Repeat(`]}`, 200) + `]}`,
		"dup-more":    `{"more":true,"more":false}`,
		"not-objects": `{"objects":[1,"x",null]}`,
		"bom":         "\ufeff{\"objects\":[]}",
		"bad-utf8":    "{\"objects\":[{\"a\":\"\xff\xfe\"}]}",
		"big-number":  `{"objects":[{"n":1e999999}],"more":false}`,
		"escapes":     `{"next":"\u0000\ud800","objects":[{"\u0000":"\u001b[2J"}]}`,
		"truncated":   `{"objects":[{"id":"x"},{"id`,
	} {
		envelopes[k] = []byte(v)
	}
	writeCorpus(t, "FuzzDecodeEnvelope", envelopes, func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" })

	status := map[string][]byte{}
	ct, st := get("POST", objects, f.writeToken, MediaTypeTAXII,
		`{"objects":[`+string(indicator(1, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)))+`,{"type":"indicator","id":"indicator--x"}]}`)
	if !strings.HasPrefix(ct, "application/taxii+json") {
		t.Fatalf("status content type %q", ct)
	}
	status["real-status-with-failure"] = st
	for k, v := range map[string]string{
		"pending":        `{"id":"s","status":"pending","total_count":2,"success_count":0,"failure_count":0,"pending_count":2,"pendings":[{"id":"a","version":"v"}]}`,
		"negative":       `{"id":"s","status":"complete","total_count":-1}`,
		"wrong-status":   `{"id":"s","status":"done"}`,
		"counts-strings": `{"id":"s","status":"complete","total_count":"1"}`,
		"huge-count":     `{"id":"s","status":"complete","total_count":99999999999999999999}`,
	} {
		status[k] = []byte(v)
	}
	writeCorpus(t, "FuzzDecodeStatus", status, func(b []byte) string { return "[]byte(" + strconv.Quote(string(b)) + ")" })

	type errSeed struct {
		ct   string
		body []byte
	}
	errs := map[string]errSeed{}
	c1, b1 := get("GET", "/api1/collections/00000000-0000-4000-8000-000000000000/", f.readToken, "", "")
	errs["real-404"] = errSeed{c1, b1}
	c2, b2 := get("GET", "/api1/", "", "", "")
	errs["real-401"] = errSeed{c2, b2}
	c3, b3 := get("POST", objects, f.writeToken, "application/json", `{}`)
	errs["real-415"] = errSeed{c3, b3}
	c4, b4 := get("POST", objects, f.readToken, MediaTypeTAXII, `{"objects":[]}`)
	errs["real-403"] = errSeed{c4, b4}
	errs["html"] = errSeed{"text/html", []byte("<html><title>502</title>\x1b]0;pwned\x07</html>")}
	errs["numeric-status"] = errSeed{"application/taxii+json", []byte(`{"title":"x","http_status":503,"details":{"k":[1,2]}}`)}
	errs["controls"] = errSeed{"application/json", []byte("{\"title\":\"a\\u001b[31mred\\u0007\",\"description\":\"\\u2028line\"}")}
	writeCorpusErr := map[string][]byte{}
	for k, v := range errs {
		writeCorpusErr[k] = []byte("string(" + strconv.Quote(v.ct) + ")\n[]byte(" + strconv.Quote(string(v.body)) + ")")
	}
	writeCorpus(t, "FuzzDecodeError", writeCorpusErr, func(b []byte) string { return string(b) })

	headers := map[string][]byte{}
	for k, v := range map[string][3]string{
		"real":       {"application/taxii+json;version=2.1", "120", "2024-01-02T03:04:05.123456Z"},
		"http-date":  {"application/taxii+json", "Wed, 21 Oct 2015 07:28:00 GMT", "2024-01-02T03:04:05Z"},
		"offset":     {"application/taxii+json; version=\"2.1\"", "-5", "9999-12-31T23:59:59-23:59"},
		"garbage":    {"text/html;;;", "1e3", "yesterday"},
		"nanosecond": {"APPLICATION/TAXII+JSON;VERSION=2.0", "99999999999999999999999", "2024-01-02T03:04:05.123456789Z"},
	} {
		headers[k] = []byte(fmt.Sprintf("string(%s)\nstring(%s)\nstring(%s)", strconv.Quote(v[0]), strconv.Quote(v[1]), strconv.Quote(v[2])))
	}
	writeCorpus(t, "FuzzHeaders", headers, func(b []byte) string { return string(b) })
}

func writeCorpus(t *testing.T, name string, seeds map[string][]byte, enc func([]byte) string) {
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for k, v := range seeds {
		if err := os.WriteFile(filepath.Join(dir, k), []byte("go test fuzz v1\n"+enc(v)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
