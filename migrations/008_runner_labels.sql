-- Runner labels (`greengate runner --label os=linux`), as the runner last said hello: a JSON
-- object of strings. A landed migration never changes: add a new file instead.
ALTER TABLE runners ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
