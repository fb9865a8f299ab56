// Package stix is Fusion's STIX 2.1 object layer: it decodes STIX objects
// losslessly, validates them against every MUST of the OASIS STIX 2.1
// specification (STIX Version 2.1, OASIS Standard, 10 June 2021), and
// reads bundles, JSON arrays and JSON lines as streams.
//
// An Object keeps the exact JSON it was decoded from (compacted) in Raw and
// types only the common properties Fusion routes on (type, id,
// spec_version, created, modified, revoked, created_by_ref,
// object_marking_refs). Everything else — custom properties, custom object
// types, extensions — lives in Raw and comes out as it went in.
//
// The package does no I/O of its own beyond reading the io.Reader it is
// given, and imports nothing else of Fusion's except the patterning
// grammar in stix/pattern.
package stix
