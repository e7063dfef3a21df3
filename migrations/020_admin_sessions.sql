-- Admin page sessions, stored so that they can be revoked (logout, admin-token rotation).
-- The cookie holds a random id; only its SHA-256 is stored. token_tag is SHA-256 of the id and
-- the admin token in force when it was issued: a session only counts while that token is.
CREATE TABLE admin_sessions (
  id_hash TEXT PRIMARY KEY,
  token_tag TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions (expires_at);
