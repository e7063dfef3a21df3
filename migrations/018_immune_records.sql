-- The immune system fails closed (issue 20): what a deploy's watch read, and what Alertmanager
-- told us, are kept here as they arrive, so a restart resumes from them (server/immune/,
-- server/deploy/orchestrator.ts). A landed migration never changes: add a new file instead.

-- One row per window a stage's watch read: the baseline before the stage ('before'), each slice
-- of the window after it ('after'), or the rest of the fleet over that slice ('rest', with
-- `compare`). readings: JSON, one per metric of the stage's watch (null: the source had no data).
CREATE TABLE watch_samples (
  deploy_id    INTEGER NOT NULL REFERENCES deploys(id) ON DELETE CASCADE,
  position     INTEGER NOT NULL,
  side         TEXT NOT NULL CHECK (side IN ('before', 'after', 'rest')),
  from_ms      INTEGER NOT NULL,               -- the window is (from_ms, to_ms]
  to_ms        INTEGER NOT NULL,
  readings     TEXT NOT NULL,
  at           INTEGER NOT NULL,               -- when it was read
  PRIMARY KEY (deploy_id, position, side, from_ms)
) WITHOUT ROWID;

-- A deploy held by its watch: a window without data (the server was down, the source had none)
-- is inconclusive; the deploy stays `watching` and is neither promoted nor rolled back until a
-- person resumes (watch again) or pauses (roll back) the branch.
ALTER TABLE deploys ADD COLUMN held_at INTEGER;
ALTER TABLE deploys ADD COLUMN hold_reason TEXT;

-- Alertmanager's alerts, one row per (fingerprint, startsAt): a message replayed, or re-sent every
-- repeat_interval, changes nothing the second time. ends_at: when it resolved (null: firing).
CREATE TABLE alerts (
  fingerprint  TEXT NOT NULL,                   -- Alertmanager's, or the sorted labels when it sent none
  starts_at    INTEGER NOT NULL,
  name         TEXT NOT NULL,
  labels       TEXT NOT NULL,                   -- JSON
  summary      TEXT,
  ends_at      INTEGER,
  received_at  INTEGER NOT NULL,
  PRIMARY KEY (fingerprint, starts_at)
) WITHOUT ROWID;
CREATE INDEX alerts_by_start ON alerts (starts_at);
