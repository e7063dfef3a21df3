/**
 * Landing a queued change: the branch is fast-forwarded to exactly the tested candidate with a
 * compare-and-swap `git update-ref refs/heads/<branch> <candidate> <head>` (git refuses when the
 * head moved meanwhile), then the change is marked landed (store/landQueue.ts `land`, only from an
 * active state) and the new head is recorded as a push through the change intake (`recordPush`:
 * changes/refs.ts notice), so the branch's normal build runs and its blamelist names the change.
 *
 * Never twice: a server killed between the update-ref and the row finds, on its next pass, the
 * candidate already on the branch (an ancestor of the head, or the head) and only marks the row
 * (`alreadyLanded`); it never moves the branch again for that change.
 */
import type { Store } from '../store/index.js';
import type { QueueChangeRow } from '../store/landQueue.js';
import { gitRun, isAncestor } from './candidate.js';

export interface LandingDeps {
  store: Pick<Store, 'landQueue'>;
  now(): number;
  /** The new head recorded as a push of the branch by the change's pusher (changes/refs.ts notice). */
  recordPush(repo: string, update: { old: string; new: string; ref: string }, pusher: string | null): Promise<unknown>;
}

/** A test's fault injection (GG_FAULT=crash-after-land-update-ref): SIGKILL right after the branch moved, before the row says so. */
const FAULT = process.env.GG_FAULT ?? '';

export type LandOutcome = 'landed' | 'moved';

/** The branch's head now. */
export async function headOf(repoPath: string, branch: string): Promise<string> {
  return (await gitRun(repoPath, ['rev-parse', '--verify', `refs/heads/${branch}^{commit}`])).out.trim();
}

/** True when a change's candidate is already on the branch (landed before a restart). */
export async function alreadyLanded(repoPath: string, change: QueueChangeRow, head: string): Promise<boolean> {
  return change.candidateSha !== null && (change.candidateSha === head || await isAncestor(repoPath, change.candidateSha, head));
}

/**
 * Fast-forwards the branch from `head` to the change's candidate: 'landed', or 'moved' when the head is no longer `head`.
 * `ahead`: the changes of its batch ahead of it (queue/batch.ts), whose candidates its own holds: they land with it, each marked at its own candidate.
 */
export async function land(deps: LandingDeps, repoPath: string, change: QueueChangeRow, head: string, ahead: readonly QueueChangeRow[] = []): Promise<LandOutcome> {
  const sha = change.candidateSha!;
  const ref = `refs/heads/${change.branch}`;
  if ((ahead[0] ?? change).candidateBase !== head) return 'moved'; // only a candidate made on this very head is a fast-forward of it
  const r = await gitRun(repoPath, ['update-ref', '-m', `greengate land queue: change ${change.id}`, ref, sha, head], [0, 1, 128]);
  if (r.code !== 0) return 'moved';
  if (FAULT === 'crash-after-land-update-ref') process.kill(process.pid, 'SIGKILL');
  for (const a of ahead) markLanded(deps, a, a.candidateSha!); // a crash in between: the next pass finds them on the branch
  markLanded(deps, change, sha);
  await deps.recordPush(change.repo, { old: head, new: sha, ref }, change.pusher);
  return 'landed';
}

/** The row moves to landed (once: only from an active state). */
export function markLanded(deps: Pick<LandingDeps, 'store' | 'now'>, change: QueueChangeRow, sha: string): boolean {
  return deps.store.landQueue.land(change.id, sha, deps.now());
}
