// Package guard keeps a partner's customer data from leaving it: it
// checks STIX 2.1 objects against the partner's list of protected assets
// (its customers' address ranges, domains, mail addresses, names, AS
// numbers and internal identifiers) and blocks, or for free text
// redacts, every object that names one, in any of the ways people and
// tools write it. It is applied wherever a partner's data crosses a
// boundary: TAXII POST and ingest on the hub, push on the partner's node,
// and offline checks (see ARCHITECTURE.md, "How data flows").
//
// The objects are STIX 2.1 (OASIS, 2021): the guard reads every string of
// an object (section 3 common properties, the patterns of section 9, the
// extensions of section 7.3, custom properties of section 11, SCO values
// of section 6) and the references of sightings (5.1), relationships
// (5.2) and observed-data (4.14).
//
// # Using it
//
//	list, err := guard.ParseList(f)           // the partner's list; errors name lines, never values
//	slog.Info("guard list", "org", org, "assets", list.Len(), "digest", list.Digest())
//	sc := guard.NewScanner(list, guard.Options{Redact: partnerAllowsRedaction})
//
//	results, err := sc.ScanBatch(ctx, rawObjects, quarantine) // quarantine implements BlockedIDs (may be nil)
//	if err != nil { /* store nothing of the batch */ }
//	for i, r := range results {
//		switch r.Action {
//		case guard.Allow:  store(rawObjects[i])
//		case guard.Redact: store(r.Redacted)
//		case guard.Block:  quarantine.Put(r.ID, rawObjects[i]); status.Failure(r.ID, r.Reason())
//		}
//		audit.Record(r.ID, r.Action, r.Findings) // Rule, Path, Action: no values
//	}
//
// Scan checks one object alone; ScanBatch also resolves references within
// the batch and, through BlockedIDs, to objects blocked earlier. A Scanner
// is safe for concurrent use.
//
// Result.Reason, Finding.String, Finding.Path and every error the package
// returns hold no protected value: they may go into status resources, logs
// and the audit log. Finding.Asset is an index that List.Asset resolves
// for the list's owner only (fusion guard check prints it to the partner).
//
// # What matches
//
//   - cidr: an address in the range, written as dotted IPv4 (zero-padded
//     parts read both as decimal and as octal; hex and octal parts), one
//     decimal or hex integer (also a JSON number), IPv6 compressed,
//     expanded or with a zone, IPv4 inside IPv6 (mapped, compatible,
//     NAT64, 6to4), reverse DNS (in-addr.arpa, ip-198-51-100-7.example,
//     198.51.100.7.isp.example), inside URLs, host:port and [v6]:port,
//     defanged (198.51.100[.]7, 198[.]51[.]100[.]7), full-width; a range
//     in the text (a pattern's ISSUBSET '198.51.100.0/25', 198.51.100.x,
//     198.51.100.*, "198\.51\.100\." in a regex) inside a protected
//     range, or overlapping one when it is no wider than /16 (IPv4) or
//     /32 (IPv6).
//   - domain: the domain and every subdomain, any case, trailing dot,
//     IDN or punycode, full-width or ideographic dots, defanged, inside
//     URLs, e-mail addresses, file names (acme-corp.example_backup.zip)
//     and free text, also glued to CJK text; not lookalikes
//     (acme-corp.example.evil.net, notacme-corp.example).
//   - email: the address (also with a +tag, or after "from=" and the
//     like), or every address at a mail domain and its subdomains
//     ("@acme-corp.example"), also defanged or %-encoded. A mail-domain
//     asset does not protect the bare domain: list it as a domain too.
//   - name: the name's words in order as whole words, any case or width
//     (NFKC, then Unicode case folding), whatever separates them ("ACME
//     corporation", "Acme-Corporation", "Acme_Corporation's"), or run
//     together ("AcmeCorporation"); not inside longer words ("Globextra").
//     Han, Hiragana and Katakana characters count as words of their own.
//   - asn: AS64500, as64500, AS-64500, asdot AS1.10, and "AS 64500",
//     "ASN: 64500" with AS in capitals ("as 2024" is English); a bare
//     number as an autonomous-system object's number (before or after its
//     type), in a pattern's autonomous-system:number comparison, or in a
//     property whose name contains "asn".
//   - regex: RE2 (Go regexp) matches in any string, case-sensitive unless
//     the regex says (?i). Regexes that start with a literal of three
//     bytes or more (CUST-, or acmevpn- under (?i)) run only where it
//     occurs; others run on every string, so keep them few.
//
// Defanged and %-encoded text is read both as written and refanged (see
// Refang). The exported normalisers (NormalizeIP, NormalizePrefix,
// NormalizeDomain, NormalizeEmail, NormalizeName, NormalizeASN) and
// Extract expose these rules for the CLI and for tests.
//
// # Actions
//
// The default action is Block. With Options.Redact, matches in free text
// (the name and description of a report, the abstract and content of a
// note: a note has no name or description) are replaced by "[REDACTED]"
// and the redacted object, scanned again and found clean, is returned in
// Result.Redacted; a match anywhere else still blocks the whole object.
// Redaction keeps the object's id and modified timestamp. Malformed JSON
// (as RFC 8259 defines it, nested deeper than stix.MaxDepth, or not an
// object) is blocked (KindMalformed).
//
// # The list
//
// ParseList reads the text format described there. It rejects values
// that cannot name one customer (public suffixes, single-label domains,
// ranges wider than /8 or /16, one-character names, regexes that match
// the empty string) and names each bad line by number only. A list of
// 100,000 assets loads in about 0.2 s (BenchmarkParseList100k).
package guard
