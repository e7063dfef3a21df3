-- greengate schema, version 1. A landed migration never changes: add 002_….sql instead.
-- Times are integer milliseconds since the Unix epoch.

CREATE TABLE repositories (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  path        TEXT NOT NULL
);

-- Commit metadata as read from git when a change arrives.
CREATE TABLE commits (
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  sha         TEXT NOT NULL,
  author      TEXT NOT NULL,
  email       TEXT NOT NULL,
  subject     TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, sha)
) WITHOUT ROWID;

-- One row per ref update noticed (hook notice, ref watcher or start-up scan).
CREATE TABLE changes (
  id          INTEGER PRIMARY KEY,
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  ref         TEXT NOT NULL,
  branch      TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('branch', 'try')),
  old_sha     TEXT,
  new_sha     TEXT NOT NULL,
  source      TEXT NOT NULL CHECK (source IN ('hook', 'watch', 'scan', 'api')),
  pusher      TEXT,
  received_at INTEGER NOT NULL
);
CREATE INDEX changes_by_ref ON changes (repo_id, ref, id);

-- The last head each (repository, ref) was seen at, so the three intake paths agree.
CREATE TABLE ref_heads (
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  ref         TEXT NOT NULL,
  sha         TEXT NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (repo_id, ref)
) WITHOUT ROWID;

CREATE TABLE builds (
  id          INTEGER PRIMARY KEY,
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  builder     TEXT NOT NULL,
  ref         TEXT NOT NULL,
  branch      TEXT NOT NULL,
  kind        TEXT NOT NULL CHECK (kind IN ('branch', 'try')),
  sha         TEXT NOT NULL,
  base_sha    TEXT,
  change_id   INTEGER REFERENCES changes(id),
  state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
  result      TEXT CHECK (result IN ('passed', 'failed', 'flaky', 'exception', 'cancelled')),
  reason      TEXT,
  units_total INTEGER NOT NULL DEFAULT 0,
  units_done  INTEGER NOT NULL DEFAULT 0,
  expected_ms INTEGER NOT NULL DEFAULT 0,
  pushed_at   INTEGER NOT NULL,
  created_at  INTEGER NOT NULL,
  started_at  INTEGER,
  finished_at INTEGER
);
CREATE INDEX builds_by_branch ON builds (repo_id, branch, builder, id);
CREATE INDEX builds_unfinished ON builds (state) WHERE state != 'done';

-- The blamelist: commits new in this build, newest first.
CREATE TABLE build_commits (
  build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  position    INTEGER NOT NULL,
  sha         TEXT NOT NULL,
  PRIMARY KEY (build_id, position)
) WITHOUT ROWID;

CREATE TABLE runners (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL UNIQUE,
  slots       INTEGER NOT NULL,
  version     TEXT NOT NULL,
  connected   INTEGER NOT NULL DEFAULT 0,
  address     TEXT,
  first_seen  INTEGER NOT NULL,
  last_seen   INTEGER NOT NULL
);

-- A unit of work: one run of the builder's command on a batch of files.
CREATE TABLE units (
  id          INTEGER PRIMARY KEY,
  build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  files       TEXT NOT NULL DEFAULT '[]',   -- JSON array of paths
  attempt     INTEGER NOT NULL DEFAULT 1,   -- 2 for a flaky retry
  retry_of    INTEGER REFERENCES units(id),
  state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done')),
  result      TEXT CHECK (result IN ('passed', 'failed', 'exception', 'cancelled')),
  priority    INTEGER NOT NULL DEFAULT 0,   -- higher runs first (lost units, retries)
  expected_ms INTEGER NOT NULL DEFAULT 0,
  runner_id   INTEGER REFERENCES runners(id),
  avoid_runner_id INTEGER REFERENCES runners(id),
  lost_count  INTEGER NOT NULL DEFAULT 0,
  exit_code   INTEGER,
  signal      TEXT,
  error       TEXT,
  log_bytes   INTEGER NOT NULL DEFAULT 0,
  queued_at   INTEGER NOT NULL,
  assigned_at INTEGER,
  started_at  INTEGER,
  finished_at INTEGER
);
CREATE INDEX units_by_build ON units (build_id, seq);
CREATE INDEX units_queue ON units (priority DESC, build_id, expected_ms DESC) WHERE state = 'queued';
CREATE INDEX units_running ON units (runner_id) WHERE state = 'running';

-- Log chunks as the runner sent them; (unit_id, seq) makes a resent chunk a no-op.
CREATE TABLE log_chunks (
  unit_id     INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  offset      INTEGER NOT NULL,
  stream      TEXT NOT NULL CHECK (stream IN ('out', 'err', 'sys')),
  data        TEXT NOT NULL,
  at          INTEGER NOT NULL,
  PRIMARY KEY (unit_id, seq)
) WITHOUT ROWID;

CREATE TABLE test_results (
  id          INTEGER PRIMARY KEY,
  build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  unit_id     INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  builder     TEXT NOT NULL,
  name        TEXT NOT NULL,
  classname   TEXT NOT NULL DEFAULT '',
  file        TEXT,
  duration_ms INTEGER NOT NULL DEFAULT 0,
  status      TEXT NOT NULL CHECK (status IN ('passed', 'failed', 'error', 'skipped', 'flaky', 'quarantined')),
  message     TEXT,
  attempt     INTEGER NOT NULL DEFAULT 1,
  at          INTEGER NOT NULL
);
CREATE INDEX test_results_by_build ON test_results (build_id);
CREATE INDEX test_results_by_test ON test_results (repo_id, builder, classname, name, id);

-- What the queue learns: expected duration per test file.
CREATE TABLE file_durations (
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  builder     TEXT NOT NULL,
  file        TEXT NOT NULL,
  ewma_ms     REAL NOT NULL,
  samples     INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (repo_id, builder, file)
) WITHOUT ROWID;

CREATE TABLE quarantine (
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  builder     TEXT NOT NULL,
  test        TEXT NOT NULL,               -- "classname name", or a test name
  reason      TEXT,
  added_by    TEXT,
  added_at    INTEGER NOT NULL,
  PRIMARY KEY (repo_id, builder, test)
) WITHOUT ROWID;

-- Current tree state per (repository, gated branch).
CREATE TABLE tree_state (
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  branch      TEXT NOT NULL,
  state       TEXT NOT NULL CHECK (state IN ('open', 'closed', 'maintenance')),
  automatic   INTEGER NOT NULL DEFAULT 0,
  reason      TEXT,
  message     TEXT,
  actor       TEXT,
  build_id    INTEGER REFERENCES builds(id),
  since       INTEGER NOT NULL,
  PRIMARY KEY (repo_id, branch)
) WITHOUT ROWID;

-- Every state change and every push let through a closed tree.
CREATE TABLE tree_events (
  id          INTEGER PRIMARY KEY,
  repo_id     INTEGER NOT NULL REFERENCES repositories(id),
  branch      TEXT NOT NULL,
  kind        TEXT NOT NULL,                -- 'open' | 'close' | 'maintenance' | 'bypass' | 'revert' | 'fix'
  state       TEXT NOT NULL,                -- state after the event
  automatic   INTEGER NOT NULL DEFAULT 0,
  actor       TEXT,
  reason      TEXT,
  message     TEXT,
  build_id    INTEGER REFERENCES builds(id),
  commits     TEXT,                         -- JSON array of shas let through
  at          INTEGER NOT NULL
);
CREATE INDEX tree_events_by_branch ON tree_events (repo_id, branch, id);

-- Five Whys answers attached to a closure.
CREATE TABLE tree_whys (
  event_id    INTEGER NOT NULL REFERENCES tree_events(id),
  position    INTEGER NOT NULL,
  answer      TEXT NOT NULL,
  author      TEXT,
  at          INTEGER NOT NULL,
  PRIMARY KEY (event_id, position)
) WITHOUT ROWID;
