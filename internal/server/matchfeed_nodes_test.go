package server_test

import (
	"fusion/internal/audit"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// TestMatchTwoNodes: two hub nodes on one PostgreSQL database each keep
// their own index current from the shared store: an indicator posted to
// one node matches on the other, a deletion made through one changes the
// other's answers, and sightings reported through both add up.
func TestMatchTwoNodes(t *testing.T) {
	if !testdb.HavePostgres() {
		t.Skip("needs " + testdb.PostgresEnv + " (two nodes share a PostgreSQL database)")
	}
	stA, stB := postgresTwice(t)
	for _, st := range []store.Store{stA, stB} {
		st.SetRecorder(audit.Recorder(nil)) // deletions reach the feeders through the log
	}
	m := newMatchEnvLog(t, stA, nil) // node A, with the organisations and tokens
	srvB := server.New(stB, server.Config{Logger: quietLogger(), Rate: -1})
	srvB.StartMatching(t.Context())
	hsB := httptest.NewServer(srvB.Handler())
	t.Cleanup(hsB.Close)

	matchOn := func(url, query, value string) []server.MatchJSON {
		t.Helper()
		req, _ := http.NewRequest("POST", url+"/api/v1/match"+query, strings.NewReader(value+"\n"))
		req.Header.Set("Authorization", "Bearer "+m.tok["de-police"])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return lines(t, matchResp{res.StatusCode, res.Header, b})
	}
	pollB := func(what, value string, want func([]server.MatchJSON) bool) {
		t.Helper()
		start := time.Now()
		for !want(matchOn(hsB.URL, "", value)) {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("node B, %s: %s not as wanted after 2 s", what, value)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("node B, %s: %v", what, time.Since(start))
	}
	is := func(n int, version string) func([]server.MatchJSON) bool {
		return func(ms []server.MatchJSON) bool {
			return len(ms) == 1 && ms[0].Indicator == indID(n) && ms[0].Version == version
		}
	}

	// Posted through node A, matched on node B.
	const v2 = "2024-02-01T00:00:00.000Z"
	m.post(indicator(40, v1, "[ipv4-addr:value = '198.51.100.40']", policy.TLP2GreenID, ""))
	pollB("new indicator", "198.51.100.40", is(40, v1))
	m.post(indicator(40, v2, "[ipv4-addr:value = '198.51.100.40']", policy.TLP2GreenID, ""))
	pollB("new version", "198.51.100.40", is(40, v2))

	// Deleted through node A's store: node B follows.
	vk, _ := time.Parse(time.RFC3339, v2)
	if n, err := stA.Delete(t.Context(), store.DefaultCollectionID, indID(40), store.VersionMatch{At: []time.Time{vk}}, nil); err != nil || n != 1 {
		t.Fatalf("Delete: %d %v", n, err)
	}
	pollB("latest version deleted", "198.51.100.40", is(40, v1))

	// Sightings reported through both nodes, one after the other, add up.
	for _, url := range []string{m.srv.URL, hsB.URL, m.srv.URL} {
		if got := matchOn(url, "?report_sightings=true", "198.51.100.7"); len(got) != 1 || got[0].Sighting == "" {
			t.Fatalf("report on %s: %+v", url, got)
		}
	}
	sid := server.SightingID(m.ids["de-police"], indID(1))
	vs, _ := sightingVersions(t, stB, sid)
	if len(vs) != 3 || vs[2].Count != 3 {
		t.Errorf("sighting after reports through two nodes: %d versions, last %+v", len(vs), vs[len(vs)-1])
	}
}
