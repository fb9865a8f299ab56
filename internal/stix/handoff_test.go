package stix

import (
	"bytes"
	"sync"
	"testing"
)

// TestValidateTakesParsedTree: the Validate after a Parse uses the tree
// Parse left, and only once.
func TestValidateTakesParsedTree(t *testing.T) {
	o, err := Parse(build(t, validObjects["indicator"]))
	if err != nil {
		t.Fatal(err)
	}
	if e := slotOf(o).p.Load(); e == nil || e.owner != o {
		t.Fatal("Parse left no tree for the object")
	}
	if err := Validate(o); err != nil {
		t.Fatal(err)
	}
	if tr, _ := takeParsed(o); tr != nil {
		t.Fatal("the tree was left for a second Validate")
	}
	if err := Validate(o); err != nil { // decodes Raw
		t.Fatal(err)
	}
}

// TestValidateReadsReplacedRaw: a Raw replaced after Parse is validated,
// not the tree of the old one.
func TestValidateReadsReplacedRaw(t *testing.T) {
	raw := build(t, validObjects["indicator"])
	for _, c := range []struct {
		name string
		raw  []byte
		ok   bool
	}{
		{"broken", bytes.Replace(raw, []byte(`"pattern"`), []byte(`"pattern":1,"x"`), 1), false},
		{"same-content-new-slice", bytes.Clone(raw), true},
		{"shorter", raw[:len(raw)-1], false},
	} {
		o, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		o.Raw = c.raw
		if err := Validate(o); (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v, want ok %v", c.name, err, c.ok)
		}
	}
	// The same array with another length is another Raw too.
	o, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	o.Raw = o.Raw[:len(o.Raw)-1]
	if err := Validate(o); err == nil {
		t.Error("Validate accepted a Raw cut short after Parse")
	}
}

// TestParsedTreeSameResult: Validate and Lint give the same answer with
// the tree Parse left as when they decode Raw, for compact and spaced
// input, valid and invalid objects.
func TestParsedTreeSameResult(t *testing.T) {
	var inputs [][]byte
	for _, name := range []string{"indicator", "report", "malware", "sighting", "relationship"} {
		if fields, ok := validObjects[name]; ok {
			inputs = append(inputs, build(t, fields))
		}
	}
	inputs = append(inputs, corpusItems(t)...)
	n := len(inputs)
	for _, raw := range inputs[:n] {
		spaced := bytes.ReplaceAll(raw, []byte(`":`), []byte(`" : `))
		broken := bytes.Replace(raw, []byte(`"created":"`), []byte(`"created":"x`), 1)
		inputs = append(inputs, spaced, broken)
	}
	for _, raw := range inputs {
		a, err := Parse(raw)
		if err != nil {
			continue
		}
		b := *a // shares Raw, not the entry: decodes Raw
		b.facts = factsCache{}
		errA, errB := Validate(a), Validate(&b)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("%s: Validate with Parse's tree = %v, decoding Raw = %v", raw, errA, errB)
		}
		a, _ = Parse(raw)
		c := *a
		wa, wc := Lint(a), Lint(&c)
		if len(wa) != len(wc) {
			t.Fatalf("%s: Lint with Parse's tree = %v, decoding Raw = %v", raw, wa, wc)
		}
		for i := range wa {
			if wa[i] != wc[i] {
				t.Fatalf("%s: Lint with Parse's tree = %v, decoding Raw = %v", raw, wa, wc)
			}
		}
	}
}

// TestParsedTreeConcurrent parses and validates from several goroutines,
// some objects validated twice at once (run with -race).
func TestParsedTreeConcurrent(t *testing.T) {
	raws := corpusItems(t)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, raw := range raws {
				o, err := Parse(raw)
				if err != nil {
					t.Error(err)
					return
				}
				if i%3 == 0 {
					done := make(chan error)
					go func() { done <- Validate(o) }()
					if err := Validate(o); err != nil {
						t.Error(err)
					}
					if err := <-done; err != nil {
						t.Error(err)
					}
				} else if err := Validate(o); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}
