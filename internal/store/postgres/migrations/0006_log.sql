-- The tamper-evident audit log (store.Log): entries numbered densely from
-- 0 in commit order, the Merkle tree's stored hashes (storage indexes of
-- golang.org/x/mod/sumdb/tlog) and signed checkpoints.
CREATE TABLE log_entries (
	idx  BIGINT PRIMARY KEY,
	data BYTEA NOT NULL
);

CREATE TABLE log_hashes (
	idx  BIGINT PRIMARY KEY,
	hash BYTEA NOT NULL CHECK (octet_length(hash) = 32)
);

CREATE TABLE log_checkpoints (
	size BIGINT PRIMARY KEY,
	note BYTEA NOT NULL
);

-- One row: the next entry's index. Every appending transaction advances
-- it as its last statement before COMMIT (UPDATE ... RETURNING), so the
-- row lock serialises appends on all nodes from there to the commit:
-- indexes are dense, and a reader that sees size n sees entries 0..n-1.
CREATE TABLE log_head (
	one  BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
	size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO log_head (one, size) VALUES (true, 0);

-- One row: how many entries the stored hashes cover. Apart from log_head
-- so that extending the tree neither waits for nor delays appends.
CREATE TABLE log_tree (
	one  BOOLEAN PRIMARY KEY DEFAULT true CHECK (one),
	size BIGINT NOT NULL CHECK (size >= 0)
);
INSERT INTO log_tree (one, size) VALUES (true, 0);
