-- Collections (TAXII 2.1 section 5.2). seq is a compact surrogate key that
-- the versions table refers to; last_added is the newest date_added handed
-- out in the collection, kept here so that Put can lock this one row and
-- assign strictly increasing values even when several nodes write at once.
CREATE TABLE collections (
	seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id          TEXT COLLATE "C" NOT NULL UNIQUE,
	api_root    TEXT COLLATE "C" NOT NULL,
	title       TEXT COLLATE "C" NOT NULL,
	description TEXT NOT NULL,
	alias       TEXT COLLATE "C" NOT NULL,
	media_types TEXT[] NOT NULL,
	default_tlp TEXT NOT NULL,
	created     BIGINT,          -- Unix nanoseconds; NULL for the zero time
	last_added  BIGINT NOT NULL  -- Unix microseconds; 0 before the first Put
);

-- An alias is unique within its API root when it is set.
CREATE UNIQUE INDEX collections_alias ON collections (api_root, alias) WHERE alias <> '';
CREATE INDEX collections_root_title ON collections (api_root, title, id);
