// Package pattern implements the STIX Patterning language of STIX 2.1
// (STIX Version 2.1, OASIS Standard, 10 June 2021, chapter 9): a lexer and
// recursive-descent parser for the grammar published by the OASIS CTI TC
// (STIXPattern.g4, STIX 2.1 revision), an exported syntax tree whose
// String form re-parses to the same tree, and an evaluator that matches a
// parsed pattern against Observed Data.
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
// evaluates as the instant time.Date normalises it to (2 March). Integer
// constants must fit in 64 bits (the grammar sets no limit).
//
// Match evaluates a pattern against Observations built with
// ObservationFromJSON or NewObservation (STIX 2.1 object_refs or STIX 2.0
// embedded objects). Where the specification leaves room, it follows the
// OASIS reference matcher (cti-pattern-matcher), with these choices:
//
//   - Comparisons on the same object type joined by AND must hold for one
//     object; comparisons on different object types may hold for different
//     objects of the same observation (the reference matcher never matches
//     such a mix).
//   - A comparison holds when its path reaches at least one value and one
//     of them passes; a missing property fails, with or without NOT.
//     Values of kinds that cannot be ordered (a number against a string)
//     fail <, <=, >, >=, LIKE, MATCHES, ISSUBSET and ISSUPERSET, with or
//     without NOT, and are unequal for = and !=.
//   - MATCHES uses Go's RE2 engine (unanchored search). Expressions RE2
//     cannot compile (back-references, look-around, possessive
//     quantifiers and other PCRE-only features) never match, with or
//     without NOT. LIKE has no escape character.
//   - Properties ending in _hex or _bin, and values under a hashes
//     dictionary, are binary (hex, base64, hex): binary and hex constants
//     compare with their decoded bytes, LIKE and MATCHES see each byte as
//     the code point of the same value, and string equality under hashes
//     ignores case.
//   - [*] on a dictionary (file:hashes[*]) ranges over its values; a
//     negative list index never matches.
//   - WITHIN with a non-positive window, REPEATS 0 TIMES, and START not
//     before STOP parse (as in the grammar) and never match.
//   - Strings are compared as UTF-8 bytes, without Unicode normalisation.
//
// Evaluation is bounded (MaxBindings, MaxWork): a pattern combining many
// observation expressions over many observations may, past those bounds,
// miss a match; it never reports a false one.
//
// The package imports nothing of Fusion's: package stix imports it to
// reject indicators whose pattern does not parse.
package pattern
