package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"fusion/internal/audit"
	"fusion/internal/audit/audittest"
	"fusion/internal/policy"
	"fusion/internal/stix"
	"fusion/internal/store"
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
			st := openFromFlags(t, db)
			defer st.Close()
			raws, entries := audittest.Read(t, st.(store.Log))
			var served []audit.Entry
			for i, raw := range raws {
				if strings.Contains(string(raw), `"`+audit.PathExport+`"`) {
					served = append(served, entries[i])
				}
			}
			if len(served) != 1 {
				t.Fatalf("%d export entries in the log, want 1 (log: %d entries)", len(served), len(raws))
			}
			named := map[string]bool{}
			for _, it := range served[0].Objects {
				named[it.ID] = true
			}
			if len(served[0].Objects) != len(got) {
				t.Errorf("the export entry names %d versions, the export has %d objects", len(served[0].Objects), len(got))
			}
			for _, o := range got {
				id, _ := o["id"].(string)
				if id == "" || !named[id] {
					t.Errorf("the export entry does not name %q", id)
				}
			}
		})
	}
}

// export --as ORG leaves out what ORG may not see, and says so in the
// log: a served entry for what the file holds and a denied entry (reason
// "policy (export --as ORG-ID)") naming what was left out.
func TestExportAsLogsWhatItWithholds(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			db := b.flags(t)
			ctx := context.Background()
			st := openFromFlags(t, db)
			acme := store.Org{ID: "00000001-0000-4000-8000-0000000000a1", Name: "acme", Kind: store.KindPartner}
			de := store.Org{ID: "00000001-0000-4000-8000-0000000000de", Name: "de-police", Kind: store.KindMember, Country: "DE"}
			for _, o := range []store.Org{acme, de} {
				if err := st.CreateOrg(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.SetGrant(ctx, store.Grant{Collection: store.DefaultCollectionID, OrgID: de.ID, Read: true}); err != nil {
				t.Fatal(err)
			}
			var objs []*stix.Object
			for i, m := range []string{policy.TLP2ClearID, policy.TLP2RedID} {
				o, err := stix.Parse(fmt.Appendf(nil, `{"type":"indicator","spec_version":"2.1","id":"indicator--00000000-0000-4000-8000-00000000000%d","created":"2026-01-01T00:00:00.000Z","modified":"2026-01-01T00:00:00.000Z","name":"secret %d","pattern":"[ipv4-addr:value = '198.51.100.%d']","pattern_type":"stix","valid_from":"2026-01-01T00:00:00Z","object_marking_refs":[%q]}`, i, i, i, m))
				if err != nil {
					t.Fatal(err)
				}
				objs = append(objs, o)
			}
			if _, err := st.Put(ctx, store.DefaultCollectionID, acme.ID, objs); err != nil {
				t.Fatal(err)
			}
			before, err := st.LogSize(ctx)
			if err != nil {
				t.Fatal(err)
			}
			st.Close()

			_, got := exported(t, append(db, "--as", "de-police")...)
			if len(got) != 1 || got[0]["id"] != objs[0].ID {
				t.Fatalf("export --as de-police: %v", got)
			}
			st = openFromFlags(t, db)
			defer st.Close()
			n, _ := st.LogSize(ctx)
			raw, err := st.ReadLog(ctx, before, n)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range raw {
				e, err := audit.ParseEntry(r)
				if err != nil {
					t.Fatal(err)
				}
				kinds = append(kinds, e.Kind)
				want := objs[0].ID
				if e.Kind == audit.KindDenied {
					want = objs[1].ID
					if e.Reason != "policy (export --as "+de.ID+")" || e.Source != acme.ID || e.Path != audit.PathExport {
						t.Errorf("denied entry %+v", e)
					}
				}
				if len(e.Objects) != 1 || e.Objects[0].ID != want {
					t.Errorf("%s entry names %v, want %s", e.Kind, e.Objects, want)
				}
				if strings.Contains(string(r), "secret") {
					t.Errorf("entry holds content: %s", r)
				}
			}
			if !slices.Equal(kinds, []string{audit.KindServed, audit.KindDenied}) {
				t.Fatalf("export --as logged %v, want served then denied", kinds)
			}
		})
	}
}
