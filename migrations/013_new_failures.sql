-- Only new failures close the tree: how many of a failed build's failures are new (a failing test
-- that was not already failing before, or a failed unit without test results). NULL: not failed,
-- or finished before this migration. A landed migration never changes.
ALTER TABLE builds ADD COLUMN new_failures INTEGER;
