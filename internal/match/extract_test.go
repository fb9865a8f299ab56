package match

import (
	"fmt"
	"strings"
	"testing"
)

func TestExtract(t *testing.T) {
	ip := func(v string) string { return "ipv4-addr:" + v }
	ip6 := func(v string) string { return "ipv6-addr:" + v }
	dom := func(v string) string { return "domain-name:" + v }
	url := func(v string) string { return "url:" + v }
	mail := func(v string) string { return "email-addr:" + v }
	for _, c := range []struct {
		line string
		want []string
	}{
		{`Jan  1 12:00:00 fw01 DROP src=203.0.113.5:51234 dst=198.51.100.7:443 proto=TCP`,
			[]string{ip("203.0.113.5"), ip("198.51.100.7")}},
		{`10.0.0.1 - - [01/Jan/2025:12:00:00 +0000] "GET http://Evil.Example.com:80/path/x.php?id=1 HTTP/1.1" 200 512 "-" "Mozilla/5.0"`,
			[]string{url("http://evil.example.com/path/x.php?id=1"), dom("evil.example.com"), ip("10.0.0.1")}},
		{`IOC: hxxps://bad[.]example[.]org/dl and evil[.]net, contact admin[at]bad[.]example[.]org`,
			[]string{url("https://bad.example.org/dl"), dom("bad.example.org"), dom("evil.net"), mail("admin@bad.example.org")}},
		{`Saved report.pdf and setup.exe to C:\Users\bob\Downloads\invoice.doc; see README.md and main.py`, nil},
		{`md5=D41D8CD98F00B204E9800998ECF8427E sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855 sha1 da39a3ee5e6b4b0d3255bfef95601890afd80709`,
			[]string{"file:d41d8cd98f00b204e9800998ecf8427e", "file:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "file:da39a3ee5e6b4b0d3255bfef95601890afd80709"}},
		{`token=d41d8cd98f00b204e9800998ecf8427e00 x`, nil}, // 34 hex digits: no known digest
		{`conn from [2001:DB8::1]:443 to fe80::1%eth0 via ::ffff:192.0.2.1`,
			[]string{ip6("2001:db8::1"), ip6("fe80::1"), ip("192.0.2.1")}},
		{`From: "Bob" <Bob.Smith@Example.COM>`, []string{mail("bob.smith@example.com"), dom("example.com")}},
		{`mailto:alice@evil.example.org;`, []string{mail("alice@evil.example.org"), dom("evil.example.org")}},
		{`user@localhost and root@db.internal`, nil},
		{`blocked 192.0.2.0/24 and 2001:db8::/32 today`, []string{ip("192.0.2.0/24"), ip6("2001:db8::/32")}},
		{`12:34:56 aa:bb:cc:dd:ee:ff version 1.2.3 pi 3.14159 010.1.1.1`, nil},
		{`Visit www.Evil-Site.com.`, []string{dom("www.evil-site.com")}},
		{`x.duckdns.org db.internal host.corp server.local`, []string{dom("x.duckdns.org")}},
		{`visit bücher.de now`, []string{dom("xn--bcher-kva.de")}},
		{`/var/www/evil.com/index.html`, nil},
		{`evil [.] example [.] com`, []string{dom("evil.example.com")}},
		{`(see https://a.example.com/x).`, []string{url("https://a.example.com/x"), dom("a.example.com")}},
		{`see https://en.wikipedia.org/wiki/Foo_(bar) now`, []string{url("https://en.wikipedia.org/wiki/Foo_(bar)"), dom("en.wikipedia.org")}},
		{`ftp://[2001:db8::5]:21/pub`, []string{url("ftp://[2001:db8::5]/pub"), ip6("2001:db8::5")}},
		{`hxxp[:]//evil[.]com/a`, []string{url("http://evil.com/a"), dom("evil.com")}},
		{`dup 198.51.100.1 198.51.100.1 198.51.100.1`, []string{ip("198.51.100.1")}},
		{``, nil},
		{`:::: @@@ ... --- [.] http:// ://`, nil},
	} {
		var ex Extractor
		got := []string{}
		for _, o := range ex.Extract([]byte(c.line), nil) {
			got = append(got, o.Type+":"+o.Value)
		}
		want := c.want
		if want == nil {
			want = []string{}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s\n got  %q\n want %q", c.line, got, want)
		}
	}
}

// TestExtractNormalised: everything extracted is in the form Detect gives
// (so that it matches the same keys).
func TestExtractNormalised(t *testing.T) {
	var ex Extractor
	line := `hXXps://EVIL[.]Example:443/%7Ex BAD@Example.org 2001:DB8:0::1 D41D8CD98F00B204E9800998ECF8427E bücher.de`
	for _, o := range ex.ExtractString(line) {
		d, err := Detect(o.Value)
		if err != nil || d.Value != o.Value || d.Type != o.Type {
			t.Errorf("%v: Detect gives %v, %v", o, d, err)
		}
	}
}

// TestLookupExtract screens log lines end to end.
func TestLookupExtract(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[domain-name:value = 'evil.example.org']"},
		spec{n: 2, pattern: "[ipv4-addr:value = '198.51.100.7']"},
		spec{n: 3, pattern: "[url:value = 'https://bad.example.org/dl']"},
	)
	var text strings.Builder
	for i := range 5000 {
		switch i {
		case 10:
			text.WriteString("GET hxxps://bad[.]example[.]org/dl from 10.0.0.1\n")
		case 4000:
			text.WriteString("dns query www.evil.example.org A from 198.51.100.7\n")
		default:
			fmt.Fprintf(&text, "line %d: nothing at 10.1.%d.%d\n", i, i>>8&255, i&255)
		}
	}
	hits, found := x.LookupExtract([]byte(text.String()))
	if got, want := renderHits(hits), []string{"10:3:exact", "4000:1:subdomain", "4000:2:exact"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("%v, want %v", got, want)
	}
	if found != 4998+3+2 { // one address a line; a URL, its host and an address; a name and an address
		t.Errorf("%d observables found", found)
	}
}
