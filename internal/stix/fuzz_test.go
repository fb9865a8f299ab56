package stix

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Seeds beyond testdata/fuzz: the valid fixtures of every type.
func addFixtureSeeds(f *testing.F) {
	for _, src := range validObjects {
		f.Add([]byte(src))
	}
	for _, src := range tlpObjects {
		f.Add([]byte(src))
	}
}

func FuzzParse(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error %T is not a *ValidationError", err)
			}
			return
		}
		// Validate with the tree Parse left for o (handoff.go) answers as
		// Validate decoding Raw does.
		got, want := Validate(o), Validate(&Object{Raw: o.Raw})
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("Validate after Parse = %v, decoding Raw = %v", got, want)
		}
		// What Parse accepts, the reference decoder accepts too, with the
		// same content.
		if !jsontext.Value(data).IsValid() {
			t.Fatalf("Parse accepted JSON that jsontext rejects: %q", data)
		}
		var a, b any
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatalf("input does not decode: %v", err)
		}
		if err := json.Unmarshal(o.Raw, &b); err != nil {
			t.Fatalf("Raw does not decode: %v", err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("Raw differs from the input:\n%q\n%q", data, o.Raw)
		}
		// Parse is idempotent on its own output.
		o2, err := Parse(o.Raw)
		if err != nil || !bytes.Equal(o2.Raw, o.Raw) || o2.ID != o.ID || o2.Type != o.Type {
			t.Fatalf("Parse(Raw) = %v, %v", o2, err)
		}
		checkValidate(t, o)
	})
}

// FuzzValidate hands Validate and Lint arbitrary Raw, bypassing Parse: they
// must not panic and must only return *ValidationError.
func FuzzValidate(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		checkValidate(t, &Object{Raw: data})
	})
}

func checkValidate(t *testing.T, o *Object) {
	err := Validate(o)
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Index != -1 {
			t.Fatalf("Validate error %v (%T) is not a *ValidationError with Index -1", err, err)
		}
		if ve.Error() == "" {
			t.Fatal("empty error text")
		}
	}
	for _, w := range Lint(o) {
		if w.Msg == "" {
			t.Fatalf("empty warning %+v", w)
		}
	}
}

func FuzzReader(f *testing.F) {
	for _, src := range validObjects {
		f.Add([]byte(`{"type":"bundle","id":"` + bundleID + `","objects":[` + src + `]}`))
	}
	f.Add([]byte("[" + rdA + "," + rdB + "]"))
	f.Add([]byte(rdA + "\n" + rdB + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		r.SetLimit(4096)
		for i := 0; ; i++ {
			if i > len(data) {
				t.Fatalf("more items than input bytes")
			}
			it, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				var se *StreamError
				if !errors.As(err, &se) {
					t.Fatalf("error %v (%T) is not a *StreamError", err, err)
				}
				if se.Offset < 0 || se.Offset > int64(len(data)) {
					t.Fatalf("error offset %d outside the input (%d bytes)", se.Offset, len(data))
				}
				if _, err2 := r.Next(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
				return
			}
			if it.Index != i {
				t.Fatalf("item %d has Index %d", i, it.Index)
			}
			if it.Offset < 0 || it.Offset >= int64(len(data)) || data[it.Offset] != '{' {
				t.Fatalf("item %d offset %d does not point at an object", i, it.Offset)
			}
			if int64(len(it.Raw)) > 4096 || !jsontext.Value(it.Raw).IsValid() || it.Raw[0] != '{' {
				t.Fatalf("item %d is not a valid object within the limit: %q", i, it.Raw)
			}
			if o, err := Parse(it.Raw); err == nil {
				checkValidate(t, o)
			}
		}
	})
}
