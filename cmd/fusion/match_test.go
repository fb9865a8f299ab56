package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

const matchSHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// matchServer runs a hub with indicators shared by a partner, and returns
// its URL and the token of a member country with a read grant.
func matchServer(t *testing.T) (url, memberToken string) {
	t.Helper()
	url, memberToken, _ = matchServerStore(t)
	return url, memberToken
}

// matchServerStore is matchServer, also returning the hub's store.
func matchServerStore(t *testing.T) (url, memberToken string, st store.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st = db
	now := time.Now()
	if _, err := server.Bootstrap(ctx, st, t.TempDir(), "cli-match-admin-token-0123456789", now); err != nil {
		t.Fatal(err)
	}
	partner := store.Org{ID: "0a1b2c3d-0000-4000-8000-0000000000a1", Name: "acme", Kind: store.KindPartner, Created: now}
	member := store.Org{ID: "0a1b2c3d-0000-4000-8000-0000000000a2", Name: "de-police", Kind: store.KindMember, Country: "DE", Created: now}
	other := "0a1b2c3d-0000-4000-8000-0000000000a3"
	for _, o := range []store.Org{partner, member} {
		if err := st.CreateOrg(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	secret, hash := server.NewToken()
	if err := st.CreateToken(ctx, store.Token{ID: "0f0f0f0f-0000-4000-8000-0000000000a2", OrgID: member.ID, Role: store.RoleRead, Hash: hash, Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetGrant(ctx, store.Grant{Collection: store.DefaultCollectionID, OrgID: member.ID, Read: true}); err != nil {
		t.Fatal(err)
	}
	ind := func(n int, pattern, marking, extra string) *stix.Object {
		raw := fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-%012d",`+
			`"created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"indicator %d","pattern":%q,`+
			`"pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","object_marking_refs":["%s"]%s}`, n, n, pattern, marking, extra)
		o, err := stix.Parse([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	red := `,"extensions":{"extension-definition--36dda94d-4b3d-4ec6-9ec4-858a76ef95a4":{"extension_type":"property-extension","recipients":["` + other + `"]}}`
	objs := []*stix.Object{
		ind(1, "[ipv4-addr:value = '198.51.100.7']", policy.TLP2GreenID, ""),
		ind(2, "[domain-name:value = 'evil.example.net']", policy.TLP2GreenID, ""),
		ind(3, "[url:value = 'http://bad.example/x/payload.exe']", policy.TLP2GreenID, ""),
		ind(4, "[email-addr:value = 'phish@mail.example.org']", policy.TLP2GreenID, ""),
		ind(5, "[file:hashes.'SHA-256' = '"+matchSHA256+"']", policy.TLP2GreenID, ""),
		ind(6, "[ipv4-addr:value = '192.0.2.66']", policy.TLP2RedID, red), // for another recipient only
	}
	if _, err := st.Put(ctx, store.DefaultCollectionID, partner.ID, objs); err != nil {
		t.Fatal(err)
	}
	srv := server.New(st, server.Config{Rate: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv.StartMatching(t.Context())
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return hs.URL, secret, st
}

func writeMatchFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseMatches reads fusion match's JSON lines as "file:line kind value indicator".
func parseMatches(t *testing.T, out string) []string {
	t.Helper()
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m matchLine
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("output line %q: %v", l, err)
		}
		got = append(got, fmt.Sprintf("%s:%d %s %s %s", filepath.Base(m.File), m.Line, m.Kind, m.Value, strings.TrimLeft(m.Indicator[len(m.Indicator)-12:], "0")))
	}
	return got
}

func TestMatchCommand(t *testing.T) {
	url, tok := matchServer(t)
	run := func(args ...string) (string, string) {
		t.Helper()
		code, out, errs := runCLI(t, append([]string{"match", "--server", url, "--token", tok}, args...)...)
		if code != 0 {
			t.Fatalf("fusion match %s: exit %d: %s%s", strings.Join(args, " "), code, out, errs)
		}
		return out, errs
	}

	t.Run("extract from a log with defanged values", func(t *testing.T) {
		log := writeMatchFile(t, "proxy.log", strings.Join([]string{
			"2024-05-01T10:00:00Z GET hxxp://bad[.]example/x/payload.exe from 10.1.2.3",
			"2024-05-01T10:00:01Z nothing to see at example.org from 8.8.8.8",
			"2024-05-01T10:00:02Z dns query www.evil[.]example[.]net by 10.1.2.4",
			"mail from phish[at]mail[.]example[.]org to someone@example.org",
			"conn 198.51.100[.]7:443 and 192.0.2[.]66:80",
			"file " + strings.ToUpper(matchSHA256) + " written",
		}, "\n")) // no final newline
		out, errs := run("--extract", "--chunk", "3", log)
		want := []string{
			"proxy.log:1 exact http://bad.example/x/payload.exe 3",
			"proxy.log:3 subdomain www.evil.example.net 2",
			"proxy.log:4 exact phish@mail.example.org 4",
			"proxy.log:5 exact 198.51.100.7 1",
			"proxy.log:6 exact " + matchSHA256 + " 5",
		}
		if got := parseMatches(t, out); !slices.Equal(got, want) {
			t.Errorf("matches\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if strings.Contains(out, "192.0.2.66") || strings.Contains(out, "indicator--00000000-0000-4000-8000-000000000006") {
			t.Errorf("the RED indicator for another recipient shows: %s", out)
		}
		if !regexp.MustCompile(`^6 lines read, \d+ observables, 5 matches in [0-9.]+s \(\d+ observables/s\)\n$`).MatchString(errs) {
			t.Errorf("summary: %q", errs)
		}
	})

	t.Run("lists, CSV, JSON lines, table", func(t *testing.T) {
		list := writeMatchFile(t, "list.txt", "8.8.8.8\nevil.example.net\n\n198.51.100.7\n")
		csvFile := writeMatchFile(t, "conns.csv", "time,src,dst\n1,10.0.0.1,198.51.100.7\n2,10.0.0.1,\"evil.example.net\"\n3,10.0.0.2,9.9.9.9\n")
		jl := writeMatchFile(t, "dns.jsonl", `{"q":{"name":"evil.example.net"}}`+"\n"+`{"q":{"name":"ok.example"}}`+"\nnot json\n"+`{"q":{"name":"phish@mail.example.org"}}`+"\n")
		out, _ := run(list)
		if got := parseMatches(t, out); !slices.Equal(got, []string{"list.txt:2 exact evil.example.net 2", "list.txt:4 exact 198.51.100.7 1"}) {
			t.Errorf("list: %v", got)
		}
		out, _ = run("--column", "3", csvFile)
		if got := parseMatches(t, out); !slices.Equal(got, []string{"conns.csv:2 exact 198.51.100.7 1", "conns.csv:3 exact evil.example.net 2"}) {
			t.Errorf("csv: %v", got)
		}
		out, _ = run("--field", "q.name", jl)
		if got := parseMatches(t, out); !slices.Equal(got, []string{"dns.jsonl:1 exact evil.example.net 2", "dns.jsonl:4 exact phish@mail.example.org 4"}) {
			t.Errorf("json lines: %v", got)
		}
		out, errs := run("--table", list, csvFile)
		if !regexp.MustCompile(`(?m)^FILE:LINE\s+VALUE\s+KIND\s+INDICATOR`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^\S*list.txt:4\s+198\.51\.100\.7\s+exact\s+indicator--00000000-0000-4000-8000-000000000001\s+indicator 1\s+acme$`).MatchString(out) {
			t.Errorf("table:\n%s", out)
		}
		if !strings.HasPrefix(errs, "8 lines read, 7 observables, 2 matches") {
			t.Errorf("summary: %q", errs)
		}
	})

	t.Run("errors", func(t *testing.T) {
		list := writeMatchFile(t, "list.txt", "evil.example\n")
		if code, _, errs := runCLI(t, "match", "--server", url, "--token", "wrong", list); code != 1 || !strings.Contains(errs, "401") {
			t.Errorf("bad token: %d %s", code, errs)
		}
		if code, _, errs := runCLI(t, "match", "--server", url, "--token", tok, "--extract", "--column", "2", list); code != 1 || !strings.Contains(errs, "exclude") {
			t.Errorf("two modes: %d %s", code, errs)
		}
		if code, _, errs := runCLI(t, "match", "--server", url, "--token", tok, filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errs, "missing") {
			t.Errorf("missing file: %d %s", code, errs)
		}
	})
}

// TestMatchReportSightings: --report-sightings makes the hub store one
// sighting per matched indicator from the member, whose count adds up
// over requests (chunks) and runs; the output names it.
func TestMatchReportSightings(t *testing.T) {
	url, tok, st := matchServerStore(t)
	list := writeMatchFile(t, "list.txt", "198.51.100.7\n8.8.8.8\n198.51.100.7\nwww.evil.example.net\n")
	member := "0a1b2c3d-0000-4000-8000-0000000000a2"
	sid := server.SightingID(member, "indicator--00000000-0000-4000-8000-000000000001")
	for run := 1; run <= 2; run++ {
		code, out, errs := runCLI(t, "match", "--server", url, "--token", tok, "--report-sightings", "--chunk", "1", list)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		var sightings []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m matchLine
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			sightings = append(sightings, m.Kind+" "+m.Sighting)
		}
		// The subdomain match is weaker than the indicator: no sighting.
		if want := []string{"exact " + sid, "exact " + sid, "subdomain "}; !slices.Equal(sightings, want) {
			t.Errorf("run %d: %v, want %v", run, sightings, want)
		}
		if !strings.Contains(errs, "\n1 sightings reported to the hub") {
			t.Errorf("summary: %q", errs)
		}
		p, err := st.List(t.Context(), server.SightingsCollectionID, store.Query{IDs: []string{sid}, Limit: 10})
		if err != nil || len(p.Versions) != 1 {
			t.Fatalf("sighting %s: %v %v", sid, p.Versions, err)
		}
		var s struct {
			Count int `json:"count"`
		}
		if err := json.Unmarshal(p.Versions[0].Raw, &s, json.RejectUnknownMembers(false)); err != nil || s.Count != 2*run {
			t.Errorf("run %d: count %d (%v), want %d", run, s.Count, err, 2*run)
		}
	}
}
