package stix

import "sync/atomic"

// factsCache holds the facts blob of an object computed ahead of
// store.Put (PrepareFacts), together with the Raw it was computed from.
type factsCache struct {
	raw  []byte
	blob []byte
}

var factsFunc atomic.Pointer[func(o *Object) []byte]

// SetFactsFunc installs the function that derives an object version's
// facts blob from o.Raw: a small encoding of what reads need to know
// about the version, which the store keeps beside it (store.Version.Facts)
// so that reads need not parse Raw. Package policy installs its policy
// facts encoder in its init; every program that links policy therefore
// stores facts with every version. A nil fn uninstalls.
//
// It returns a function that caches on o, for its current Raw, a blob the
// caller computed as fn would have (what PrepareFacts does, without
// computing it again): for the installer's own validator, which has read
// the facts anyway. Only the installer holds it.
func SetFactsFunc(fn func(o *Object) []byte) (cache func(o *Object, blob []byte)) {
	if fn == nil {
		factsFunc.Store(nil)
	} else {
		factsFunc.Store(&fn)
	}
	return func(o *Object, blob []byte) { o.facts = factsCache{raw: o.Raw, blob: blob} }
}

// computeFacts runs the installed function; nil when none is installed.
func computeFacts(o *Object) []byte {
	fn := factsFunc.Load()
	if fn == nil {
		return nil
	}
	return (*fn)(o)
}

// PrepareFacts computes o's facts blob now and caches it on o, so that
// FactsBlob (called by store backends in Put) returns it without work.
// Call it where objects are parsed in parallel (ingest workers), so that
// the single store writer does not pay for it. Not safe for concurrent
// use on one object; distinct objects are independent.
func (o *Object) PrepareFacts() {
	o.facts = factsCache{raw: o.Raw, blob: computeFacts(o)}
}

// FactsBlob returns the facts blob of o as it is now: the one PrepareFacts
// cached when o.Raw is still the very slice it was computed from (same
// array, same length), else one computed now from o.Raw; nil when no
// function is installed (SetFactsFunc). Raw must not be changed in place
// after PrepareFacts; assigning a new slice to Raw is safe. FactsBlob
// does not modify o.
func (o *Object) FactsBlob() []byte {
	if c := &o.facts; c.blob != nil && sameSlice(c.raw, o.Raw) {
		return c.blob
	}
	return computeFacts(o)
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}
