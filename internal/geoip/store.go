package geoip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"fusion/internal/store"
)

// Records is the part of a store the database is kept in.
type Records interface {
	GetRecord(ctx context.Context, key string) ([]byte, error)
	SetRecord(ctx context.Context, key string, value []byte) error
	ListRecords(ctx context.Context, prefix, after string, limit int) ([]store.Record, error)
	DeleteRecord(ctx context.Context, key string) error
}

// Record keys: the metadata of the current database, and its bytes in
// chunks under chunkPrefix + SHA-256 + "/" + index (six digits).
const (
	metaKey     = "geoip/current"
	chunkPrefix = "geoip/chunk/"
	chunkSize   = 1 << 20
)

// FileName is where the database lives in the data directory.
func FileName(dataDir string) string { return filepath.Join(dataDir, "geoip", "country.mmdb") }

// Save validates the database b (Parse; name is the file it came from)
// and makes it the hub's: its bytes go into the store as chunk records,
// then into FileName(dataDir) (a temporary file renamed over the old one,
// so a reader never sees half a file), and last the metadata record that
// makes it current (so that other nodes switch only once the chunks are
// all there). The previous database's chunks are removed. now is the
// load time recorded.
func Save(ctx context.Context, st Records, dataDir, name string, b []byte, now time.Time) (Meta, error) {
	db, err := Parse(name, b)
	if err != nil {
		return Meta{}, err
	}
	m := db.Meta()
	m.Name, m.Loaded = filepath.Base(name), now.UTC()
	old, _ := current(ctx, st)
	for i := 0; i*chunkSize < len(b); i++ {
		end := min(len(b), (i+1)*chunkSize)
		if err := st.SetRecord(ctx, chunkKey(m.SHA256, i), b[i*chunkSize:end]); err != nil {
			return Meta{}, fmt.Errorf("geoip: storing the database: %w", err)
		}
	}
	if err := writeAtomic(FileName(dataDir), b); err != nil {
		return Meta{}, err
	}
	mb, _ := json.Marshal(m)
	if err := st.SetRecord(ctx, metaKey, mb); err != nil {
		return Meta{}, fmt.Errorf("geoip: storing the database: %w", err)
	}
	if old.SHA256 != "" && old.SHA256 != m.SHA256 {
		if err := deleteChunks(ctx, st, old.SHA256); err != nil {
			return m, fmt.Errorf("geoip: removing the previous database: %w", err)
		}
	}
	return m, nil
}

func chunkKey(sum string, i int) string { return fmt.Sprintf("%s%s/%06d", chunkPrefix, sum, i) }

func current(ctx context.Context, st Records) (Meta, error) {
	b, err := st.GetRecord(ctx, metaKey)
	if errors.Is(err, store.ErrNotFound) {
		return Meta{}, ErrNotLoaded
	}
	if err != nil {
		return Meta{}, fmt.Errorf("geoip: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("geoip: the record %s is corrupt: %v", metaKey, err)
	}
	return m, nil
}

// Current returns the hub's current database: the file in dataDir when
// it is the one the store names (same SHA-256), else the bytes kept in
// the store, which are then written to the file for next time (best
// effort: a node whose data directory is read-only still works).
// ErrNotLoaded when none was ever saved.
func Current(ctx context.Context, st Records, dataDir string) (*DB, error) {
	m, err := current(ctx, st)
	if err != nil {
		return nil, err
	}
	path := FileName(dataDir)
	if b, err := os.ReadFile(path); err == nil && int64(len(b)) == m.Size && digest(b) == m.SHA256 {
		return withMeta(Parse(path, b))(m)
	}
	db, err := fromRecords(ctx, st, m)
	if err != nil {
		return nil, err
	}
	_ = writeAtomic(path, db.raw)
	return db, nil
}

// FromStore returns the hub's current database as kept in the store,
// without touching any file (for nodes that keep no data directory).
// ErrNotLoaded when none was ever saved.
func FromStore(ctx context.Context, st Records) (*DB, error) {
	m, err := current(ctx, st)
	if err != nil {
		return nil, err
	}
	return fromRecords(ctx, st, m)
}

func fromRecords(ctx context.Context, st Records, m Meta) (*DB, error) {
	var buf bytes.Buffer
	after := ""
	for {
		recs, err := st.ListRecords(ctx, chunkPrefix+m.SHA256+"/", after, 16)
		if err != nil {
			return nil, fmt.Errorf("geoip: reading the database from the store: %w", err)
		}
		for _, r := range recs {
			buf.Write(r.Value)
		}
		if len(recs) < 16 {
			break
		}
		after = recs[len(recs)-1].Key
	}
	b := buf.Bytes()
	if digest(b) != m.SHA256 {
		return nil, fmt.Errorf("geoip: the database in the store (%s) is incomplete or corrupt: SHA-256 does not match; load it again with fusion geoip load", m.Name)
	}
	return withMeta(Parse(m.Name, b))(m)
}

func withMeta(db *DB, err error) func(Meta) (*DB, error) {
	return func(m Meta) (*DB, error) {
		if err != nil {
			return nil, err
		}
		db.meta.Name, db.meta.Loaded = m.Name, m.Loaded
		return db, nil
	}
}

// Stored returns the metadata of the current database (ErrNotLoaded).
func Stored(ctx context.Context, st Records) (Meta, error) { return current(ctx, st) }

func deleteChunks(ctx context.Context, st Records, sum string) error {
	for {
		recs, err := st.ListRecords(ctx, chunkPrefix+sum+"/", "", 64)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return nil
		}
		for _, r := range recs {
			if err := st.DeleteRecord(ctx, r.Key); err != nil {
				return err
			}
		}
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeAtomic writes b to path through a temporary file in the same
// directory, synced and renamed over path.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	f, err := os.CreateTemp(dir, ".country-*.mmdb")
	if err != nil {
		return fmt.Errorf("geoip: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("geoip: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
