package main

import (
	"context"
	"strings"
	"testing"

	"fusion/internal/audit"
)

// Every page export writes is recorded in the audit log as served to
// the operator, with the ids it carried, before it is written.
func TestExportLogsWhatItServes(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			file := "testdata/stix-examples/indicator-for-c2-ip-address.json"
			if code, _, errs := fusion(t, append(append([]string{"ingest"}, db...), file)...); code != 0 {
				t.Fatalf("ingest: exit %d: %s", code, errs)
			}
			_, got := exported(t, db...)
			if len(got) == 0 {
				t.Fatal("nothing exported")
			}
			ctx := context.Background()
			var dbURL, data string
			if db[0] == "--db" {
				dbURL = db[1]
			} else {
				data = db[1]
			}
			st, err := openStore(ctx, dbURL, data)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			n, err := st.LogSize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := st.ReadLog(ctx, 0, n)
			if err != nil {
				t.Fatal(err)
			}
			var served []audit.Entry
			for _, raw := range entries {
				e, err := audit.ParseEntry(raw)
				if err != nil {
					t.Fatalf("entry %s: %v", raw, err)
				}
				if strings.Contains(string(raw), `"`+audit.PathExport+`"`) {
					served = append(served, e)
				}
			}
			if len(served) != 1 {
				t.Fatalf("%d export entries in the log, want 1 (log: %d entries)", len(served), n)
			}
			last := string(entries[len(entries)-1])
			for _, o := range got {
				id, _ := o["id"].(string)
				if id == "" || !strings.Contains(last, id) {
					t.Errorf("the export entry does not name %q", id)
				}
			}
		})
	}
}
