package geoip_test

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"fusion/internal/geoip"
	"fusion/internal/geoip/geoiptest"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// stores opens a fresh store per backend (package testdb).
func stores(t *testing.T) map[string]store.Store {
	out := map[string]store.Store{}
	for _, b := range testdb.Backends() {
		out[b.Name] = b.Open(t)
	}
	return out
}

func TestSaveAndCurrent(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := geoip.Current(ctx, st, t.TempDir()); !errors.Is(err, geoip.ErrNotLoaded) {
				t.Fatalf("before any load: %v", err)
			}
			// A bad file is refused and changes nothing.
			dataA := t.TempDir()
			if _, err := geoip.Save(ctx, st, dataA, "bad.mmdb", []byte("nope"), time.Now()); err == nil || !strings.Contains(err.Error(), "bad.mmdb") {
				t.Fatalf("bad file: %v", err)
			}
			if _, err := os.Stat(geoip.FileName(dataA)); !os.IsNotExist(err) {
				t.Fatalf("a refused file was written: %v", err)
			}
			// Big enough for several 1 MiB chunks.
			nets := map[string]string{"198.51.100.0/24": "FR"}
			for i := 0; i < 200000; i++ {
				a := netip.AddrFrom4([4]byte{10 + byte(i>>16), byte(i >> 8), byte(i), 0})
				nets[netip.PrefixFrom(a, 24).String()] = []string{"DE", "IT", "ES"}[i%3]
			}
			b := geoiptest.Build(t, nets, geoiptest.Options{})
			if len(b) <= 1<<20 {
				t.Fatalf("database is %d bytes: too small to need two chunks", len(b))
			}
			m, err := geoip.Save(ctx, st, dataA, "/somewhere/country.mmdb", b, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if m.Name != "country.mmdb" || m.Size != int64(len(b)) {
				t.Errorf("meta %+v", m)
			}
			got, err := os.ReadFile(geoip.FileName(dataA))
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("file in DATA: %v", err)
			}
			// Another node with an empty data directory gets it from the store.
			dataB := t.TempDir()
			db, err := geoip.Current(ctx, st, dataB)
			if err != nil {
				t.Fatal(err)
			}
			if cc := db.Country(netip.MustParseAddr("10.0.4.1")); cc != "IT" {
				t.Errorf("10.0.4.1 → %q", cc)
			}
			if got, _ := os.ReadFile(geoip.FileName(dataB)); !bytes.Equal(got, b) {
				t.Error("node B did not keep the file")
			}
			if db, err := geoip.FromStore(ctx, st); err != nil || db.Meta().SHA256 != m.SHA256 {
				t.Errorf("FromStore: %v", err)
			}
			// A file in DATA that differs from the store's is not used.
			os.WriteFile(geoip.FileName(dataB), []byte("stale"), 0o600)
			if _, err := geoip.Current(ctx, st, dataB); err != nil {
				t.Errorf("stale file: %v", err)
			}
			// Replacing it removes the old chunks.
			b2 := geoiptest.Build(t, map[string]string{"198.51.100.0/24": "BE"}, geoiptest.Options{})
			if _, err := geoip.Save(ctx, st, dataA, "new.mmdb", b2, time.Now()); err != nil {
				t.Fatal(err)
			}
			recs, err := st.ListRecords(ctx, "geoip/chunk/", "", 100)
			if err != nil || len(recs) != 1 {
				t.Errorf("chunks after replacing: %d (%v)", len(recs), err)
			}
			db, err = geoip.Current(ctx, st, dataB)
			if err != nil || db.Country(netip.MustParseAddr("198.51.100.1")) != "BE" {
				t.Errorf("after replacing: %v", err)
			}
		})
	}
}
