package geoip_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"

	"fusion/internal/geoip"
	"fusion/internal/geoip/geoiptest"
)

var nets = map[string]string{
	"198.51.0.0/16":   "FR",
	"198.51.100.0/24": "DE",
	"203.0.113.0/24":  "GB",
	"2001:db8::/32":   "JP",
}

func TestLookup(t *testing.T) {
	db, err := geoip.Parse("t.mmdb", geoiptest.Build(t, nets, geoiptest.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for ip, want := range map[string]string{
		"198.51.3.4": "FR", "198.51.100.9": "DE", "203.0.113.200": "GB",
		"2001:db8::1": "JP", "::ffff:203.0.113.5": "GB", "8.8.8.8": "", "2002::1": "",
	} {
		if got := db.Country(netip.MustParseAddr(ip)); got != want {
			t.Errorf("Country(%s) = %q, want %q", ip, got, want)
		}
	}
	for p, want := range map[string][]string{
		"198.51.0.0/16":   {"FR", "DE"}, // overlaps both
		"198.51.100.0/25": {"DE"},       // inside one network
		"198.51.0.0/24":   {"FR"},
		"198.0.0.0/8":     {"FR", "DE"}, // network address unknown, networks inside known
		"203.0.113.7/32":  {"GB"},
		"192.0.2.0/24":    nil,
		"2001:db8::/48":   {"JP"},
	} {
		got := db.Countries(netip.MustParsePrefix(p))
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Countries(%s) = %v, want %v", p, got, want)
		}
	}
	m := db.Meta()
	if m.Type != "Fusion-Test-Country" || m.IPVersion != 6 || len(m.SHA256) != 64 || m.Built.IsZero() {
		t.Errorf("meta %+v", m)
	}
}

func TestAlternativeRecordShapes(t *testing.T) {
	// IPinfo-style: "country": "fr"; registered_country only.
	for name, rec := range map[string]func(string) mmdbtype.DataType{
		"plain": func(cc string) mmdbtype.DataType {
			return mmdbtype.Map{"country": mmdbtype.String(strings.ToLower(cc))}
		},
		"registered": func(cc string) mmdbtype.DataType {
			return mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(cc)}}
		},
	} {
		db, err := geoip.Parse(name, geoiptest.Build(t, nets, geoiptest.Options{Record: rec}))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := db.Country(netip.MustParseAddr("198.51.100.1")); got != "DE" {
			t.Errorf("%s: got %q", name, got)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := geoiptest.Build(t, nets, geoiptest.Options{})
	asn := geoiptest.Build(t, nets, geoiptest.Options{DatabaseType: "GeoLite2-ASN"})
	noCountry := geoiptest.Build(t, nets, geoiptest.Options{Record: func(string) mmdbtype.DataType {
		return mmdbtype.Map{"city": mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Paris")}}}
	}})
	corrupt := slices.Clone(good)
	for i := 0; i < 64 && i < len(corrupt); i++ {
		corrupt[i] ^= 0xff // the search tree
	}
	for name, c := range map[string]struct {
		b    []byte
		want string
	}{
		"empty":      {nil, "not a MaxMind DB file"},
		"text":       {[]byte("hello, this is not a database\n"), "not a MaxMind DB file"},
		"truncated":  {good[:len(good)/2], "not a MaxMind DB file"},
		"corrupt":    {corrupt, "corrupt"},
		"asn":        {asn, `database type "GeoLite2-ASN" is not a country database`},
		"no country": {noCountry, "no country field"},
	} {
		_, err := geoip.Parse("bad.mmdb", c.b)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "bad.mmdb") {
			t.Errorf("%s: err = %v, want one naming bad.mmdb and %q", name, err, c.want)
		}
	}
	if _, err := geoip.OpenFile(filepath.Join(t.TempDir(), "missing.mmdb")); err == nil || !strings.Contains(err.Error(), "missing.mmdb") {
		t.Errorf("missing file: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\xab\xcd\xefMaxMind.com"))
	good, _ := geoiptest.BuildBytes(nets, geoiptest.Options{})
	f.Add(good)
	if b, err := os.ReadFile("testdata/small.mmdb"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		db, err := geoip.Parse("fuzz.mmdb", b)
		if err != nil {
			if db != nil {
				t.Fatal("db with error")
			}
			return
		}
		db.Country(netip.MustParseAddr("198.51.100.1"))
		db.Countries(netip.MustParsePrefix("0.0.0.0/0"))
		db.Countries(netip.MustParsePrefix("::/0"))
	})
}
