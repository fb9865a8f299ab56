-- Organisations and their API tokens. Times are Unix nanoseconds, NULL
-- for the zero time (a token that never expires or is not revoked).
CREATE TABLE orgs (
	id      TEXT COLLATE "C" PRIMARY KEY,
	name    TEXT COLLATE "C" NOT NULL UNIQUE,
	kind    TEXT NOT NULL,
	country TEXT NOT NULL,
	created BIGINT
);

CREATE TABLE tokens (
	id      TEXT COLLATE "C" PRIMARY KEY,
	org_id  TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
	role    TEXT NOT NULL,
	hash    BYTEA NOT NULL UNIQUE,
	label   TEXT NOT NULL,
	created BIGINT,
	expires BIGINT,
	revoked BIGINT
);

CREATE INDEX tokens_org ON tokens (org_id, created);
CREATE INDEX tokens_created ON tokens (created, id);
