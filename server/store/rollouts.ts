/** Guarded rollouts of feature flags (migrations/032): each rollout's state and the points of its chart. */
import type { DB } from './db.js';

export type RolloutState = 'ramping' | 'held' | 'killed' | 'done';
export interface RolloutRow { repo: string; key: string; startedAt: number; step: number; percent: number; stepStartedAt: number; state: RolloutState; reason: string | null; updatedAt: number }
export interface RolloutPoint { at: number; percent: number; exposuresNew: number; exposuresOld: number; metricNew: number | null; metricOld: number | null;
  pValue: number | null; srmP: number | null; decision: 'wait' | 'advance' | 'hold' | 'kill' | 'done' }

const COLUMNS = `r.name AS repo, f.key, f.started_at AS startedAt, f.step, f.percent, f.step_started_at AS stepStartedAt, f.state, f.reason, f.updated_at AS updatedAt`;
const POINT = `at, percent, exposures_new AS exposuresNew, exposures_old AS exposuresOld, metric_new AS metricNew, metric_old AS metricOld,
  p_value AS pValue, srm_p AS srmP, decision`;

export class RolloutStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      all: db.prepare(`SELECT ${COLUMNS} FROM flag_rollouts f JOIN repositories r ON r.id = f.repo_id ORDER BY r.name, f.key`),
      save: db.prepare(`INSERT INTO flag_rollouts (repo_id, key, started_at, step, percent, step_started_at, state, reason, updated_at)
        VALUES (@repoId, @key, @startedAt, @step, @percent, @stepStartedAt, @state, @reason, @updatedAt)
        ON CONFLICT (repo_id, key) DO UPDATE SET step = excluded.step, percent = excluded.percent, step_started_at = excluded.step_started_at,
          state = excluded.state, reason = excluded.reason, updated_at = excluded.updated_at`),
      point: db.prepare(`INSERT INTO flag_rollout_points (repo_id, key, at, percent, exposures_new, exposures_old, metric_new, metric_old, p_value, srm_p, decision)
        VALUES (@repoId, @key, @at, @percent, @exposuresNew, @exposuresOld, @metricNew, @metricOld, @pValue, @srmP, @decision)`),
      points: db.prepare(`SELECT ${POINT} FROM (SELECT * FROM flag_rollout_points WHERE repo_id = ? AND key = ? ORDER BY id DESC LIMIT ?) ORDER BY id`),
    };
  }

  /** Every rollout's state. */
  all(): RolloutRow[] { return this.q.all.all() as RolloutRow[]; }

  save(repoId: number, row: Omit<RolloutRow, 'repo'>): void { this.q.save.run({ repoId, ...row }); }

  addPoint(repoId: number, key: string, p: RolloutPoint): void { this.q.point.run({ repoId, key, ...p }); }

  /** A rollout's newest points (at most `limit`), oldest first. */
  points(repoId: number, key: string, limit = 500): RolloutPoint[] { return this.q.points.all(repoId, key, limit) as RolloutPoint[]; }
}
