-- Object versions. date_added is Unix microseconds, unique and strictly
-- increasing per collection (see collections.last_added); modified is the
-- version key in Unix nanoseconds, -9223372036854775808 for objects without
-- one. is_first/is_last mark the version with the smallest and the largest
-- version key of each object.
--
-- There is deliberately no foreign key to collections: a per-row RI check
-- would cost more than the whole COPY on bulk loads. Put locks the
-- collection row and DeleteCollection removes the versions itself.
CREATE TABLE versions (
	coll         BIGINT NOT NULL,
	date_added   BIGINT NOT NULL,
	id           TEXT COLLATE "C" NOT NULL,
	modified     BIGINT NOT NULL,
	type         TEXT COLLATE "C" NOT NULL,
	spec_version TEXT COLLATE "C" NOT NULL,
	source       TEXT COLLATE "C" NOT NULL,
	revoked      BOOLEAN NOT NULL,
	is_first     BOOLEAN NOT NULL,
	is_last      BOOLEAN NOT NULL,
	raw          BYTEA NOT NULL,
	PRIMARY KEY (coll, date_added)
);

-- One row per (object, version key); also serves id lookups and deletes.
CREATE UNIQUE INDEX versions_key ON versions (coll, id, modified);

-- "last" and "first" listings are one range scan of this index in
-- date_added order. It holds only the first and last version of each
-- object, so such a scan passes over at most one entry per object that it
-- does not return (the other end of a multi-version object), while a new
-- object's row - both first and last - costs one index entry, not two.
CREATE INDEX versions_edge ON versions (coll, date_added) WHERE is_first OR is_last;

-- Listings filtered by type (match[type]) scan one type's range in
-- date_added order instead of the whole collection; a rare type is then
-- as cheap to page through as a common one. Inserts land at the end of
-- each type's range, so the index is cheap to maintain.
CREATE INDEX versions_type ON versions (coll, type, date_added);
