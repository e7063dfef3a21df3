-- The build lifecycle owns cancel intent in SQLite (not in memory), so a cancel survives a restart.
-- A landed migration never changes: add 004_….sql instead.
ALTER TABLE units ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;

-- The tree rule: the newest finished build of each builder on a branch, by push order (change id).
CREATE INDEX builds_deciding ON builds (repo_id, builder, branch, kind, state, change_id);
