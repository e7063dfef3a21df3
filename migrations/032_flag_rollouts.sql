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
