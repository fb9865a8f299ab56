-- records becomes a rowid table: in a WITHOUT ROWID table the values
-- live in the key's b-tree, so every look-up that compares keys with a
-- large value (a 100 KB TAXII status resource, a partner's asset list)
-- read that value whole. Now the key index holds keys only.
CREATE TABLE records_rowid (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
);
INSERT INTO records_rowid (key, value) SELECT key, value FROM records;
DROP TABLE records;
ALTER TABLE records_rowid RENAME TO records;
