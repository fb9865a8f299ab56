// Package match screens observables — addresses, domain names, URLs,
// e-mail addresses, file hashes and other STIX Cyber-observable values —
// against every active indicator, fast enough for national-scale logs,
// and evaluates STIX Observed Data against indicator patterns (STIX 2.1,
// OASIS Standard, 10 June 2021: section 4.7 for indicators and their
// validity, chapter 6 for the Cyber-observable Objects, chapter 9 for
// patterning, whose evaluator lives in package pattern).
//
// # The index
//
// An Index holds the active indicator versions: valid_from ≤ now <
// valid_until, not revoked, pattern_type "stix". Each pattern is compiled
// into keys:
//
//   - A pattern that is an OR (inside or between brackets, without
//     qualifiers) of simple comparisons — = or IN with string constants,
//     or ISSUBSET with a CIDR block, on a plain property path (keys only,
//     no references, no list steps) — is decided by its keys alone: an
//     observable equal to a key (after normalisation) is a KindExact
//     match, an address inside a block a KindCIDR match. Addresses,
//     domain names, URLs, e-mail addresses and hashes go to the
//     normalised key kinds below; any other property (mutex:name,
//     windows-registry-key:key, file:name, x509-certificate:issuer, …) is
//     keyed by its type, path and exact string. An address property equal
//     to a CIDR block ("[ipv4-addr:value = '10.0.0.0/8']"; STIX 2.1
//     sections 6.8 and 6.9 let an address value be a block) is read as
//     the block.
//   - Any other pattern keeps the keys of its keyable comparisons as
//     necessary conditions (every match needs one of them; a reference
//     path such as network-traffic:dst_ref.value is keyed by the
//     constant's form) and is evaluated with package pattern when one is
//     seen: KindPattern when it matches, KindPartial when the value was
//     seen but the pattern needs more.
//   - A pattern with no keyable comparison (LIKE, MATCHES, <, >, EXISTS,
//     NOT, …) is evaluated for every observation holding one of its
//     object types (MatchObservations only; single-value lookups do not
//     evaluate such patterns).
//
// Keys live in immutable segments: an open-addressing hash table over a
// byte arena (hashes stored as binary digests), a binary fuse filter
// (github.com/FastFilter/xorfilter) in front of the large base segment so
// that most misses cost a few nanoseconds, and a prefix table
// (github.com/gaissmai/bart) for blocks. Indicator versions are fixed-size
// entries (collection and id type interned, UUID as 16 bytes, times as
// Unix nanoseconds); a Hit rebuilds the Ref from them.
//
// # Normalisation
//
// Indicator constants and observed values are normalised by the same
// functions, and patterns the index evaluates see normalised values on
// both sides too:
//
//   - Addresses (net/netip): canonical text; an IPv4-mapped IPv6
//     address is the IPv4 address; brackets and IPv6 zones are dropped;
//     blocks have their host bits cleared. IPv4 with leading zeros is not
//     an address.
//   - Domain names: ASCII lower case, one trailing dot removed,
//     internationalised names mapped for lookup (UTS #46, golang.org/x/net/idna)
//     and written in punycode; labels of letters, digits, "-" and "_", 1–63
//     bytes, at most 253 bytes in all. A name below an indicator's domain
//     is a KindSubdomain match (reported with Matched, the indicator's
//     domain), except below a domain that is itself an ICANN public suffix
//     (co.uk) and except for evaluated patterns.
//   - URLs (RFC 3986 section 6.2): scheme in lower case; host as a domain
//     name or address above (IPv6 in brackets); default ports removed
//     (http and ws 80, https and wss 443, ftp 21), leading zeros of ports
//     removed; an empty path with an authority becomes "/"; "." and ".."
//     path segments removed; percent-encoding normalised: escapes of
//     unreserved characters (letters, digits, - . _ ~) decoded, other
//     escapes in upper-case hex, a "%" not starting an escape encoded as
//     %25, and controls, space, bytes above 0x7e and " < > \ ^ ` { | }
//     encoded; the query kept as it is otherwise (order, "+"); the
//     fragment dropped (it never leaves the client). Userinfo is kept.
//   - E-mail addresses: split at the last "@"; local part in ASCII lower
//     case, domain as above.
//   - Hashes: a value under a hashes dictionary that is 16 to 256 hex
//     digits (even) is a digest, compared as bytes, whatever its case, SCO
//     type or algorithm name (a SHA-256 indicator matches a 64-digit
//     value from a log); other hash values (SSDEEP, …) are exact strings.
//
// # Keeping it current
//
// Build replaces the contents from an iterator (the start-up rebuild from
// the store; 1,000,000 indicators take about 3.5 s of CPU). Update applies indicator versions as they are stored: the newest
// version of each object (collection and id) wins, a revoked version (or
// one that cannot match) ends the object's matches and keeps older
// versions out, older versions are ignored. Remove forgets an object.
// Changes are visible to every lookup that starts after the call
// returns: lookups read an immutable snapshot that writers replace
// atomically; new versions go to small delta segments, merged as they
// grow, and to a full compaction when they pass max(65,536 keys, base/4)
// or removed versions pass a quarter of the entries (about 0.6 s for
// 1,000,000 indicators, during which writers wait and lookups go on).
// Expiry needs no update: lookups check validity; Compact (call it now and
// then) drops the keys of expired versions.
//
// # Screening
//
// LookupString (one untyped value, its kind detected by Detect),
// Lookup (one typed Observable), and the batch forms LookupStrings,
// LookupObservables, LookupLines (newline-separated values) and
// LookupExtract (free text through an Extractor) return Hits. The batch
// forms use all cores and report Hit.Input, the position in the batch.
// MatchObservations evaluates Observed Data (ObservationsFromBundle reads
// a bundle) against every indicator. ObservablesFromSCO turns a JSON
// object such as {"type":"domain-name","value":"x.example"} into
// Observables for Lookup.
//
// A Hit names an indicator version (Ref: collection, id, version), the
// kind of match, the normalised observable, the indicator's value when it
// differs (parent domain, CIDR block) and the validity. The index knows
// nothing of readers: the caller must ask the policy (policy.Decide, per
// Ref) before it reports a hit in any form, and drop hits the reader may
// not see without a trace, counts included.
//
// # Measured (this 2-core machine, shared; see bench_test.go)
//
// With 1,000,000 indicators (40 % hashes, 25 % addresses, 10 % blocks,
// 15 % domains, 10 % URLs): 111 bytes of heap per indicator; a build from
// JSON in about 3.5 s of CPU (2.0 s wall on a quiet machine); about 4
// million untyped values screened per CPU second at a 0.1 % hit rate
// (3.6 to 7.1 million a second of wall time over both cores, as the
// machine's other load varied); about 270,000 observed-data per CPU
// second through MatchObservations (about 85,000 including the bundle's
// JSON decoding); updates visible after a p99 of about 40 µs; a full
// compaction in about 0.5 s of CPU.
package match
