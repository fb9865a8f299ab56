package server_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

// benchAssets is the corpus's list plus n generated assets of every kind
// (40 % ranges, 30 % domains, 10 % mail, 15 % names, 4 % AS numbers, 1 %
// regexes), none of which the clean corpus names.
func benchAssets(base []byte, n int) []byte {
	var b bytes.Buffer
	b.Write(base)
	words := []string{"bal", "dor", "fen", "gil", "kar", "lum", "mor", "nix", "pol", "ruv", "sek", "tam", "vor", "zel"}
	w := func(i int) string { return words[i%len(words)] + words[(i/len(words))%len(words)] }
	for i := 0; i < n; i++ {
		switch k := i % 100; {
		case k < 30:
			fmt.Fprintf(&b, "cidr 10.%d.%d.0/24\n", i>>8&255, i&255)
		case k < 40:
			fmt.Fprintf(&b, "cidr 2001:db8:f%03x:%x::/64\n", i>>16&0xfff, i&0xffff)
		case k < 70:
			fmt.Fprintf(&b, "domain client-%d-%s.example\n", i, w(i))
		case k < 80:
			fmt.Fprintf(&b, "email @mx%d.client.example\n", i)
		case k < 95:
			fmt.Fprintf(&b, "name Klient %s %s %d\n", w(i), w(i/7), i)
		case k < 99:
			fmt.Fprintf(&b, "asn AS%d\n", 4200100000+i)
		default:
			fmt.Fprintf(&b, "regex KL%d-[0-9]{7}\n", 1000+i/100)
		}
	}
	return b.Bytes()
}

var idRE = regexp.MustCompile(`"id":"([a-z0-9-]+)--[0-9a-f-]{36}"`)

func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:])
}

// BenchmarkGuardPOST measures TAXII POST throughput (objects/s) of a
// partner posting envelopes of 1,000 clean corpus objects, each time with
// new ids, with the guard off (no list) and on (a list of 100,000 assets).
//
//	go test ./internal/server -run '^$' -bench GuardPOST -benchtime 20x
func BenchmarkGuardPOST(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on-100k"
		}
		b.Run(name, func(b *testing.B) {
			c := readGuardCorpus(b)
			g := newGuardEnv(b, openSQLite)
			if on {
				r := g.do("PUT", "/api/v1/orgs/northwind/guard", g.nwAdmin, "text/plain", benchAssets(c.assets, 100_000))
				if r.code != 200 {
					b.Fatalf("PUT guard: %d %s", r.code, r.body)
				}
			}
			objs := c.clean[:1000]
			bodies := make([][]byte, b.N)
			for i := range bodies {
				var env bytes.Buffer
				env.WriteString(`{"objects":[`)
				for j, o := range objs {
					if j > 0 {
						env.WriteByte(',')
					}
					env.Write(idRE.ReplaceAll(o, []byte(`"id":"${1}--`+newUUID()+`"`)))
				}
				env.WriteString(`]}`)
				bodies[i] = env.Bytes()
			}
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := g.do("POST", objectsPath, g.nwWrite, taxiiType, bodies[i])
				if r.code != http.StatusAccepted {
					b.Fatalf("POST: %d %s", r.code, r.body)
				}
				var st statusJSON
				if err := json.Unmarshal([]byte(r.body), &st, json.RejectUnknownMembers(false)); err != nil || st.SuccessCount != len(objs) {
					b.Fatalf("POST: %d of %d stored (%v): %.300s", st.SuccessCount, len(objs), err, strings.Join(failureMessages(st), "; "))
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(b.N*len(objs))/b.Elapsed().Seconds(), "objects/s")
			// CPU time of the whole process (server and client) per object:
			// steadier than wall time when the machine is shared.
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*len(objs)), "cpu-µs/object")
		})
	}
}

func failureMessages(st statusJSON) []string {
	var out []string
	for _, f := range st.Failures {
		out = append(out, f.Message)
	}
	return out
}
