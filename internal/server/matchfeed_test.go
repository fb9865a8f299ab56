package server_test

import (
	"context"
	"testing"
	"time"

	"fusion/internal/audit"
	"fusion/internal/policy"
	"fusion/internal/server"
	"fusion/internal/stix"
	"fusion/internal/store"
)

// TestMatchDeletions: a store Delete changes what matches within about a
// second, without a rebuild: deleting an indicator's latest version
// brings the older one back, deleting all its versions stops it, and a
// deleted collection's indicators stop matching (the feeder tails the
// audit log's deletion entries).
func TestMatchDeletions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open opener) {
		st := open(t)
		st.SetRecorder(audit.Recorder(nil))
		m := newMatchEnvLog(t, st, nil)
		poll := func(what, value string, want func([]server.MatchJSON) bool) time.Duration {
			t.Helper()
			start := time.Now()
			for {
				if want(lines(t, m.match("de-police", "", value+"\n"))) {
					return time.Since(start)
				}
				if time.Since(start) > 2*time.Second {
					t.Fatalf("%s: %s not as wanted after 2 s", what, value)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		is := func(n int, version string) func([]server.MatchJSON) bool {
			return func(ms []server.MatchJSON) bool {
				return len(ms) == 1 && ms[0].Indicator == indID(n) && ms[0].Version == version
			}
		}
		none := func(ms []server.MatchJSON) bool { return len(ms) == 0 }

		const v2 = "2024-02-01T00:00:00.000Z"
		m.post(indicator(30, v1, "[ipv4-addr:value = '198.51.100.30']", policy.TLP2GreenID, ""))
		poll("v1", "198.51.100.30", is(30, v1))
		m.post(indicator(30, v2, "[ipv4-addr:value = '198.51.100.30']", policy.TLP2GreenID, ""))
		poll("v2", "198.51.100.30", is(30, v2))

		// Deleting the latest version: the first is the latest again and
		// matches (before, the index kept v2 and the handler, seeing v1
		// as latest, reported nothing until the 30-minute rebuild).
		vk, _ := time.Parse(time.RFC3339, v2)
		if n, err := st.Delete(t.Context(), store.DefaultCollectionID, indID(30), store.VersionMatch{At: []time.Time{vk}}, nil); err != nil || n != 1 {
			t.Fatalf("Delete v2: %d %v", n, err)
		}
		d := poll("after deleting v2", "198.51.100.30", is(30, v1))
		t.Logf("older version matched again %v after the delete", d)

		// Deleting every version: no match.
		if n, err := st.Delete(t.Context(), store.DefaultCollectionID, indID(30), store.VersionMatch{All: true}, nil); err != nil || n != 1 {
			t.Fatalf("Delete all: %d %v", n, err)
		}
		d = poll("after deleting all versions", "198.51.100.30", none)
		t.Logf("deleted indicator stopped matching %v after the delete", d)
		// And a new version afterwards matches again.
		m.post(indicator(30, "2024-03-01T00:00:00.000Z", "[ipv4-addr:value = '198.51.100.31']", policy.TLP2GreenID, ""))
		poll("re-added", "198.51.100.31", is(30, "2024-03-01T00:00:00.000Z"))

		// A deleted collection's indicators stop matching.
		coll := store.Collection{ID: "3d2c1b0a-0000-4000-8000-00000000c011", APIRoot: store.DefaultAPIRoot, Title: "doomed", Created: time.Now()}
		if err := st.CreateCollection(t.Context(), coll); err != nil {
			t.Fatal(err)
		}
		if err := st.SetGrant(t.Context(), store.Grant{Collection: coll.ID, OrgID: m.ids["de-police"], Read: true}); err != nil {
			t.Fatal(err)
		}
		m.put(coll.ID, indicator(31, v1, "[domain-name:value = 'doomed.example']", policy.TLP2GreenID, ""))
		poll("in the new collection", "doomed.example", is(31, v1))
		if err := st.DeleteCollection(t.Context(), coll.ID); err != nil {
			t.Fatal(err)
		}
		poll("after deleting the collection", "doomed.example", none)
	})
}

// put stores objects in a collection directly, as acme.
func (m *matchEnv) put(coll string, objs ...string) {
	m.tb.Helper()
	var os []*stix.Object
	for _, s := range objs {
		o, err := stix.Parse([]byte(s))
		if err != nil {
			m.tb.Fatal(err)
		}
		os = append(os, o)
	}
	if _, err := m.st.Put(context.Background(), coll, m.ids["acme"], os); err != nil {
		m.tb.Fatal(err)
	}
}
