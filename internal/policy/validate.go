package policy

import (
	"errors"

	"fusion/internal/stix"
)

// ValidateObject is the check every write path applies to a parsed object
// before storing it: stix.Validate (the STIX 2.1 rules), then FactsOf, so
// that nothing is stored whose policy facts cannot be read (a malformed
// Fusion sharing extension, a TLP granular marking without valid
// selectors, a reference at a path selectors cannot express). Stored
// objects thus never fail closed at read time because of their own
// content. The error is a *stix.ValidationError naming the property, with
// Index -1 (the caller that knows the position sets it). A valid object
// leaves with its facts blob cached (stix.Object.PrepareFacts), so that
// Put stores it without reading the facts again; o must not be validated
// by two goroutines at once.
func ValidateObject(o *stix.Object) error {
	if o == nil {
		return &stix.ValidationError{Index: -1, Msg: "no object"}
	}
	if err := stix.Validate(o); err != nil {
		return err
	}
	blob, err := blobOf(o)
	if err != nil {
		var ve *stix.ValidationError
		if errors.As(err, &ve) {
			if ve.ID == "" {
				ve.ID = o.ID
			}
			if ve.Type == "" {
				ve.Type = o.Type
			}
			return ve
		}
		return &stix.ValidationError{Index: -1, ID: o.ID, Type: o.Type, Msg: err.Error()}
	}
	if blob != nil {
		cacheFacts(o, blob)
	}
	return nil
}
