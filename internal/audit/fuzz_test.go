package audit

import (
	"bytes"
	"testing"

	"github.com/go-json-experiment/json"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Seed corpora are in testdata/fuzz/<FuzzName>/.

// Entries come from the store (possibly tampered with) and from receipts.
func FuzzParseEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		f.Add(Encode(&e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err != nil {
			return
		}
		enc := Encode(&e)
		back, err := ParseEntry(enc)
		if err != nil {
			t.Fatalf("Encode of a parsed entry does not parse: %v\n%q", err, enc)
		}
		if again := Encode(&back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding not stable:\n%q\n%q", enc, again)
		}
	})
}

// fuzzSKey is a fixed key (test only; the verifier key is
// fusion.hub/fuzz+e1d24852+AauAPHEk4aZ8+4i/1Z4MbLdRkT71h5+YsVCu3eRS2zFT) for the checkpoint fuzzers.
const fuzzSKey = "PRIVATE+KEY+fusion.hub/fuzz+e1d24852+Adfm6AXrWn+Qezdv91iqymCXY5GDxnIptsEbWy2YicOe"

func fuzzVerifier(t testing.TB) (note.Verifier, *Key) {
	k, err := ParseKey(fuzzSKey)
	if err != nil {
		t.Fatal(err)
	}
	return k.Verifier, k
}

// Checkpoints come from the hub over HTTP (to witnesses) and in receipts.
func FuzzOpenCheckpoint(f *testing.F) {
	_, k := fuzzVerifier(f)
	for _, size := range []int64{0, 1, 300, 1 << 40} {
		cp, err := signCheckpoint(k, size, tlog.RecordHash([]byte{byte(size)}))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(cp)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, _ := fuzzVerifier(t)
		cp, err := OpenCheckpoint(msg, v)
		if err == nil {
			if cp.Origin != v.Name() || cp.Size < 0 {
				t.Fatalf("opened %+v", cp)
			}
		}
		// The text parser on its own: what parses formats back the same.
		origin, size, root, err := parseCheckpointText(string(msg))
		if err == nil && checkpointText(origin, size, root) != string(msg) {
			t.Fatalf("text %q parses but formats as %q", msg, checkpointText(origin, size, root))
		}
	})
}

// Receipts are checked by third parties; proofs come from the hub.
func FuzzCheckReceipt(f *testing.F) {
	_, k := fuzzVerifier(f)
	e := sampleEntries()[10]
	leaf := Encode(&e)
	// A one-entry tree: the root is the leaf hash, the proof empty.
	cp, err := signCheckpoint(k, 1, tlog.RecordHash(leaf))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := json.Marshal(Receipt{Index: 0, Entry: leaf, TreeSize: 1, Proof: []tlog.Hash{}, Checkpoint: string(cp)})
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		v, _ := fuzzVerifier(t)
		var r Receipt
		if json.Unmarshal(data, &r) != nil {
			return
		}
		e, err := CheckReceipt(r, v)
		if err != nil {
			return
		}
		// Whatever passes is a genuine inclusion: the root signed for a
		// one-entry tree is our leaf's hash, so only our leaf passes.
		if r.TreeSize == 1 && !bytes.Equal(r.Entry, leaf) {
			t.Fatalf("receipt for another entry passed: %q", r.Entry)
		}
		if e.Kind == "" {
			t.Fatal("a receipt passed with an entry without kind")
		}
	})
}

// The witness and receipt checks run tlog's proof checks on whatever the
// hub answers.
func FuzzCheckProofs(f *testing.F) {
	f.Add(int64(3), int64(7), []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"))
	f.Add(int64(0), int64(0), []byte{})
	f.Add(int64(-1), int64(1<<62), []byte("x"))
	f.Add(int64(3), int64(1<<63-1), []byte("x")) // tlog alone loops forever on this
	f.Fuzz(func(t *testing.T, a, b int64, raw []byte) {
		var p []tlog.Hash
		for len(raw) >= 32 && len(p) < 70 {
			p = append(p, tlog.Hash(raw[:32]))
			raw = raw[32:]
		}
		var h tlog.Hash
		_ = checkTree(p, b, h, a, h)
		_ = checkRecord(p, b, h, a, h)
	})
}
