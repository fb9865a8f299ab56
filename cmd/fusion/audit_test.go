package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// auditFixture is a store with an audit log: a partner's objects served
// to a member country, integrated and signed with the key in keyFile.
type auditFixture struct {
	flags    []string // --db/--data and --audit-key
	keyFile  string
	verifier string
	st       store.Store
	lg       store.Log
	key      *audit.Key
	exec     func(q string, args ...any)
	// setTree sets the stored tree size (the backends keep it differently);
	// dropHashes deletes the stored hashes from a storage index on (SQLite
	// keeps one row per hash, PostgreSQL rows of 32).
	setTree    func(n int64)
	dropHashes func(from int64)
}

func newAuditFixture(t *testing.T, b backend) *auditFixture {
	t.Helper()
	f := &auditFixture{keyFile: filepath.Join(t.TempDir(), "audit.key")}
	f.flags = append(b.flags(t), "--audit-key", f.keyFile)
	code, out, errs := fusion(t, append([]string{"audit", "key", "--hub-name", "test"}, f.flags...)...)
	if code != 0 || !strings.HasPrefix(out, "fusion.hub/test+") || !strings.Contains(errs, "Created the audit log signing key") {
		t.Fatalf("audit key: %d %q %q", code, out, errs)
	}
	f.verifier = strings.TrimSpace(out)
	if fi, err := os.Stat(f.keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	// Again: the same key, not a new one.
	if _, again, _ := fusion(t, append([]string{"audit", "key"}, f.flags...)...); strings.TrimSpace(again) != f.verifier {
		t.Fatalf("second audit key printed %q", again)
	}
	var err error
	if f.key, err = audit.ReadKeyFile(f.keyFile); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, data := "", ""
	for i := 0; i+1 < len(f.flags); i++ {
		switch f.flags[i] {
		case "--db":
			db = f.flags[i+1]
		case "--data":
			data = f.flags[i+1]
		}
	}
	if f.st, err = openStore(ctx, db, data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.st.Close() })
	f.lg = f.st.(store.Log)
	if db == "" {
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(data, "fusion.db")+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { raw.Close() })
		f.exec = func(q string, args ...any) {
			if _, err := raw.Exec(q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		f.setTree = func(n int64) { f.exec(`UPDATE log_state SET tree_size = $1`, n) }
		f.dropHashes = func(from int64) { f.exec(`DELETE FROM log_hashes WHERE idx >= $1`, from) }
	} else {
		u, _ := url.Parse(db)
		schema := u.Query().Get("search_path")
		conn, err := pgx.Connect(ctx, os.Getenv(pgEnv))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		f.exec = func(q string, args ...any) {
			if _, err := conn.Exec(ctx, "SET search_path TO "+schema); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Exec(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		f.setTree = func(n int64) { f.exec(`UPDATE log_tree SET size = $1`, n) }
		f.dropHashes = func(from int64) {
			f.exec(`DELETE FROM log_hash_chunks WHERE chunk > $1 OR (chunk = $1 AND $2::int = 0)`, from/32, from%32)
			f.exec(`UPDATE log_hash_chunks SET hashes = substr(hashes, 1, $2::int) WHERE chunk = $1 AND $2::int > 0`, from/32, 32*(from%32))
		}
	}

	f.lg.SetRecorder(audit.Recorder(nil))
	hub := ctx
	orgs := map[string]store.Org{}
	for i, o := range []store.Org{{Name: "acme", Kind: store.KindPartner}, {Name: "de-police", Kind: store.KindMember, Country: "DE"}} {
		o.ID, o.Created = fmt.Sprintf("0000000%d-0000-4000-8000-000000000000", i+1), time.Now()
		if err := f.st.CreateOrg(hub, o); err != nil {
			t.Fatal(err)
		}
		orgs[o.Name] = o
	}
	acme, de := orgs["acme"].ID, orgs["de-police"].ID
	var vs []store.Version
	for round := range 5 {
		var objs []*stix.Object
		for j := range 4 {
			n := round*4 + j
			raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--%08x-0000-4000-8000-000000000000","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '203.0.113.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00.000Z"}`, n, n)
			o, err := stix.Parse([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
			vs = append(vs, store.Version{ID: o.ID, Modified: o.Modified, Source: acme})
		}
		if _, err := f.st.Put(audit.WithActor(ctx, acme), store.DefaultCollectionID, acme, objs); err != nil {
			t.Fatal(err)
		}
		if _, err := f.lg.AppendLog(ctx, audit.Served(audit.Access{Time: time.Date(2026, 2, 1+round, 0, 0, 0, 0, time.UTC),
			Actor: de, Path: audit.PathTAXIIObjects, Collection: store.DefaultCollectionID}, vs[len(vs)-4:])); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.New(f.lg, f.key, audit.Config{}).Integrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *auditFixture) serve(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	audit.NewHandler(audit.New(f.lg, f.key, audit.Config{}), audit.HandlerOptions{Caller: func(context.Context) (policy.Caller, bool) {
		return policy.Caller{Org: store.Org{ID: "h", Kind: store.KindHub}, Role: store.RoleAdmin}, true
	}}).Routes(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestAuditCommands(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			f := newAuditFixture(t, b)
			// 2 orgs + 5 rounds of (1 accepted entry naming 4 versions + 1
			// served) = 12 entries.
			code, out, errs := fusion(t, append([]string{"audit", "verify"}, f.flags...)...)
			if code != 0 || !strings.HasPrefix(out, "ok: 12 entries verified against 5 stored checkpoints") {
				t.Fatalf("verify: %d %q %q", code, out, errs)
			}

			// Receipts: five lines, each checkable with the verifier key alone.
			code, out, errs = fusion(t, append([]string{"audit", "receipts", "--org", "acme"}, f.flags...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || len(lines) != 5 {
				t.Fatalf("receipts: %d %d lines %q", code, len(lines), errs)
			}
			var first receiptLine
			if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.To != "de-police" || len(first.Objects) != 4 || first.Path != "taxii.objects" {
				t.Fatalf("receipt line %s: %v", lines[0], err)
			}
			dir := t.TempDir()
			rfile := filepath.Join(dir, "receipts.jsonl")
			os.WriteFile(rfile, []byte(out), 0o644)
			code, ok, errs := fusion(t, "audit", "check-receipt", "--key", f.verifier, rfile)
			if code != 0 || strings.Count(ok, "ok: entry") != 5 {
				t.Fatalf("check-receipt: %d %q %q", code, ok, errs)
			}
			// From stdin too, with the key in a file.
			kfile := filepath.Join(dir, "hub.pub")
			os.WriteFile(kfile, []byte(f.verifier+"\n"), 0o644)
			withStdin(t, strings.NewReader(lines[2]+"\n"))
			if code, ok, errs := fusion(t, "audit", "check-receipt", "--key", kfile); code != 0 || strings.Count(ok, "ok: entry") != 1 {
				t.Fatalf("check-receipt from stdin: %d %q %q", code, ok, errs)
			}
			// A forged receipt: the summary or the entry changed.
			forged := strings.Replace(lines[1], `"to":"de-police"`, `"to":"de-police","to_id":"someone"`, 1)
			var r receiptLine
			json.Unmarshal([]byte(lines[3]), &r)
			r.Receipt.Entry = bytes.Replace(r.Receipt.Entry, []byte("taxii.objects"), []byte("taxii.manifest"), 1)
			changed, _ := json.Marshal(r)
			os.WriteFile(rfile, []byte(lines[0]+"\n"+forged+"\n"+string(changed)+"\n"), 0o644)
			code, ok, errs = fusion(t, "audit", "check-receipt", "--key", f.verifier, rfile)
			if code != 3 || strings.Count(ok, "ok: entry") != 1 || !strings.Contains(errs, ":2: FAIL") || !strings.Contains(errs, ":3: FAIL: receipt for entry") {
				t.Fatalf("forged receipts: %d %q %q", code, ok, errs)
			}
			// --since.
			code, out, _ = fusion(t, append([]string{"audit", "receipts", "--org", "acme", "--since", "2026-02-04T00:00:00Z"}, f.flags...)...)
			if code != 0 || strings.Count(out, "\n") != 2 {
				t.Fatalf("receipts --since: %d %q", code, out)
			}
			if code, out, _ = fusion(t, append([]string{"audit", "receipts", "--org", "de-police"}, f.flags...)...); code != 0 || out != "" {
				t.Fatalf("receipts for an organisation whose data was not served: %d %q", code, out)
			}

			// The witness: first check, then growth.
			srv := f.serve(t)
			state := filepath.Join(dir, "witness.json")
			watch := func(extra ...string) (int, string, string) {
				return fusion(t, append([]string{"audit", "watch", srv.URL, "--key", f.verifier, "--state", state, "--once"}, extra...)...)
			}
			if code, out, errs := watch(); code != 0 || !strings.Contains(out, "first check: tree of 12 entries") {
				t.Fatalf("watch: %d %q %q", code, out, errs)
			}
			appendAndIntegrate(t, f, 3)
			if code, out, errs := watch(); code != 0 || !strings.Contains(out, "tree grew from 12 to 15 entries consistently") {
				t.Fatalf("watch: %d %q %q", code, out, errs)
			}
			// verify also checks the witness's checkpoints.
			if code, out, errs := fusion(t, append([]string{"audit", "verify", "--key", f.verifier, "--witness-state", state}, f.flags...)...); code != 0 || !strings.Contains(out, "and 2 from outside") {
				t.Fatalf("verify --witness-state: %d %q %q", code, out, errs)
			}

			// Change one byte of entry 3.
			es, _ := f.lg.ReadLog(context.Background(), 3, 4)
			f.exec(`UPDATE log_entries SET data = $1 WHERE idx = 3`, bytes.Replace(es[0], []byte(`"indicator"`), []byte(`"indicatos"`), 1))
			code, out, errs = fusion(t, append([]string{"audit", "verify"}, f.flags...)...)
			if code != 3 || !strings.Contains(errs, "first bad index: 3") || !strings.Contains(errs, "entry 3: changed") {
				t.Fatalf("verify after tampering: %d %q %q", code, out, errs)
			}
			if code, _, errs := watch("--full"); code != 3 || !strings.Contains(errs, "ALARM: entry 3 as the hub serves it is not in the tree of 15 entries") {
				t.Fatalf("watch --full after tampering: %d %q", code, errs)
			}
			f.exec(`UPDATE log_entries SET data = $1 WHERE idx = 3`, es[0])

			// Rewrite from 10 (a checkpoint's size) and re-sign with another key.
			other, _ := audit.ParseKey(mustGenerate(t))
			for i := int64(10); i < 15; i++ {
				e := audit.Entry{Kind: audit.KindServed, V: 1, Time: "2026-02-01T00:00:00.000000Z", Actor: "x"}
				f.exec(`UPDATE log_entries SET data = $1 WHERE idx = $2`, audit.Encode(&e), i)
			}
			f.dropHashes(tlog.StoredHashIndex(0, 10))
			f.exec(`DELETE FROM log_checkpoints WHERE size > 10`)
			f.setTree(10)
			if _, err := audit.New(f.lg, other, audit.Config{}).Integrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			code, _, errs = fusion(t, append([]string{"audit", "verify"}, f.flags...)...)
			if code != 3 || !strings.Contains(errs, "first bad index: 10") || !strings.Contains(errs, "checkpoint of size 15 does not verify") {
				t.Fatalf("verify after re-signing: %d %q", code, errs)
			}
			if code, _, errs := watch(); code != 3 || !strings.Contains(errs, "ALARM: the hub's latest checkpoint does not verify with key fusion.hub/test") {
				t.Fatalf("watch after re-signing: %d %q", code, errs)
			}
		})
	}
}

func mustGenerate(t *testing.T) string {
	s, err := audit.GenerateKey("fusion.hub/test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func appendAndIntegrate(t *testing.T, f *auditFixture, n int) {
	var es [][]byte
	for i := range n {
		e := audit.Entry{Kind: audit.KindDenied, V: 1, Time: audit.FormatTime(time.Now()), Actor: "x", Count: int64(i + 1)}
		es = append(es, audit.Encode(&e))
	}
	if _, err := f.lg.AppendLog(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	if _, err := audit.New(f.lg, f.key, audit.Config{}).Integrate(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestAuditCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "frobnicate"}, "unknown subcommand"},
		{[]string{"audit", "watch", "http://x"}, "--key is required"},
		{[]string{"audit", "watch", "--key", "fusion.hub/x+00000000+AAAA"}, "want exactly one hub URL"},
		{[]string{"audit", "watch", "http://127.0.0.1:1", "--key", "nonsense"}, "neither a verifier key"},
		{[]string{"audit", "verify", "--data", dir}, "no --key given and no signing key"},
		{[]string{"audit", "receipts", "--data", dir}, "--org is required"},
		{[]string{"audit", "receipts", "--org", "x", "--since", "yesterday", "--data", dir}, "--since"},
		{[]string{"audit", "key", "--data", dir, "--hub-name", "bad name"}, "name"},
	} {
		code, _, errs := fusion(t, tc.args...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: %d %q, want an error with %q", tc.args, code, errs, tc.want)
		}
	}
	// A key file others may read is refused.
	kf := filepath.Join(dir, "open.key")
	s, _ := audit.GenerateKey("fusion.hub/x")
	os.WriteFile(kf, []byte(s), 0o644)
	if code, _, errs := fusion(t, "audit", "key", "--audit-key", kf); code == 0 || !strings.Contains(errs, "chmod 600") {
		t.Errorf("world-readable key: %d %q", code, errs)
	}
	// An unreachable hub is an error (1), not an alarm (3).
	k, _ := audit.ParseKey(s)
	if code, _, errs := fusion(t, "audit", "watch", "http://127.0.0.1:1", "--key", k.VerifierKey, "--once", "--state", filepath.Join(dir, "w.json")); code != 1 || !strings.Contains(errs, "error:") {
		t.Errorf("unreachable hub: %d %q", code, errs)
	}
}
