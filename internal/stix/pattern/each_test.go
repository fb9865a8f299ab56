package pattern

import (
	"slices"
	"testing"
)

// TestEachComparison: every comparison, left to right, through
// parentheses, AND/OR/FOLLOWEDBY and qualifiers.
func TestEachComparison(t *testing.T) {
	p, err := Parse(`([ipv4-addr:value = '1.2.3.4' AND (file:name = 'a' OR file:size NOT > 3)] FOLLOWEDBY [url:value = 'x']) WITHIN 5 SECONDS OR [domain-name:value = 'd']`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	EachComparison(p.Root, func(c *Comparison) { got = append(got, c.Path.ObjectType) })
	want := []string{"ipv4-addr", "file", "file", "url", "domain-name"}
	if !slices.Equal(got, want) {
		t.Errorf("EachComparison visited %q, want %q", got, want)
	}
}
