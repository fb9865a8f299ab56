-- How far each node's audit spool (audit.Log's spool file, local to the
-- node) has been moved into the log: seq is the last spool record stored
-- in log_entries, updated in the transaction that appends the moved
-- entries, so a move retried after a crash stores nothing twice
-- (store.Log.AppendSpooled).
CREATE TABLE log_spools (
	name TEXT   PRIMARY KEY,
	seq  BIGINT NOT NULL CHECK (seq > 0)
);
