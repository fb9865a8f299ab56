package pattern

import (
	"bufio"
	"os"
	"testing"
)

// corpusLines returns the non-empty lines of a testdata file with their
// 1-based line numbers.
func corpusLines(t testing.TB, name string) (lines []string, nums []int) {
	t.Helper()
	f, err := os.Open("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		if sc.Text() == "" {
			continue
		}
		lines = append(lines, sc.Text())
		nums = append(nums, n)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatalf("testdata/%s has no patterns", name)
	}
	return lines, nums
}

func TestCorpusValid(t *testing.T) {
	lines, nums := corpusLines(t, "valid-2.1.txt")
	for i, src := range lines {
		p, err := Parse(src)
		if err != nil {
			t.Errorf("valid-2.1.txt:%d: %q: %v", nums[i], src, err)
			continue
		}
		q, err := Parse(p.String())
		if err != nil {
			t.Errorf("valid-2.1.txt:%d: canonical form %q does not re-parse: %v", nums[i], p.String(), err)
			continue
		}
		if !Equal(p, q) {
			t.Errorf("valid-2.1.txt:%d: re-parsed canonical form differs:\n%s\n%s", nums[i], p, q)
		}
	}
	t.Logf("%d valid patterns parsed", len(lines))
}

func TestCorpusInvalid(t *testing.T) {
	lines, nums := corpusLines(t, "invalid-2.1.txt")
	for i, src := range lines {
		p, err := Parse(src)
		if err == nil {
			t.Errorf("invalid-2.1.txt:%d: %q parsed as %s", nums[i], src, p)
			continue
		}
		if _, ok := err.(*SyntaxError); !ok {
			t.Errorf("invalid-2.1.txt:%d: error is %T, want *SyntaxError", nums[i], err)
		}
	}
	t.Logf("%d invalid patterns rejected", len(lines))
}
