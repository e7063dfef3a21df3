/** Deploys, their stages and the branches' pauses (migrations/012_deploys.sql; holds: 018_immune_records.sql). */
import type { DB } from './db.js';

export type DeployState = 'pending' | 'running' | 'watching' | 'rolling_back' | 'deployed' | 'rolled_back' | 'failed' | 'superseded';
export type StageState = 'waiting' | 'running' | 'watching' | 'deployed' | 'regressed' | 'failed' | 'rolling_back' | 'rolled_back';
export const ACTIVE_STATES: readonly DeployState[] = ['running', 'watching', 'rolling_back'];

export interface DeployRow {
  id: number; repoId: number; repo: string; branch: string; sha: string; state: DeployState; stage: number;
  rollbackAt: number | null; outcome: 'rolled_back' | 'failed' | null; buildId: number | null; baseSha: string | null;
  commits: string; reason: string | null; revertState: 'none' | 'pending' | 'done' | 'failed'; revertError: string | null;
  createdAt: number; startedAt: number | null; finishedAt: number | null;
  /** Held by an inconclusive watch (its stage `stage`): neither promoted nor rolled back until a person decides. */
  heldAt: number | null; holdReason: string | null;
}
export interface StageRow {
  deployId: number; position: number; name: string; state: StageState; runBuildId: number | null; rollbackBuildId: number | null;
  watchStartedAt: number | null; watchEndsAt: number | null; verdict: string | null; startedAt: number | null; finishedAt: number | null;
}
export interface PauseRow { repoId: number; branch: string; actor: string | null; reason: string | null; at: number }

const COLUMNS = `d.id, d.repo_id AS repoId, r.name AS repo, d.branch, d.sha, d.state, d.stage, d.rollback_at AS rollbackAt, d.outcome,
  d.build_id AS buildId, d.base_sha AS baseSha, d.commits, d.reason, d.revert_state AS revertState, d.revert_error AS revertError,
  d.created_at AS createdAt, d.started_at AS startedAt, d.finished_at AS finishedAt,
  d.held_at AS heldAt, d.hold_reason AS holdReason`;
const FROM = 'FROM deploys d JOIN repositories r ON r.id = d.repo_id';
const STAGE_COLUMNS = `deploy_id AS deployId, position, name, state, run_build_id AS runBuildId, rollback_build_id AS rollbackBuildId,
  watch_started_at AS watchStartedAt, watch_ends_at AS watchEndsAt, verdict, started_at AS startedAt, finished_at AS finishedAt`;

export class DeployStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO deploys (repo_id, branch, sha, state, build_id, created_at) VALUES (?, ?, ?, 'pending', ?, ?)`),
      insertStage: db.prepare(`INSERT INTO deploy_stages (deploy_id, position, name, state) VALUES (?, ?, ?, 'waiting')`),
      get: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.id = ?`),
      pendingFor: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.repo_id = ? AND d.branch = ? AND d.sha = ? AND d.state = 'pending'`),
      active: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.state IN ('pending', 'running', 'watching', 'rolling_back') ORDER BY d.id`),
      lastDeployed: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.repo_id = ? AND d.branch = ? AND d.state = 'deployed' ORDER BY d.id DESC LIMIT 1`),
      newest: db.prepare(`SELECT ${COLUMNS} ${FROM} ORDER BY d.id DESC LIMIT ?`),
      older: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.id < ? ORDER BY d.id DESC LIMIT ?`),
      ofRepo: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE d.repo_id = ? AND d.id < ? ORDER BY d.id DESC LIMIT ?`),
      start: db.prepare(`UPDATE deploys SET state = 'running', stage = 0, base_sha = ?, commits = ?, started_at = ? WHERE id = ? AND state = 'pending'`),
      setState: db.prepare('UPDATE deploys SET state = ?, stage = ?, reason = coalesce(?, reason) WHERE id = ?'),
      rollback: db.prepare(`UPDATE deploys SET state = 'rolling_back', rollback_at = ?, outcome = ?, reason = ?,
        revert_state = ? WHERE id = ?`),
      rollbackAt: db.prepare('UPDATE deploys SET rollback_at = ? WHERE id = ?'),
      finish: db.prepare(`UPDATE deploys SET state = ?, reason = coalesce(?, reason), finished_at = ? WHERE id = ?
        AND state IN ('pending', 'running', 'watching', 'rolling_back')`),
      revert: db.prepare('UPDATE deploys SET revert_state = ?, revert_error = ? WHERE id = ?'),
      carried: db.prepare('SELECT deploy_id AS id FROM deploy_alerts_carried ORDER BY deploy_id'),
      dropCarried: db.prepare('DELETE FROM deploy_alerts_carried WHERE deploy_id = ?'),
      hold: db.prepare(`UPDATE deploys SET held_at = ?, hold_reason = ? WHERE id = ? AND state = 'watching'`),
      release: db.prepare(`UPDATE deploys SET held_at = NULL, hold_reason = NULL WHERE id = ? AND held_at IS NOT NULL`),
      stages: db.prepare(`SELECT ${STAGE_COLUMNS} FROM deploy_stages WHERE deploy_id = ? ORDER BY position`),
      stageByBuild: db.prepare(`SELECT ${STAGE_COLUMNS} FROM deploy_stages WHERE run_build_id = ? OR rollback_build_id = ?`),
      stageRun: db.prepare(`UPDATE deploy_stages SET state = 'running', run_build_id = ?, started_at = ? WHERE deploy_id = ? AND position = ?`),
      stageWatch: db.prepare(`UPDATE deploy_stages SET state = 'watching', watch_started_at = ?, watch_ends_at = ? WHERE deploy_id = ? AND position = ?`),
      stageEnd: db.prepare(`UPDATE deploy_stages SET state = ?, verdict = coalesce(?, verdict), finished_at = ? WHERE deploy_id = ? AND position = ?`),
      stageVerdict: db.prepare('UPDATE deploy_stages SET verdict = ? WHERE deploy_id = ? AND position = ?'),
      stageRollback: db.prepare(`UPDATE deploy_stages SET state = 'rolling_back', rollback_build_id = ? WHERE deploy_id = ? AND position = ?`),
      pause: db.prepare(`INSERT INTO deploy_pauses (repo_id, branch, actor, reason, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (repo_id, branch) DO UPDATE SET actor = excluded.actor, reason = excluded.reason, at = excluded.at`),
      resume: db.prepare('DELETE FROM deploy_pauses WHERE repo_id = ? AND branch = ?'),
      pauseOf: db.prepare('SELECT repo_id AS repoId, branch, actor, reason, at FROM deploy_pauses WHERE repo_id = ? AND branch = ?'),
    };
  }

  /** A green head asks for a deploy (once per sha while pending); returns its id. */
  request(repoId: number, branch: string, sha: string, buildId: number, stageNames: readonly string[], at: number): number {
    const pending = this.q.pendingFor.get(repoId, branch, sha) as DeployRow | undefined;
    if (pending) return pending.id;
    const id = Number(this.q.insert.run(repoId, branch, sha, buildId, at).lastInsertRowid);
    stageNames.forEach((name, i) => this.q.insertStage.run(id, i, name));
    return id;
  }
  get(id: number): DeployRow | undefined { return this.q.get.get(id) as DeployRow | undefined; }
  /** Deploys not ended, oldest first. */
  active(): DeployRow[] { return this.q.active.all() as DeployRow[]; }
  lastDeployed(repoId: number, branch: string): DeployRow | undefined { return this.q.lastDeployed.get(repoId, branch) as DeployRow | undefined; }
  /** Newest first, with cursor paging on id. */
  list(limit: number, beforeId?: number, repoId?: number): DeployRow[] {
    if (repoId !== undefined) return this.q.ofRepo.all(repoId, beforeId ?? Number.MAX_SAFE_INTEGER, limit) as DeployRow[];
    return (beforeId === undefined ? this.q.newest.all(limit) : this.q.older.all(beforeId, limit)) as DeployRow[];
  }
  start(id: number, baseSha: string | null, commits: readonly string[], at: number): boolean {
    return this.q.start.run(baseSha, JSON.stringify(commits), at, id).changes > 0;
  }
  setState(id: number, state: DeployState, stage: number, reason: string | null = null): void { this.q.setState.run(state, stage, reason, id); }
  beginRollback(id: number, from: number, outcome: 'rolled_back' | 'failed', reason: string, revert: boolean): void {
    this.q.rollback.run(from, outcome, reason, revert ? 'pending' : 'none', id);
  }
  setRollbackAt(id: number, position: number): void { this.q.rollbackAt.run(position, id); }
  finish(id: number, state: DeployState, reason: string | null, at: number): boolean { return this.q.finish.run(state, reason, at, id).changes > 0; }
  setRevert(id: number, state: 'done' | 'failed', error: string | null): void { this.q.revert.run(state, error, id); }
  /** Deploys whose alert was pending when migration 021 dropped alert_state: the orchestrator enqueues each once. */
  carriedAlerts(): number[] { return (this.q.carried.all() as { id: number }[]).map((r) => r.id); }
  dropCarriedAlert(id: number): void { this.q.dropCarried.run(id); }
  /** An inconclusive watch holds the deploy (it stays `watching`, its watch stopped); the caller enqueues its deploy.held alert. */
  hold(id: number, reason: string, at: number): boolean { return this.q.hold.run(at, reason, id).changes > 0; }
  /** Ends a hold (the deploy is watched again, or rolled back); false when it was not held. */
  release(id: number): boolean { return this.q.release.run(id).changes > 0; }

  stages(deployId: number): StageRow[] { return this.q.stages.all(deployId) as StageRow[]; }
  stageOfBuild(buildId: number): StageRow | undefined { return this.q.stageByBuild.get(buildId, buildId) as StageRow | undefined; }
  stageRunning(deployId: number, position: number, buildId: number, at: number): void { this.q.stageRun.run(buildId, at, deployId, position); }
  stageWatching(deployId: number, position: number, at: number, endsAt: number): void { this.q.stageWatch.run(at, endsAt, deployId, position); }
  stageEnded(deployId: number, position: number, state: StageState, verdict: unknown, at: number): void {
    this.q.stageEnd.run(state, verdict === null || verdict === undefined ? null : JSON.stringify(verdict), at, deployId, position);
  }
  /** The stage's verdict so far (a held stage keeps its state). */
  stageVerdict(deployId: number, position: number, verdict: unknown): void { this.q.stageVerdict.run(JSON.stringify(verdict), deployId, position); }
  stageRollingBack(deployId: number, position: number, buildId: number): void { this.q.stageRollback.run(buildId, deployId, position); }

  pause(repoId: number, branch: string, actor: string | null, reason: string | null, at: number): void {
    this.q.pause.run(repoId, branch, actor, reason, at);
  }
  resume(repoId: number, branch: string): boolean { return this.q.resume.run(repoId, branch).changes > 0; }
  pauseOf(repoId: number, branch: string): PauseRow | undefined { return this.q.pauseOf.get(repoId, branch) as PauseRow | undefined; }
}
