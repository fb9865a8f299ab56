package server

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"reflect"
	"runtime"
	"testing"

	"fusion/internal/guard"
)

// TestScreenParallel: the parallel screen gives what ScanBatch over the
// whole batch gives, for batches of clean objects, leaky ones and both
// (references across the parts included), with and without prior.
func TestScreenParallel(t *testing.T) {
	read := func(name string) [][]byte {
		f, err := os.Open("../guard/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out [][]byte
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(sc.Bytes()) > 0 && sc.Bytes()[0] != '#' {
				out = append(out, bytes.Clone(sc.Bytes()))
			}
		}
		return out
	}
	text, err := os.ReadFile("../guard/testdata/assets.txt")
	if err != nil {
		t.Fatal(err)
	}
	l, err := guard.ParseList(bytes.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	leaky, clean := read("corpus/leaky.jsonl"), read("corpus/clean.jsonl")
	prior := guard.BlockedSet{}
	for _, id := range read("corpus/prior.txt") {
		prior[string(id)] = true
	}
	mixed := append(append([][]byte{}, clean[:700]...), leaky...)
	// A clean relationship in the last part that leads to a blocked
	// indicator in the first part.
	cross := append([][]byte{leaky[0]}, clean[:400]...)
	cross = append(cross, []byte(`{"type":"relationship","spec_version":"2.1","id":"relationship--6f1c1d2e-0d7b-4c53-9d0e-2a7b1c9e8f00","created":"2025-03-01T00:00:00.000Z","modified":"2025-03-01T00:00:00.000Z","relationship_type":"indicates","source_ref":"indicator--a0006c14-6cb0-45ff-b765-6f6ec9ee5159","target_ref":"malware--6f1c1d2e-0d7b-4c53-9d0e-2a7b1c9e8f01"}`))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, redact := range []bool{false, true} {
		sc := guard.NewScanner(l, guard.Options{Redact: redact})
		for name, batch := range map[string][][]byte{"cross": cross, "clean": clean, "leaky": leaky, "mixed": mixed, "leaky-then-clean": append(append([][]byte{}, leaky...), clean...)} {
			for _, p := range []guard.BlockedIDs{nil, prior} {
				want, err := sc.ScanBatch(context.Background(), batch, p)
				if err != nil {
					t.Fatal(err)
				}
				got, err := screenParallel(context.Background(), sc, batch, p)
				if err != nil {
					t.Fatal(err)
				}
				if name == "cross" && want[len(want)-1].Action != guard.Block {
					t.Fatalf("the cross-part relationship is not blocked by ScanBatch")
				}
				for i := range want {
					if want[i].Action != got[i].Action || !reflect.DeepEqual(want[i].Findings, got[i].Findings) || !bytes.Equal(want[i].Redacted, got[i].Redacted) {
						t.Fatalf("%s (redact %v, prior %v): object %d: parallel %v %v, whole %v %v", name, redact, p != nil, i, got[i].Action, got[i].Findings, want[i].Action, want[i].Findings)
					}
				}
			}
		}
	}
}
