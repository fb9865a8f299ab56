-- versions becomes a rowid table. In a WITHOUT ROWID table the b-tree's
-- interior pages hold whole rows, and a version row with its JSON is a
-- tenth of a page: five levels for a million versions, every insert
-- comparing rows at each and rebalancing pages of large cells. A rowid
-- table appends each new version at its right edge (rowids grow with
-- every insert), and the unique index versions_added, small keys only,
-- keeps listings a range scan in (coll, date_added) order. Within one
-- collection rowid order is date_added order, so a page's rows are read
-- in ascending rowid.
CREATE TABLE versions_rowid (
	coll         INTEGER NOT NULL REFERENCES collections (seq) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
	date_added   INTEGER NOT NULL,
	id           TEXT    NOT NULL,
	idh          INTEGER NOT NULL,
	modified     INTEGER NOT NULL,
	type         TEXT    NOT NULL,
	spec_version TEXT    NOT NULL,
	source       TEXT    NOT NULL,
	revoked      INTEGER NOT NULL,
	is_first     INTEGER NOT NULL,
	is_last      INTEGER NOT NULL,
	raw          BLOB    NOT NULL,
	facts        BLOB
);
INSERT INTO versions_rowid (coll, date_added, id, idh, modified, type, spec_version, source, revoked, is_first, is_last, raw, facts)
	SELECT coll, date_added, id, idh, modified, type, spec_version, source, revoked, is_first, is_last, raw, facts
	FROM versions ORDER BY coll, date_added;
DROP TABLE versions;
ALTER TABLE versions_rowid RENAME TO versions;
CREATE UNIQUE INDEX versions_added ON versions (coll, date_added);
-- Not unique: two ids may share a hash; queries also compare id.
CREATE INDEX versions_object ON versions (coll, idh, modified);
CREATE INDEX versions_last_type ON versions (coll, type, date_added) WHERE is_last = 1;
