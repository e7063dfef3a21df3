-- Culprit finding and the guarded automatic revert (issue 15). A landed migration never changes:
-- add a new file instead.
--
-- A bisect build is stored as kind 'try' with purpose 'bisect' (the store reports its kind as
-- 'bisect'): adding a column leaves the builds table, its CHECK and every reference to it as they
-- are, and the tree rule (kind = 'branch' only) can never see one. Its ref is refs/bisect/<search>.
ALTER TABLE builds ADD COLUMN purpose TEXT CHECK (purpose IS NULL OR purpose = 'bisect');

-- Rows go with their builds when retention deletes them (ON DELETE CASCADE).
-- One search per red gated build whose blamelist has more than one commit.
CREATE TABLE culprit_searches (
  id            INTEGER PRIMARY KEY,
  repo_id       INTEGER NOT NULL REFERENCES repositories(id),
  branch        TEXT NOT NULL,
  builder       TEXT NOT NULL,
  build_id      INTEGER NOT NULL UNIQUE REFERENCES builds(id) ON DELETE CASCADE,  -- the red build
  base_sha      TEXT NOT NULL,                 -- position 0: the last green build's commit
  commits       TEXT NOT NULL,                 -- JSON: positions 1..n, oldest first (n = the red build's commit)
  files         TEXT NOT NULL,                 -- JSON: the failing test files the probes run ([] = the whole builder)
  flake_rate    REAL NOT NULL,                 -- from the failing tests' history
  confirm_runs  INTEGER NOT NULL,
  max_probes    INTEGER NOT NULL,
  observations  TEXT NOT NULL,                 -- JSON [{pass, fail}] by position 0..n
  probes        INTEGER NOT NULL DEFAULT 0,
  state         TEXT NOT NULL CHECK (state IN ('searching', 'done')),
  culprit_sha   TEXT,
  confirmed     INTEGER NOT NULL DEFAULT 0,
  confidence    REAL,
  outcome       TEXT,                          -- why it ended, in words
  created_at    INTEGER NOT NULL,
  finished_at   INTEGER
);
CREATE INDEX culprit_searches_by_branch ON culprit_searches (repo_id, branch, id);

-- Each bisect build of a search: the position it builds and what it said.
CREATE TABLE culprit_probes (
  build_id      INTEGER PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
  search_id     INTEGER NOT NULL REFERENCES culprit_searches(id) ON DELETE CASCADE,
  position      INTEGER NOT NULL,
  result        TEXT                           -- the build's result once it ended
);
CREATE INDEX culprit_probes_by_search ON culprit_probes (search_id, build_id);

-- Automatic reverts: wanted when a culprit is confirmed on a branch with autoRevert, then made
-- (pushed) or refused (a guard said no). At most one per search.
CREATE TABLE auto_reverts (
  id            INTEGER PRIMARY KEY,
  search_id     INTEGER NOT NULL UNIQUE REFERENCES culprit_searches(id) ON DELETE CASCADE,
  repo_id       INTEGER NOT NULL REFERENCES repositories(id),
  branch        TEXT NOT NULL,
  culprit_sha   TEXT NOT NULL,
  build_id      INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,  -- the red build named in the trailer
  state         TEXT NOT NULL CHECK (state IN ('wanted', 'pushed', 'refused')),
  revert_sha    TEXT,
  reason        TEXT,
  created_at    INTEGER NOT NULL,
  settled_at    INTEGER
);
CREATE INDEX auto_reverts_by_branch ON auto_reverts (repo_id, branch, state, settled_at);

-- Server-wide switches an admin flips at run time (the auto-revert kill switch: autorevert = on|off).
CREATE TABLE admin_switches (
  key           TEXT PRIMARY KEY,
  value         TEXT NOT NULL,
  actor         TEXT,
  at            INTEGER NOT NULL
) WITHOUT ROWID;
