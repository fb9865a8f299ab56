-- Per-collection access grants. A grant with neither read nor write is
-- never stored (SetGrant deletes it instead). Deleting a collection
-- deletes its grants; the organisation must exist.
CREATE TABLE grants (
	collection TEXT COLLATE "C" NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
	org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs (id),
	can_read   BOOLEAN NOT NULL,
	can_write  BOOLEAN NOT NULL,
	PRIMARY KEY (collection, org_id)
);
