-- Deploys (issue 16): a green head of a gated branch with `deploy:` goes through its stages in
-- order; the state machine lives here so a restart resumes it (server/deploy/orchestrator.ts).
-- A landed migration never changes: add a new file instead.
--
-- deploys.state: pending (asked for by a green head; waits for the branch's running deploy, a
-- pause, a closed tree) → running (stage `stage`'s run step) → watching (its watch window) → the
-- next stage, or deployed. A regression or a failed run → rolling_back (the rollbacks of stage
-- `rollback_at` down to 0) → rolled_back (regression) or failed (a run failed). A pending deploy
-- passed over by a newer green head of the branch ends superseded.
CREATE TABLE deploys (
  id           INTEGER PRIMARY KEY,
  repo_id      INTEGER NOT NULL REFERENCES repositories(id),
  branch       TEXT NOT NULL,
  sha          TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'watching', 'rolling_back', 'deployed', 'rolled_back', 'failed', 'superseded')),
  stage        INTEGER NOT NULL DEFAULT 0,      -- the stage being run or watched (position)
  rollback_at  INTEGER,                         -- the stage being rolled back
  outcome      TEXT,                            -- what rolling back ends as: rolled_back | failed
  build_id     INTEGER REFERENCES builds(id) ON DELETE SET NULL,   -- the build whose end made the head green
  base_sha     TEXT,                            -- the branch's last deployed commit before this one
  commits      TEXT NOT NULL DEFAULT '[]',      -- JSON: the commits this deploy brings (newest first)
  reason       TEXT,
  revert_state TEXT NOT NULL DEFAULT 'none' CHECK (revert_state IN ('none', 'pending', 'done', 'failed')),
  revert_error TEXT,
  alert_state  TEXT NOT NULL DEFAULT 'none' CHECK (alert_state IN ('none', 'pending', 'done')),
  created_at   INTEGER NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER
);
CREATE INDEX deploys_by_branch ON deploys (repo_id, branch, id);
CREATE INDEX deploys_active ON deploys (state) WHERE state IN ('pending', 'running', 'watching', 'rolling_back');

-- One row per stage of a deploy: its run and rollback steps are one-unit builds (kind 'try',
-- ref refs/deploy/<branch>, builder deploy:<stage> or rollback:<stage>) so they get the unit
-- path's runners, logs, acks and reclaim.
CREATE TABLE deploy_stages (
  deploy_id    INTEGER NOT NULL REFERENCES deploys(id) ON DELETE CASCADE,
  position     INTEGER NOT NULL,
  name         TEXT NOT NULL,
  state        TEXT NOT NULL CHECK (state IN ('waiting', 'running', 'watching', 'deployed', 'regressed', 'failed', 'rolling_back', 'rolled_back')),
  run_build_id INTEGER REFERENCES builds(id) ON DELETE SET NULL,
  rollback_build_id INTEGER REFERENCES builds(id) ON DELETE SET NULL,
  watch_started_at INTEGER,
  watch_ends_at INTEGER,
  verdict      TEXT,                            -- JSON: { regression, evidence: MetricEvidence[] }
  started_at   INTEGER,
  finished_at  INTEGER,
  PRIMARY KEY (deploy_id, position)
) WITHOUT ROWID;
CREATE INDEX deploy_stages_by_build ON deploy_stages (run_build_id);
CREATE INDEX deploy_stages_by_rollback ON deploy_stages (rollback_build_id);

-- `greengate deploy pause`: a paused branch starts no deploy until it is resumed.
CREATE TABLE deploy_pauses (
  repo_id      INTEGER NOT NULL REFERENCES repositories(id),
  branch       TEXT NOT NULL,
  actor        TEXT,
  reason       TEXT,
  at           INTEGER NOT NULL,
  PRIMARY KEY (repo_id, branch)
) WITHOUT ROWID;
