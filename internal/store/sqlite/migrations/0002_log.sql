-- The tamper-evident audit log (store.Log): entries numbered densely from
-- 0, the Merkle tree's stored hashes (golang.org/x/mod/sumdb/tlog storage
-- indexes) and signed checkpoints.

CREATE TABLE log_entries (
	idx  INTEGER PRIMARY KEY,               -- 0, 1, 2, ... without gaps
	data BLOB    NOT NULL
);

CREATE TABLE log_hashes (
	idx  INTEGER PRIMARY KEY,               -- tlog.StoredHashIndex order
	hash BLOB    NOT NULL CHECK (length(hash) = 32)
);

CREATE TABLE log_checkpoints (
	size INTEGER PRIMARY KEY,               -- tree size the note signs
	note BLOB    NOT NULL
);

-- One row: log_size is the next entry's index, taken and advanced inside
-- every appending transaction; tree_size is how many entries the stored
-- hashes cover, advanced only by ExtendTree's conditional update.
CREATE TABLE log_state (
	one       INTEGER PRIMARY KEY CHECK (one = 1),
	log_size  INTEGER NOT NULL CHECK (log_size >= 0),
	tree_size INTEGER NOT NULL CHECK (tree_size >= 0 AND tree_size <= log_size)
);
INSERT INTO log_state (one, log_size, tree_size) VALUES (1, 0, 0);
