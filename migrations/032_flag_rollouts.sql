-- Issue 25 item 5: guarded incremental rollouts of feature flags (config: flags.rollouts in greengate.yml).
--
-- flag_rollouts: one row per rollout (repository, flag key): when it started, the step it is at (index
-- into the configured steps) and its percent, when that step started, and its state — 'ramping' (held then judged),
-- 'held' (a sample-ratio mismatch: not advanced), 'killed' (a regression: the immune system killed the
-- flag) or 'done' (the last step passed). `reason` says why it is held or killed.
CREATE TABLE flag_rollouts (
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  step INTEGER NOT NULL,
  percent INTEGER NOT NULL,
  step_started_at INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('ramping', 'held', 'killed', 'done')),
  reason TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, key)
);
-- flag_rollout_points: each judgement of a step, for the flag page's chart: exposures of the new
-- variant and of the others, the first metric's value on each, the regression test's p-value, the
-- sample-ratio p-value and the decision taken ('wait', 'advance', 'hold', 'kill', 'done').
CREATE TABLE flag_rollout_points (
  id INTEGER PRIMARY KEY,
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  at INTEGER NOT NULL,
  percent INTEGER NOT NULL,
  exposures_new REAL NOT NULL,
  exposures_old REAL NOT NULL,
  metric_new REAL,
  metric_old REAL,
  p_value REAL,
  srm_p REAL,
  decision TEXT NOT NULL
);
CREATE INDEX flag_rollout_points_by_flag ON flag_rollout_points (repo_id, key, id);

-- Issue 25 item 6: A/B tests. A phase is one served shape of a flag (its variants and targeting, so
-- its weights): a change of weights — a push, a rollout step — starts a new phase, and results are
-- never mixed across phases. `weights` is the JSON of the served flag's first fractional split
-- ({variant: weight}), NULL when it has none.
CREATE TABLE flag_phases (
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  phase TEXT NOT NULL,
  weights TEXT,
  started_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, key, phase)
);
-- One exposure per user per day per phase (the first variant seen wins); `user` is a hash of the
-- targetingKey (sha256, 32 hex), never the key itself; `day` is days since the epoch (UTC).
CREATE TABLE flag_exposures (
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  phase TEXT NOT NULL,
  user TEXT NOT NULL,
  day INTEGER NOT NULL,
  variant TEXT NOT NULL,
  PRIMARY KEY (repo_id, key, phase, user, day)
) WITHOUT ROWID;
-- One conversion per user per day per metric and phase (the first one's value kept).
CREATE TABLE flag_conversions (
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  key TEXT NOT NULL,
  phase TEXT NOT NULL,
  metric TEXT NOT NULL,
  user TEXT NOT NULL,
  day INTEGER NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (repo_id, key, phase, metric, user, day)
) WITHOUT ROWID;
