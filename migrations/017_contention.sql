-- How much slower each builder's units run when several share a runner (server/planning/contention.ts).
-- A landed migration never changes: add a new file instead.
CREATE TABLE unit_contention (
  repo_id      INTEGER NOT NULL REFERENCES repositories(id),
  builder      TEXT NOT NULL,
  concurrency  INTEGER NOT NULL CHECK (concurrency >= 2),  -- units running at once on the runner
  factor       REAL NOT NULL,                               -- run time ÷ the time alone
  samples      INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (repo_id, builder, concurrency)
) WITHOUT ROWID;
-- The time-weighted mean number of units running on the unit's runner while it ran (itself included).
ALTER TABLE units ADD COLUMN concurrency REAL;
-- A finishing unit finds the units that overlapped it on its runner: those that ended after it started.
CREATE INDEX units_by_runner_end ON units (runner_id, finished_at);
-- The runner machine's CPUs as its hello says (null: an older runner), named with a contention notice.
ALTER TABLE runners ADD COLUMN cpus INTEGER;
