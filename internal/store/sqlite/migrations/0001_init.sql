-- Fusion's SQLite schema, version 1.
--
-- Times are INTEGER: date_added and other instants in Unix microseconds;
-- version keys (versions.modified) in Unix nanoseconds, with
-- -9223372036854775808 standing for "no version key" (SCOs).

CREATE TABLE collections (
	seq         INTEGER PRIMARY KEY,        -- compact key used by versions
	id          TEXT    NOT NULL UNIQUE,
	api_root    TEXT    NOT NULL,
	title       TEXT    NOT NULL,
	description TEXT    NOT NULL,
	alias       TEXT,                       -- NULL when empty; unique per API root
	media_types TEXT    NOT NULL,           -- JSON array of strings
	default_tlp TEXT    NOT NULL,
	created     INTEGER NOT NULL,
	last_added  INTEGER NOT NULL DEFAULT 0, -- highest date_added given out
	UNIQUE (api_root, alias)
);
CREATE INDEX collections_title ON collections (api_root, title, id);

-- One row per stored object version, clustered by (coll, date_added) so
-- that a listing in date_added order is a range scan of the table itself.
-- is_first / is_last mark the versions with the lowest / highest version
-- key of their object in the collection: match[version]=first|last is a
-- filter on that scan, and last with a type is a range scan of the
-- partial index versions_last_type.
CREATE TABLE versions (
	coll         INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	date_added   INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	idh          INTEGER NOT NULL,          -- 64-bit FNV-1a of id: a small index key
	modified     INTEGER NOT NULL,
	type         TEXT    NOT NULL,
	spec_version TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	revoked      INTEGER NOT NULL,
	is_first     INTEGER NOT NULL,
	is_last      INTEGER NOT NULL,
	raw          BLOB    NOT NULL,
	PRIMARY KEY (coll, date_added)
) WITHOUT ROWID;
-- Not unique: two ids may share a hash; queries also compare id.
CREATE INDEX versions_object ON versions (coll, idh, modified);
CREATE INDEX versions_last_type ON versions (coll, type, date_added) WHERE is_last = 1;

CREATE TABLE orgs (
	id      TEXT    PRIMARY KEY,
	name    TEXT    NOT NULL UNIQUE,
	kind    TEXT    NOT NULL,
	country TEXT    NOT NULL,
	created INTEGER NOT NULL
);

CREATE TABLE tokens (
	id      TEXT    PRIMARY KEY,
	org_id  TEXT    NOT NULL REFERENCES orgs (id),
	role    TEXT    NOT NULL,
	hash    BLOB    NOT NULL UNIQUE,
	label   TEXT    NOT NULL,
	created INTEGER NOT NULL,
	expires INTEGER,                        -- NULL: never
	revoked INTEGER                         -- NULL: not revoked
);
CREATE INDEX tokens_org ON tokens (org_id, created, id);
CREATE INDEX tokens_created ON tokens (created, id);

CREATE TABLE grants (
	collection TEXT    NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
	org_id     TEXT    NOT NULL REFERENCES orgs (id),
	can_read   INTEGER NOT NULL,
	can_write  INTEGER NOT NULL,
	PRIMARY KEY (collection, org_id)
) WITHOUT ROWID;
CREATE INDEX grants_org ON grants (org_id);

CREATE TABLE records (
	key   TEXT PRIMARY KEY,
	value BLOB NOT NULL
) WITHOUT ROWID;
