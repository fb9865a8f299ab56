package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"fusion/internal/audit"
	"fusion/internal/stix"
	"fusion/internal/store"
	"fusion/internal/store/postgres"
	"fusion/internal/store/sqlite"
)

// defaultDataDir is where the embedded store lives when neither --data
// nor FUSION_DATA says otherwise.
const defaultDataDir = "./fusion-data"

// storeFlags are the --db and --data flags of every command that opens
// the store. Their defaults come from FUSION_DB and FUSION_DATA.
type storeFlags struct {
	db   string
	data string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.db, "db", os.Getenv("FUSION_DB"),
		"store `URL`: sqlite:PATH, sqlite://PATH or postgres://…; empty means SQLite in the data directory (env FUSION_DB)")
	data := os.Getenv("FUSION_DATA")
	if data == "" {
		data = defaultDataDir
	}
	fs.StringVar(&f.data, "data", data,
		"data `DIR`: holds fusion.db when --db is empty (env FUSION_DATA)")
}

// open opens the store the flags name.
func (f *storeFlags) open(ctx context.Context) (store.Store, error) {
	return openStore(ctx, f.db, f.data)
}

// openStore opens the store named by dbURL:
//
//	""                         SQLite file DATA/fusion.db (DATA created 0700)
//	sqlite:PATH, sqlite://PATH SQLite file PATH
//	postgres://…, postgresql://… PostgreSQL (libpq URL; ?search_path=… picks a schema)
//
// Only this file imports the concrete backends.
//
// The store it returns records every change it makes in the audit log
// (audit.Recorder, in the change's own transaction), so that serve,
// ingest, pull, guard and every other command that changes the store log
// what they change. Commands other than serve only append entries: the
// server (fusion serve) integrates them into the Merkle tree.
func openStore(ctx context.Context, dbURL, dataDir string) (store.Store, error) {
	st, err := openBackend(ctx, dbURL, dataDir)
	if err != nil {
		return nil, err
	}
	lg, ok := st.(store.Log)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %T store has no audit log", st)
	}
	lg.SetRecorder(audit.Recorder(nil))
	return st, nil
}

func openBackend(ctx context.Context, dbURL, dataDir string) (store.Store, error) {
	switch {
	case dbURL == "":
		if dataDir == "" {
			dataDir = defaultDataDir
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		return openSQLite(ctx, filepath.Join(dataDir, "fusion.db"))
	case strings.HasPrefix(dbURL, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(dbURL, "sqlite://"))
	case strings.HasPrefix(dbURL, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(dbURL, "sqlite:"))
	case strings.HasPrefix(dbURL, "postgres://"), strings.HasPrefix(dbURL, "postgresql://"):
		db, err := postgres.Open(ctx, dbURL)
		if err != nil {
			// The backend's error names what failed; the URL is left out
			// because it may carry a password.
			return nil, fmt.Errorf("open PostgreSQL store: %w", err)
		}
		return db, nil
	default:
		scheme, _, _ := strings.Cut(dbURL, ":")
		return nil, fmt.Errorf("--db: unsupported store %q: want sqlite:PATH or postgres://…", scheme)
	}
}

func openSQLite(ctx context.Context, path string) (store.Store, error) {
	if path == "" {
		return nil, errors.New("--db: sqlite: needs a file path, e.g. sqlite:/var/lib/fusion/fusion.db")
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("open SQLite store %s: %w", path, err)
	}
	return db, nil
}

// resolveCollection turns a collection id or alias into its id. Empty
// means the default collection. An alias must be unique across API roots.
func resolveCollection(ctx context.Context, st store.Store, name string) (string, error) {
	if name == "" {
		return store.DefaultCollectionID, nil
	}
	if stix.IsUUID(name) {
		c, err := st.GetCollection(ctx, strings.ToLower(name))
		if err == nil {
			return c.ID, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("collection %s: %w", name, err)
		}
	}
	all, err := st.ListCollections(ctx, "")
	if err != nil {
		return "", fmt.Errorf("list collections: %w", err)
	}
	var found []store.Collection
	for _, c := range all {
		if c.Alias == name {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("collection %q: no collection has this id or alias", name)
	case 1:
		return found[0].ID, nil
	default:
		return "", fmt.Errorf("collection %q: alias used in %d API roots; give the collection id", name, len(found))
	}
}
