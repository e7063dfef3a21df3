-- Issue 25: retention of A/B test events (flags.eventRetentionDays in greengate.yml; flags/eventRetention.ts).
-- Old exposures and conversions are found by day, a repository at a time, and deleted in small batches:
-- without these indexes each batch would scan the whole table.
CREATE INDEX flag_exposures_by_day ON flag_exposures (repo_id, day);
CREATE INDEX flag_conversions_by_day ON flag_conversions (repo_id, day);
