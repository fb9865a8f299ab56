-- Object versions. date_added is Unix microseconds, unique and strictly
-- increasing per collection (see collections.last_added); modified is the
-- version key in Unix nanoseconds, -9223372036854775808 for objects without
-- one. is_first/is_last mark the earliest and the newest version of each
-- object so that "first" and "last" listings are single index range scans.
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
CREATE INDEX versions_first ON versions (coll, date_added) WHERE is_first;
CREATE INDEX versions_last ON versions (coll, date_added) WHERE is_last;
