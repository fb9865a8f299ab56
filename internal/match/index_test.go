package match

import (
	"errors"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"
	"unsafe"
)

const (
	md5A    = "D41D8CD98F00B204E9800998ECF8427E"
	sha1A   = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709"
	sha256A = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
)

var sha512A = strings.Repeat("CF83E135", 16)

// TestLookupKinds indexes one indicator per case and checks what untyped
// values (LookupString) and typed observables (Lookup) match it.
func TestLookupKinds(t *testing.T) {
	type probe struct {
		s    string      // untyped value
		o    *Observable // or a typed observable
		want string      // "exact", "cidr", ...; "" for no hit
	}
	obs := func(typ, path, v string) *Observable { return &Observable{typ, path, v} }
	for _, c := range []struct {
		name    string
		pattern string
		probes  []probe
	}{
		{"ipv4", "[ipv4-addr:value = '198.51.100.7']", []probe{
			{s: "198.51.100.7", want: "exact"},
			{s: " 198.51.100.7 ", want: "exact"},
			{s: "::ffff:198.51.100.7", want: "exact"},
			{s: "198.51.100.8"},
			{s: "198.51.100.0/24"},
			{o: obs("ipv4-addr", "value", "198.51.100.7"), want: "exact"},
			{o: obs("ipv6-addr", "value", "::ffff:198.51.100.7"), want: "exact"},
		}},
		{"ipv6", "[ipv6-addr:value = '2001:DB8::1']", []probe{
			{s: "2001:db8:0:0::1", want: "exact"},
			{s: "[2001:db8::1]", want: "exact"},
			{s: "2001:db8::2"},
		}},
		{"ipv4-mapped indicator", "[ipv6-addr:value = '::ffff:192.0.2.1']", []probe{
			{s: "192.0.2.1", want: "exact"},
		}},
		{"cidr", "[ipv4-addr:value ISSUBSET '203.0.113.0/24']", []probe{
			{s: "203.0.113.200", want: "cidr"},
			{s: "203.0.113.0", want: "cidr"},
			{s: "203.0.113.128/25", want: "cidr"},
			{s: "203.0.113.0/24", want: "cidr"},
			{s: "203.0.112.0/23"},
			{s: "203.0.114.1"},
		}},
		{"ipv4 equal to a block", "[ipv4-addr:value = '10.1.0.0/16']", []probe{
			{s: "10.1.2.3", want: "cidr"},
			{s: "10.2.0.1"},
		}},
		{"ipv6 cidr", "[ipv6-addr:value ISSUBSET '2001:db8:aa::/48']", []probe{
			{s: "2001:db8:aa:1::5", want: "cidr"},
			{s: "2001:db8:ab::1"},
		}},
		{"domain", "[domain-name:value = 'Evil.Example.']", []probe{
			{s: "evil.example", want: "exact"},
			{s: "EVIL.example.", want: "exact"},
			{s: "evil[.]example", want: "exact"},
			{s: "sub.evil.example", want: "subdomain"},
			{s: "a.b.Evil.Example", want: "subdomain"},
			{s: "notevil.example"},
			{s: "evil.example.com"},
			{s: "example"},
			{o: obs("domain-name", "value", "EVIL.EXAMPLE"), want: "exact"},
			{o: obs("domain-name", "value", "x.evil.example"), want: "subdomain"},
		}},
		{"idn domain", "[domain-name:value = 'bücher.example']", []probe{
			{s: "xn--bcher-kva.example", want: "exact"},
			{s: "BÜCHER.example", want: "exact"},
			{s: "shop.bücher.example", want: "subdomain"},
		}},
		{"punycode domain", "[domain-name:value = 'xn--bcher-kva.example']", []probe{
			{s: "bücher.example", want: "exact"},
		}},
		{"public suffix domain", "[domain-name:value = 'co.uk']", []probe{
			{s: "co.uk", want: "exact"},
			{s: "evil.co.uk"},
		}},
		{"url", "[url:value = 'http://Evil.example:80/a/../b?q=%7e']", []probe{
			{s: "http://evil.example/b?q=~", want: "exact"},
			{s: "HTTP://EVIL.EXAMPLE/b?q=%7E#top", want: "exact"},
			{s: "hxxp://evil[.]example/b?q=~", want: "exact"},
			{s: "http://evil.example/c"},
			{s: "https://evil.example/b?q=~"},
			{o: obs("url", "value", "http://evil.example:80/./b?q=~"), want: "exact"},
		}},
		{"email", "[email-addr:value = 'Bad.Actor@Evil.Example']", []probe{
			{s: "bad.actor@evil.example", want: "exact"},
			{s: "bad.actor[at]evil[.]example", want: "exact"},
			{s: "good.actor@evil.example"},
		}},
		{"md5", "[file:hashes.MD5 = '" + md5A + "']", []probe{
			{s: strings.ToLower(md5A), want: "exact"},
			{s: md5A, want: "exact"},
			{o: obs("file", "hashes.MD5", strings.ToLower(md5A)), want: "exact"},
			{o: obs("file", "hashes.'MD5'", md5A), want: "exact"},
			{o: obs("artifact", "hashes.MD5", md5A), want: "exact"},
			{s: strings.ToLower(md5A[:31]) + "0"},
		}},
		{"sha-1", "[file:hashes.'SHA-1' = '" + sha1A + "']", []probe{{s: strings.ToLower(sha1A), want: "exact"}}},
		{"sha-256", "[file:hashes.'SHA-256' = '" + sha256A + "']", []probe{{s: strings.ToLower(sha256A), want: "exact"}}},
		{"sha-512", "[file:hashes.'SHA-512' = '" + sha512A + "']", []probe{{s: sha512A, want: "exact"}}},
		{"sha3-256 by digest", "[file:hashes.'SHA3-256' = '" + sha256A + "']", []probe{{s: sha256A, want: "exact"}}},
		{"artifact hash", "[artifact:hashes.'SHA-256' = '" + sha256A + "']", []probe{
			{o: obs("file", "hashes.'SHA-256'", sha256A), want: "exact"},
		}},
		{"ssdeep", "[file:hashes.SSDEEP = '3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C']", []probe{
			{o: obs("file", "hashes.SSDEEP", "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"), want: "exact"},
			{o: obs("file", "'hashes'.'SSDEEP'", "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C"), want: "exact"},
			{o: obs("file", "hashes.SSDEEP", "3:axgbicflgvnhbgcl6wcrfqev:axghsnhxlsr2c")},
		}},
		{"mutex", `[mutex:name = 'Global\\evil']`, []probe{
			{o: obs("mutex", "name", `Global\evil`), want: "exact"},
			{o: obs("mutex", "name", `global\evil`)},
			{o: obs("file", "name", `Global\evil`)},
		}},
		{"registry key", `[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\Software\\Evil']`, []probe{
			{o: obs("windows-registry-key", "key", `HKEY_LOCAL_MACHINE\Software\Evil`), want: "exact"},
		}},
		{"nested property", "[file:extensions.'x-acme-ext'.family = 'evilbot']", []probe{
			{o: obs("file", "extensions.'x-acme-ext'.family", "evilbot"), want: "exact"},
			{o: obs("file", "family", "evilbot")},
		}},
		{"in set", "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]", []probe{
			{s: "192.0.2.1", want: "exact"},
			{s: "192.0.2.2", want: "exact"},
			{s: "192.0.2.3"},
		}},
		{"or of comparisons", "[ipv4-addr:value = '192.0.2.3' OR domain-name:value = 'or.example']", []probe{
			{s: "192.0.2.3", want: "exact"},
			{s: "or.example", want: "exact"},
			{s: "www.or.example", want: "subdomain"},
		}},
		{"or of observations", "[ipv4-addr:value = '192.0.2.4'] OR ([url:value = 'http://or2.example/'])", []probe{
			{s: "192.0.2.4", want: "exact"},
			{s: "http://or2.example", want: "exact"},
		}},
		{"and decided by one observable", "[ipv4-addr:value = '192.0.2.5' AND ipv4-addr:value != '192.0.2.6']", []probe{
			{s: "192.0.2.5", want: "pattern"},
		}},
		{"and needing more", "[file:hashes.MD5 = '" + md5A + "' AND file:name = 'a.exe']", []probe{
			{s: md5A, want: "partial"},
			{o: obs("file", "name", "a.exe"), want: "partial"},
			{o: obs("file", "name", "b.exe")},
		}},
		{"reference path", "[network-traffic:dst_ref.value = '192.0.2.7']", []probe{
			{s: "192.0.2.7", want: "partial"},
			{o: obs("x-custom-host", "value", "192.0.2.7"), want: "partial"},
		}},
		{"reference path block", "[network-traffic:dst_ref.value ISSUBSET '192.0.2.64/26']", []probe{
			{s: "192.0.2.100", want: "partial"},
		}},
		{"followedby", "[ipv4-addr:value = '192.0.2.8'] FOLLOWEDBY [domain-name:value = 'f.example']", []probe{
			{s: "192.0.2.8", want: "partial"},
			{s: "f.example", want: "partial"},
			{s: "x.f.example"}, // candidates give no subdomain matches
		}},
		{"qualified", "[domain-name:value = 'q.example'] REPEATS 2 TIMES", []probe{
			{s: "q.example", want: "partial"},
		}},
		{"start stop around now", "[domain-name:value = 'ss.example'] START t'2025-01-01T00:00:00Z' STOP t'2026-01-01T00:00:00Z'", []probe{
			{s: "ss.example", want: "pattern"},
		}},
		{"keyless", "[file:name LIKE '%.exe']", []probe{
			{o: obs("file", "name", "a.exe")},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			x, _ := newTestIndex(t, Options{})
			if st := mustUpdate(t, x, spec{n: 1, pattern: c.pattern}); st.Indicators != 1 {
				t.Fatalf("%+v", st)
			}
			for _, p := range c.probes {
				var got []string
				var what string
				if p.o != nil {
					got, what = lookupO(t, x, *p.o), p.o.String()
				} else {
					got, what = lookupS(t, x, p.s), fmt.Sprintf("%q", p.s)
				}
				var want []string
				if p.want != "" {
					want = []string{"1:" + p.want}
				}
				if !eq(got, want) {
					t.Errorf("%s: %v, want %v", what, got, want)
				}
			}
		})
	}
}

// TestHitContents checks every field of a hit.
func TestHitContents(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, coll: "col-a", pattern: "[domain-name:value = 'evil.example']", modified: "2024-02-03T04:05:06.789Z", until: "2030-01-01T00:00:00Z"},
		spec{n: 2, coll: "col-b", pattern: "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"},
	)
	hits, ok := x.LookupString("WWW.Evil.Example")
	if !ok || len(hits) != 1 {
		t.Fatalf("%v %v", hits, ok)
	}
	h := hits[0]
	want := Hit{
		Input:      -1,
		Ref:        Ref{Collection: "col-a", ID: id(1), Modified: time.Date(2024, 2, 3, 4, 5, 6, 789e6, time.UTC)},
		Kind:       KindSubdomain,
		Observable: Observable{"domain-name", "value", "www.evil.example"},
		Matched:    "evil.example",
		ValidFrom:  time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC),
		ValidUntil: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	if h != want {
		t.Errorf("hit\n %+v, want\n %+v", h, want)
	}
	hits, _ = x.LookupString("198.51.100.9")
	if len(hits) != 1 || hits[0].Matched != "198.51.100.0/24" || hits[0].Ref.Collection != "col-b" || !hits[0].ValidUntil.IsZero() ||
		hits[0].Observable != (Observable{"ipv4-addr", "value", "198.51.100.9"}) {
		t.Errorf("cidr hit %+v", hits)
	}
}

// TestSeveralIndicators: one observable matching several indicators, of
// several kinds, each reported once with its strongest kind.
func TestSeveralIndicators(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[ipv4-addr:value ISSUBSET '10.0.0.0/8']"},
		spec{n: 2, pattern: "[ipv4-addr:value ISSUBSET '10.1.0.0/16']"},
		spec{n: 3, pattern: "[ipv4-addr:value = '10.1.2.3']"},
		spec{n: 4, pattern: "[ipv4-addr:value = '10.1.2.3' OR ipv4-addr:value ISSUBSET '10.1.2.0/24']"},
		spec{n: 5, pattern: "[network-traffic:src_ref.value = '10.1.2.3']"},
		spec{n: 6, pattern: "[domain-name:value = 'a.example' OR domain-name:value = 'b.a.example']"},
		spec{n: 7, pattern: "[domain-name:value = 'a.example']"},
		spec{n: 8, pattern: "[ipv4-addr:value = '10.1.2.3']", coll: "c2"},
	)
	if got, want := lookupS(t, x, "10.1.2.3"), []string{"1:cidr", "2:cidr", "3:exact", "4:exact", "5:partial", "8:exact"}; !eq(got, want) {
		t.Errorf("10.1.2.3: %v, want %v", got, want)
	}
	if got, want := lookupS(t, x, "c.b.a.example"), []string{"6:subdomain", "7:subdomain"}; !eq(got, want) {
		t.Errorf("c.b.a.example: %v, want %v", got, want)
	}
	if got, want := lookupS(t, x, "b.a.example"), []string{"6:exact", "7:subdomain"}; !eq(got, want) {
		t.Errorf("b.a.example: %v, want %v", got, want)
	}
}

func TestValidity(t *testing.T) {
	x, clk := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[domain-name:value = 'future.example']", from: "2025-06-01T13:00:00Z"},
		spec{n: 2, pattern: "[domain-name:value = 'expiring.example']", until: "2025-06-01T12:30:00.5Z"},
		spec{n: 3, pattern: "[domain-name:value = 'expired.example']", until: "2025-01-01T00:00:00Z"},
	)
	check := func(name string, want ...string) {
		t.Helper()
		got := lookupS(t, x, name)
		if !eq(got, want) {
			t.Errorf("at %s, %s: %v, want %v", clk.Now().Format(time.RFC3339Nano), name, got, want)
		}
	}
	check("future.example")
	check("expiring.example", "2:exact")
	check("expired.example")
	clk.Set(time.Date(2025, 6, 1, 12, 30, 0, 499999999, time.UTC))
	check("expiring.example", "2:exact")
	clk.Set(time.Date(2025, 6, 1, 12, 30, 0, 500000000, time.UTC)) // valid_until is exclusive
	check("expiring.example")
	clk.Set(time.Date(2025, 6, 1, 13, 0, 0, 0, time.UTC)) // valid_from is inclusive
	check("future.example", "1:exact")
	// Compaction drops what has expired; the rest stays.
	x.Compact()
	check("future.example", "1:exact")
	check("expiring.example")
}

func TestVersions(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	v := func(mod, pattern string) spec { return spec{n: 1, pattern: pattern, modified: mod} }
	st := mustUpdate(t, x, v("2024-02-01T00:00:00Z", "[domain-name:value = 'v2.example']"))
	if st.Indicators != 1 {
		t.Fatalf("%+v", st)
	}
	// an older version arriving later is ignored
	if st := mustUpdate(t, x, v("2024-01-01T00:00:00Z", "[domain-name:value = 'v1.example']")); st.Stale != 1 {
		t.Errorf("older version: %+v", st)
	}
	// so is the same version again
	if st := mustUpdate(t, x, v("2024-02-01T00:00:00Z", "[domain-name:value = 'other.example']")); st.Stale != 1 {
		t.Errorf("same version: %+v", st)
	}
	if got := lookupS(t, x, "v1.example"); got != nil {
		t.Errorf("stale version matches: %v", got)
	}
	if got := lookupS(t, x, "v2.example"); !eq(got, []string{"1:exact"}) {
		t.Errorf("v2: %v", got)
	}
	// a newer version replaces it at once
	if st := mustUpdate(t, x, v("2024-03-01T00:00:00Z", "[domain-name:value = 'v3.example']")); st.Superseded != 1 || st.Indicators != 1 {
		t.Errorf("newer version: %+v", st)
	}
	if got := lookupS(t, x, "v2.example"); got != nil {
		t.Errorf("superseded version matches: %v", got)
	}
	if got := lookupS(t, x, "v3.example"); !eq(got, []string{"1:exact"}) {
		t.Errorf("v3: %v", got)
	}
	// versions within one Update: the newest wins whatever the order
	mustUpdate(t, x,
		spec{n: 2, pattern: "[domain-name:value = 'b5.example']", modified: "2024-05-01T00:00:00Z"},
		spec{n: 2, pattern: "[domain-name:value = 'b4.example']", modified: "2024-04-01T00:00:00Z"},
	)
	if got := lookupS(t, x, "b4.example"); got != nil {
		t.Errorf("b4: %v", got)
	}
	if got := lookupS(t, x, "b5.example"); !eq(got, []string{"2:exact"}) {
		t.Errorf("b5: %v", got)
	}
	// revocation removes it and keeps older versions out
	rev := v("2024-04-01T00:00:00Z", "[domain-name:value = 'v3.example']")
	rev.revoked = true
	if st := mustUpdate(t, x, rev); st.Tombstones != 1 || st.Superseded != 1 {
		t.Errorf("revocation: %+v", st)
	}
	if got := lookupS(t, x, "v3.example"); got != nil {
		t.Errorf("revoked version matches: %v", got)
	}
	if st := mustUpdate(t, x, v("2024-03-15T00:00:00Z", "[domain-name:value = 'v3.example']")); st.Stale != 1 {
		t.Errorf("version older than the revocation: %+v", st)
	}
	if got := lookupS(t, x, "v3.example"); got != nil {
		t.Errorf("older version after revocation matches: %v", got)
	}
	// a version with another pattern language ends the match too
	mustUpdate(t, x, spec{n: 3, pattern: "[domain-name:value = 's.example']"})
	if st := mustUpdate(t, x, spec{n: 3, pattern: "title:evil", ptype: "sigma", modified: "2024-06-01T00:00:00Z"}); st.Tombstones != 1 {
		t.Errorf("sigma version: %+v", st)
	}
	if got := lookupS(t, x, "s.example"); got != nil {
		t.Errorf("replaced by a sigma version, still matches: %v", got)
	}
}

func TestRemove(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[domain-name:value = 'r.example']"},
		spec{n: 1, coll: "c2", pattern: "[domain-name:value = 'r.example']"},
	)
	if got := lookupS(t, x, "r.example"); len(got) != 2 {
		t.Fatalf("%v", got)
	}
	if !x.Remove("c1", id(1)) {
		t.Fatal("Remove: false")
	}
	hits, _ := x.LookupString("r.example")
	if len(hits) != 1 || hits[0].Ref.Collection != "c2" {
		t.Errorf("after Remove: %+v", hits)
	}
	for _, c := range []struct{ coll, id string }{{"c1", id(1)}, {"c9", id(1)}, {"c1", id(9)}, {"c1", "not-an-id"}} {
		if x.Remove(c.coll, c.id) {
			t.Errorf("Remove(%s, %s): true", c.coll, c.id)
		}
	}
	// After Remove the object is unknown: any version may come again.
	mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'r.example']", modified: "2020-01-01T00:00:00Z"})
	if got := lookupS(t, x, "r.example"); len(got) != 2 {
		t.Errorf("re-added: %v", got)
	}
}

func TestRemoveCollection(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	var specs []spec
	for n := 1; n <= 50; n++ { // enough to move the id table's probe runs
		specs = append(specs, spec{n: n, pattern: fmt.Sprintf("[domain-name:value = 'd%d.example']", n)},
			spec{n: n, coll: "c2", pattern: fmt.Sprintf("[domain-name:value = 'd%d.example']", n)})
	}
	mustUpdate(t, x, specs...)
	if n := x.RemoveCollection("c1"); n != 50 {
		t.Fatalf("RemoveCollection: %d, want 50", n)
	}
	for n := 1; n <= 50; n++ {
		hits, _ := x.LookupString(fmt.Sprintf("d%d.example", n))
		if len(hits) != 1 || hits[0].Ref.Collection != "c2" {
			t.Fatalf("d%d.example after RemoveCollection: %+v", n, hits)
		}
	}
	if got := x.Info().Objects; got != 50 {
		t.Errorf("objects: %d, want 50", got)
	}
	if n := x.RemoveCollection("c1"); n != 0 {
		t.Errorf("again: %d", n)
	}
	if n := x.RemoveCollection("nope"); n != 0 {
		t.Errorf("unknown collection: %d", n)
	}
	// The collection's objects may come again, at any version.
	mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'd1.example']", modified: "2020-01-01T00:00:00Z"})
	if hits, _ := x.LookupString("d1.example"); len(hits) != 2 {
		t.Errorf("re-added: %+v", hits)
	}
}

func TestUpdateInput(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	bad := Item{Ref: Ref{Collection: "c1", ID: id(5)}, Raw: []byte(`{"type":"indicator",`)}
	badID := spec{n: 6, pattern: "[domain-name:value = 'x.example']"}.item()
	badID.Ref.ID = "indicator--not-a-uuid"
	mismatch := spec{n: 7, pattern: "[domain-name:value = 'x.example']"}.item()
	mismatch.Ref.ID = id(8)
	st := x.Update(
		spec{n: 1, pattern: "[domain-name:value = 'ok.example']"}.item(),
		spec{n: 2, pattern: "[domain-name:value = 'x.example'", ptype: "stix"}.item(), // does not parse
		spec{n: 3, typ: "malware", pattern: "x"}.item(),
		spec{n: 4, pattern: "[domain-name:value = 'x.example']", from: "yesterday"}.item(),
		bad, badID, mismatch,
	)
	if st.Indicators != 1 || st.Tombstones != 2 || st.Ignored != 1 || st.Invalid != 3 || len(st.Errors) != 5 {
		t.Errorf("%+v", st)
	}
	if got := lookupS(t, x, "x.example"); got != nil {
		t.Errorf("x.example: %v", got)
	}
	if got := lookupS(t, x, "ok.example"); !eq(got, []string{"1:exact"}) {
		t.Errorf("ok.example: %v", got)
	}
}

func seq(its []Item, failAt int) iter.Seq2[Item, error] {
	return func(yield func(Item, error) bool) {
		for i, it := range its {
			if i == failAt {
				yield(Item{}, errors.New("store went away"))
				return
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func TestBuild(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'before.example']"})
	var specs []spec
	for i := range 3000 {
		specs = append(specs, spec{n: 100 + i, pattern: fmt.Sprintf("[domain-name:value = 'd%d.example']", i)})
	}
	// versions out of order: the newest must win
	specs = append(specs,
		spec{n: 2, pattern: "[domain-name:value = 'new.example']", modified: "2024-03-01T00:00:00Z"},
		spec{n: 2, pattern: "[domain-name:value = 'old.example']", modified: "2024-02-01T00:00:00Z"},
	)
	its := items(specs...)
	// a failing source leaves the index as it was
	if _, err := x.Build(seq(its, 1500)); err == nil || !strings.Contains(err.Error(), "went away") {
		t.Fatalf("Build: %v", err)
	}
	if got := lookupS(t, x, "before.example"); !eq(got, []string{"1:exact"}) {
		t.Errorf("after a failed Build: %v", got)
	}
	mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'before.example']", modified: "2023-01-01T00:00:00Z"})
	if got := lookupS(t, x, "before.example"); !eq(got, []string{"1:exact"}) {
		t.Errorf("after a failed Build, the id table is gone: %v", got)
	}
	st, err := x.Build(seq(its, -1))
	if err != nil {
		t.Fatal(err)
	}
	if st.Indicators != 3001 || st.Superseded != 0 || st.Stale != 1 {
		t.Errorf("%+v", st)
	}
	if got := lookupS(t, x, "before.example"); got != nil {
		t.Errorf("Build kept old contents: %v", got)
	}
	for _, i := range []int{0, 1234, 2999} {
		if got := lookupS(t, x, fmt.Sprintf("d%d.example", i)); !eq(got, []string{fmt.Sprint(100+i, ":exact")}) {
			t.Errorf("d%d: %v", i, got)
		}
	}
	if got := lookupS(t, x, "old.example"); got != nil {
		t.Errorf("old version: %v", got)
	}
	if got := lookupS(t, x, "new.example"); !eq(got, []string{"2:exact"}) {
		t.Errorf("new version: %v", got)
	}
	if in := x.Info(); in.Deltas != 0 || in.Objects != 3001 {
		t.Errorf("%+v", in)
	}
}

// TestIncremental makes many small updates, removals and supersessions,
// with compaction forced often, and checks the index against a model
// after every step.
func TestIncremental(t *testing.T) {
	x, _ := newTestIndex(t, Options{CompactAt: 50})
	// model: object number → its domain (absent: no match)
	model := map[int]string{}
	version := map[int]int{}
	check := func(step int) {
		t.Helper()
		for n := range 200 {
			for _, d := range []string{fmt.Sprintf("a%d.example", n), fmt.Sprintf("b%d.example", n)} {
				got := lookupS(t, x, d)
				var want []string
				if model[n] == d {
					want = []string{fmt.Sprint(n, ":exact")}
				}
				if !eq(got, want) {
					t.Fatalf("step %d: %s: %v, want %v", step, d, got, want)
				}
			}
		}
	}
	for step := range 400 {
		n := (step * 37) % 200
		switch step % 5 {
		case 0, 1, 2: // new version, alternating between two domains
			version[n]++
			d := fmt.Sprintf("a%d.example", n)
			if version[n]%2 == 0 {
				d = fmt.Sprintf("b%d.example", n)
			}
			mod := time.Date(2024, 1, 1, 0, 0, version[n], 0, time.UTC).Format(time.RFC3339)
			mustUpdate(t, x, spec{n: n, pattern: fmt.Sprintf("[domain-name:value = '%s']", d), modified: mod})
			model[n] = d
		case 3: // revoke
			version[n]++
			mod := time.Date(2024, 1, 1, 0, 0, version[n], 0, time.UTC).Format(time.RFC3339)
			mustUpdate(t, x, spec{n: n, pattern: "[domain-name:value = 'z.example']", modified: mod, revoked: true})
			delete(model, n)
		case 4: // remove
			x.Remove("c1", id(n))
			delete(model, n)
			version[n] = 0
		}
		if step%20 == 0 {
			check(step)
		}
	}
	check(400)
	in := x.Info()
	if in.Compactions == 0 {
		t.Errorf("no compaction happened: %+v", in)
	}
	if in.Deltas > maxDeltas {
		t.Errorf("%d delta segments", in.Deltas)
	}
}

// TestDeltaMerging: many single updates stay visible and keep the delta
// segments few.
func TestDeltaMerging(t *testing.T) {
	x, _ := newTestIndex(t, Options{CompactAt: 1 << 30})
	for i := range 1000 {
		mustUpdate(t, x, spec{n: i, pattern: fmt.Sprintf("[ipv4-addr:value = '10.0.%d.%d']", i/256, i%256)})
		if in := x.Info(); in.Deltas > maxDeltas {
			t.Fatalf("after %d updates: %+v", i+1, in)
		}
	}
	for i := range 1000 {
		if got := lookupS(t, x, fmt.Sprintf("10.0.%d.%d", i/256, i%256)); !eq(got, []string{fmt.Sprint(i, ":exact")}) {
			t.Fatalf("%d: %v", i, got)
		}
	}
	if in := x.Info(); in.Compactions != 0 || in.Objects != 1000 {
		t.Errorf("%+v", in)
	}
}

func TestBatchLookups(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[ipv4-addr:value = '192.0.2.1']"},
		spec{n: 2, pattern: "[domain-name:value = 'evil.example']"},
	)
	// enough values for several workers and chunks
	var vals []string
	var text strings.Builder
	for i := range 20000 {
		v := fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)
		switch i % 5000 {
		case 17:
			v = "192.0.2.1"
		case 4001:
			v = "x.evil.example"
		case 4002:
			v = "not a value"
		}
		vals = append(vals, v)
		text.WriteString(v)
		text.WriteString("\r\n")
	}
	want := []string{}
	for i := range vals {
		switch i % 5000 {
		case 17:
			want = append(want, fmt.Sprint(i, ":1:exact"))
		case 4001:
			want = append(want, fmt.Sprint(i, ":2:subdomain"))
		}
	}
	render := func(hits []Hit) []string {
		out := []string{}
		for _, h := range hits {
			s := summary([]Hit{h})[0]
			out = append(out, fmt.Sprint(h.Input, ":", s))
		}
		return out
	}
	hits, rec := x.LookupStrings(vals)
	if got := render(hits); !eq(got, want) || rec != 20000-4 {
		t.Errorf("LookupStrings: %v (%d recognised), want %v", got, rec, want)
	}
	hits, rec = x.LookupLines([]byte(text.String()))
	if got := render(hits); !eq(got, want) || rec != 20000-4 {
		t.Errorf("LookupLines: %v (%d recognised), want %v", got, rec, want)
	}
	var obs []Observable
	for _, v := range vals {
		obs = append(obs, Observable{"ipv4-addr", "value", v})
	}
	obs[17] = Observable{"domain-name", "value", "EVIL.example"}
	obs[18] = Observable{"x", "a..b", "v"}
	hits, rec = x.LookupObservables(obs)
	if got := render(hits); !eq(got, []string{"17:2:exact", "5017:1:exact", "10017:1:exact", "15017:1:exact"}) || rec != 20000-1 {
		t.Errorf("LookupObservables: %v (%d)", got, rec)
	}
	// empty input
	if hits, rec := x.LookupLines(nil); len(hits) != 0 || rec != 0 {
		t.Errorf("empty: %v %d", hits, rec)
	}
	if hits, rec := x.LookupLines([]byte("192.0.2.1")); len(hits) != 1 || rec != 1 {
		t.Errorf("no final newline: %v %d", hits, rec)
	}
}

// TestFarVersions: version keys far from today keep their order and come
// back exactly in Ref.Modified.
func TestFarVersions(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'far1.example']", modified: "9999-01-01T00:00:00.123Z"})
	if st := mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'far2.example']", modified: "9999-06-01T00:00:00.5Z"}); st.Superseded != 1 {
		t.Errorf("%+v", st)
	}
	hits, _ := x.LookupString("far2.example")
	if len(hits) != 1 || !hits[0].Ref.Modified.Equal(time.Date(9999, 6, 1, 0, 0, 0, 5e8, time.UTC)) {
		t.Errorf("%+v", hits)
	}
	if st := mustUpdate(t, x, spec{n: 1, pattern: "[domain-name:value = 'far3.example']", modified: "9999-06-01T00:00:00.499Z"}); st.Stale != 1 {
		t.Errorf("older by a millisecond: %+v", st)
	}
}

// TestEntrySize guards the memory budget: an entry is 56 bytes.
func TestEntrySize(t *testing.T) {
	if s := unsafe.Sizeof(entry{}); s != 56 {
		t.Errorf("entry is %d bytes", s)
	}
}
