-- The notifications outbox (server/notify/): one row per event told, one delivery per channel
-- and recipient. A notification is written in the transaction of the event that causes it;
-- the sender marks a delivery sent right after it succeeded. A landed migration never changes.
CREATE TABLE notifications (
  id          INTEGER PRIMARY KEY,
  repo_id     INTEGER REFERENCES repositories(id),   -- null: about the server (a runner lost)
  branch      TEXT,
  kind        TEXT NOT NULL,                         -- tree.closed, tree.reopened, build.failed, …
  event_key   TEXT NOT NULL UNIQUE,                  -- one notification per event, however often it is enqueued
  summary     TEXT NOT NULL,                         -- the first line of its text (public)
  payload     TEXT NOT NULL,                         -- JSON: what the webhook body and the mail say
  created_at  INTEGER NOT NULL
);
CREATE INDEX notifications_by_repo ON notifications (repo_id, id);

CREATE TABLE notification_deliveries (
  id              INTEGER PRIMARY KEY,
  notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
  channel         TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
  target          TEXT NOT NULL,                     -- the URL or the address (never shown in full)
  delivery_key    TEXT NOT NULL UNIQUE,              -- X-Greengate-Delivery / Message-ID: receivers dedupe a resend
  state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_at         INTEGER NOT NULL,
  last_error      TEXT,
  sent_at         INTEGER,
  UNIQUE (notification_id, channel, target)
);
CREATE INDEX deliveries_due ON notification_deliveries (next_at) WHERE state = 'pending';
