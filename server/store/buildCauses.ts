/**
 * Why a build was made when it was not a push (migration 026): a schedule, an admin's "Build now",
 * an admin's re-run of what failed in another build or rebuild of it; with the admin's name and the params asked for.
 */
import type { DB } from './db.js';

export type BuildCause = 'schedule' | 'manual' | 'rerun' | 'rebuild';
export interface BuildCauseRow {
  cause: BuildCause;
  /** The admin who started it; null for a schedule. */
  startedBy: string | null;
  /** The build a re-run or rebuild builds again; null otherwise. */
  rebuildOf: number | null;
  /** The params asked for (declared names only); the declared defaults fill in the rest. */
  params: Record<string, string>;
}

export class BuildCauseStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare('INSERT INTO build_causes (build_id, cause, started_by, rebuild_of, params) VALUES (?, ?, ?, ?, ?)'),
      get: db.prepare('SELECT cause, started_by AS startedBy, rebuild_of AS rebuildOf, params FROM build_causes WHERE build_id = ?'),
      lastRun: db.prepare('SELECT last_at AS lastAt FROM schedule_runs WHERE repo = ? AND builder = ?'),
      firstRun: db.prepare('INSERT OR IGNORE INTO schedule_runs (repo, builder, last_at) VALUES (?, ?, ?)'),
      claimRun: db.prepare('UPDATE schedule_runs SET last_at = ? WHERE repo = ? AND builder = ? AND last_at = ?'),
    };
  }
  /** Inside the transaction that created the build. */
  record(buildId: number, c: BuildCauseRow): void {
    this.q.insert.run(buildId, c.cause, c.startedBy, c.rebuildOf, JSON.stringify(c.params));
  }
  of(buildId: number): BuildCauseRow | undefined {
    const row = this.q.get.get(buildId) as (Omit<BuildCauseRow, 'params'> & { params: string }) | undefined;
    return row && { ...row, params: JSON.parse(row.params) as Record<string, string> };
  }
  /** When the builder's schedule last fired (or was first seen); undefined: never. */
  lastScheduled(repo: string, builder: string): number | undefined {
    return (this.q.lastRun.get(repo, builder) as { lastAt: number } | undefined)?.lastAt;
  }
  /** Records the first time a schedule is seen (nothing runs for the times before it). */
  firstSeen(repo: string, builder: string, at: number): void { this.q.firstRun.run(repo, builder, at); }
  /** Moves the schedule's last run from `previous` to `at`; false when someone else already did (no double run). */
  claimScheduled(repo: string, builder: string, previous: number, at: number): boolean {
    return this.q.claimRun.run(at, repo, builder, previous).changes > 0;
  }
}
