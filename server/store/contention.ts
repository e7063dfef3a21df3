/** Each builder's learned contention factors: rows only (planning/contention.ts decides and learns; this keeps them). */
import type { DB } from './db.js';
import type { Contention, LearnedFactor, Span } from '../planning/contention.js';

export class ContentionStore {
  private readonly q;
  /** `forget`: a write of a unit's row (its cached copy, rowCache.ts, is dropped). */
  constructor(db: DB, private readonly forget: (unitId: number) => void = () => {}) {
    this.q = {
      get: db.prepare('SELECT concurrency, factor, samples FROM unit_contention WHERE repo_id = ? AND builder = ? ORDER BY concurrency'),
      save: db.prepare(`INSERT INTO unit_contention (repo_id, builder, concurrency, factor, samples, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (repo_id, builder, concurrency) DO UPDATE SET factor = excluded.factor, samples = excluded.samples,
        updated_at = excluded.updated_at`),
      // The units that shared the runner with [start, end]: ended after it started (index units_by_runner_end), or still running.
      overlapping: db.prepare(`SELECT started_at AS start, finished_at AS "end" FROM units
          WHERE runner_id = @runnerId AND finished_at > @start AND started_at < @end AND id != @id
        UNION ALL
        SELECT started_at AS start, NULL AS "end" FROM units
          WHERE runner_id = @runnerId AND state = 'running' AND started_at < @end AND id != @id`),
      setConcurrency: db.prepare('UPDATE units SET concurrency = ? WHERE id = ?'),
    };
  }
  /** The builder's learned factors by concurrency (empty before any). */
  get(repoId: number, builder: string): Contention {
    const rows = this.q.get.all(repoId, builder) as ({ concurrency: number } & LearnedFactor)[];
    return new Map(rows.map((r) => [r.concurrency, { factor: r.factor, samples: r.samples }]));
  }
  /** Keeps the builder's factor at concurrency k. */
  save(repoId: number, builder: string, k: number, learned: LearnedFactor, at: number): void {
    this.q.save.run(repoId, builder, k, learned.factor, learned.samples, at);
  }
  /** The runs of the other units on a runner that overlapped [start, end]. */
  overlapping(runnerId: number, unitId: number, start: number, end: number): Span[] {
    return this.q.overlapping.all({ runnerId, id: unitId, start, end }) as Span[];
  }
  /** Keeps a finished unit's mean concurrency (units.concurrency, shown with the build). */
  setConcurrency(unitId: number, mean: number): void {
    this.forget(unitId);
    this.q.setConcurrency.run(mean, unitId);
  }
}
