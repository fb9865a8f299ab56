package server_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/go-json-experiment/json"

	"fusion/internal/audit"
	"fusion/internal/store"
	"fusion/internal/store/sqlite"
)

// TestMatchAudit: a match that shows hits appends one served entry
// (path match) naming exactly the indicator versions shown; a miss and a
// match whose only hits are hidden from the caller append none, so the
// caller's view of the log is the same as for a miss.
func TestMatchAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "fusion.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetRecorder(audit.Recorder(nil))
	key, _, err := audit.LoadOrCreateKey(filepath.Join(dir, "audit.key"), audit.OriginPrefix+"test-hub")
	if err != nil {
		t.Fatal(err)
	}
	lg := audit.New(db, key, audit.Config{Logger: quietLogger()})
	m := newMatchEnvLog(t, db, lg)

	// matchEntries integrates the log and returns the match entries org
	// sees over the audit API, and the tree size.
	matchEntries := func(org string) []audit.Entry {
		t.Helper()
		if _, err := lg.Integrate(ctx); err != nil {
			t.Fatal(err)
		}
		r := m.call("GET", "/api/v1/audit/entries?start=0", "Bearer "+m.tok[org], "")
		if r.code != 200 {
			t.Fatalf("GET audit entries as %s: %d %s", org, r.code, r.body)
		}
		var res audit.EntriesJSON
		if err := json.Unmarshal([]byte(r.body), &res); err != nil {
			t.Fatal(err)
		}
		var out []audit.Entry
		for _, ej := range res.Entries {
			en, err := audit.ParseEntry(ej.Entry)
			if err != nil {
				t.Fatalf("entry %d: %v", ej.Index, err)
			}
			if !en.Concerns(m.ids[org]) {
				t.Errorf("%s sees an entry that does not concern it: %+v", org, en)
			}
			if en.Path == audit.PathMatch {
				out = append(out, en)
			}
		}
		return out
	}
	logSize := func() int64 {
		t.Helper()
		n, err := db.LogSize(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if es := matchEntries("de-police"); len(es) != 0 {
		t.Fatalf("match entries before any match: %+v", es)
	}

	// A miss and hidden hits (TLP:RED for fr-police; no grant) append
	// nothing at all.
	before := logSize()
	m.match("de-police", "", "192.0.2.99\n")
	if r := m.match("de-police", "", "192.0.2.66\n"); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("hidden hit: %d %q", r.code, r.body)
	}
	if r := m.match("nl-police", "", "198.51.100.7\n"); r.code != 200 || len(r.body) != 0 {
		t.Fatalf("no grant: %d %q", r.code, r.body)
	}
	if n := logSize(); n != before {
		t.Errorf("a miss and hidden hits appended %d entries", n-before)
	}
	for _, org := range []string{"de-police", "nl-police"} {
		if es := matchEntries(org); len(es) != 0 {
			t.Errorf("%s sees match entries after hidden hits: %+v", org, es)
		}
	}

	// One visible hit: one entry naming that version.
	got := lines(t, m.match("de-police", "", "198.51.100.7\n8.8.8.8\n"))
	if len(got) != 1 || got[0].Indicator != indID(1) {
		t.Fatalf("visible hit: %+v", got)
	}
	es := matchEntries("de-police")
	if len(es) != 1 {
		t.Fatalf("%d match entries for de-police, want 1: %+v", len(es), es)
	}
	en := es[0]
	if en.Kind != audit.KindServed || en.Actor != m.ids["de-police"] || en.Org != m.ids["de-police"] ||
		en.Source != m.ids["acme"] || en.Collection != store.DefaultCollectionID ||
		!slices.Equal(en.Objects, []audit.Item{{ID: indID(1), Version: v1}}) {
		t.Errorf("match entry %+v", en)
	}

	// The source sees it too; fr-police's match of its RED indicator is
	// recorded for fr-police, and de-police still sees only its own.
	if es := matchEntries("acme"); len(es) != 1 {
		t.Errorf("acme sees %d match entries, want 1: %+v", len(es), es)
	}
	if s := summary(lines(t, m.match("fr-police", "", "192.0.2.66\n198.51.100.7\n203.0.113.5\n198.51.100.7\n"))); len(s) != 4 {
		t.Fatalf("fr-police: %v", s)
	}
	fr := matchEntries("fr-police")
	if len(fr) != 1 || !slices.Equal(fr[0].Objects, []audit.Item{{ID: indID(8), Version: v1}, {ID: indID(1), Version: v1}, {ID: indID(2), Version: v1}}) {
		t.Errorf("fr-police's match entries %+v, want one naming indicators 8, 1 and 2", fr)
	}
	if es := matchEntries("de-police"); len(es) != 1 {
		t.Errorf("de-police sees %d match entries after fr-police's match, want 1: %+v", len(es), es)
	}
}
