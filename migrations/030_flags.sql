-- Issue 25: feature flag kill switches and their history.
--
-- One row per kill or restore of a flag of a repository (flags as code: the definitions live in the
-- repository's flags file; only what a person did to a flag at run time lives here). A flag is killed
-- while its newest row is a 'kill'. `actor` is the admin who did it (a named admin's name, "admin"
-- for adminToken); `message` is theirs (may be NULL).
CREATE TABLE flag_events (
  id INTEGER PRIMARY KEY,
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('kill', 'restore')),
  actor TEXT NOT NULL,
  message TEXT,
  at INTEGER NOT NULL
);
CREATE INDEX flag_events_by_flag ON flag_events (repo_id, key, id);
