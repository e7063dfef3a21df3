/**
 * What retention deletes (the SQL; server/retention.ts decides when). Only finished builds are
 * touched, in batches of PRUNE_BATCH so no transaction holds the database for long.
 *
 * - Logs: the log chunks of units whose build finished before the cutoff, and the build's
 *   artifact rows (their blobs go when no row names them: artifacts/blobs.ts `sweep`).
 * - Builds: finished before the cutoff, with their units, logs, test results and blamelists —
 *   except the builds the tree depends on: any build a tree state or tree event points at, the
 *   deciding build of each (repository, builder, branch) (newest passed/failed/flaky by push
 *   order, see BuildStore.deciding), and the newest build of each (repository, builder, ref),
 *   from which the next blamelist is counted.
 */
import type { DB } from './db.js';

export const PRUNE_BATCH = 500; // builds or units per transaction

const KEPT = `SELECT id FROM (
  SELECT build_id AS id FROM tree_state
  UNION SELECT build_id FROM tree_events
  UNION SELECT max(id) FROM builds GROUP BY repo_id, builder, ref
  UNION SELECT (SELECT d.id FROM builds d WHERE d.repo_id = b.repo_id AND d.builder = b.builder AND d.branch = b.branch
      AND d.kind = 'branch' AND d.state = 'done' AND d.result IN ('passed', 'failed', 'flaky')
      ORDER BY coalesce(d.change_id, 0) DESC, d.id DESC LIMIT 1)
    FROM (SELECT DISTINCT repo_id, builder, branch FROM builds WHERE kind = 'branch') b
) WHERE id IS NOT NULL`; // NOT IN a list holding NULL matches nothing

export interface PruneCounts { logChunks: number; builds: number }

export class RetentionStore {
  private readonly q;
  /** `forgetRows`: called before deleting builds and units (their cached copies, rowCache.ts, are dropped). */
  constructor(private readonly db: DB, private readonly forgetRows: () => void = () => {}) {
    this.q = {
      oldUnits: db.prepare(`SELECT u.id FROM units u JOIN builds b ON b.id = u.build_id
        WHERE b.state = 'done' AND b.finished_at < ? AND EXISTS (SELECT 1 FROM log_chunks c WHERE c.unit_id = u.id) LIMIT ?`),
      dropLog: db.prepare('DELETE FROM log_chunks WHERE unit_id = ?'),
      oldArtifacts: db.prepare(`SELECT a.id FROM artifacts a JOIN builds b ON b.id = a.build_id
        WHERE b.state = 'done' AND b.finished_at < ? LIMIT ?`),
      dropArtifact: db.prepare('DELETE FROM artifacts WHERE id = ?'),
      oldBuilds: db.prepare(`SELECT id FROM builds WHERE state = 'done' AND finished_at < ? AND id NOT IN (${KEPT}) ORDER BY id LIMIT ?`),
      clearRetry: db.prepare('UPDATE units SET retry_of = NULL WHERE retry_of IN (SELECT id FROM units WHERE build_id = ?)'),
      dropBuild: db.prepare('DELETE FROM builds WHERE id = ?'),
    };
  }

  /** Deletes the logs of builds finished before `cutoff` (ms); returns the chunks deleted. */
  pruneLogs(cutoff: number): number {
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => {
        const units = this.q.oldUnits.all(cutoff, PRUNE_BATCH) as { id: number }[];
        let chunks = 0;
        for (const u of units) chunks += this.q.dropLog.run(u.id).changes;
        return { units: units.length, chunks };
      })();
      total += n.chunks;
      if (n.units < PRUNE_BATCH) return total;
    }
  }

  /** Deletes the artifact rows of builds finished before `cutoff` (ms), with their logs; returns how many. */
  pruneArtifacts(cutoff: number): number {
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => {
        const rows = this.q.oldArtifacts.all(cutoff, PRUNE_BATCH) as { id: number }[];
        for (const r of rows) this.q.dropArtifact.run(r.id);
        return rows.length;
      })();
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }

  /** Deletes builds finished before `cutoff` (ms) that the tree does not depend on; returns how many. */
  pruneBuilds(cutoff: number): number {
    let total = 0;
    for (;;) {
      const n = this.db.transaction(() => {
        const builds = this.q.oldBuilds.all(cutoff, PRUNE_BATCH) as { id: number }[];
        if (builds.length) this.forgetRows();
        for (const b of builds) {
          this.q.clearRetry.run(b.id);
          this.q.dropBuild.run(b.id);
        }
        return builds.length;
      })();
      total += n;
      if (n < PRUNE_BATCH) return total;
    }
  }
}
