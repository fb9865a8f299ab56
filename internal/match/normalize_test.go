package match

import (
	"errors"
	"strings"
	"testing"
)

func TestAppendDomain(t *testing.T) {
	for _, c := range []struct {
		in, want string // want "" means rejected
	}{
		{"Example.COM", "example.com"},
		{"example.com.", "example.com"},
		{"EXAMPLE.com.", "example.com"},
		{"_dmarc.example.com", "_dmarc.example.com"},
		{"a-b.example", "a-b.example"},
		{"localhost", "localhost"},
		{"bücher.example", "xn--bcher-kva.example"},
		{"BÜCHER.example", "xn--bcher-kva.example"},
		{"xn--bcher-kva.example", "xn--bcher-kva.example"},
		{"XN--BCHER-KVA.example", "xn--bcher-kva.example"},
		{"example\u3002com", "example.com"}, // ideographic full stop
		{"ｅｘａｍｐｌｅ.com", "example.com"},      // full-width letters
		{"", ""},
		{".", ""},
		{"a..b", ""},
		{".a.b", ""},
		{"a.b..", ""},
		{"exa mple.com", ""},
		{"exa/mple.com", ""},
		{"a@b.com", ""},
		{strings.Repeat("a", 63) + ".com", strings.Repeat("a", 63) + ".com"},
		{strings.Repeat("a", 64) + ".com", ""},
		{strings.Repeat("a.", 125) + "abc", strings.Repeat("a.", 125) + "abc"}, // 253 bytes
		{strings.Repeat("a.", 126) + "aa", ""},                                 // 254
	} {
		got, ok := appendDomain(nil, c.in)
		if c.want == "" {
			if ok {
				t.Errorf("appendDomain(%q) = %q, want rejection", c.in, got)
			}
			continue
		}
		if !ok || string(got) != c.want {
			t.Errorf("appendDomain(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestAppendURL(t *testing.T) {
	for _, c := range []struct {
		in, want string
	}{
		{"HTTP://Example.COM", "http://example.com/"},
		{"http://example.com:80/a", "http://example.com/a"},
		{"https://example.com:443/", "https://example.com/"},
		{"https://example.com:8443/", "https://example.com:8443/"},
		{"http://example.com:443/", "http://example.com:443/"},
		{"http://example.com:/x", "http://example.com/x"},
		{"http://example.com:0080/x", "http://example.com/x"},
		{"ftp://example.com:21/f", "ftp://example.com/f"},
		{"http://EXAMPLE.com/%7euser/%41?q=%3d%3D", "http://example.com/~user/A?q=%3D%3D"},
		{"http://example.com/a b", "http://example.com/a%20b"},
		{"http://example.com/ü", "http://example.com/%C3%BC"},
		{"http://example.com/%c3%bc", "http://example.com/%C3%BC"},
		{"http://example.com/a/./b/../c", "http://example.com/a/c"},
		{"http://example.com/a/..", "http://example.com/"},
		{"http://example.com/a/b/.", "http://example.com/a/b/"},
		{"http://example.com/../../x", "http://example.com/x"},
		{"http://example.com/x#frag", "http://example.com/x"},
		{"http://example.com?x=1", "http://example.com/?x=1"},
		{"http://example.com/?", "http://example.com/?"},
		{"http://user:Pass@Example.com/", "http://user:Pass@example.com/"},
		{"http://[2001:DB8::1]:80/", "http://[2001:db8::1]/"},
		{"http://[::ffff:192.0.2.1]/", "http://192.0.2.1/"},
		{"http://192.0.2.1:8080/x", "http://192.0.2.1:8080/x"},
		{"http://bücher.example/", "http://xn--bcher-kva.example/"},
		{"http://example.com./", "http://example.com/"},
		{"A0://%70.#0000000000", "a0://p/"},
		{"http://%45vil.Example/", "http://evil.example/"},
		{"http://A%3cB/", "http://a%3Cb/"},
		{"http://example.com/%zz%4", "http://example.com/%25zz%254"},
		{"http://example.com/a\"<>", "http://example.com/a%22%3C%3E"},
		{"  http://example.com/  ", "http://example.com/"},
		{"mailto:Bob@Example.com", "mailto:Bob@Example.com"},
		{"HTTP:opaque%7e", "http:opaque~"},
		{"file:///etc/passwd", "file:///etc/passwd"},
		{"example.com/x", ""},
		{"://x", ""},
		{"1http://x", ""},
		{"http://example.com:8x/", ""},
	} {
		got, ok := appendURL(nil, c.in)
		if c.want == "" {
			if ok {
				t.Errorf("appendURL(%q) = %q, want rejection", c.in, got)
			}
			continue
		}
		if !ok || string(got) != c.want {
			t.Errorf("appendURL(%q) = %q, %v; want %q", c.in, got, ok, c.want)
			continue
		}
		// canonical forms are fixed points
		again, ok := appendURL(nil, string(got))
		if !ok || string(again) != string(got) {
			t.Errorf("appendURL(%q) = %q, not a fixed point of %q", got, again, c.in)
		}
	}
}

func TestAppendEmail(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Bob@Example.COM", "bob@example.com"},
		{"a.b+tag@bücher.example", "a.b+tag@xn--bcher-kva.example"},
		{"x@example.com.", "x@example.com"},
		{"o'brien@example.ie", "o'brien@example.ie"},
		{"@example.com", ""},
		{"a@", ""},
		{"a b@example.com", ""},
		{"a@b@example.com", ""},
		{"a@exa mple.com", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
	} {
		got, ok := appendEmail(nil, c.in)
		if c.want == "" {
			if ok {
				t.Errorf("appendEmail(%q) = %q, want rejection", c.in, got)
			}
			continue
		}
		if !ok || string(got) != c.want {
			t.Errorf("appendEmail(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestParsePrefix(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"192.0.2.1", "192.0.2.1/32"},
		{"192.0.2.77/24", "192.0.2.0/24"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"::ffff:192.0.2.0/120", "192.0.2.0/24"},
		{"2001:DB8::1", "2001:db8::1/128"},
		{"[2001:db8::1]", "2001:db8::1/128"},
		{"fe80::1%eth0", "fe80::1/128"},
		{"2001:db8::/32", "2001:db8::/32"},
		{"192.0.2.1/33", ""},
		{"192.0.2.1/-1", ""},
		{"192.0.2.1/+8", ""},
		{"::ffff:0:0/95", ""},
		{"192.0.2", ""},
		{"010.0.0.1", ""},
		{"/24", ""},
	} {
		p, ok := parsePrefix(c.in)
		if c.want == "" {
			if ok {
				t.Errorf("parsePrefix(%q) = %v, want rejection", c.in, p)
			}
			continue
		}
		if !ok || p.String() != c.want {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", c.in, p, ok, c.want)
		}
	}
}

func TestDetect(t *testing.T) {
	md5 := "D41D8CD98F00B204E9800998ECF8427E"
	sha1 := strings.Repeat("ab", 20)
	sha256 := strings.Repeat("Cd", 32)
	sha512 := strings.Repeat("0f", 64)
	for _, c := range []struct {
		in   string
		want Observable // zero: not detected
	}{
		{"198.51.100.7", Observable{"ipv4-addr", "value", "198.51.100.7"}},
		{" 198.51.100.7\r", Observable{"ipv4-addr", "value", "198.51.100.7"}},
		{"198.51.100.0/24", Observable{"ipv4-addr", "value", "198.51.100.0/24"}},
		{"::ffff:198.51.100.7", Observable{"ipv4-addr", "value", "198.51.100.7"}},
		{"2001:DB8::0:1", Observable{"ipv6-addr", "value", "2001:db8::1"}},
		{"[2001:db8::1]", Observable{"ipv6-addr", "value", "2001:db8::1"}},
		{"Evil.Example.COM.", Observable{"domain-name", "value", "evil.example.com"}},
		{"evil[.]example[.]com", Observable{"domain-name", "value", "evil.example.com"}},
		{"bücher.example", Observable{"domain-name", "value", "xn--bcher-kva.example"}},
		{"hxxps://evil[.]example/a?b=%7e", Observable{"url", "value", "https://evil.example/a?b=~"}},
		{"HTTP://EVIL.example:80", Observable{"url", "value", "http://evil.example/"}},
		{"Bad@Evil.Example", Observable{"email-addr", "value", "bad@evil.example"}},
		{"bad[at]evil[.]example", Observable{"email-addr", "value", "bad@evil.example"}},
		{md5, Observable{"file", "hashes.MD5", strings.ToLower(md5)}},
		{sha1, Observable{"file", "hashes.'SHA-1'", sha1}},
		{sha256, Observable{"file", "hashes.'SHA-256'", strings.ToLower(sha256)}},
		{sha512, Observable{"file", "hashes.'SHA-512'", sha512}},
		{strings.Repeat("a", 48), Observable{}}, // hex, but no known length
		{"report", Observable{}},
		{"report.1", Observable{}}, // numeric last label
		{"1.2.3", Observable{}},
		{"", Observable{}},
		{"   ", Observable{}},
		{"a b.com", Observable{}},
		{"@evil.example", Observable{}},
	} {
		got, err := Detect(c.in)
		if c.want == (Observable{}) {
			if err == nil {
				t.Errorf("Detect(%q) = %v, want an error", c.in, got)
			} else if !errors.Is(err, ErrNotObservable) {
				t.Errorf("Detect(%q): error %v does not wrap ErrNotObservable", c.in, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("Detect(%q) = %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		// the normalised value detects as itself
		if again, err := Detect(got.Value); err != nil || again != got {
			t.Errorf("Detect(%q) = %v, %v; not a fixed point", got.Value, again, err)
		}
	}
}

func TestPathForms(t *testing.T) {
	for _, c := range []struct {
		in   string
		keys []string
		out  string
	}{
		{"value", []string{"value"}, "value"},
		{"hashes.MD5", []string{"hashes", "MD5"}, "hashes.MD5"},
		{"hashes.'SHA-256'", []string{"hashes", "SHA-256"}, "hashes.'SHA-256'"},
		{"'hashes'.'MD5'", []string{"hashes", "MD5"}, "hashes.MD5"},
		{"extensions.'x-ext'.'it''s'", nil, ""},
		{`extensions.'a\'b'.c`, []string{"extensions", "a'b", "c"}, `extensions.'a\'b'.c`},
		{"a..b", nil, ""},
		{"", nil, ""},
		{"'open", nil, ""},
	} {
		keys, err := parsePath(c.in)
		if c.keys == nil {
			if err == nil {
				t.Errorf("parsePath(%q) = %q, want an error", c.in, keys)
			}
			continue
		}
		if err != nil || strings.Join(keys, "|") != strings.Join(c.keys, "|") {
			t.Errorf("parsePath(%q) = %q, %v; want %q", c.in, keys, err, c.keys)
			continue
		}
		if got := formatPath(keys); got != c.out {
			t.Errorf("formatPath(%q) = %q, want %q", keys, got, c.out)
		}
	}
}

func TestObservablesFromSCO(t *testing.T) {
	got, err := ObservablesFromSCO([]byte(`{"type":"file","id":"file--1","spec_version":"2.1","name":"a.exe","size":5,
		"hashes":{"MD5":"00112233445566778899aabbccddeeff","SHA-256":"x"},"parent_directory_ref":"directory--1",
		"extensions":{"x-ext":{"note":"n","list":["a"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Observable{
		{"file", "extensions.'x-ext'.note", "n"},
		{"file", "hashes.'SHA-256'", "x"},
		{"file", "hashes.MD5", "00112233445566778899aabbccddeeff"},
		{"file", "name", "a.exe"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{`[]`, `{"value":"x"}`, `{"type":""}`, `{`} {
		if _, err := ObservablesFromSCO([]byte(bad)); err == nil {
			t.Errorf("ObservablesFromSCO(%s): no error", bad)
		}
	}
}
