/** Passes the gate granted through a closed tree, pending until their ref is seen at the pushed commit. */
import type { DB } from './db.js';

export type GatePassState = 'pending' | 'landed' | 'dropped';
export interface GatePassRow {
  id: number; repoId: number; pushId: string; ref: string; branch: string; newSha: string; kind: 'revert' | 'fix' | 'bypass';
  commits: string; reason: string; actor: string | null; state: GatePassState; createdAt: number; settledAt: number | null;
}
export type NewGatePass = Omit<GatePassRow, 'id' | 'state' | 'settledAt' | 'commits'> & { commits: readonly string[] };

const COLUMNS = `id, repo_id AS repoId, push_id AS pushId, ref, branch, new_sha AS newSha, kind, commits, reason, actor, state,
  created_at AS createdAt, settled_at AS settledAt`;

export class GatePassStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO gate_passes (repo_id, push_id, ref, branch, new_sha, kind, commits, reason, actor, state, created_at)
        VALUES (@repoId, @pushId, @ref, @branch, @newSha, @kind, @commits, @reason, @actor, 'pending', @createdAt)`),
      pendingFor: db.prepare(`SELECT ${COLUMNS} FROM gate_passes WHERE repo_id = ? AND ref = ? AND new_sha = ? AND state = 'pending'
        AND created_at >= ? ORDER BY id`),
      settle: db.prepare(`UPDATE gate_passes SET state = ?, settled_at = ? WHERE id = ? AND state = 'pending'`),
      expire: db.prepare(`UPDATE gate_passes SET state = 'dropped', settled_at = ? WHERE repo_id = ? AND state = 'pending' AND created_at < ?`),
      list: db.prepare(`SELECT ${COLUMNS} FROM gate_passes WHERE repo_id = @repoId AND (@state IS NULL OR state = @state)
        AND (@before IS NULL OR id < @before) ORDER BY id DESC LIMIT @limit`),
    };
  }

  add(passes: readonly NewGatePass[]): void {
    this.db.transaction(() => {
      for (const p of passes) this.q.insert.run({ ...p, commits: JSON.stringify(p.commits) });
    })();
  }

  /**
   * The passes that land now that `ref` is seen at `sha`: those of the newest gate request for
   * that commit (made since `notBefore`), marked landed; other pending passes for the same commit
   * (an earlier attempt of the same push) are dropped, and so is anything older than `notBefore`.
   */
  land(repoId: number, ref: string, sha: string, notBefore: number, at: number): GatePassRow[] {
    return this.db.transaction(() => {
      this.q.expire.run(at, repoId, notBefore);
      const rows = this.q.pendingFor.all(repoId, ref, sha, notBefore) as GatePassRow[];
      if (rows.length === 0) return [];
      const newest = rows[rows.length - 1].pushId;
      const landed: GatePassRow[] = [];
      for (const row of rows) {
        const state = row.pushId === newest ? 'landed' : 'dropped';
        this.q.settle.run(state, at, row.id);
        if (state === 'landed') landed.push({ ...row, state, settledAt: at });
      }
      return landed;
    })();
  }

  list(q: { repoId: number; state?: GatePassState; before?: number; limit: number }): GatePassRow[] {
    return this.q.list.all({ repoId: q.repoId, state: q.state ?? null, before: q.before ?? null, limit: q.limit }) as GatePassRow[];
  }
}
