package policy

import (
	"bytes"
	"sync"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// Every program that links the policy stores each version's facts with
// it: the backends call stix.Object.FactsBlob in Put. ValidateObject,
// which every write path applies before Put, caches the blob on the
// object with cacheFacts, so that Put does not read the facts again.
func init() { cacheFacts = stix.SetFactsFunc(StoredFacts) }

var cacheFacts func(o *stix.Object, blob []byte)

// StoredFacts is the blob a store keeps beside a version of o
// (store.Version.Facts): FactsOf(o.Raw) in the binary form, without the id
// and type the version carries anyway. Facts FactsOf cannot read are
// stored as they are returned (Broken: fail closed). It returns nil only
// if the facts cannot be encoded, which FactsOf's never fail; readers
// then fall back to Raw.
func StoredFacts(o *stix.Object) []byte {
	b, _ := blobOf(o)
	return b
}

// storedBlob is StoredFacts for facts already read from o.Raw.
func storedBlob(f *Facts, o *stix.Object) []byte {
	// Encoded into a reused buffer, then copied once at its exact size.
	bp := blobBufs.Get().(*[]byte)
	defer blobBufs.Put(bp)
	b, err := f.appendBinary((*bp)[:0], f.ID == o.ID && f.Type == o.Type)
	if cap(b) <= 1<<16 {
		*bp = b
	}
	if err != nil {
		return nil
	}
	return bytes.Clone(b)
}

var blobBufs = sync.Pool{New: func() any { return new([]byte) }}

// VersionFacts returns the policy facts of v: decoded from v.Facts when
// the store kept them in the current format, else read from v.Raw
// (FactsOf: versions stored before facts were kept, or in an older
// format). A blob in the current format that does not decode gives Broken
// facts (fail closed: only the source and hub admins see the version),
// as does a version with neither usable facts nor Raw.
func VersionFacts(v *store.Version) Facts {
	var f Facts
	versionFacts(&f, v)
	return f
}

// versionFacts is VersionFacts writing into dst.
func versionFacts(dst *Facts, v *store.Version) {
	if hasStoredFacts(v) {
		if err := dst.decodeInto(v.Facts, true, v.ID, v.Type); err != nil {
			*dst = brokenFacts(v.ID, v.Type)
		}
		return
	}
	*dst, _ = FactsOf(v.Raw)
}

// hasStoredFacts reports whether v's facts can be had without its Raw.
func hasStoredFacts(v *store.Version) bool {
	return len(v.Facts) > 0 && v.Facts[0] == factsFormat
}
