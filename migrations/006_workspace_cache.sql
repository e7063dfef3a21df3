-- Workspace cache (issue 12, item 1): what a unit spent before its run command started
-- (checkout, clean, setup) and whether its slot kept its cache (1), rebuilt it (0), or
-- neither applied (NULL: no cache, or the slot was set up by an earlier unit of the build).
ALTER TABLE units ADD COLUMN setup_ms INTEGER;
ALTER TABLE units ADD COLUMN cache_hit INTEGER;
