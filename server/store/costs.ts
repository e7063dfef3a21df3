/** Each builder's learned cost per unit: rows only (planning/costs.ts decides and learns; this keeps it). */
import type { DB } from './db.js';
import type { UnitCost } from '../planning/costs.js';

export class CostStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      get: db.prepare('SELECT overhead_ms AS overheadMs, samples FROM unit_costs WHERE repo_id = ? AND builder = ?'),
      save: db.prepare(`INSERT INTO unit_costs (repo_id, builder, overhead_ms, samples, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (repo_id, builder) DO UPDATE SET overhead_ms = excluded.overhead_ms, samples = excluded.samples,
        updated_at = excluded.updated_at`),
    };
  }
  /** The builder's learned cost, or null before its first finished unit taught one. */
  get(repoId: number, builder: string): UnitCost | null {
    return (this.q.get.get(repoId, builder) as UnitCost | undefined) ?? null;
  }
  save(repoId: number, builder: string, cost: UnitCost, at: number): void {
    this.q.save.run(repoId, builder, cost.overheadMs, cost.samples, at);
  }
}
