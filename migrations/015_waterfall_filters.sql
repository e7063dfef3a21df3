-- The waterfall's filters (server/store/pages.ts) read newest first along an index, so `/?branch=`
-- and `/?author=` cost what the unfiltered page does; the badge reads a branch's newest builds.
-- A landed migration never changes: add a new file instead.
CREATE INDEX builds_by_kind_branch ON builds (kind, branch, id);
CREATE INDEX builds_by_commit ON builds (repo_id, sha, kind, branch);
CREATE INDEX commits_by_author ON commits (author COLLATE NOCASE);
CREATE INDEX commits_by_email ON commits (email COLLATE NOCASE);
