package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/server"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// TestAuditEndToEnd: a partner posts over TAXII, a member reads; the
// store records the accepted versions, the TAXII read appends a served
// entry, the log integrates them, each organisation sees its own entries
// over the audit API, and the whole log verifies (what `fusion audit
// verify --data DIR` runs) against the signed checkpoint.
func TestAuditEndToEnd(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetRecorder(audit.Recorder(nil)) // as cmd/fusion's openStore does
	key, _, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), audit.OriginPrefix+"test-hub")
	if err != nil {
		t.Fatal(err)
	}
	lg := audit.New(db, key, audit.Config{Logger: quietLogger()})
	// As fusion serve runs it: responses' entries go through a spool.
	if err := lg.OpenSpool(ctx, filepath.Join(dir, "audit.spool")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lg.CloseSpool(ctx); err != nil {
			t.Error(err)
		}
	})

	e := &env{tb: t, st: db, now: time.Now().UTC()}
	if _, err := server.Bootstrap(ctx, db, dir, adminToken, e.now); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(server.New(db, server.Config{Rate: -1, Logger: quietLogger(), Audit: lg,
		Now: func() time.Time { return e.now }}).Handler())
	t.Cleanup(e.srv.Close)

	var acme, fr server.OrgJSON
	e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, &acme)
	e.must("POST", "/api/v1/orgs", `{"name":"fr-police","kind":"member","country":"FR"}`, 201, &fr)
	if acme.ID == "" || fr.ID == "" {
		t.Fatalf("organisations without ids: %+v %+v", acme, fr)
	}
	e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/acme", `{"read":true,"write":true}`, 200, nil)
	e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/fr-police", `{"read":true}`, 200, nil)
	acmeTok, _ := e.token(`{"org":"acme","role":"write"}`)
	frTok, _ := e.token(`{"org":"fr-police","role":"read"}`)

	ids := []string{"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "indicator--0f8a9c07-6f0c-4a0a-9d49-2a3c5b4f7e61"}
	var objs []string
	for i, id := range ids {
		objs = append(objs, fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"%s","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"c2 %d","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2024-05-01T00:00:00Z","object_marking_refs":["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"]}`, id, i, i+1))
	}
	req, _ := http.NewRequest("POST", e.srv.URL+objectsPath, strings.NewReader(`{"objects":[`+strings.Join(objs, ",")+`]}`))
	req.Header.Set("Authorization", "Bearer "+acmeTok)
	req.Header.Set("Content-Type", taxiiType)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	r := resp{code: hr.StatusCode, body: string(b)}
	if r.code != 202 || !strings.Contains(r.body, `"success_count":2`) {
		t.Fatalf("partner POST: %d %s", r.code, r.body)
	}
	r = e.call("GET", objectsPath, "Bearer "+frTok, "")
	if r.code != 200 || !strings.Contains(r.body, ids[0]) || !strings.Contains(r.body, ids[1]) {
		t.Fatalf("member GET: %d %s", r.code, r.body)
	}
	// The spool's backlog is in the metrics; Sync stores it (the mover
	// would within 250 ms).
	r = e.call("GET", "/metrics", "Bearer "+adminToken, "")
	for _, want := range []string{"fusion_audit_spool_pending_entries ", "fusion_audit_spool_pending_bytes ", "fusion_audit_spool_failing 0"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if err := lg.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if st := lg.SpoolStats(); !st.Open || st.Entries != 0 {
		t.Errorf("spool after Sync: %+v", st)
	}

	size, err := lg.Integrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := db.LogSize(ctx)
	if err != nil || size != n {
		t.Fatalf("integrated %d of %d entries (%v)", size, n, err)
	}

	entries := func(tok string) []audit.Entry {
		t.Helper()
		r := e.call("GET", "/api/v1/audit/entries?start=0", "Bearer "+tok, "")
		if r.code != 200 {
			t.Fatalf("GET audit entries: %d %s", r.code, r.body)
		}
		var res audit.EntriesJSON
		if err := json.Unmarshal([]byte(r.body), &res); err != nil {
			t.Fatal(err)
		}
		if res.TreeSize != size {
			t.Errorf("tree size %d, want %d", res.TreeSize, size)
		}
		var out []audit.Entry
		for _, ej := range res.Entries {
			en, err := audit.ParseEntry(ej.Entry)
			if err != nil {
				t.Fatalf("entry %d: %v", ej.Index, err)
			}
			out = append(out, en)
		}
		return out
	}
	// served finds the served entry of the member's read and checks it
	// lists exactly the two versions.
	served := func(es []audit.Entry) bool {
		for _, en := range es {
			if en.Kind != audit.KindServed {
				continue
			}
			if en.Actor != fr.ID || en.Org != fr.ID || en.Source != acme.ID || en.Path != audit.PathTAXIIObjects ||
				en.Collection != store.DefaultCollectionID || len(en.Objects) != 2 ||
				en.Objects[0].ID != ids[0] || en.Objects[1].ID != ids[1] {
				t.Errorf("served entry %+v", en)
			}
			return true
		}
		return false
	}

	acmeSees := entries(acmeTok)
	accepted := map[string]bool{}
	for _, en := range acmeSees {
		if !en.Concerns(acme.ID) {
			t.Errorf("acme sees an entry that does not concern it: %+v", en)
		}
		if en.Kind == audit.KindAccepted {
			if en.Actor != acme.ID || en.Source != acme.ID || en.Collection != store.DefaultCollectionID {
				t.Errorf("accepted entry %+v", en)
			}
			for _, a := range en.Accepted {
				if len(a.SHA256) != 64 {
					t.Errorf("accepted version %+v", a)
				}
				accepted[a.ID] = true
			}
		}
	}
	if !accepted[ids[0]] || !accepted[ids[1]] || len(accepted) != 2 {
		t.Errorf("acme sees accepted entries for %v, want %v", accepted, ids)
	}
	if !served(acmeSees) {
		t.Error("acme does not see that its objects were served to fr-police")
	}

	frSees := entries(frTok)
	for _, en := range frSees {
		if !en.Concerns(fr.ID) {
			t.Errorf("fr-police sees an entry that does not concern it: %+v", en)
		}
		if len(en.AcceptedVersions()) > 0 {
			t.Errorf("fr-police sees acme's accepted entry %+v", en)
		}
	}
	if !served(frSees) {
		t.Error("fr-police does not see the served entry of its read")
	}
	if r := e.call("GET", "/api/v1/audit/entries", "", ""); r.code != 401 {
		t.Errorf("audit API without credentials: %d %s", r.code, r.body)
	}

	res, err := audit.Verify(ctx, db, key.Verifier, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if res.Tree != n || res.Entries != n || res.Checkpoints < 1 {
		t.Errorf("verify: %+v, want %d entries all in the tree and a checkpoint", res, n)
	}
}
