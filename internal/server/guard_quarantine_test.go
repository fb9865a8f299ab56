package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/guard"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// twoHandles opens two independent handles on one store, as two nodes
// would: one SQLite file, or one PostgreSQL schema.
type twoHandles func(tb testing.TB) (store.Store, store.Store)

func sqliteTwice(tb testing.TB) (store.Store, store.Store) {
	path := testdb.SQLitePath(tb)
	return testdb.OpenSQLite(tb, path), testdb.OpenSQLite(tb, path)
}

func postgresTwice(tb testing.TB) (store.Store, store.Store) {
	url := testdb.PostgresURL(tb)
	return testdb.OpenPostgres(tb, url), testdb.OpenPostgres(tb, url)
}

func forEachTwoHandles(t *testing.T, fn func(t *testing.T, open twoHandles)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteTwice) })
	if testdb.HavePostgres() {
		t.Run("postgres", func(t *testing.T) { fn(t, postgresTwice) })
	} else {
		t.Log(testdb.PostgresEnv + " not set: PostgreSQL not tested")
	}
}

// leakyIndicator is an indicator naming the partner's protected domain.
func leakyIndicator(id string) string {
	return `{"type":"indicator","spec_version":"2.1","id":"` + id + `","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","pattern":"[domain-name:value = 'mail.secret-customer.example']","pattern_type":"stix","valid_from":"2024-05-01T00:00:00Z"}`
}

// TestQuarantineTwoNodes: two servers (each with its own store handle and
// guard) quarantine for the same partner at the same time; every blocked
// object is in the quarantine as both see it, and a drop on one is seen
// by the other.
func TestQuarantineTwoNodes(t *testing.T) {
	forEachTwoHandles(t, func(t *testing.T, open twoHandles) {
		ctx := context.Background()
		st1, st2 := open(t)
		now := time.Now().UTC()
		if _, err := server.Bootstrap(ctx, st1, t.TempDir(), adminToken, now); err != nil {
			t.Fatal(err)
		}
		var nodes [2]*env
		for i, st := range []store.Store{st1, st2} {
			e := &env{tb: t, st: st, now: now}
			e.srv = httptest.NewServer(server.New(st, server.Config{Rate: -1, Logger: quietLogger()}).Handler())
			t.Cleanup(e.srv.Close)
			nodes[i] = e
		}
		n1 := nodes[0]
		n1.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, nil)
		n1.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/acme", `{"read":true,"write":true}`, 200, nil)
		tok, _ := n1.token(`{"org":"acme","role":"write"}`)
		if r := n1.call("PUT", "/api/v1/orgs/acme/guard", "Bearer "+adminToken, "domain  secret-customer.example\n"); r.code != 200 {
			t.Fatalf("PUT guard: %d %s", r.code, r.body)
		}
		const perWorker, workers = 12, 3
		var mu sync.Mutex
		want := map[string]bool{}
		var wg sync.WaitGroup
		errs := make(chan string, 2*workers*perWorker)
		for ni, node := range nodes {
			for w := 0; w < workers; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < perWorker; k++ {
						id := fmt.Sprintf("indicator--%08x-0000-4000-8000-%012x", ni*1000+w, k)
						r := taxiiPost(node, "Bearer "+tok, `{"objects":[`+leakyIndicator(id)+`]}`)
						if r.code != 202 || !strings.Contains(r.body, `"failure_count":1`) {
							errs <- fmt.Sprintf("node %d POST: %d %s", ni, r.code, r.body)
							return
						}
						mu.Lock()
						want[id] = true
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Fatal(e)
		}
		for ni, node := range nodes {
			var list []server.QuarantineEntry
			node.must("GET", "/api/v1/orgs/acme/guard/quarantine", "", 200, &list)
			got := map[string]bool{}
			for _, e := range list {
				got[e.ID] = true
			}
			for id := range want {
				if !got[id] {
					t.Errorf("node %d: %s lost from the quarantine", ni, id)
				}
			}
			if len(list) != len(want) {
				t.Errorf("node %d lists %d entries, want %d", ni, len(list), len(want))
			}
		}
		// a drop on node 1 is seen on node 2, and references to the
		// dropped object no longer block there
		var victim string
		for id := range want {
			victim = id
			break
		}
		if r := n1.call("DELETE", "/api/v1/orgs/acme/guard/quarantine/"+victim, "Bearer "+tok, ""); r.code != 204 {
			t.Fatalf("drop: %d %s", r.code, r.body)
		}
		if r := nodes[1].call("GET", "/api/v1/orgs/acme/guard/quarantine/"+victim, "Bearer "+tok, ""); r.code != 404 {
			t.Errorf("node 2 still shows the dropped object: %d", r.code)
		}
		rel := `{"type":"relationship","spec_version":"2.1","id":"relationship--0b0c4f3e-2b7d-4c55-9f0e-3c1f4b2a9d10","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","relationship_type":"indicates","source_ref":"%s","target_ref":"malware--0b0c4f3e-2b7d-4c55-9f0e-3c1f4b2a9d11"}`
		var other string
		for id := range want {
			if id != victim {
				other = id
				break
			}
		}
		if r := taxiiPost(nodes[1], "Bearer "+tok, `{"objects":[`+fmt.Sprintf(rel, other)+`]}`); !strings.Contains(r.body, `"failure_count":1`) || !strings.Contains(r.body, "reference at source_ref") {
			t.Errorf("node 2: a relationship to a quarantined indicator passed: %s", r.body)
		}
		rel2 := strings.Replace(fmt.Sprintf(rel, victim), "0b0c4f3e-2b7d-4c55-9f0e-3c1f4b2a9d10", "0b0c4f3e-2b7d-4c55-9f0e-3c1f4b2a9d12", 1)
		if r := taxiiPost(nodes[1], "Bearer "+tok, `{"objects":[`+rel2+`]}`); !strings.Contains(r.body, `"success_count":1`) {
			t.Errorf("node 2: a relationship to a dropped indicator is still blocked: %s", r.body)
		}
	})
}

// TestQuarantineEvictsOldest: beyond the bound, the oldest entries go,
// both records of each.
func TestQuarantineEvictsOldest(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := server.NewGuard(st, quietLogger(), func() time.Time { clock = clock.Add(time.Second); return clock })
	g.SetMaxQuarantine(5)
	sc := guard.NewScanner(mustList(t, []byte("domain secret-customer.example\n")), guard.Options{})
	for k := 0; k < 8; k++ {
		raw := []byte(leakyIndicator(fmt.Sprintf("indicator--00000000-0000-4000-8000-%012x", k)))
		r := sc.Scan(raw)
		if err := g.Quarantine(ctx, "org-1", store.DefaultCollectionID, "taxii", "", sc.List(), []server.Blocked{{Raw: raw, Result: &r}}); err != nil {
			t.Fatal(err)
		}
	}
	list, err := g.QuarantineList(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range list {
		ids = append(ids, e.ID[len(e.ID)-1:])
	}
	if strings.Join(ids, "") != "34567" {
		t.Errorf("after 8 with a bound of 5: %v", ids)
	}
	if _, err := g.QuarantineShow(ctx, "org-1", "indicator--00000000-0000-4000-8000-000000000002"); err == nil {
		t.Error("an evicted entry can still be shown")
	}
	recs, err := st.ListRecords(ctx, "guard:q", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if !strings.HasPrefix(r.Key, "guard:qgen:") {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d quarantine records for 5 entries, want 10", n)
	}
}

// TestQuarantineMigratesIndex: a quarantine kept in the legacy index
// record is moved to per-entry records the first time it is used; the
// index and the old records are gone, dropped (emptied) entries are not
// brought back, and a quarantined relationship still ties its ends.
func TestQuarantineMigratesIndex(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	at := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	const (
		ind  = "indicator--10000000-0000-4000-8000-000000000001"
		rel  = "relationship--10000000-0000-4000-8000-000000000002"
		vuln = "vulnerability--10000000-0000-4000-8000-000000000003"
		gone = "indicator--10000000-0000-4000-8000-000000000004"
	)
	relRaw := `{"type":"relationship","spec_version":"2.1","id":"` + rel + `","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","relationship_type":"targets","source_ref":"` + ind + `","target_ref":"` + vuln + `"}`
	var idx []server.QuarantineEntry
	for i, x := range []struct{ id, typ, raw string }{{ind, "indicator", leakyIndicator(ind)}, {rel, "relationship", relRaw}, {gone, "indicator", ""}} {
		e := server.QuarantineEntry{ID: x.id, Type: x.typ, Version: "2024-05-01T00:00:00.000Z", Collection: store.DefaultCollectionID,
			Quarantined: at.Add(time.Duration(i) * time.Minute), Via: "taxii", Reason: "customer-data guard blocked: domain at pattern"}
		idx = append(idx, e)
		key := "guard:q:org-1:" + x.id + ":" + e.Version
		var b []byte // a dropped entry's record was emptied
		if x.raw != "" {
			e.Raw = []byte(x.raw)
			b, _ = json.Marshal(e)
		}
		if err := st.SetRecord(ctx, key, b); err != nil {
			t.Fatal(err)
		}
	}
	idx = idx[:2] // the dropped one left the index too … but keep one stale to be safe
	idx = append(idx, server.QuarantineEntry{ID: gone, Version: "2024-05-01T00:00:00.000Z"})
	b, _ := json.Marshal(idx)
	if err := st.SetRecord(ctx, "guard:qindex:org-1", b); err != nil {
		t.Fatal(err)
	}

	g := server.NewGuard(st, quietLogger(), nil)
	list, err := g.QuarantineList(ctx, "org-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != ind || list[1].ID != rel || !list[0].Quarantined.Equal(at) {
		t.Fatalf("migrated list: %+v", list)
	}
	shown, err := g.QuarantineShow(ctx, "org-1", rel)
	if err != nil || len(shown) != 1 || !bytes.Equal(shown[0].Raw, []byte(relRaw)) {
		t.Fatalf("migrated show: %v %+v", err, shown)
	}
	for _, k := range []string{"guard:qindex:org-1", "guard:q:org-1:" + ind + ":2024-05-01T00:00:00.000Z", "guard:q:org-1:" + gone + ":2024-05-01T00:00:00.000Z"} {
		if _, err := st.GetRecord(ctx, k); err == nil {
			t.Errorf("legacy record %s is still there", k)
		}
	}
	// the migrated relationship still ties its vulnerability, and the
	// indicator still blocks references to it
	sc := guard.NewScanner(mustList(t, []byte("domain secret-customer.example\n")), guard.Options{})
	objs := [][]byte{
		[]byte(`{"type":"vulnerability","id":"` + vuln + `","name":"CVE-2024-1"}`),
		[]byte(`{"type":"sighting","id":"sighting--10000000-0000-4000-8000-000000000005","sighting_of_ref":"` + ind + `","where_sighted_refs":["identity--10000000-0000-4000-8000-000000000006"]}`),
	}
	res, err := sc.ScanBatch(ctx, objs, g.Blocked("org-1"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != guard.Block || !strings.Contains(res[0].Reason(), rel) || res[1].Action != guard.Block {
		t.Errorf("after migration: %v %q; %v %q", res[0].Action, res[0].Reason(), res[1].Action, res[1].Reason())
	}
	// a second guard (another node) finds nothing left to move
	if list2, err := server.NewGuard(st, quietLogger(), nil).QuarantineList(ctx, "org-1"); err != nil || len(list2) != 2 {
		t.Errorf("second node: %v %d", err, len(list2))
	}
}

// TestQuarantineAuditEntries: TAXII POST redactions, quarantine releases
// and drops are in the audit log, by the partner, with the object id and
// rule kinds and never the protected value.
func TestQuarantineAuditEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := testdb.SQLite(t)
	db.SetRecorder(audit.Recorder(nil))
	e := &env{tb: t, st: db, now: time.Now().UTC()}
	if _, err := server.Bootstrap(ctx, db, dir, adminToken, e.now); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(server.New(db, server.Config{Rate: -1, Logger: slog.New(slog.DiscardHandler), Validate: stix.Validate}).Handler())
	t.Cleanup(e.srv.Close)
	var acme server.OrgJSON
	e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, &acme)
	e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/acme", `{"read":true,"write":true}`, 200, nil)
	tok, _ := e.token(`{"org":"acme","role":"write"}`)
	if r := e.call("PUT", "/api/v1/orgs/acme/guard?action=redact", "Bearer "+adminToken, "domain  secret-customer.example\n"); r.code != 200 {
		t.Fatalf("PUT guard: %d %s", r.code, r.body)
	}
	const (
		reportID = "report--7a1c0e3e-2b7d-4c55-9f0e-3c1f4b2a9d10"
		blockID  = "indicator--7a1c0e3e-2b7d-4c55-9f0e-3c1f4b2a9d11"
		dropID   = "indicator--7a1c0e3e-2b7d-4c55-9f0e-3c1f4b2a9d12"
	)
	report := `{"type":"report","spec_version":"2.1","id":"` + reportID + `","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"weekly","description":"phishing seen at vpn.secret-customer.example this week","published":"2024-05-01T00:00:00Z","object_refs":["indicator--7a1c0e3e-2b7d-4c55-9f0e-3c1f4b2a9d99"]}`
	// Redacted, then invalid (no published): no redaction is recorded for it.
	badReportID := "report--5b0e4a52-3b8b-4d0e-9a6b-2d2c3e4f5a6c"
	badReport := strings.Replace(strings.Replace(report, reportID, badReportID, 1), `,"published":"2024-05-01T00:00:00Z"`, "", 1)
	r := taxiiPost(e, "Bearer "+tok, `{"objects":[`+report+`,`+badReport+`,`+leakyIndicator(blockID)+`,`+leakyIndicator(dropID)+`]}`)
	if r.code != 202 || !strings.Contains(r.body, `"success_count":1`) || !strings.Contains(r.body, `"failure_count":3`) {
		t.Fatalf("POST: %d %s", r.code, r.body)
	}
	edited := strings.Replace(leakyIndicator(blockID), "mail.secret-customer.example", "mail.evil.example", 1)
	if r := e.call("POST", "/api/v1/orgs/acme/guard/quarantine/"+blockID+"/release", "Bearer "+tok, edited); r.code != 200 {
		t.Fatalf("release: %d %s", r.code, r.body)
	}
	if r := e.call("DELETE", "/api/v1/orgs/acme/guard/quarantine/"+dropID, "Bearer "+tok, ""); r.code != 204 {
		t.Fatalf("drop: %d %s", r.code, r.body)
	}
	raws, entries := audittest.Read(t, db)
	got := map[string]string{}
	for i, raw := range raws {
		if strings.Contains(string(raw), "secret-customer") {
			t.Errorf("audit entry holds the protected value: %s", raw)
		}
		en := entries[i]
		if en.Kind == audit.KindGuard {
			if en.Source != acme.ID || en.Actor != acme.ID {
				t.Errorf("guard entry source %q actor %q, want %s: %s", en.Source, en.Actor, acme.ID, raw)
			}
			got[en.ID+" "+en.Action] = strings.Join(en.Rules, ",")
			if en.Action == "redact" && en.Collection != store.DefaultCollectionID {
				t.Errorf("redaction entry names collection %q, want %s", en.Collection, store.DefaultCollectionID)
			}
		}
	}
	if _, ok := got[badReportID+" redact"]; ok {
		t.Errorf("a redaction was recorded for an object that failed validation and was not stored")
	}
	for k, rules := range map[string]string{reportID + " redact": "domain", blockID + " block": "domain", blockID + " release": "",
		dropID + " block": "domain", dropID + " drop": ""} {
		if r, ok := got[k]; !ok || r != rules {
			t.Errorf("guard entry %q: rules %q (present %v); all: %v", k, r, ok, got)
		}
	}
}

// taxiiPost posts an envelope with the TAXII media type.
func taxiiPost(e *env, auth, body string) resp {
	e.tb.Helper()
	r, _ := http.NewRequest("POST", e.srv.URL+objectsPath, strings.NewReader(body))
	r.Header.Set("Authorization", auth)
	r.Header.Set("Content-Type", taxiiType)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		e.tb.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, string(b)}
}
