-- A test result that was already failing in the previous build of its branch (set by the results
-- step); the build page labels it "failing before". A landed migration never changes.
ALTER TABLE test_results ADD COLUMN failing_before INTEGER NOT NULL DEFAULT 0;
