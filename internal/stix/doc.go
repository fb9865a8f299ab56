// Package stix is Fusion's STIX 2.1 object layer: it decodes STIX objects
// losslessly, validates them against the MUSTs of the OASIS STIX 2.1
// specification (STIX Version 2.1, OASIS Standard, 10 June 2021), reports
// the SHOULDs as lint warnings, and reads bundles, JSON arrays and JSON
// lines as streams.
//
// An Object keeps the exact JSON it was decoded from (compacted) in Raw and
// types only the common properties Fusion routes on (type, id,
// spec_version, created, modified, revoked, created_by_ref,
// object_marking_refs). Everything else — custom properties, custom object
// types, extensions — lives in Raw and comes out as it went in.
//
// Validate covers, for the 19 SDOs, 2 SROs, 18 SCOs (with their predefined
// extensions) and the marking-definition, language-content and
// extension-definition objects: identifiers (spec 2.9), timestamps (2.14),
// required and typed properties (chapters 4–7), enumerations (10), lists,
// dictionaries and hashes (2.7, 2.8), external references (2.5), kill
// chain phases (2.11), granular marking selectors (7.2.3), extensions
// (7.3), the naming rules for types and properties (3.1, 11) and the rules
// that tie properties together (e.g. modified ≥ created, valid_until >
// valid_from). Indicators with pattern_type "stix" must parse (chapter 9).
// The TLP 1.0 objects of spec 7.2.1.4 and the TLP 2.0 marking definitions of
// the OASIS TLP 2.0 extension are recognised by id. Custom object types
// get the common-property rules only. References are checked for form and
// target type, never resolved: that needs the store.
//
// The package does no I/O of its own beyond reading the io.Reader it is
// given, and imports nothing else of Fusion's except the patterning
// grammar in stix/pattern.
package stix
