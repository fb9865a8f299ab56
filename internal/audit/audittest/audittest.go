// Package audittest reads a store's whole audit log for tests of the
// packages that write to it (the store backends, the server, the
// commands): every entry, raw and parsed, in log order.
package audittest

import (
	"context"
	"testing"

	"fusion/internal/audit"
	"fusion/internal/store"
)

// Read returns every entry of lg in log order, as stored and parsed. It
// fails t when the log cannot be read or an entry does not parse.
func Read(t testing.TB, lg store.Log) (raw [][]byte, entries []audit.Entry) {
	t.Helper()
	ctx := context.Background()
	n, err := lg.LogSize(ctx)
	if err != nil {
		t.Fatalf("audit log size: %v", err)
	}
	if raw, err = lg.ReadLog(ctx, 0, n); err != nil {
		t.Fatalf("read the audit log [0, %d): %v", n, err)
	}
	entries = make([]audit.Entry, len(raw))
	for i, b := range raw {
		if entries[i], err = audit.ParseEntry(b); err != nil {
			t.Fatalf("audit log entry %d %s: %v", i, b, err)
		}
	}
	return raw, entries
}

// AcceptedVersions counts the object versions lg's entries name as
// accepted (Entry.AcceptedVersions, either schema).
func AcceptedVersions(t testing.TB, lg store.Log) int {
	t.Helper()
	_, entries := Read(t, lg)
	n := 0
	for i := range entries {
		n += len(entries[i].AcceptedVersions())
	}
	return n
}
