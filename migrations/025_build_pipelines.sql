-- Issue 23 item 3: builders read from a repository's pipeline file at the build's commit.
-- builder_spec: the build's builder as its commit's pipeline file gave it (JSON of a BuilderConfig,
-- secrets only as the sources greengate.yml grants, never their values); NULL when the builder is
-- greengate.yml's own (read from the config as before). Dispatch, culprit searches and a restart
-- use it, so a build always runs the builder of ITS commit.
-- error: why a build could not run at all (its pipeline file is missing or invalid at the commit,
-- `FILE:LINE:COL: …`); NULL otherwise. Such a build ends with result 'exception' and no units.
ALTER TABLE builds ADD COLUMN builder_spec TEXT;
ALTER TABLE builds ADD COLUMN error TEXT;
