-- Issue 23 item 2: artifacts. One row per file a unit uploaded when it ended; the bytes live
-- content-addressed under DATA/artifacts/sha256/ab/cdef… (server/artifacts/blobs.ts), shared by
-- every row with the same sha256. `step` is the step that made it (the builder's name for a
-- builder without steps). Deleted with the build (cascade) and by retention with its logs.
CREATE TABLE artifacts (
  id         INTEGER PRIMARY KEY,
  build_id   INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
  unit_id    INTEGER NOT NULL REFERENCES units(id) ON DELETE CASCADE,
  step       TEXT NOT NULL,
  path       TEXT NOT NULL CHECK (length(path) BETWEEN 1 AND 1000),
  size       INTEGER NOT NULL CHECK (size >= 0),
  sha256     TEXT NOT NULL CHECK (length(sha256) = 64),
  created_at INTEGER NOT NULL,
  UNIQUE (unit_id, path)
);
CREATE INDEX artifacts_build ON artifacts (build_id, step);
CREATE INDEX artifacts_sha256 ON artifacts (sha256);
