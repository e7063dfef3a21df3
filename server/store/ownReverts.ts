/** greengate's own reverts (migrations/019_own_reverts.sql): recorded by sha before each push, the only proof a revert is greengate's. */
import type { DB } from './db.js';

export type OwnRevertSource = 'culprit' | 'deploy';
export interface OwnRevert { sha: string; repoId: number; branch: string; source: OwnRevertSource; sourceId: number; createdAt: number }

export class OwnRevertStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO own_reverts (sha, repo_id, branch, source, source_id, created_at)
        VALUES (@sha, @repoId, @branch, @source, @sourceId, @createdAt) ON CONFLICT (sha) DO NOTHING`),
      of: db.prepare('SELECT sha FROM own_reverts WHERE source = ? AND source_id = ? ORDER BY created_at DESC'),
      get: db.prepare(`SELECT sha, repo_id AS repoId, branch, source, source_id AS sourceId, created_at AS createdAt
        FROM own_reverts WHERE sha = ?`),
    };
  }

  record(r: OwnRevert): void { this.q.insert.run(r); }
  /** The commits greengate made for one auto-revert (culprit) or deploy, newest first (a lost race makes another). */
  of(source: OwnRevertSource, sourceId: number): string[] { return (this.q.of.all(source, sourceId) as { sha: string }[]).map((r) => r.sha); }
  get(sha: string): OwnRevert | undefined { return this.q.get.get(sha) as OwnRevert | undefined; }
}
