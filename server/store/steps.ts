/**
 * A build's steps (migration 023): one row per step (per matrix combination) of a build of a
 * builder with `steps:`, with the units it will run (`plan`) and its result. Builds of builders
 * without steps have no rows (their one step is the build itself).
 */
import type { DB } from './db.js';

export type StepResult = 'pending' | 'running' | 'passed' | 'failed' | 'skipped' | 'cancelled' | 'exception';
export interface PlannedStepUnit { files: string[]; expectedMs: number }
export interface StepRow {
  buildId: number; seq: number;
  /** Its label: the step's name, with ` (VAR=value, …)` for a matrix combination. */
  name: string;
  /** The name it has in the configuration (what `needs` lists). */
  stepName: string;
  needs: string[]; matrix: Record<string, string> | null; plan: PlannedStepUnit[];
  result: StepResult; startedAt: number | null; finishedAt: number | null;
}
export interface NewStep {
  buildId: number; seq: number; name: string; stepName: string; needs: readonly string[];
  matrix: Readonly<Record<string, string>> | null; plan: readonly PlannedStepUnit[];
}
/** A step of a new build with the units planned for it. */
export type PlannedStep = Omit<NewStep, 'buildId' | 'seq'>;
interface Raw extends Omit<StepRow, 'needs' | 'matrix' | 'plan'> { needs: string; matrix: string | null; plan: string }

const COLUMNS = `build_id AS buildId, seq, name, step_name AS stepName, needs, matrix, plan, result,
  started_at AS startedAt, finished_at AS finishedAt`;
const decode = (r: Raw): StepRow => ({ ...r, needs: JSON.parse(r.needs), matrix: r.matrix === null ? null : JSON.parse(r.matrix), plan: JSON.parse(r.plan) });

export class StepStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO build_steps (build_id, seq, name, step_name, needs, matrix, plan)
        VALUES (@buildId, @seq, @name, @stepName, @needs, @matrix, @plan)`),
      byBuild: db.prepare(`SELECT ${COLUMNS} FROM build_steps WHERE build_id = ? ORDER BY seq`),
      start: db.prepare(`UPDATE build_steps SET result = 'running', started_at = ? WHERE build_id = ? AND name = ? AND result = 'pending'`),
      finish: db.prepare(`UPDATE build_steps SET result = ?, finished_at = ? WHERE build_id = ? AND name = ? AND result IN ('pending', 'running')`),
      deleteAll: db.prepare('DELETE FROM build_steps WHERE build_id = ?'),
      count: db.prepare('SELECT count(*) AS n FROM build_steps WHERE build_id = ?'),
    };
  }

  create(s: NewStep): void {
    this.q.insert.run({ ...s, needs: JSON.stringify(s.needs), matrix: s.matrix === null ? null : JSON.stringify(s.matrix), plan: JSON.stringify(s.plan) });
  }
  byBuild(buildId: number): StepRow[] { return (this.q.byBuild.all(buildId) as Raw[]).map(decode); }
  has(buildId: number): boolean { return (this.q.count.get(buildId) as { n: number }).n > 0; }
  /** pending → running; false when it was not pending. */
  start(buildId: number, name: string, at: number): boolean { return this.q.start.run(at, buildId, name).changes > 0; }
  /** pending or running → an end result; false when it had ended. */
  finish(buildId: number, name: string, result: Exclude<StepResult, 'pending' | 'running'>, at: number): boolean {
    return this.q.finish.run(result, at, buildId, name).changes > 0;
  }
  /** A queued build joined by a push is planned again (inside the caller's transaction). */
  deleteAll(buildId: number): void { this.q.deleteAll.run(buildId); }
}
