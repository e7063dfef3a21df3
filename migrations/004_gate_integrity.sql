-- Passes through a closed tree granted by the gate (revert, fix, bypass). A landed migration
-- never changes: add 005_….sql instead.
-- A pass is 'pending' from the gate's verdict until the ref is seen at the pushed commit: then it
-- is 'landed' and written to tree_events. A push that git refused (another hook, a timeout) never
-- lands; its passes end 'dropped' (superseded by a later push of the same ref, or expired).
CREATE TABLE gate_passes (
  id          INTEGER PRIMARY KEY,
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  push_id     TEXT NOT NULL,                -- one gate request: its passes of a ref land together
  ref         TEXT NOT NULL,
  branch      TEXT NOT NULL,
  new_sha     TEXT NOT NULL,                -- the commit the ref must be seen at
  kind        TEXT NOT NULL CHECK (kind IN ('revert', 'fix', 'bypass')),
  commits     TEXT NOT NULL,                -- JSON array of shas
  reason      TEXT NOT NULL,
  actor       TEXT,
  state       TEXT NOT NULL CHECK (state IN ('pending', 'landed', 'dropped')),
  created_at  INTEGER NOT NULL,
  settled_at  INTEGER
);
CREATE INDEX gate_passes_pending ON gate_passes (repo_id, ref, new_sha) WHERE state = 'pending';
CREATE INDEX gate_passes_by_repo ON gate_passes (repo_id, id);
