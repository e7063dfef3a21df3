/**
 * Passes through a closed tree land in the tree's history only when they land in git.
 *
 * Lifecycle: the gate's verdict (POST /api/gate/:repo) lets a revert, a fix or a bypass through
 * a tree that is not open → `recordPending` stores each pass as *pending*, tied to the ref and
 * the commit the push moves it to, and one id for the gate request. git then runs the other
 * pre-receive checks and updates the ref — or refuses the push (another hook said no, the hook
 * timed out, the client went away). RefChanges (changes/refs.ts) reports every ref head it records (hook notice
 * checked against git, ref watcher, start-up scan) → `refSeen`: the pending passes of the newest
 * gate request for exactly that ref and commit become tree events (Tree.recordPasses); older
 * attempts for the same commit are dropped. A push git refused never moves the ref there, so its
 * passes stay pending and are dropped after PENDING_TTL_MS: nothing of it reaches the history.
 *
 * Who: the pusher the hook reports (the git server's authenticated user), except for greengate's
 * own reverts, known by the sha it recorded before pushing (store/ownReverts.ts): their actor is
 * greengate whatever user the hook ran as. A fix pass is the pusher's claim (rules.ts CLAIM_NOTE).
 *
 * Synchronous (SQLite); errors in refSeen are logged, never thrown into RefChanges. A pass whose
 * landing could not be written (a full disk) stays pending until the ref is seen again or expires.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { Tree } from './tree.js';
import type { GateRequest } from './request.js';
import type { GateVerdict, GatePass } from './rules.js';
import { REVERT_AUTHOR } from '../gitRevert.js';

export const PENDING_TTL_MS = 60 * 60 * 1000; // 1 hour: a pass not seen in git by then never landed

export class GatePasses {
  constructor(
    private readonly store: Store,
    private readonly tree: Tree,
    private readonly log: Logger,
  ) {}

  /** Stores the passes of an accepting verdict as pending; returns how many. */
  recordPending(repoName: string, request: GateRequest, verdict: GateVerdict): number {
    const repo = this.store.repos.byName(repoName);
    if (!repo || !verdict.accept || verdict.passes.length === 0) return 0;
    const pushId = randomUUID();
    const now = Date.now();
    const rows = verdict.passes.map((p) => {
      const update = request.updates.find((u) => u.ref === p.ref)!;
      const ours = p.kind === 'revert' && p.commits.every((sha) => this.store.ownReverts.get(sha)?.repoId === repo.id);
      return { repoId: repo.id, pushId, ref: p.ref, branch: p.branch, newSha: update.new, kind: p.kind, commits: p.commits,
        reason: p.reason, actor: ours ? REVERT_AUTHOR.name : request.pusher, createdAt: now };
    });
    this.store.gatePasses.add(rows);
    this.log.info({ repo: repoName, push: pushId, passes: rows.map((r) => ({ ref: r.ref, kind: r.kind, sha: r.newSha })) },
      'pass through a closed tree pending until the ref lands');
    return rows.length;
  }

  /** The ref is in git at `sha`: the passes that pushed it there join the tree's history. */
  refSeen(repoName: string, ref: string, sha: string): void {
    try {
      const repo = this.store.repos.byName(repoName);
      if (!repo || !ref.startsWith('refs/heads/')) return;
      const now = Date.now();
      this.store.tx(() => {
        const landed = this.store.gatePasses.land(repo.id, ref, sha, now - PENDING_TTL_MS, now);
        if (landed.length === 0) return;
        const passes: GatePass[] = landed.map((r) => ({ ref: r.ref, branch: r.branch, kind: r.kind, commits: JSON.parse(r.commits), reason: r.reason }));
        this.tree.recordPasses(repoName, passes, landed[0].actor);
      });
    } catch (err) {
      this.log.error({ err, repo: repoName, ref, sha }, 'could not record the passes of a landed push');
    }
  }
}
