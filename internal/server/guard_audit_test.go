package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/server"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// A partner sets its list and posts a leaky object over TAXII: the log
// holds an assets.set entry (digest only) and a guard entry for the
// object with the rule kind, and no entry holds the protected value.
func TestGuardDecisionsAudited(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetRecorder(audit.Recorder(nil))
	e := &env{tb: t, st: db, now: time.Now().UTC()}
	if _, err := server.Bootstrap(ctx, db, dir, adminToken, e.now); err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(server.New(db, server.Config{Rate: -1, Logger: quietLogger(), Now: func() time.Time { return e.now }}).Handler())
	t.Cleanup(e.srv.Close)
	var acme server.OrgJSON
	e.must("POST", "/api/v1/orgs", `{"name":"acme","kind":"partner"}`, 201, &acme)
	e.must("PUT", "/api/v1/collections/"+store.DefaultCollectionID+"/grants/acme", `{"read":true,"write":true}`, 200, nil)
	acmeTok, _ := e.token(`{"org":"acme","role":"write"}`)
	if r := e.call("PUT", "/api/v1/orgs/acme/guard", "Bearer "+acmeTok, "domain  secret-customer.example\n"); r.code != 200 {
		// write tokens may not set the list: use the hub admin.
		if r := e.call("PUT", "/api/v1/orgs/acme/guard", "Bearer "+adminToken, "domain  secret-customer.example\n"); r.code != 200 {
			t.Fatalf("PUT guard: %d %s", r.code, r.body)
		}
	}

	const leakyID = "indicator--5a1c0e3e-2b7d-4c55-9f0e-3c1f4b2a9d10"
	leaky := `{"type":"indicator","spec_version":"2.1","id":"` + leakyID + `","created":"2024-05-01T00:00:00.000Z","modified":"2024-05-01T00:00:00.000Z","name":"phish","pattern":"[domain-name:value = 'mail.secret-customer.example']","pattern_type":"stix","valid_from":"2024-05-01T00:00:00Z"}`
	req, _ := http.NewRequest("POST", e.srv.URL+objectsPath, strings.NewReader(`{"objects":[`+leaky+`]}`))
	req.Header.Set("Authorization", "Bearer "+acmeTok)
	req.Header.Set("Content-Type", taxiiType)
	hr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != 202 || !strings.Contains(string(b), `"failure_count":1`) {
		t.Fatalf("partner POST: %d %s", hr.StatusCode, b)
	}

	raws, entries := audittest.Read(t, db)
	var guarded, assets bool
	for i, raw := range raws {
		if strings.Contains(string(raw), "secret-customer") {
			t.Errorf("audit entry holds the protected value: %s", raw)
		}
		en := entries[i]
		switch en.Kind {
		case audit.KindGuard:
			if en.ID == leakyID && en.Action == "block" && en.Source == acme.ID && strings.Join(en.Rules, ",") == "domain" {
				guarded = true
			}
		case audit.KindAssetsSet:
			if en.Org == acme.ID && en.Count == 1 && len(en.SHA256) == 64 {
				assets = true
			}
		}
	}
	if !guarded {
		t.Errorf("no guard entry for %s with rule domain among %d entries", leakyID, len(raws))
	}
	if !assets {
		t.Errorf("no assets.set entry for acme among %d entries", len(raws))
	}
}
