-- The audit log's stored hashes in rows of 32 (store.Log's contract is
-- unchanged: hashes are still addressed by golang.org/x/mod/sumdb/tlog
-- storage index). Row chunk holds the hashes at storage indexes
-- [32*chunk, 32*chunk + 32) concatenated, 1 KiB when full (small enough to
-- stay inline, no TOAST). One row per hash (about two rows per entry) was
-- most of what logging cost PostgreSQL ingest; now extending the tree
-- writes about one row per 16 entries, and rewrites the last, partial one.
CREATE TABLE log_hash_chunks (
	chunk  BIGINT PRIMARY KEY CHECK (chunk >= 0),
	hashes BYTEA NOT NULL CHECK (octet_length(hashes) BETWEEN 32 AND 1024 AND octet_length(hashes) % 32 = 0)
);

INSERT INTO log_hash_chunks (chunk, hashes)
SELECT idx / 32, string_agg(hash, ''::bytea ORDER BY idx)
FROM log_hashes
GROUP BY idx / 32;

DROP TABLE log_hashes;
