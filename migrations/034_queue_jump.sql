-- Issue 26 item 5: reverts and fixes of the red build jump the land queue (server/queue/entry.ts).
--
-- `jump` is set when the change was queued while its branch's tree was closed and the gate would
-- have let it through that closed tree: 'revert' when git proved every new commit an exact revert
-- of the red build's blamelist (exactRevert.ts), 'fix' when (some of) its commits carry the
-- "Fixes-build: <red build id>" line (the pusher's claim, not checked). `jump_reason` says which,
-- as the gate does; `jump_build` is the red build it was judged against. A jumping change goes to the
-- front of the queue (ahead of every change without one) and may land while the tree is closed.
ALTER TABLE queue_changes ADD COLUMN jump TEXT CHECK (jump IS NULL OR jump IN ('revert', 'fix'));
ALTER TABLE queue_changes ADD COLUMN jump_reason TEXT;
ALTER TABLE queue_changes ADD COLUMN jump_build INTEGER;
