-- Issue 23 items 6 and 7: scheduled and hand-started builds, their params, and re-running what failed.
--
-- Why a build was made, when it was not a push (a push's build has no row here): 'schedule' (its
-- builder's `schedule:` fired), 'manual' (an admin's "Build now", API or `greengate build`),
-- 'rerun' (an admin's "re-run what failed" of `rebuild_of`), 'rebuild' (an admin's rebuild of
-- `rebuild_of`, which keeps its params). `started_by` names the admin (NULL for a schedule). `params` is the JSON object of the build's declared params as requested
-- (declared defaults fill in the rest when a unit is handed out). builds.purpose stays 'normal':
-- these builds count for the tree exactly as a push's build or a rebuild of the same commit.
CREATE TABLE build_causes (
  build_id   INTEGER PRIMARY KEY REFERENCES builds(id) ON DELETE CASCADE,
  cause      TEXT NOT NULL CHECK (cause IN ('schedule', 'manual', 'rerun', 'rebuild')),
  started_by TEXT,
  rebuild_of INTEGER REFERENCES builds(id) ON DELETE SET NULL,
  params     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX build_causes_by_original ON build_causes (rebuild_of);

-- When each builder's schedule last fired (ms since the epoch): a restart neither runs a time twice
-- nor skips one silently (missed times run once at start-up; server/changes/schedule.ts).
CREATE TABLE schedule_runs (
  repo    TEXT NOT NULL,
  builder TEXT NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (repo, builder)
);
