-- Issue 23 items 1 and 8: builds made of steps.
--
-- units.step: the step (its label, e.g. 'test' or 'test (NODE=20)') a unit belongs to; NULL for a
-- build of a builder without `steps:` (its one step, named after the builder) and for every older row.
ALTER TABLE units ADD COLUMN step TEXT;

-- One row per step (per matrix combination) of a build of a builder with `steps:`, written when the
-- build is made, so pending and skipped steps exist as rows and a restart resumes from them.
-- needs: JSON list of the step names (config name, not label) that must all pass first.
-- matrix: JSON object of the combination's variables, or NULL. plan: JSON list of the planned
-- units ({ files, expectedMs }), inserted as units when the step starts.
CREATE TABLE build_steps (
  build_id    INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  seq         INTEGER NOT NULL,
  name        TEXT NOT NULL,
  step_name   TEXT NOT NULL,
  needs       TEXT NOT NULL DEFAULT '[]',
  matrix      TEXT,
  plan        TEXT NOT NULL DEFAULT '[]',
  result      TEXT NOT NULL DEFAULT 'pending'
    CHECK (result IN ('pending', 'running', 'passed', 'failed', 'skipped', 'cancelled', 'exception')),
  started_at  INTEGER,
  finished_at INTEGER,
  PRIMARY KEY (build_id, name)
);
CREATE INDEX units_build_step ON units (build_id, step);
