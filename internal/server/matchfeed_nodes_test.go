package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/store"
	"fusion/internal/store/postgres"
)

// openPostgresPair opens two stores on one fresh PostgreSQL schema, as two
// hub nodes sharing a database do.
func openPostgresPair(t *testing.T) (store.Store, store.Store) {
	t.Helper()
	url := os.Getenv(pgEnv)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is not reachable: %v", pgEnv, err)
	}
	defer conn.Close(ctx)
	var b [8]byte
	rand.Read(b[:])
	schema := "fusion_server_t_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), url)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	var out [2]store.Store
	for i := range out {
		db, err := postgres.Open(ctx, url+sep+"search_path="+schema)
		if err != nil {
			t.Fatalf("postgres.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		db.SetRecorder(audit.Recorder(nil))
		out[i] = db
	}
	return out[0], out[1]
}

// TestMatchTwoNodes: two hub nodes on one PostgreSQL database each keep
// their own index current from the shared store: an indicator posted to
// one node matches on the other, a deletion made through one changes the
// other's answers, and sightings reported through both add up.
func TestMatchTwoNodes(t *testing.T) {
	if os.Getenv(pgEnv) == "" {
		t.Skip("needs " + pgEnv + " (two nodes share a PostgreSQL database)")
	}
	stA, stB := openPostgresPair(t)
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
