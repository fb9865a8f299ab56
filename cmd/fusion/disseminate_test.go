package main

import (
	"context"
	"strings"
	"testing"

	"fusion/internal/disseminate"
	"fusion/internal/geoip/geoiptest"
	"fusion/internal/store"
)

func TestGeoIPAndDisseminateCommands(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			flags := b.flags(t)
			data := t.TempDir()
			if flags[0] == "--db" {
				flags = append(flags, "--data", data) // the geoip file's place
			}
			st := openFromFlags(t, flags)
			for _, o := range []store.Org{
				{ID: "55555555-0000-4000-8000-000000000001", Name: "hub", Kind: store.KindHub},
				{ID: "55555555-0000-4000-8000-000000000002", Name: "fr-police", Kind: store.KindMember, Country: "FR"},
			} {
				if err := st.CreateOrg(ctx, o); err != nil {
					t.Fatal(err)
				}
			}
			st.Close()
			in := writeFile(t, "in.json", bundleOf(indicatorN(7), indicatorN(300)))
			if code, _, stderr := fusion(t, append(append([]string{"ingest"}, flags...), in)...); code != 0 {
				t.Fatalf("ingest: %s", stderr)
			}

			// Refused files name the file and the problem, and change nothing.
			bad := writeFile(t, "asn.mmdb", string(geoiptest.Build(t, map[string]string{"198.51.100.0/24": "FR"}, geoiptest.Options{DatabaseType: "GeoLite2-ASN"})))
			if code, _, stderr := fusion(t, append(append([]string{"geoip", "load"}, flags...), bad)...); code != 1 || !strings.Contains(stderr, "asn.mmdb") || !strings.Contains(stderr, "not a country database") {
				t.Errorf("loading an ASN database: %d %s", code, stderr)
			}
			if code, _, stderr := fusion(t, append([]string{"disseminate"}, flags...)...); code != 1 || !strings.Contains(stderr, "geoip load") {
				t.Errorf("disseminate without a database: %d %s", code, stderr)
			}

			db := writeFile(t, "country.mmdb", string(geoiptest.Build(t, map[string]string{"198.51.100.0/24": "FR", "203.0.113.0/24": "DE"}, geoiptest.Options{})))
			code, stdout, stderr := fusion(t, append(append([]string{"geoip", "load"}, flags...), db)...)
			if code != 0 || !strings.Contains(stdout, "loaded country.mmdb: Fusion-Test-Country") {
				t.Fatalf("geoip load: %d %s %s", code, stdout, stderr)
			}
			code, stdout, _ = fusion(t, append(append([]string{"geoip", "lookup"}, flags...), "198.51.100.7", "203.0.0.0/8", "192.0.2.1")...)
			want := "198.51.100.7\tFR\tFrance\n203.0.0.0/8\tDE\tGermany\n192.0.2.1\t-\tunknown\n"
			if code != 0 || stdout != want {
				t.Errorf("geoip lookup: %d %q, want %q", code, stdout, want)
			}
			if code, _, stderr := fusion(t, append(append([]string{"geoip", "lookup"}, flags...), "not-an-ip")...); code != 1 || !strings.Contains(stderr, "not-an-ip") {
				t.Errorf("lookup of a bad address: %d %s", code, stderr)
			}

			code, stdout, stderr = fusion(t, append([]string{"disseminate"}, flags...)...)
			if code != 0 || !strings.HasPrefix(stdout, "disseminate: 2 objects examined, 1 members concerned, 1 new reports, ") || strings.Count(stdout, "\n") != 1 {
				t.Fatalf("disseminate: %d %q %s", code, stdout, stderr)
			}
			code, stdout, _ = fusion(t, append([]string{"disseminate", "--since", "2000-01-01T00:00:00Z"}, flags...)...)
			if code != 0 || !strings.Contains(stdout, " 0 new reports, 0 objects newly stored") {
				t.Errorf("second run: %d %q", code, stdout)
			}
			if code, _, stderr := fusion(t, append([]string{"disseminate", "--since", "last week"}, flags...)...); code != 1 || !strings.Contains(stderr, "--since") {
				t.Errorf("bad --since: %d %s", code, stderr)
			}
			// The member's collection holds the hub identity, the report and both indicators (198.51.100.x).
			st = openFromFlags(t, flags)
			defer st.Close()
			page, err := st.List(ctx, disseminate.ReportCollectionID("55555555-0000-4000-8000-000000000002"), store.Query{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, v := range page.Versions {
				types = append(types, v.Type+":"+v.ID[len(v.ID)-3:])
			}
			if got := strings.Join(types, ","); !strings.Contains(got, "report:") || !strings.Contains(got, "indicator:000") || len(types) != 4 {
				t.Errorf("member collection: %s", got)
			}
		})
	}
}
