-- Issue 21: the outbox is the only way greengate tells people. A landed migration never changes.
--
-- 1. A delivery's channel is any channel plug-in's name (server/notify/channels/), no longer a
--    fixed list: notification_deliveries is rebuilt without the CHECK (SQLite cannot drop one),
--    every row kept as it was.
CREATE TABLE notification_deliveries_021 (
  id              INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
  channel         TEXT NOT NULL CHECK (length(channel) BETWEEN 1 AND 40),   -- a channel's name: webhook, email, …
  target          TEXT NOT NULL,                     -- the URL or the address (never shown in full)
  delivery_key    TEXT NOT NULL UNIQUE,              -- X-Greengate-Delivery / Message-ID: receivers dedupe a resend
  state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         INTEGER NOT NULL,
  last_error      TEXT,
  sent_at         INTEGER,
  UNIQUE (notification_id, channel, target)
);
INSERT INTO notification_deliveries_021 (id, notification_id, channel, target, delivery_key, state, attempts, next_at, last_error, sent_at)
  SELECT id, notification_id, channel, target, delivery_key, state, attempts, next_at, last_error, sent_at FROM notification_deliveries;
DROP TABLE notification_deliveries;
ALTER TABLE notification_deliveries_021 RENAME TO notification_deliveries;
CREATE INDEX deliveries_due ON notification_deliveries (next_at) WHERE state = 'pending';

-- 2. A deploy's alert (deploy.rolledBack, deploy.failed, deploy.held) is enqueued into the outbox
--    in the transaction that rolls the deploy back or holds it; deploys.alert_state goes. An
--    alert still pending at the upgrade (the server stopped between that commit and the alert)
--    is listed here; at start-up the deploy orchestrator enqueues each into the outbox and
--    deletes its row in one transaction. Nothing else writes this table.
CREATE TABLE deploy_alerts_carried (
  deploy_id INTEGER PRIMARY KEY REFERENCES deploys(id) ON DELETE CASCADE
);
INSERT INTO deploy_alerts_carried (deploy_id) SELECT id FROM deploys WHERE alert_state = 'pending';
ALTER TABLE deploys DROP COLUMN alert_state;
