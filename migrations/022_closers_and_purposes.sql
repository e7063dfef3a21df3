-- Issue 21: one owner of tree state, one marker for special builds.
--
-- Who closed a gated branch's tree, as data (never read back from an actor string):
-- 'build' (the tree rule, for a red build), 'person' (by hand: CLI, API, page), 'immune' (the
-- immune system, for a rolled-back deploy). NULL while the tree is open. Written by gate/tree.ts alone.
ALTER TABLE tree_state ADD COLUMN closed_by TEXT CHECK (closed_by IS NULL OR closed_by IN ('build', 'person', 'immune'));
ALTER TABLE tree_events ADD COLUMN closed_by TEXT CHECK (closed_by IS NULL OR closed_by IN ('build', 'person', 'immune'));
UPDATE tree_state SET closed_by = CASE WHEN state = 'open' THEN NULL WHEN automatic = 1 THEN 'build'
  WHEN actor = 'greengate-immune' THEN 'immune' ELSE 'person' END;
UPDATE tree_events SET closed_by = CASE WHEN kind = 'close' AND automatic = 1 THEN 'build'
  WHEN kind IN ('close', 'maintenance') AND actor = 'greengate-immune' THEN 'immune'
  WHEN kind IN ('close', 'maintenance') THEN 'person' END;

-- What a build is for, the one marker of special builds (011's purpose allowed only 'bisect' or NULL):
-- 'normal' (a push's or an admin's build), 'bisect' (a culprit search's probe), 'deploy' (a deploy
-- stage's run step), 'rollback' (its rollback step). Deploy steps were told apart by kind 'try', a
-- refs/deploy/ ref and a deploy:/rollback: builder name; the name keeps the stage, the purpose says what it is.
ALTER TABLE builds ADD COLUMN purpose_022 TEXT NOT NULL DEFAULT 'normal'
  CHECK (purpose_022 IN ('normal', 'bisect', 'deploy', 'rollback'));
UPDATE builds SET purpose_022 = CASE WHEN purpose = 'bisect' THEN 'bisect'
  WHEN kind = 'try' AND ref LIKE 'refs/deploy/%' AND builder LIKE 'deploy:%' THEN 'deploy'
  WHEN kind = 'try' AND ref LIKE 'refs/deploy/%' AND builder LIKE 'rollback:%' THEN 'rollback'
  ELSE 'normal' END;
ALTER TABLE builds DROP COLUMN purpose;
ALTER TABLE builds RENAME COLUMN purpose_022 TO purpose;
