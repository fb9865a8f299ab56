-- Policy facts kept beside each version (store.Version.Facts): a small
-- blob computed from raw at write time, so that reads need not parse raw.
-- NULL for rows stored before this migration; readers then derive the
-- facts from raw. No backfill.
ALTER TABLE versions ADD COLUMN facts BLOB;
