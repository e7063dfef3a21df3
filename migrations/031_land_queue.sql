-- Issue 26: the land queue. One row per change pushed to refs/for/<branch> (server/queue/*).
--
-- `commit_sha` is what was pushed (kept reachable by refs/greengate/queue/<id>); `base_sha` the
-- branch head when it was queued. `state`: queued (waiting for a candidate), testing (its candidate
-- `candidate_sha` = branch head + every change ahead + itself is being built as
-- `candidate_build_id` on top of `candidate_base` (the head or the candidate ahead), the first of its builds on `candidate_ref`, refs/try/queue/<id>-<n>), landed (the branch was fast-forwarded to `landed_sha`), ejected (its
-- candidate failed, `reason` names the failing tests), conflict (it no longer applies; `reason`
-- names the files) or removed (by an admin). A change lands once: the landing is a
-- compare-and-swap `git update-ref` and the row moves to landed in the same step.
CREATE TABLE queue_changes (
  id INTEGER PRIMARY KEY,
  repo_id INTEGER NOT NULL REFERENCES repositories(id),
  branch TEXT NOT NULL,
  commit_sha TEXT NOT NULL,
  base_sha TEXT NOT NULL,
  pusher TEXT,
  state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'testing', 'landed', 'ejected', 'conflict', 'removed')),
  reason TEXT,
  candidate_sha TEXT,
  candidate_ref TEXT,
  candidate_base TEXT,
  candidate_build_id INTEGER,
  landed_sha TEXT,
  queued_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX queue_changes_by_branch ON queue_changes (repo_id, branch, state, id);
CREATE INDEX queue_changes_by_landed ON queue_changes (landed_sha); -- the waterfall marks heads landed through the queue
