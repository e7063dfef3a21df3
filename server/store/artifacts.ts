/**
 * Artifacts: the files units uploaded (migration 024). The bytes are not here but in the
 * content-addressed blob folder (server/artifacts/blobs.ts); a row names its blob by sha256.
 * A unit uploading the same path again replaces its row (a resent upload after a reconnect).
 */
import type { DB } from './db.js';

export interface ArtifactRow {
  id: number; buildId: number; unitId: number; step: string; path: string; size: number; sha256: string; createdAt: number;
}
export type NewArtifact = Omit<ArtifactRow, 'id'>;

const COLUMNS = 'id, build_id AS buildId, unit_id AS unitId, step, path, size, sha256, created_at AS createdAt';

export class ArtifactStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      upsert: db.prepare(`INSERT INTO artifacts (build_id, unit_id, step, path, size, sha256, created_at)
        VALUES (@buildId, @unitId, @step, @path, @size, @sha256, @createdAt)
        ON CONFLICT (unit_id, path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256, created_at = excluded.created_at`),
      get: db.prepare(`SELECT ${COLUMNS} FROM artifacts WHERE id = ?`),
      byBuild: db.prepare(`SELECT ${COLUMNS} FROM artifacts WHERE build_id = ? ORDER BY step, path, id`),
      ofUnitPath: db.prepare(`SELECT ${COLUMNS} FROM artifacts WHERE unit_id = ? AND path = ?`),
      buildBytes: db.prepare('SELECT coalesce(sum(size), 0) AS n FROM artifacts WHERE build_id = ?'),
      referenced: db.prepare('SELECT 1 FROM artifacts WHERE sha256 = ? LIMIT 1'),
    };
  }

  /** Records (or replaces) the unit's file at `path`; returns its row. */
  put(a: NewArtifact): ArtifactRow {
    this.q.upsert.run(a);
    return this.q.ofUnitPath.get(a.unitId, a.path) as ArtifactRow;
  }
  get(id: number): ArtifactRow | undefined { return this.q.get.get(id) as ArtifactRow | undefined; }
  byBuild(buildId: number): ArtifactRow[] { return this.q.byBuild.all(buildId) as ArtifactRow[]; }
  /** The build's artifacts made by these steps, in step and path order (a later unit's file of the same path wins). */
  byBuildSteps(buildId: number, steps: readonly string[]): ArtifactRow[] {
    const wanted = new Set(steps);
    return this.byBuild(buildId).filter((a) => wanted.has(a.step));
  }
  /** Bytes the build's artifacts hold, without `exceptUnitPath` (the file being replaced). */
  buildBytes(buildId: number, exceptUnitPath?: { unitId: number; path: string }): number {
    const total = (this.q.buildBytes.get(buildId) as { n: number }).n;
    const old = exceptUnitPath ? this.q.ofUnitPath.get(exceptUnitPath.unitId, exceptUnitPath.path) as ArtifactRow | undefined : undefined;
    return total - (old?.size ?? 0);
  }
  /** Whether any row still names this blob. */
  referenced(sha256: string): boolean { return this.q.referenced.get(sha256) !== undefined; }
}
