package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/server"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

const hubAssets = `# northwind's customers
cidr    198.51.100.0/24
domain  acme-corp.example
name    Acme Corporation
`

const (
	leakyIndicator = `{"type":"indicator","spec_version":"2.1","id":"indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2025-03-01T00:00:00Z"}`
	leakyRel       = `{"type":"relationship","spec_version":"2.1","id":"relationship--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a03","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","relationship_type":"indicates","source_ref":"indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01","target_ref":"malware--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a04"}`
	cleanMalware   = `{"type":"malware","spec_version":"2.1","id":"malware--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a04","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","name":"AsyncRAT","is_family":true}`
	leakyReport    = `{"type":"report","spec_version":"2.1","id":"report--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a05","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","name":"Weekly","description":"Phishing against ACME corporation staff","published":"2025-03-01T00:00:00Z","object_refs":["malware--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a04"]}`
)

// TestGuardHubCommands drives guard set, show and quarantine against a
// real server, and ingest --org/--assets against its store.
func TestGuardHubCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "fusion.db")
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const admin = "cli-guard-admin-token-0123456789"
	if _, err := server.Bootstrap(ctx, st, t.TempDir(), admin, time.Now()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(st, server.Config{Rate: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	t.Setenv("FUSION_SERVER", srv.URL)
	t.Setenv("FUSION_TOKEN", admin)

	mustRun := func(args ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("fusion %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out
	}
	mustRun("org", "add", "northwind", "--kind", "partner")
	mustRun("org", "add", "other", "--kind", "partner")
	nwAdmin := strings.TrimSpace(mustRun("token", "add", "--org", "northwind", "--role", "admin"))
	nwWrite := strings.TrimSpace(mustRun("token", "add", "--org", "northwind", "--role", "write"))
	otherAdmin := strings.TrimSpace(mustRun("token", "add", "--org", "other", "--role", "admin"))
	mustRun("collection", "grant", store.DefaultCollectionID, "--org", "northwind", "--read", "--write")

	list := filepath.Join(dir, "assets.txt")
	os.WriteFile(list, []byte(hubAssets), 0o600)
	out := mustRun("guard", "set", "--org", "northwind", "--token", nwAdmin, list)
	if !strings.Contains(out, "3 assets (1 cidr, 1 domain, 1 name), action block, sha256:") {
		t.Errorf("guard set: %q", out)
	}
	out = mustRun("guard", "show", "--org", "northwind", "--token", nwAdmin)
	if !strings.HasSuffix(out, hubAssets) || !strings.HasPrefix(out, "# protected-asset list of northwind: 3 assets") {
		t.Errorf("guard show:\n%s", out)
	}
	for _, tok := range []string{otherAdmin, nwWrite} {
		code, out, errs := runCLI(t, "guard", "show", "--org", "northwind", "--token", tok)
		if code != 1 || !strings.Contains(errs, "404") || strings.Contains(out+errs, "198.51.100") {
			t.Errorf("guard show by another token: exit %d %q %q", code, out, errs)
		}
	}
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("cidr 198.51.100.0/24\nfrob secret-customer.example\n"), 0o600)
	if code, out, errs := runCLI(t, "guard", "set", "--org", "northwind", "--token", nwAdmin, bad); code != 1 || !strings.Contains(errs, "line 2") || strings.Contains(out+errs, "secret-customer") {
		t.Errorf("guard set of a bad list: exit %d %q %q", code, out, errs)
	}

	// A partner posts over TAXII: the indicator is blocked, the
	// relationship to it too; the malware passes.
	body := `{"objects":[` + leakyIndicator + "," + leakyRel + "," + cleanMalware + `]}`
	req, _ := http.NewRequest("POST", srv.URL+"/"+store.DefaultAPIRoot+"/collections/"+store.DefaultCollectionID+"/objects/", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+nwWrite)
	req.Header.Set("Content-Type", "application/taxii+json;version=2.1")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var status struct {
		SuccessCount, FailureCount int
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	json.Unmarshal(b, &status, json.RejectUnknownMembers(false), json.MatchCaseInsensitiveNames(true))
	if res.StatusCode != 202 || bytes.Contains(b, []byte("198.51.100")) || !bytes.Contains(b, []byte("cidr at pattern")) {
		t.Fatalf("POST: %d %s", res.StatusCode, b)
	}

	out = mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "list")
	if !strings.Contains(out, "indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01") || !strings.Contains(out, "relationship--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a03") || strings.Contains(out, "malware--") {
		t.Errorf("quarantine list:\n%s", out)
	}
	if code, _, errs := runCLI(t, "guard", "quarantine", "--org", "northwind", "--token", otherAdmin, "list"); code != 1 || !strings.Contains(errs, "404") {
		t.Errorf("other partner's quarantine list: exit %d %s", code, errs)
	}
	out = mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "show", "indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01")
	if !strings.Contains(out, "198.51.100.7") || !strings.Contains(out, `"asset_line": 2`) {
		t.Errorf("quarantine show:\n%s", out)
	}
	edited := filepath.Join(dir, "edited.json")
	os.WriteFile(edited, []byte(strings.Replace(strings.Replace(leakyIndicator, "198.51.100.7", "45.77.10.99", 1), "2025-03-01T00:00:00.000Z\",\"pattern", "2025-03-02T00:00:00.000Z\",\"pattern", 1)), 0o600)
	out = mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "release", "indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01", edited)
	if !strings.Contains(out, "released indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a01 2025-03-02T00:00:00.000Z") || !strings.Contains(out, "1 blocked versions dropped") {
		t.Errorf("release: %q", out)
	}
	mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "drop", "relationship--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a03")
	if out := mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "list"); strings.Contains(out, "--0b8a2a61") {
		t.Errorf("quarantine after release and drop:\n%s", out)
	}

	// ingest --org: the partner's list from the store, blocked objects
	// reported and quarantined, the rest stored with the partner as source.
	in := filepath.Join(dir, "in.jsonl")
	leaky2 := strings.ReplaceAll(leakyIndicator, "0a01", "0b01")
	rel2 := strings.ReplaceAll(strings.ReplaceAll(leakyRel, "0a03", "0b03"), "0a01", "0b01")
	os.WriteFile(in, []byte(leaky2+"\n"+cleanMalware+"\n"+leakyReport+"\n"+rel2+"\n"), 0o600)
	code, out, errs := runCLI(t, "ingest", "--db", "sqlite:"+dbPath, "--org", "northwind", in)
	if code != 1 || !strings.Contains(out, "4 objects") || !strings.Contains(out, "3 rejected") || !strings.Contains(errs, "customer-data guard: 3 objects blocked") {
		t.Errorf("ingest --org: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, "198.51.100") || strings.Contains(strings.ToLower(out+errs), "acme") || !strings.Contains(errs, "cidr at pattern") {
		t.Errorf("ingest --org output names a value or no reason:\n%s%s", out, errs)
	}
	out = mustRun("guard", "quarantine", "--org", "northwind", "--token", nwWrite, "list")
	for _, id := range []string{"indicator--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0b01", "relationship--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0b03", "report--0b8a2a61-2d9b-4d35-9c0d-6f0b1e1f0a05"} {
		if !strings.Contains(out, id) {
			t.Errorf("ingest did not quarantine %s:\n%s", id, out)
		}
	}
	page, err := st.List(ctx, store.DefaultCollectionID, store.Query{Limit: 100, Versions: store.VersionMatch{All: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range page.Versions {
		if bytes.Contains(v.Raw, []byte("198.51.100")) || bytes.Contains(bytes.ToLower(v.Raw), []byte("acme")) {
			t.Errorf("stored: %s", v.Raw)
		}
	}

	// --assets: an explicit list, no quarantine; an invalid object that
	// names an asset is rejected with the guard's reason only.
	invalid := strings.Replace(cleanMalware, `"is_family":true`, `"is_family":"acme-corp.example"`, 1)
	invalid = strings.ReplaceAll(invalid, "0a04", "0c04")
	os.WriteFile(in, []byte(invalid+"\n"), 0o600)
	code, out, errs = runCLI(t, "ingest", "--db", "sqlite:"+dbPath, "--assets", list, in)
	if code != 1 || strings.Contains(out+errs, "acme-corp") || !strings.Contains(errs, "customer-data guard blocked: domain at is_family") {
		t.Errorf("ingest --assets of an invalid leaky object: exit %d\n%s%s", code, out, errs)
	}
}
