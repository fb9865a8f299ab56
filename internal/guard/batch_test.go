package guard

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// crossBatchObjects are ordered so that whatever an object's decision
// depends on comes before it: split anywhere, a run must decide as one
// batch does.
func crossBatchObjects() []string {
	const (
		cust  = "identity--11111111-1111-4111-8111-111111111111"
		ip    = "ipv4-addr--33333333-3333-4333-8333-333333333333"
		od    = "observed-data--44444444-4444-4444-8444-444444444444"
		ind   = "indicator--55555555-5555-4555-8555-555555555555"
		vuln  = "vulnerability--66666666-6666-4666-8666-666666666666"
		infra = "infrastructure--77777777-7777-4777-8777-777777777777"
		od2   = "observed-data--78787878-7878-4878-8878-787878787878"
	)
	return []string{
		`{"type":"identity","id":"` + cust + `","modified":"2025-01-01T00:00:00.000Z","name":"Acme Corporation"}`,                                                                 // 0 name
		`{"type":"ipv4-addr","id":"` + ip + `","value":"198.51.100.7"}`,                                                                                                           // 1 cidr
		`{"type":"observed-data","id":"` + od + `","object_refs":["` + ip + `"]}`,                                                                                                 // 2 via 1
		`{"type":"indicator","id":"` + ind + `","pattern":"[ipv4-addr:value = '203.0.113.9']"}`,                                                                                   // 3 clean
		`{"type":"infrastructure","id":"` + infra + `","name":"VPN gateway","description":"at vpn.acme-corp.example"}`,                                                            // 4 domain
		`{"type":"relationship","id":"relationship--d0000000-0000-4000-8000-000000000000","relationship_type":"has","source_ref":"` + infra + `","target_ref":"` + vuln + `"}`,    // 5 via 4
		`{"type":"identity","id":"` + cust + `","modified":"2025-02-01T00:00:00.000Z","name":"Customer 17"}`,                                                                      // 6 clean version of 0
		`{"type":"sighting","id":"sighting--a0000000-0000-4000-8000-000000000000","sighting_of_ref":"` + ind + `","where_sighted_refs":["` + cust + `"]}`,                         // 7 via 0, not 6
		`{"type":"vulnerability","id":"` + vuln + `","name":"CVE-2024-3400"}`,                                                                                                     // 8 tied by 5
		`{"type":"relationship","id":"relationship--e0000000-0000-4000-8000-000000000000","relationship_type":"related-to","source_ref":"` + od2 + `","target_ref":"` + od + `"}`, // 9 via 2
		`{"type":"observed-data","id":"` + od2 + `","object_refs":["` + ind + `"]}`,                                                                                               // 10 tied by 9
		`{"type":"sighting","id":"sighting--b0000000-0000-4000-8000-000000000000","sighting_of_ref":"` + ind + `","observed_data_refs":["` + od2 + `"]}`,                          // 11 via 10
		`{"type":"vulnerability","id":"vulnerability--f1000000-0000-4000-8000-000000000000","name":"CVE-2023-4966"}`,                                                              // 12 clean
	}
}

func toRaw(objs []string) [][]byte {
	raw := make([][]byte, len(objs))
	for i, o := range objs {
		raw[i] = []byte(o)
	}
	return raw
}

func actions(res []Result) string {
	var b strings.Builder
	for _, r := range res {
		b.WriteString(r.Action.String()[:1])
	}
	return b.String()
}

// TestRunAcrossBatches: a run cut into batches anywhere decides every
// object as one batch with all of them does — in particular a sighting of
// an object whose blocked version came in an earlier batch, with a clean
// version in the sighting's own batch, and a vulnerability or
// observed-data tied to a relationship blocked in an earlier batch.
func TestRunAcrossBatches(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	raw := toRaw(crossBatchObjects())
	ctx := context.Background()
	whole, err := sc.ScanBatch(ctx, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "bbbabbabbbbba"
	if got := actions(whole); got != want {
		t.Fatalf("one batch: %s, want %s", got, want)
	}
	for size := 1; size < len(raw); size++ {
		for first := 1; first <= size; first++ {
			run := sc.NewRun(nil)
			var got []Result
			for lo, hi := 0, first; lo < len(raw); lo, hi = hi, min(hi+size, len(raw)) {
				res, err := run.ScanBatch(ctx, raw[lo:hi])
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, res...)
			}
			if a := actions(got); a != want {
				t.Errorf("batches of %d after a first of %d: %s, want %s", size, first, a, want)
			}
		}
	}

	// The same through a prior that remembers blocked ids only (the hub's
	// quarantine before the run): the sighting of the customer is blocked
	// although the batch carries a clean version of it.
	res, err := sc.ScanBatch(ctx, raw[6:8], BlockedSet{"identity--11111111-1111-4111-8111-111111111111": true})
	if err != nil {
		t.Fatal(err)
	}
	if actions(res) != "ab" || !strings.Contains(res[1].Reason(), "where_sighted_refs[0]") {
		t.Errorf("prior with a clean version in the batch: %s %q", actions(res), res[1].Reason())
	}
}

// TestRunPriorAndErrors: a run consults its prior (blocked and tied),
// and a failing prior fails the batch.
func TestRunPriorAndErrors(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	raw := toRaw(crossBatchObjects())
	ctx := context.Background()
	prior := &tiedSet{BlockedSet: BlockedSet{"identity--11111111-1111-4111-8111-111111111111": true},
		tied: map[string]string{"vulnerability--f1000000-0000-4000-8000-000000000000": "relationship--99999999-9999-4999-8999-999999999999"}}
	run := sc.NewRun(prior)
	res, err := run.ScanBatch(ctx, raw[6:])
	if err != nil {
		t.Fatal(err)
	}
	// 7 via the prior's blocked identity; 12 tied by the prior's relationship
	if got := actions(res); got != "abaaaab" {
		t.Errorf("with prior: %s", got)
	}
	if !strings.Contains(res[6].Reason(), "tied by blocked relationship--99999999") {
		t.Errorf("tied reason: %q", res[6].Reason())
	}
	if _, err := sc.NewRun(failingLookup{}).ScanBatch(ctx, raw[7:8]); err == nil {
		t.Error("a failing prior did not fail the batch")
	}
	if _, err := sc.ScanBatch(ctx, raw[8:9], &tiedSet{BlockedSet: BlockedSet{}, err: fmt.Errorf("store down")}); err == nil {
		t.Error("a failing Tied did not fail the batch")
	}
	// Tied reports the tied ends of a blocked relationship only.
	whole, _ := sc.ScanBatch(ctx, raw, nil)
	if got := whole[5].Tied(); len(got) != 1 || got[0] != "vulnerability--66666666-6666-4666-8666-666666666666" {
		t.Errorf("Tied of a blocked relationship: %v", got)
	}
	if got := whole[3].Tied(); got != nil {
		t.Errorf("Tied of an allowed indicator: %v", got)
	}
}

type tiedSet struct {
	BlockedSet
	tied map[string]string
	err  error
}

func (s *tiedSet) Tied(_ context.Context, ids []string) (map[string]string, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]string{}
	for _, id := range ids {
		if rel, ok := s.tied[id]; ok {
			out[id] = rel
		}
	}
	return out, nil
}

// TestScanBatchParallel: a batch large enough to be scanned on several
// goroutines gives the results of scanning each object alone, in order.
func TestScanBatchParallel(t *testing.T) {
	sc := NewScanner(loadAssets(t), Options{})
	base := crossBatchObjects()
	var objs []string
	for i := 0; len(objs) < 3*parallelMin+17; i++ {
		objs = append(objs, base[i%len(base)])
	}
	raw := toRaw(objs)
	res, err := sc.ScanBatch(context.Background(), raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range raw {
		r := sc.Scan(o)
		if r.ID != res[i].ID || len(r.Findings) > len(res[i].Findings) {
			t.Fatalf("object %d: %s/%v vs alone %s/%v", i, res[i].ID, res[i].Findings, r.ID, r.Findings)
		}
	}
	if got, want := actions(res[:len(base)]), "bbbabbabbbbba"; got != want {
		t.Errorf("first objects: %s, want %s", got, want)
	}
}

// TestScanBatchParallelCorpus: on the corpora (clean, leaky, mixed, with
// references across the parts the goroutines take, with and without
// prior), ScanBatch on four goroutines decides exactly as on one.
func TestScanBatchParallelCorpus(t *testing.T) {
	read := func(name string) [][]byte {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(l) > 0 && l[0] != '#' {
				out = append(out, l)
			}
		}
		return out
	}
	leaky, clean := read("corpus/leaky.jsonl"), read("corpus/clean.jsonl")
	prior := BlockedSet{}
	for _, id := range read("corpus/prior.txt") {
		prior[string(id)] = true
	}
	mixed := append(append([][]byte{}, clean[:700]...), leaky...)
	// a clean relationship at the end that leads to a blocked indicator at the start
	cross := append([][]byte{leaky[0]}, clean[:400]...)
	cross = append(cross, []byte(`{"type":"relationship","spec_version":"2.1","id":"relationship--6f1c1d2e-0d7b-4c53-9d0e-2a7b1c9e8f00","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","relationship_type":"indicates","source_ref":"`+string(idOf(t, leaky[0]))+`","target_ref":"malware--6f1c1d2e-0d7b-4c53-9d0e-2a7b1c9e8f01"}`))
	batches := map[string][][]byte{"cross": cross, "clean": clean, "leaky": leaky, "mixed": mixed,
		"leaky-then-clean": append(append([][]byte{}, leaky...), clean...)}
	for _, redact := range []bool{false, true} {
		sc := NewScanner(loadAssets(t), Options{Redact: redact})
		for name, batch := range batches {
			for _, p := range []BlockedIDs{nil, prior} {
				old := runtime.GOMAXPROCS(1)
				want, err := sc.ScanBatch(context.Background(), batch, p)
				runtime.GOMAXPROCS(4)
				got, err2 := sc.ScanBatch(context.Background(), batch, p)
				runtime.GOMAXPROCS(old)
				if err != nil || err2 != nil {
					t.Fatal(err, err2)
				}
				if name == "cross" && want[len(want)-1].Action != Block {
					t.Fatalf("the relationship to a blocked indicator is not blocked")
				}
				for i := range want {
					if want[i].Action != got[i].Action || !reflect.DeepEqual(want[i].Findings, got[i].Findings) || !bytes.Equal(want[i].Redacted, got[i].Redacted) {
						t.Fatalf("%s (redact %v, prior %v): object %d: 4 goroutines %v %v, one %v %v", name, redact, p != nil, i, got[i].Action, got[i].Findings, want[i].Action, want[i].Findings)
					}
				}
			}
		}
	}
}

func idOf(t *testing.T, raw []byte) string {
	r := NewScanner(nil, Options{}).Scan(raw)
	if r.ID == "" {
		t.Fatalf("no id in %.80s", raw)
	}
	return r.ID
}
