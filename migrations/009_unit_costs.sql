-- What one more unit costs each builder (server/planning/costs.ts), learned from finished units.
-- A landed migration never changes: add a new file instead.
CREATE TABLE unit_costs (
  repo_id      INTEGER NOT NULL REFERENCES repositories(id),
  builder      TEXT NOT NULL,
  overhead_ms  REAL NOT NULL,
  samples      INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  PRIMARY KEY (repo_id, builder)
) WITHOUT ROWID;
