package server_test

import "fusion/internal/store/testdb"

// The tests run on SQLite always and on PostgreSQL when
// FUSION_TEST_POSTGRES_URL is set; then an unreachable server fails
// (package testdb).
type opener = testdb.Opener

var (
	forEachBackend = testdb.ForEach
	openSQLite     = testdb.SQLite
)
