-- greengate's own reverts (issue 20): the commit greengate made, recorded before it is pushed.
-- A revert is greengate's when its sha is here, never because of a trailer in its message
-- (Greengate-Red-Build / Greengate-Deploy trailers in a pushed commit mean nothing).
-- A landed migration never changes: add a new file instead.
CREATE TABLE own_reverts (
  sha         TEXT PRIMARY KEY,                 -- the revert commit greengate made
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  branch      TEXT NOT NULL,
  source      TEXT NOT NULL CHECK (source IN ('culprit', 'deploy')),
  source_id   INTEGER NOT NULL,                 -- auto_reverts.id (culprit) or deploys.id (deploy)
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX own_reverts_by_source ON own_reverts (source, source_id);
