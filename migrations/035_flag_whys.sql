-- Issue 25 item 5: a Five Whys record per kill of a feature flag (the immune system's kill of a
-- guarded rollout above all), as tree_whys is for a tree closure. One row per answer (position 1..5)
-- attached to the kill's flag_events row; `author` is who wrote it (an admin's name, or what they typed).
CREATE TABLE flag_whys (
  event_id INTEGER NOT NULL REFERENCES flag_events(id),
  position INTEGER NOT NULL,
  answer TEXT NOT NULL,
  author TEXT,
  at INTEGER NOT NULL,
  PRIMARY KEY (event_id, position)
) WITHOUT ROWID;
