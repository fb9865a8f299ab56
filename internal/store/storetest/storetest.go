// Package storetest is the conformance suite every store.Store backend must
// pass. It checks each method's contract as written in package store:
// atomic batches, date_added assignment (TAXII 2.1 section 3.4.1:
// server-assigned, strictly increasing per collection, so that added_after
// paging neither skips nor repeats), version selection with match[version]
// first/last/all/at (TAXII 2.1 section 3.4.1 URL filtering parameters),
// the other filters, deletion, collections, organisations, tokens, grants,
// records and context cancellation.
//
// A backend's test calls Run with a function that opens a fresh, empty,
// migrated store; its benchmark calls Bench the same way.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fusion/internal/stix"
	"fusion/internal/store"
)

// Run runs the conformance suite. open returns a fresh, empty, migrated
// store for each call and registers its own cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"PutBasic", testPutBasic},
		{"PutUnknownCollection", testPutUnknownCollection},
		{"PutAtomic", testPutAtomic},
		{"PutUnchanged", testPutUnchanged},
		{"PutBetween", testPutBetween},
		{"VersionKeyPrecision", testVersionKeyPrecision},
		{"DateAddedIncreasing", testDateAddedIncreasing},
		{"DateAddedConcurrentPuts", testDateAddedConcurrentPuts},
		{"ListFilters", testListFilters},
		{"ListLimit", testListLimit},
		{"ListMetaOnly", testListMetaOnly},
		{"RevokedAndSource", testRevokedAndSource},
		{"LastMoves", testLastMoves},
		{"Paging", testPaging},
		{"PagingConcurrentWrites", testPagingConcurrentWrites},
		{"PagingLarge", testPagingLarge},
		{"CollectionsAreSeparate", testCollectionsAreSeparate},
		{"Delete", testDelete},
		{"DefaultCollection", testDefaultCollection},
		{"Collections", testCollections},
		{"DeleteCollection", testDeleteCollection},
		{"Orgs", testOrgs},
		{"Tokens", testTokens},
		{"Grants", testGrants},
		{"Records", testRecords},
		{"ContextCancelled", testContextCancelled},
		{"Model", testModel},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			tc.fn(t, s)
		})
	}
	t.Run("Log", func(t *testing.T) { RunLog(t, open) })
}

// ---- helpers shared by the tests ----

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// ts parses a STIX timestamp in a test table.
func ts(s string) time.Time {
	t, err := stix.ParseTimestamp(s)
	if err != nil {
		panic(fmt.Sprintf("bad timestamp %q in test: %v", s, err))
	}
	return t
}

// sdo builds one version of a domain object with created and modified.
// extra is spliced into the JSON (",\"name\":\"x\"") to vary its content.
func sdo(typ, id, spec string, created, modified time.Time, extra string) *stix.Object {
	raw := fmt.Sprintf(`{"type":%q,"spec_version":%q,"id":%q,"created":%q,"modified":%q%s}`,
		typ, spec, id, stix.FormatTimestamp(created), stix.FormatTimestamp(modified), extra)
	return &stix.Object{Type: typ, ID: id, SpecVersion: spec, Created: created, Modified: modified, Raw: []byte(raw)}
}

// sco builds a cyber-observable without created or modified.
func sco(typ, id, value string) *stix.Object {
	raw := fmt.Sprintf(`{"type":%q,"spec_version":"2.1","id":%q,"value":%q}`, typ, id, value)
	return &stix.Object{Type: typ, ID: id, SpecVersion: "2.1", Raw: []byte(raw)}
}

// indicator builds an indicator version modified at m (created at base).
func indicator(id string, m time.Time) *stix.Object {
	return sdo("indicator", id, "2.1", ts("2024-01-01T00:00:00Z"), m,
		`,"pattern":"[ipv4-addr:value = '198.51.100.1']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"`)
}

func indicatorID() string { return "indicator--" + newUUID() }

// newCollection creates a collection in the default API root.
func newCollection(t testing.TB, s store.Store) string {
	t.Helper()
	id := newUUID()
	c := store.Collection{ID: id, APIRoot: store.DefaultAPIRoot, Title: "test " + id, Created: time.Now().UTC().Truncate(time.Microsecond)}
	if err := s.CreateCollection(context.Background(), c); err != nil {
		t.Fatalf("CreateCollection(%s): %v", id, err)
	}
	return id
}

func put(t testing.TB, s store.Store, coll string, objs ...*stix.Object) []store.PutOutcome {
	t.Helper()
	out, err := s.Put(context.Background(), coll, "", objs)
	if err != nil {
		t.Fatalf("Put(%d objects): %v", len(objs), err)
	}
	if len(out) != len(objs) {
		t.Fatalf("Put(%d objects) returned %d outcomes", len(objs), len(out))
	}
	return out
}

func list(t testing.TB, s store.Store, coll string, q store.Query) store.Page {
	t.Helper()
	p, err := s.List(context.Background(), coll, q)
	if err != nil {
		t.Fatalf("List(%+v): %v", q, err)
	}
	return p
}

// listAll pages through everything matching q (q.Limit per page) and
// checks that the pages are in strictly increasing date_added order and
// that More is true on every page but the last.
func listAll(t testing.TB, s store.Store, coll string, q store.Query) []store.Version {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 1000
	}
	var all []store.Version
	for {
		p := list(t, s, coll, q)
		for _, v := range p.Versions {
			if len(all) > 0 && !v.DateAdded.After(all[len(all)-1].DateAdded) {
				t.Fatalf("listing not in strictly increasing date_added order: %s after %s", v.DateAdded, all[len(all)-1].DateAdded)
			}
			all = append(all, v)
		}
		if len(p.Versions) > q.Limit {
			t.Fatalf("page of %d versions for limit %d", len(p.Versions), q.Limit)
		}
		if !p.More {
			return all
		}
		if len(p.Versions) == 0 {
			t.Fatalf("empty page with More set")
		}
		q.AddedAfter = p.Versions[len(p.Versions)-1].DateAdded
	}
}

// key names a version as "id@version" for comparing listings.
func key(id string, m time.Time) string {
	if m.IsZero() {
		return id + "@-"
	}
	return id + "@" + stix.FormatTimestamp(m)
}

func keys(vs []store.Version) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = key(v.ID, v.Modified)
	}
	return out
}

func objKey(o *stix.Object) string { return key(o.ID, o.Version()) }

// wantErr fails unless errors.Is(err, want).
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

// checkMicros fails when a date_added carries sub-microsecond digits.
func checkMicros(t testing.TB, d time.Time) {
	t.Helper()
	if d.Nanosecond()%1000 != 0 {
		t.Errorf("date_added %s has sub-microsecond precision", d.Format(time.RFC3339Nano))
	}
}

func equalBytes(a, b []byte) bool { return bytes.Equal(a, b) }

func joinKeys(k []string) string { return "[" + strings.Join(k, " ") + "]" }

func sameKeys(a, b []string) bool { return slices.Equal(a, b) }
