// Package audit is Fusion's tamper-evident audit log: an append-only
// sequence of small canonical JSON entries (what was accepted, deleted,
// served, denied and changed, by whom) kept in a Merkle tree with the
// hashing of RFC 6962 section 2.1 (via golang.org/x/mod/sumdb/tlog), and
// signed checkpoints of the tree (golang.org/x/mod/sumdb/note, Ed25519),
// in the manner of Certificate Transparency (RFC 6962 section 3).
//
// The pieces:
//
//   - Entry, Encode and ParseEntry: the entry schema and its canonical
//     encoding (sorted keys, no insignificant whitespace). The leaf of
//     the tree is the exact entry bytes.
//   - Recorder: the store.Recorder that turns every store change into
//     entries inside the change's own transaction; WithActor puts the
//     acting organisation in the context it reads. Served, Denied, Guard
//     and AssetsSet build the entries of events that change nothing in
//     the store, for store.Log.AppendLog (or Log.Append).
//   - Log: integrates appended entries into the tree (stored hashes and a
//     signed checkpoint per extension, safe with several nodes), and
//     proves inclusion (RFC 6962 section 2.1.1) and consistency (section
//     2.1.2). Its Append takes the entries of responses; with a spool
//     (OpenSpool, spool.go) they go to a node-local file first, one write
//     per response, and reach the store many responses per transaction.
//   - Verify: recomputes the whole tree from the stored entries and checks
//     the stored hashes and every stored checkpoint.
//   - Handler: the HTTP API (checkpoint, entries with inclusion proofs,
//     consistency proofs), filtered per organisation.
//   - Witness: an outside party's check that the hub never presents a
//     history that does not extend one it showed before.
//   - Receipt and CheckReceipt: a proof, checkable by anyone holding the
//     hub's verifier key, that an entry is in the log.
//
// docs/audit.md describes the formats for partners and member countries.
package audit
