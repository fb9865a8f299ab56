-- Small named values shared by all nodes (TAXII status resources, pull
-- positions, settings).
CREATE TABLE records (
	key   TEXT COLLATE "C" PRIMARY KEY,
	value BYTEA NOT NULL
);
