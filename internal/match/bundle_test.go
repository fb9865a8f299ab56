package match

import (
	"fmt"
	"strings"
	"testing"
)

// bundleOf builds a bundle from observed-data groups: each group is the
// observed-data's times and its SCOs (JSON objects without ids; ids are
// assigned and listed in object_refs unless the SCO has "_hidden":true,
// which keeps it out of object_refs, reachable only by reference).
type group struct {
	first, last string
	n           int
	scos        []string // SCO JSON bodies, e.g. `"type":"ipv4-addr","value":"1.2.3.4"`
}

func bundleOf(groups ...group) []byte {
	var objs []string
	for g, gr := range groups {
		var refs []string
		for i, sco := range gr.scos {
			typ := strings.SplitN(strings.SplitN(sco, `"type":"`, 2)[1], `"`, 2)[0]
			oid := fmt.Sprintf("%s--%08d-0000-4000-8000-%012d", typ, g, i)
			hidden := strings.Contains(sco, `"_hidden":true`)
			sco = strings.ReplaceAll(sco, `,"_hidden":true`, "")
			sco = strings.ReplaceAll(sco, "$g", fmt.Sprintf("%08d", g))
			objs = append(objs, fmt.Sprintf(`{"spec_version":"2.1","id":%q,%s}`, oid, sco))
			if !hidden {
				refs = append(refs, fmt.Sprintf("%q", oid))
			}
		}
		n := gr.n
		if n == 0 {
			n = 1
		}
		objs = append(objs, fmt.Sprintf(`{"type":"observed-data","spec_version":"2.1","id":"observed-data--%08d-0000-4000-8000-000000000000","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","first_observed":%q,"last_observed":%q,"number_observed":%d,"object_refs":[%s]}`,
			g, gr.first, gr.last, n, strings.Join(refs, ",")))
	}
	return []byte(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` + strings.Join(objs, ",") + `]}`)
}

func TestObservationsFromBundle(t *testing.T) {
	raw := bundleOf(
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:01Z", 3, []string{`"type":"ipv4-addr","value":"192.0.2.1"`}},
		group{"2024-01-01T00:01:00Z", "2024-01-01T00:01:00Z", 1, []string{`"type":"domain-name","value":"a.example"`}},
	)
	obs, ids, err := ObservationsFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(obs) != 2 || ids[0] != "observed-data--00000000-0000-4000-8000-000000000000" || ids[1] != "observed-data--00000001-0000-4000-8000-000000000000" {
		t.Fatalf("%d observations, ids %v", len(obs), ids)
	}
	if obs[0].NumberObserved != 3 || len(obs[0].Objects) != 1 || obs[0].Objects[0]["value"] != "192.0.2.1" {
		t.Errorf("observation 0: %+v", obs[0])
	}
	// STIX 2.0 embedded objects
	raw20 := []byte(`{"type":"bundle","id":"bundle--1","objects":[{"type":"observed-data","id":"observed-data--1","first_observed":"2024-01-01T00:00:00Z","last_observed":"2024-01-01T00:00:00Z","number_observed":1,"objects":{"0":{"type":"ipv4-addr","value":"192.0.2.9"}}}]}`)
	obs, _, err = ObservationsFromBundle(raw20)
	if err != nil || len(obs) != 1 || obs[0].Objects[0]["value"] != "192.0.2.9" {
		t.Errorf("2.0: %+v %v", obs, err)
	}
	for _, c := range []struct{ raw, want string }{
		{`{"type":"report","objects":[]}`, `type is "report"`},
		{`{"type":"bundle","objects":[1]}`, "objects[0]"},
		{`{"type":"bundle","objects":[{"type":"observed-data","id":"observed-data--1","last_observed":"2024-01-01T00:00:00Z","object_refs":[]}]}`, "first_observed"},
		{`{"type":"bundle"`, "bundle"},
	} {
		if _, _, err := ObservationsFromBundle([]byte(c.raw)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.raw, err, c.want)
		}
	}
}

// renderHits shows hits as "input:n:kind", in order.
func renderHits(hits []Hit) []string {
	out := []string{}
	for _, h := range hits {
		out = append(out, fmt.Sprint(h.Input, ":", summary([]Hit{h})[0]))
	}
	return out
}

func TestMatchObservations(t *testing.T) {
	x, _ := newTestIndex(t, Options{})
	mustUpdate(t, x,
		spec{n: 1, pattern: "[ipv4-addr:value = '192.0.2.1']"},
		spec{n: 2, pattern: "[network-traffic:dst_ref.value = '192.0.2.1']"},
		spec{n: 3, pattern: "[file:hashes.MD5 = '" + md5A + "' AND file:name = 'a.exe']"},
		spec{n: 4, pattern: "([domain-name:value = 'first.example'] FOLLOWEDBY [url:value = 'http://second.example/']) WITHIN 60 SECONDS"},
		spec{n: 5, pattern: "[file:name LIKE '%.scr']"},
		spec{n: 6, pattern: "[domain-name:value = 'evil.example']"},
		spec{n: 7, pattern: "[ipv4-addr:value = '192.0.2.200']", until: "2025-01-01T00:00:00Z"}, // expired
		spec{n: 8, pattern: "[network-traffic:dst_port = 4444]"},
		spec{n: 9, pattern: "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"},
		spec{n: 10, pattern: "[file:size > 1000] REPEATS 2 TIMES"},
	)
	raw := bundleOf(
		// 0: the address as a root object and behind a reference
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
			`"type":"ipv4-addr","value":"192.0.2.1"`,
			`"type":"network-traffic","dst_ref":"ipv4-addr--$g-0000-4000-8000-000000000000","dst_port":443,"protocols":["tcp"]`,
		}},
		// 1: the address only behind a reference (not in object_refs)
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
			`"type":"ipv4-addr","value":"192.0.2.1","_hidden":true`,
			`"type":"network-traffic","dst_ref":"ipv4-addr--$g-0000-4000-8000-000000000000","dst_port":4444,"protocols":["tcp"]`,
		}},
		// 2: hash and name together; 3: the hash alone
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{`"type":"file","name":"a.exe","size":10,"hashes":{"MD5":"` + strings.ToLower(md5A) + `"}`}},
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{`"type":"file","name":"b.exe","size":2000,"hashes":{"MD5":"` + md5A + `"}`}},
		// 4 and 5: first then second within the window
		group{"2024-01-01T00:10:00Z", "2024-01-01T00:10:00Z", 1, []string{`"type":"domain-name","value":"FIRST.example"`}},
		group{"2024-01-01T00:10:30Z", "2024-01-01T00:10:30Z", 1, []string{`"type":"url","value":"http://second.example"`}},
		// 6: keyless LIKE, subdomain, expired, block
		group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{
			`"type":"file","name":"x.scr","size":5000`,
			`"type":"domain-name","value":"www.evil.example"`,
			`"type":"ipv4-addr","value":"192.0.2.200"`,
			`"type":"ipv4-addr","value":"198.51.100.99"`,
		}},
	)
	obs, _, err := ObservationsFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	got := renderHits(x.MatchObservations(obs))
	want := []string{
		"-1:4:pattern",  // FIRST.example then second.example within 60 s
		"-1:10:pattern", // two files over 1000 bytes (observations 3 and 6)
		"0:1:exact",
		"0:2:pattern",
		"1:2:pattern",
		"1:8:pattern",
		"2:3:pattern",
		"3:3:partial",
		"6:9:cidr",
		"6:5:pattern",
		"6:6:subdomain",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("hits\n %v, want\n %v", got, want)
	}
	// the second before the first: FOLLOWEDBY fails, its values are partial
	raw = bundleOf(
		group{"2024-01-01T00:10:30Z", "2024-01-01T00:10:30Z", 1, []string{`"type":"domain-name","value":"first.example"`}},
		group{"2024-01-01T00:10:00Z", "2024-01-01T00:10:00Z", 1, []string{`"type":"url","value":"http://second.example/"`}},
	)
	if obs, _, err = ObservationsFromBundle(raw); err != nil {
		t.Fatal(err)
	}
	got = renderHits(x.MatchObservations(obs))
	if want := []string{"0:4:partial", "1:4:partial"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("reversed: %v, want %v", got, want)
	}
	// many observations, spread over workers: each is reported with its index
	var groups []group
	for i := range 3000 {
		v := fmt.Sprintf("10.%d.%d.%d", i>>16, i>>8&255, i&255)
		if i%1000 == 999 {
			v = "192.0.2.1"
		}
		groups = append(groups, group{"2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z", 1, []string{`"type":"ipv4-addr","value":"` + v + `"`}})
	}
	if obs, _, err = ObservationsFromBundle(bundleOf(groups...)); err != nil {
		t.Fatal(err)
	}
	got = renderHits(x.MatchObservations(obs))
	// (2 needs a network-traffic object: a partial match)
	if want := []string{"999:1:exact", "999:2:partial", "1999:1:exact", "1999:2:partial", "2999:1:exact", "2999:2:partial"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("many: %v, want %v", got, want)
	}
}
