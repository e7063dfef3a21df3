/**
 * Which queued changes jump the land queue (issue 26 item 5): a change queued while its branch's
 * tree is closed goes to the front when the gate would let it through that closed tree — every new
 * commit (the branch head..the change, listed by git) an exact revert of the red build's blamelist
 * or of the commits the closure names, proven by git from the trees (exactRevert.ts, never from a
 * message: a look-alike "This reverts commit …" does not jump), or marked "Fixes-build: <red build
 * id>" (kind 'fix': the pusher's claim, recorded and shown as one, exactly as the gate records it).
 * The decision is the gate's own (gate/rules.ts decideGate without push options, so no bypass ever
 * jumps). An open tree, maintenance, or anything that cannot be checked in time: no jump.
 */
import type { BranchGate } from '../gate/rules.js';
import { decideGate, revertTargets } from '../gate/rules.js';
import { MAX_COMMITS_PER_REF, type GateUpdate } from '../gate/request.js';
import { proveReverts } from '../exactRevert.js';
import type { QueueJump } from '../store/landQueue.js';
import { gitRun } from './candidate.js';

export interface Jump { kind: QueueJump; reason: string; build: number | null }

/** The jump of a change `commit` queued on `branch` whose head is `base`, or null when it waits its turn. */
export async function jumpOf(repoPath: string, lookup: (branch: string) => BranchGate, branch: string, base: string, commit: string): Promise<Jump | null> {
  const gate = lookup(branch);
  if (!gate.gated || gate.state !== 'closed') return null;
  const listed = (await gitRun(repoPath, ['log', `--max-count=${MAX_COMMITS_PER_REF + 1}`, '--format=%x01%H%x00%B', commit, `^${base}`]).catch(() => ({ out: '' }))).out;
  const commits = listed.split('\x01').filter(Boolean).map((rec) => {
    const [sha, message = ''] = rec.split('\0');
    return { sha: sha.trim(), message };
  });
  const update: GateUpdate = { old: base, new: commit, ref: `refs/heads/${branch}`,
    commits: commits.slice(0, MAX_COMMITS_PER_REF), truncated: commits.length > MAX_COMMITS_PER_REF };
  const allowed = revertTargets(update, lookup);
  const proven = allowed.length ? await proveReverts({ bare: repoPath }, update.commits, allowed) : new Map<string, string[]>();
  const verdict = decideGate({ pusher: null, options: [], updates: [update] }, lookup, proven);
  if (!verdict.accept || verdict.passes.length === 0 || verdict.passes.some((p) => p.kind === 'bypass')) return null;
  const kind: QueueJump = verdict.passes.some((p) => p.kind === 'fix') ? 'fix' : 'revert';
  return { kind, reason: verdict.passes.map((p) => p.reason).join('; '), build: gate.build?.id ?? null };
}
