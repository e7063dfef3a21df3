/**
 * A/B test events (migrations/032): phases of a flag, exposures and conversions, each deduplicated
 * per user per day (INSERT OR IGNORE on the primary key), and the per-variant counts the experiment
 * page reads. Users are hashes of targeting keys (flags/experiments.ts makes them). Old events are
 * deleted in bounded batches (`pruneBefore`, migrations/037's indexes by day; flags/eventRetention.ts).
 */
import type { DB } from './db.js';

export interface PhaseRow { phase: string; weights: string | null; startedAt: number }
export interface ExposureRow { key: string; phase: string; user: string; day: number; variant: string }
export interface ConversionRow { key: string; phase: string; metric: string; user: string; day: number; value: number }
export interface VariantCount { variant: string; users: number }
export interface MetricCount { metric: string; variant: string; users: number; value: number }

export class ExperimentStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      phase: db.prepare('INSERT OR IGNORE INTO flag_phases (repo_id, key, phase, weights, started_at) VALUES (?, ?, ?, ?, ?)'),
      phases: db.prepare('SELECT phase, weights, started_at AS startedAt FROM flag_phases WHERE repo_id = ? AND key = ? ORDER BY started_at DESC, phase LIMIT 100'),
      exposure: db.prepare('INSERT OR IGNORE INTO flag_exposures (repo_id, key, phase, user, day, variant) VALUES (?, ?, ?, ?, ?, ?)'),
      conversion: db.prepare('INSERT OR IGNORE INTO flag_conversions (repo_id, key, phase, metric, user, day, value) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      exposed: db.prepare(`SELECT variant, COUNT(*) AS users FROM (SELECT user, MIN(variant) AS variant FROM flag_exposures
        WHERE repo_id = ? AND key = ? AND phase = ? GROUP BY user) GROUP BY variant ORDER BY variant`),
      converted: db.prepare(`SELECT c.metric, e.variant, COUNT(DISTINCT c.user) AS users, SUM(c.value) AS value FROM flag_conversions c
        JOIN (SELECT user, MIN(variant) AS variant FROM flag_exposures WHERE repo_id = @repoId AND key = @key AND phase = @phase GROUP BY user) e ON e.user = c.user
        WHERE c.repo_id = @repoId AND c.key = @key AND c.phase = @phase GROUP BY c.metric, e.variant ORDER BY c.metric, e.variant`),
      pruneExposures: db.prepare(`DELETE FROM flag_exposures WHERE (repo_id, key, phase, user, day) IN (
        SELECT repo_id, key, phase, user, day FROM flag_exposures e INDEXED BY flag_exposures_by_day WHERE e.repo_id = @repoId AND e.day < @day
          AND NOT EXISTS (SELECT 1 FROM json_each(@keep) k WHERE json_extract(k.value, '$[0]') = e.key AND json_extract(k.value, '$[1]') = e.phase)
        LIMIT @limit)`),
      pruneConversions: db.prepare(`DELETE FROM flag_conversions WHERE (repo_id, key, phase, metric, user, day) IN (
        SELECT repo_id, key, phase, metric, user, day FROM flag_conversions c INDEXED BY flag_conversions_by_day WHERE c.repo_id = @repoId AND c.day < @day
          AND NOT EXISTS (SELECT 1 FROM json_each(@keep) k WHERE json_extract(k.value, '$[0]') = c.key AND json_extract(k.value, '$[1]') = c.phase)
        LIMIT @limit)`),
    };
  }

  /** Records a phase the first time it is seen. */
  phase(repoId: number, key: string, phase: string, weights: string | null, at: number): void {
    this.q.phase.run(repoId, key, phase, weights, at);
  }

  /** The flag's phases, newest first. */
  phases(repoId: number, key: string): PhaseRow[] { return this.q.phases.all(repoId, key) as PhaseRow[]; }

  /** Inserts a batch (one transaction: the caller's); how many were new (the rest were duplicates). */
  add(repoId: number, exposures: readonly ExposureRow[], conversions: readonly ConversionRow[]): number {
    let added = 0;
    for (const e of exposures) added += this.q.exposure.run(repoId, e.key, e.phase, e.user, e.day, e.variant).changes;
    for (const c of conversions) added += this.q.conversion.run(repoId, c.key, c.phase, c.metric, c.user, c.day, c.value).changes;
    return added;
  }

  /**
   * Deletes at most `limit` exposures and at most `limit` conversions of the repository from days before
   * `beforeDay`, except those of the `keep` phases ([key, phase] pairs); how many of each. One
   * statement each: a short write, so the caller loops (yielding between batches) until a batch deletes fewer than `limit`.
   */
  pruneBefore(repoId: number, beforeDay: number, keep: readonly [string, string][], limit: number): { exposures: number; conversions: number } {
    const args = { repoId, day: beforeDay, keep: JSON.stringify(keep), limit };
    return { exposures: this.q.pruneExposures.run(args).changes, conversions: this.q.pruneConversions.run(args).changes };
  }

  /** Distinct users exposed per variant in a phase. */
  exposed(repoId: number, key: string, phase: string): VariantCount[] { return this.q.exposed.all(repoId, key, phase) as VariantCount[]; }

  /** Distinct exposed users who converted, per metric and variant (their exposure's), and the values' sum. */
  converted(repoId: number, key: string, phase: string): MetricCount[] { return this.q.converted.all({ repoId, key, phase }) as MetricCount[]; }
}
