-- How far each node-local audit spool (audit.Log's spool file) has been
-- moved into the log: seq is the last spool record stored in log_entries.
-- It is updated in the transaction that appends the moved entries, so a
-- move retried after a crash stores nothing twice (store.Log.AppendSpooled).
CREATE TABLE log_spools (
	name TEXT    PRIMARY KEY,
	seq  INTEGER NOT NULL CHECK (seq > 0)
) WITHOUT ROWID;
