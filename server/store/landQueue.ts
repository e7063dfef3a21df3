/**
 * The land queue's changes (migrations/031, 034): one row per change pushed to refs/for/<branch>, in
 * queue order: the jumping ones (a revert or fix of the red build, `jump`) first, then by id. Only server/queue/* writes them. A change is active while queued or testing;
 * `land` moves it to landed only from an active state, so a change is never recorded landed twice.
 */
import type { DB } from './db.js';

export type QueueState = 'queued' | 'testing' | 'landed' | 'ejected' | 'conflict' | 'removed';
export const ACTIVE_STATES: readonly QueueState[] = ['queued', 'testing'];
export interface QueueChangeRow {
  id: number; repo: string; branch: string; commitSha: string; baseSha: string; pusher: string | null; state: QueueState;
  reason: string | null; jump: QueueJump | null; jumpReason: string | null; jumpBuild: number | null; candidateSha: string | null; candidateRef: string | null; candidateBase: string | null; candidateBuildId: number | null; landedSha: string | null; queuedAt: number; updatedAt: number;
}
/** Why a change jumps the queue (migrations/034): a proven revert of the red build's blamelist, or a Fixes-build claim. */
export type QueueJump = 'revert' | 'fix';
export interface NewQueueChange {
  repoId: number; branch: string; commitSha: string; baseSha: string; pusher: string | null; at: number;
  jump?: { kind: QueueJump; reason: string; build: number | null } | null;
}

const COLUMNS = `c.id, r.name AS repo, c.branch, c.commit_sha AS commitSha, c.base_sha AS baseSha, c.pusher, c.state, c.reason, c.jump, c.jump_reason AS jumpReason, c.jump_build AS jumpBuild,
  c.candidate_sha AS candidateSha, c.candidate_ref AS candidateRef, c.candidate_base AS candidateBase, c.candidate_build_id AS candidateBuildId, c.landed_sha AS landedSha, c.queued_at AS queuedAt, c.updated_at AS updatedAt`;
const FROM = 'FROM queue_changes c JOIN repositories r ON r.id = c.repo_id';

export class LandQueueStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      add: db.prepare(`INSERT INTO queue_changes (repo_id, branch, commit_sha, base_sha, pusher, state, jump, jump_reason, jump_build, queued_at, updated_at)
        VALUES (@repoId, @branch, @commitSha, @baseSha, @pusher, 'queued', @jump, @jumpReason, @jumpBuild, @at, @at)`),
      byId: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE c.id = ?`),
      active: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE r.name = ? AND c.branch = ? AND c.state IN ('queued', 'testing') ORDER BY (c.jump IS NULL), c.id`),
      recent: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE r.name = ? AND c.branch = ? ORDER BY c.id DESC LIMIT ?`),
      branches: db.prepare(`SELECT DISTINCT r.name AS repo, c.branch ${FROM} WHERE c.state IN ('queued', 'testing')`),
      byBuild: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE c.candidate_build_id = ? AND c.state = 'testing'`),
      test: db.prepare(`UPDATE queue_changes SET state = 'testing', candidate_sha = ?, candidate_ref = ?, candidate_base = ?, candidate_build_id = ?, reason = NULL, updated_at = ?
        WHERE id = ? AND state IN ('queued', 'testing')`),
      requeue: db.prepare(`UPDATE queue_changes SET state = 'queued', candidate_sha = NULL, candidate_ref = NULL, candidate_base = NULL, candidate_build_id = NULL, updated_at = ?
        WHERE id = ? AND state IN ('queued', 'testing')`),
      setBuild: db.prepare(`UPDATE queue_changes SET candidate_build_id = ? WHERE id = ? AND state = 'testing'`),
      land: db.prepare(`UPDATE queue_changes SET state = 'landed', landed_sha = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'testing')`),
      builds: db.prepare(`SELECT id, state, result FROM builds WHERE repo_id = (SELECT id FROM repositories WHERE name = ?) AND ref = ? AND sha = ?
        AND purpose = 'normal' ORDER BY id`),
      // One row per candidate (ref, sha) among the repository's newest finished queue builds: first created to last finished.
      candidateMs: db.prepare(`SELECT MAX(finished_at) - MIN(created_at) AS ms FROM (
          SELECT id, ref, sha, created_at, finished_at FROM builds WHERE kind = 'try' AND repo_id = (SELECT id FROM repositories WHERE name = ?)
            AND ref >= 'refs/try/queue/' AND ref < 'refs/try/queue0' AND state = 'done' AND result IN ('passed', 'flaky', 'failed') AND finished_at IS NOT NULL
          ORDER BY id DESC LIMIT ?)
        GROUP BY ref, sha ORDER BY MAX(id) DESC LIMIT ?`),
      waiting: db.prepare(`SELECT COUNT(*) AS n FROM builds WHERE state = 'queued' AND kind = 'try' AND repo_id = (SELECT id FROM repositories WHERE name = ?)
        AND ref >= 'refs/try/queue/' AND ref < 'refs/try/queue0' AND created_at <= ?`),
      end: db.prepare(`UPDATE queue_changes SET state = ?, reason = ?, updated_at = ? WHERE id = ? AND state IN ('queued', 'testing')`),
    };
  }

  add(c: NewQueueChange): number {
    const { jump, ...row } = c;
    return Number(this.q.add.run({ ...row, jump: jump?.kind ?? null, jumpReason: jump?.reason ?? null, jumpBuild: jump?.build ?? null }).lastInsertRowid);
  }
  byId(id: number): QueueChangeRow | undefined {
    return this.q.byId.get(id) as QueueChangeRow | undefined;
  }
  /** The branch's queue: queued and testing changes, first in line first (jumping changes ahead of the rest). */
  active(repo: string, branch: string): QueueChangeRow[] {
    return this.q.active.all(repo, branch) as QueueChangeRow[];
  }
  /** The branch's newest changes in any state, newest first. */
  recent(repo: string, branch: string, limit = 100): QueueChangeRow[] {
    return this.q.recent.all(repo, branch, limit) as QueueChangeRow[];
  }
  /** Every branch with an active change. */
  branchesWithWork(): { repo: string; branch: string }[] {
    return this.q.branches.all() as { repo: string; branch: string }[];
  }
  /** The testing change whose candidate is this build, if any. */
  byBuild(buildId: number): QueueChangeRow | undefined {
    return this.q.byBuild.get(buildId) as QueueChangeRow | undefined;
  }
  /** Its candidate commit on top of `base`, the ref it is built on, and its first build (null: not created yet). False when no longer active. */
  testing(id: number, c: { sha: string; ref: string; base: string; buildId: number | null }, at: number): boolean {
    return this.q.test.run(c.sha, c.ref, c.base, c.buildId, at, id).changes === 1;
  }
  /** The first build of its candidate, once created. */
  setCandidateBuild(id: number, buildId: number): void {
    this.q.setBuild.run(buildId, id);
  }
  /** Back to queued, its candidate dropped (one ahead of it was ejected). */
  requeue(id: number, at: number): boolean {
    return this.q.requeue.run(at, id).changes === 1;
  }
  /** Landed at `sha`; false when it was not active (never landed twice). */
  land(id: number, sha: string, at: number): boolean {
    return this.q.land.run(sha, at, id).changes === 1;
  }
  /** The builds of a candidate commit on its ref (every builder's), oldest first. */
  candidateBuilds(repo: string, ref: string, sha: string): { id: number; state: string; result: string | null }[] {
    return this.q.builds.all(repo, ref, sha) as { id: number; state: string; result: string | null }[];
  }
  /** How long the repository's newest `limit` finished candidates took (ms, newest first; cancelled ones left out). */
  candidateBuildMs(repo: string, limit: number): number[] {
    return (this.q.candidateMs.all(repo, limit * 10, limit) as { ms: number }[]).map((r) => r.ms);
  }
  /** How many of the repository's candidate builds made at or before `before` still wait for a runner (state queued). */
  candidatesWaiting(repo: string, before: number): number {
    return (this.q.waiting.get(repo, before) as { n: number }).n;
  }
  /** Ejected, conflict or removed, with why; false when it was not active. */
  end(id: number, state: 'ejected' | 'conflict' | 'removed', reason: string, at: number): boolean {
    return this.q.end.run(state, reason, at, id).changes === 1;
  }
}
