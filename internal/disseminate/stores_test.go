package disseminate_test

import (
	"testing"

	"fusion/internal/audit"
	"fusion/internal/store"
	"fusion/internal/store/testdb"
)

// The tests run on SQLite always and on PostgreSQL when
// FUSION_TEST_POSTGRES_URL is set; then an unreachable server fails
// (package testdb). Every store has the audit recorder installed.
type opener = testdb.Opener

func forEachBackend(t *testing.T, fn func(t *testing.T, open opener)) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, func(tb testing.TB) store.Store { return withRecorder(b.Open(tb)) })
		})
	}
}

// withRecorder installs the audit recorder, as every command does.
func withRecorder(st store.Store) store.Store {
	st.SetRecorder(audit.Recorder(nil))
	return st
}
