// Package pattern implements the STIX Patterning language of STIX 2.1
// (STIX Version 2.1, OASIS Standard, 10 June 2021, chapter 9): a lexer and
// recursive-descent parser for the grammar published by the OASIS CTI TC
// (STIXPattern.g4, STIX 2.1 revision), an exported syntax tree whose
// String form re-parses to the same tree, and an evaluator that matches a
// parsed pattern against Observed Data (section 9.8 semantics).
//
// Parse accepts exactly what the OASIS grammar accepts, plus the two
// checks the OASIS reference validator (cti-pattern-validator, v21)
// makes after parsing: no qualifier type may be repeated directly on one
// bracketed observation expression (`[a:b = 1] WITHIN 5 SECONDS WITHIN 6
// SECONDS` is rejected, `([a:b = 1]) WITHIN 5 SECONDS WITHIN 6 SECONDS` is
// not), and a string compared with =, != or IN to a hashes property with
// a known algorithm name must have that algorithm's form (e.g. 32 hex
// digits for MD5). Like the grammar, timestamp constants are checked for
// field ranges (month 01–12, day 01–31, hour 00–23, minute 00–59, second
// 00–60) but not against the calendar: t'2023-02-30T00:00:00Z' parses and
// evaluates as the instant time.Date normalises it to (1 March).
//
// The package imports nothing of Fusion's: package stix imports it to
// reject indicators whose pattern does not parse.
package pattern
