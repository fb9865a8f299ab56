package guard

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestNormalizeIP(t *testing.T) {
	tests := []struct {
		in, want string // want "" = error
	}{
		{"198.51.100.7", "198.51.100.7"},
		{" 198.51.100.7 ", "198.51.100.7"},
		{"198.051.100.007", "198.51.100.7"}, // zero padding read as decimal
		{"3325256711", "198.51.100.7"},
		{"0xC6336407", "198.51.100.7"},
		{"0xc6.0x33.0x64.0x07", "198.51.100.7"},
		{"0306.063.0144.07", "198.51.100.7"}, // octal parts
		{"198.51.100[.]7", "198.51.100.7"},
		{"198[.]51[.]100[.]7", "198.51.100.7"},
		{"198(.)51(.)100(.)7", "198.51.100.7"},
		{"198.51.100.7:443", "198.51.100.7"},
		{"hxxp://198[.]51[.]100[.]7:8080/x", "198.51.100.7"},
		{"http://user@198.51.100.7/", "198.51.100.7"},
		{"::ffff:198.51.100.7", "198.51.100.7"},
		{"0:0:0:0:0:ffff:c633:6407", "198.51.100.7"},
		{"2001:db8:ac3e::17", "2001:db8:ac3e::17"},
		{"2001:0DB8:AC3E:0000:0000:0000:0000:0017", "2001:db8:ac3e::17"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"2001:db8[:]:1", "2001:db8::1"},
		{"198.51.100", ""},
		{"198.51.100.256", ""},
		{"198.51.100.7.1", ""},
		{"acme-corp.example", ""},
		{"4294967296", ""},
		{"0x1C6336407", ""},
		{"", ""},
		{"[2001:db8::1", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeIP(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeIP(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("NormalizeIP(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizePrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"198.51.100.0/24", "198.51.100.0/24"},
		{"198.51.100.7/24", "198.51.100.0/24"}, // masked
		{"198.51.100.7", "198.51.100.7/32"},
		{"198.51.100[.]0/25", "198.51.100.0/25"},
		{"2001:db8:ac3e::/48", "2001:db8:ac3e::/48"},
		{"::ffff:198.51.100.0/120", "198.51.100.0/24"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"198.51.100.0/33", ""},
		{"198.51.100.0/", ""},
		{"198.51.100.0/x", ""},
		{"::ffff:198.51.100.0/64", ""},
	}
	for _, tt := range tests {
		got, err := NormalizePrefix(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizePrefix(%q) = %v, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got.String() != tt.want {
			t.Errorf("NormalizePrefix(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"acme-corp.example", "acme-corp.example"},
		{"ACME-Corp.Example.", "acme-corp.example"},
		{"acme-corp[.]example", "acme-corp.example"},
		{"acme-corp(dot)example", "acme-corp.example"},
		{"acme-corp dot example", "acme-corp.example"},
		{"hxxps://vpn.acme-corp[.]example:8443/login?x=1", "vpn.acme-corp.example"},
		{"https://user:pw@acme-corp.example/", "acme-corp.example"},
		{"acme-corp.example:443", "acme-corp.example"},
		{"acme-corp.example/login?x", "acme-corp.example"},
		{"-acme.example", ""},
		{"acme.123", ""},
		{"Bücher-Kunde.example", "xn--bcher-kunde-thb.example"},
		{"BÜCHER-KUNDE.EXAMPLE", "xn--bcher-kunde-thb.example"},
		{"xn--bcher-kunde-thb.example", "xn--bcher-kunde-thb.example"},
		{"acme-corp。example", "acme-corp.example"},
		{"ａｃｍｅ-corp．example", "acme-corp.example"},
		{"_dmarc.acme-corp.example", "_dmarc.acme-corp.example"},
		{"acme-corp\\.example", "acme-corp.example"},
		{"198.51.100.7", ""},
		{"acme..example", ""},
		{"acme corp.example", ""},
		{"", ""},
		{"acme-corp.example:x", ""},
		{strings.Repeat("a", 64) + ".example", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeDomain(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeDomain(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want string }{
		{"John.Doe@Acme-Corp.Example", "john.doe@acme-corp.example"},
		{"@acme-corp.example", "@acme-corp.example"},
		{"mailto:ceo@globex-holdings.example", "ceo@globex-holdings.example"},
		{"<ceo@globex-holdings.example>", "ceo@globex-holdings.example"},
		{"john[at]acme-corp[.]example", "john@acme-corp.example"},
		{"john(at)acme-corp(dot)example", "john@acme-corp.example"},
		{"john [@] acme-corp.example", "john@acme-corp.example"},
		{"jörg@acme-corp.example", ""},
		{"john@localhost", ""},
		{"john", ""},
		{"john@", ""},
		{"jo hn@acme-corp.example", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("NormalizeEmail(%q) = %q, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Acme Corporation", "acme corporation"},
		{"  ACME \t\n Corporation ", "acme corporation"},
		{"Acme-Corporation", "acme corporation"},
		{"Ａｃｍｅ Ｃｏｒｐｏｒａｔｉｏｎ", "acme corporation"},
		{"Müller Präzisionstechnik", "müller präzisionstechnik"},
		{"STRASSE Straße", "strasse strasse"},
		{"北辰商事", "北 辰 商 事"},
		{"AT&T", "at t"},
		{"---", ""},
	}
	for _, tt := range tests {
		if got := NormalizeName(tt.in); got != tt.want {
			t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeASN(t *testing.T) {
	tests := []struct {
		in   string
		want uint32 // 0 = error
	}{
		{"AS64500", 64500}, {"as64500", 64500}, {"ASN 64500", 64500}, {"AS-64500", 64500},
		{"AS: 64500", 64500}, {"64500", 64500}, {"AS64086.59905", 4200000001}, {"AS4294967295", 4294967295},
		{"AS0", 0}, {"AS4294967296", 0}, {"AS1.65536", 0}, {"ASX", 0}, {"", 0}, {"64500x", 0},
	}
	for _, tt := range tests {
		got, err := NormalizeASN(tt.in)
		if tt.want == 0 {
			if err == nil {
				t.Errorf("NormalizeASN(%q) = %d, want error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeASN(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestRefang(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hxxps://acme-corp[.]example/x", "https://acme-corp.example/x"},
		{"hXXp[:]//198[.]51[.]100[.]7", "http://198.51.100.7"},
		{"fxp://files(.)example", "ftp://files.example"},
		{"john[at]acme-corp{.}example", "john@acme-corp.example"},
		{"acme-corp [dot] example", "acme-corp.example"},
		{"acme-corp DOT example", "acme-corp.example"},
		{"evil[.com and evil.]org", "evil.com and evil.org"},
		{"acme-corp\\\\.example", "acme-corp.example"},
		{"%61cme-corp%2Eexample", "acme-corp.example"},
		{"[2001:db8::1]:443", "[2001:db8::1]:443"},
		{"plain text stays", "plain text stays"},
		{"array [1, 2] (see) {x}", "array [1, 2] (see) {x}"},
	}
	for _, tt := range tests {
		if got := Refang(tt.in); got != tt.want {
			t.Errorf("Refang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExtract(t *testing.T) {
	has := func(cs []Candidate, kind Kind, v string) bool {
		return slices.ContainsFunc(cs, func(c Candidate) bool { return c.Kind == kind && c.Value == v })
	}
	tests := []struct {
		text  string
		kind  Kind
		value string
		want  bool
	}{
		{"C2 at 198.51.100.7, then", KindCIDR, "198.51.100.7/32", true},
		{"[ipv4-addr:value ISSUBSET '198.51.100.0/25']", KindCIDR, "198.51.100.0/25", true},
		{"range 198.51.100.x was scanned", KindCIDR, "198.51.100.0/24", true},
		{"MATCHES '^198\\\\.51\\\\.100\\\\.[0-9]+$'", KindCIDR, "198.51.100.0/24", true},
		{"7.100.51.198.in-addr.arpa", KindCIDR, "198.51.100.7/32", true},
		{"ip-198-51-100-7.ec2.internal", KindCIDR, "198.51.100.7/32", true},
		{"198.51.100.7.static.isp.example", KindCIDR, "198.51.100.7/32", true},
		{"hosts 198.51.100.7-20 were", KindCIDR, "198.51.100.7/32", true},
		{"v6 64:ff9b::198.51.100.9 nat64", KindCIDR, "198.51.100.9/32", true},
		{"6to4 2002:c633:6407::1", KindCIDR, "198.51.100.7/32", true},
		{"[2001:db8:ac3e::5]:8443", KindCIDR, "2001:db8:ac3e::5/128", true},
		{"src_ip:2001:db8:ac3e::5 dst", KindCIDR, "2001:db8:ac3e::5/128", true},
		{"net:2001:db8:ac3e:: end", KindCIDR, "2001:db8:ac3e::/128", true},
		{"at 2001:db8:ac3e::7: then", KindCIDR, "2001:db8:ac3e::7/128", true},
		{"addr=2001:db8:ac3e:0:0:0:0:5:443", KindCIDR, "2001:db8:ac3e::5/128", true},
		{"net 2001:db8:ac3e:1::/64.", KindCIDR, "2001:db8:ac3e:1::/64", true},
		{"１９８．５１．１００．７", KindCIDR, "198.51.100.7/32", true},
		{"http://%31%39%38.51.100.7/", KindCIDR, "198.51.100.7/32", true},
		{"version 10.0.19041.1 and 1.2.3", KindCIDR, "10.0.19041.1/32", false},
		{"12:30:45 and 00:1a:2b:3c:4d:5e", KindCIDR, "", false},
		{"see https://vpn.acme-corp.example/login", KindDomain, "vpn.acme-corp.example", true},
		{"_dmarc.acme-corp.example", KindDomain, "_dmarc.acme-corp.example", true},
		{"file acme-corp.example_backup.zip", KindDomain, "acme-corp.example", true},
		{"host_198_51_100_7.example", KindCIDR, "198.51.100.7/32", true},
		{"访问acme-corp.example获取", KindDomain, "acme-corp.example", true},
		{"mail ceo+x@Globex-Holdings.example.", KindEmail, "ceo+x@globex-holdings.example", true},
		{"from @acme-corp.example only", KindEmail, "@acme-corp.example", true},
		{"AS64500 and ASN 64511 and as4200000001", KindASN, "AS64511", true},
		{"AS64086.59905", KindASN, "AS4200000001", true},
		{"as 2024 began", KindASN, "AS2024", false},
		{"[autonomous-system:number IN (64500, 64511)]", KindASN, "AS64511", true},
	}
	for _, tt := range tests {
		cs := Extract(tt.text)
		if tt.value == "" {
			for _, c := range cs {
				if c.Kind == tt.kind {
					t.Errorf("Extract(%q) found %v", tt.text, c)
				}
			}
			continue
		}
		if got := has(cs, tt.kind, tt.value); got != tt.want {
			t.Errorf("Extract(%q): has %s %s = %v, want %v; got %v", tt.text, tt.kind, tt.value, got, tt.want, cs)
		}
	}
}

func TestEmbeddedV4(t *testing.T) {
	for in, want := range map[string]string{
		"::ffff:198.51.100.7/128":  "198.51.100.7/32",
		"::198.51.100.7/128":       "198.51.100.7/32",
		"64:ff9b::c633:6407/128":   "198.51.100.7/32",
		"2002:c633:6407::/48":      "198.51.100.7/32",
		"2002:c633:6400::/40":      "198.51.100.0/24",
		"::ffff:198.51.100.0/120":  "198.51.100.0/24",
		"2001:db8::1/128":          "",
		"::1/128":                  "",
		"2002:c633:6407::/8":       "",
		"64:ff9b::c633:6407/64":    "",
		"::ffff:198.51.100.7/95":   "",
		"64:ff9b:1::c633:6407/128": "",
	} {
		got, ok := embeddedV4(netip.MustParsePrefix(in))
		if want == "" {
			if ok {
				t.Errorf("embeddedV4(%s) = %s, want none", in, got)
			}
			continue
		}
		if !ok || got.String() != want {
			t.Errorf("embeddedV4(%s) = %s, %v; want %s", in, got, ok, want)
		}
	}
}
