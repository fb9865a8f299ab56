package audit

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is a tlog.HashReader over a slice of stored hashes.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("no stored hash %d (have %d)", x, len(m))
		}
		out[i] = m[x]
	}
	return out, nil
}

func leafData(i int) []byte { return []byte(fmt.Sprintf(`{"i":%d}`, i)) }

// The frontier produces exactly the stored hashes and roots of tlog, and
// its indexes name the hashes it holds.
func TestFrontierMatchesTlog(t *testing.T) {
	const n = 1100
	var want memHashes
	var f frontier
	var got []tlog.Hash
	for i := 0; i < n; i++ {
		hs, err := tlog.StoredHashes(int64(i), leafData(i), want)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, hs...)
		got = f.push(tlog.RecordHash(leafData(i)), got)
		if len(got) != len(want) {
			t.Fatalf("after leaf %d: %d stored hashes, tlog has %d", i, len(got), len(want))
		}
		if got[len(got)-1] != want[len(want)-1] {
			t.Fatalf("after leaf %d: last stored hash differs", i)
		}
		root, err := tlog.TreeHash(int64(i+1), want)
		if err != nil {
			t.Fatal(err)
		}
		if f.root() != root {
			t.Fatalf("root of %d leaves differs from tlog.TreeHash", i+1)
		}
		fh, err := want.ReadHashes(frontierIndexes(int64(i + 1)))
		if err != nil {
			t.Fatal(err)
		}
		for j := range fh {
			if fh[j] != f.hashes[j] {
				t.Fatalf("tree of %d: frontier hash %d is not the stored hash at index %d", i+1, j, frontierIndexes(int64(i + 1))[j])
			}
		}
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("stored hash %d differs", i)
		}
	}
	if (&frontier{}).root() != tlog.Hash(emptyRoot) {
		t.Fatal("empty root")
	}
	if h, _ := tlog.TreeHash(0, want); h != emptyRoot {
		t.Fatal("empty root differs from tlog's")
	}
}

// pushSubtree of a chunk root gives what pushing its leaves gives.
func TestFrontierSubtrees(t *testing.T) {
	for _, level := range []int{0, 1, 3} {
		chunk := 1 << level
		var whole, split frontier
		var wantOut, gotOut []tlog.Hash
		for c := 0; c < 37; c++ {
			var local frontier
			for j := 0; j < chunk; j++ {
				h := tlog.RecordHash(leafData(c*chunk + j))
				wantOut = whole.push(h, wantOut)
				gotOut = local.push(h, gotOut)
			}
			gotOut = split.pushSubtree(level, local.hashes[0], gotOut)
			if whole.root() != split.root() {
				t.Fatalf("level %d chunk %d: roots differ", level, c)
			}
		}
		if len(gotOut) != len(wantOut) {
			t.Fatalf("level %d: %d hashes, want %d", level, len(gotOut), len(wantOut))
		}
		for i := range gotOut {
			if gotOut[i] != wantOut[i] {
				t.Fatalf("level %d: stored hash %d differs", level, i)
			}
		}
	}
}
