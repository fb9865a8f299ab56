package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"

	"fusion/internal/guard"
	"fusion/internal/server"
)

// TestGuardListInPieces: a list of 100,000 assets is stored in small
// records (none over 16 KiB: a large record slows every record lookup on
// SQLite), read back byte for byte, replaced without leaving pieces of
// the old text behind; a list stored whole by an earlier version is still
// read and is replaced by pieces at the next change.
func TestGuardListInPieces(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		ctx := context.Background()
		st := open(t)
		g := server.NewGuard(st, quietLogger(), nil)
		big := string(benchAssets(nil, 100_000))
		if _, err := g.SetList(ctx, "org-1", []byte(big), ""); err != nil {
			t.Fatal(err)
		}
		checkSmall := func(when string) int {
			n := 0
			for after := ""; ; {
				recs, err := st.ListRecords(ctx, "guard:", after, 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range recs {
					if len(r.Value) > 16<<10 {
						t.Errorf("%s: record %s holds %d bytes", when, r.Key, len(r.Value))
					}
					if strings.HasPrefix(r.Key, "guard:lc:") {
						n++
					}
				}
				if len(recs) < 1000 {
					return n
				}
				after = recs[len(recs)-1].Key
			}
		}
		pieces := checkSmall("100k list")
		if pieces < len(big)/(16<<10) {
			t.Errorf("%d pieces for %d bytes", pieces, len(big))
		}
		// another node reads it
		_, text, err := server.NewGuard(st, quietLogger(), nil).ListText(ctx, "org-1")
		if err != nil || text != big {
			t.Fatalf("read back: %v, %d bytes of %d", err, len(text), len(big))
		}
		sc, err := server.NewGuard(st, quietLogger(), nil).Scanner(ctx, "org-1")
		if err != nil || sc.List().Len() != 100_000 {
			t.Fatalf("scanner: %v", err)
		}
		small := "domain secret-customer.example\n"
		if _, err := g.SetList(ctx, "org-1", []byte(small), ""); err != nil {
			t.Fatal(err)
		}
		if n := checkSmall("small list"); n != 1 {
			t.Errorf("%d pieces left after replacing with a one-line list", n)
		}
		if _, text, err := g.ListText(ctx, "org-1"); err != nil || text != small {
			t.Errorf("after replacing: %v %q", err, text)
		}

		// legacy: meta and whole list in guard:meta / guard:list
		legacyMeta := server.GuardMeta{Digest: "sha256:00", Action: "block", Assets: 1}
		mb, _ := json.Marshal(legacyMeta)
		lb, _ := json.Marshal(struct {
			server.GuardMeta `json:",inline"`
			Text             string `json:"text"`
		}{legacyMeta, "domain legacy-customer.example\n"})
		if err := st.SetRecord(ctx, "guard:list:org-2", lb); err != nil {
			t.Fatal(err)
		}
		if err := st.SetRecord(ctx, "guard:meta:org-2", mb); err != nil {
			t.Fatal(err)
		}
		g2 := server.NewGuard(st, quietLogger(), nil)
		sc, err = g2.Scanner(ctx, "org-2")
		if err != nil {
			t.Fatal(err)
		}
		if r := sc.Scan([]byte(`{"type":"note","content":"mail.legacy-customer.example"}`)); r.Action != guard.Block {
			t.Errorf("legacy list not applied: %v", r.Action)
		}
		if _, err := g2.SetAction(ctx, "org-2", "redact"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.GetRecord(ctx, "guard:list:org-2"); err == nil {
			t.Error("the legacy whole-list record is still there after a change")
		}
		if m, text, err := g2.ListText(ctx, "org-2"); err != nil || text != "domain legacy-customer.example\n" || m.Action != "redact" {
			t.Errorf("legacy list after a change: %v %q %+v", err, text, m)
		}
	})
}
