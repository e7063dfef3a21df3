-- Indexes for the web pages. A landed migration never changes: add 003_….sql instead.

-- The waterfall and its try section: the newest builds of one kind, newest first.
CREATE INDEX builds_by_kind ON builds (kind, id);

-- Log ranges by byte offset (the tail of a 100 MB log, "load earlier").
CREATE INDEX log_chunks_by_offset ON log_chunks (unit_id, offset);
