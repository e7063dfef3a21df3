/**
 * The step rule (issue 23 item 1): what a build of a builder with `steps:` runs next. Pure over
 * SQLite rows (build_steps, units), called by the lifecycle inside its transactions, so a
 * restart resumes from the rows alone (lifecycle.recover calls checkBuild → advance).
 *
 * - A `pending` step starts (its planned units are queued, tagged with its label) once every
 *   step it needs (every matrix combination of each named step) has `passed`; a step with no
 *   needs starts when the build is made.
 * - A `running` step ends when its current units have all ended: `passed` (also after a flaky
 *   retry), `failed` (a failed unit, or no units: its tests matched no file), `exception` (a
 *   unit lost too often) or `cancelled`.
 * - A pending step one of whose needs ended other than `passed` is `skipped` (and so, in turn,
 *   everything that needs it).
 * - Cancelling a build: every pending step becomes `cancelled`; running ones end by their units.
 */
import type { Store } from '../store/index.js';
import type { PlannedStep, PlannedStepUnit, StepResult, StepRow } from '../store/steps.js';
import { currentUnits, type UnitRow } from '../store/units.js';
import { decideResult } from './results.js';

export type { PlannedStep };

/** Writes a new build's steps (inside the caller's transaction); `advance` then starts the first ones. */
export function insertSteps(store: Store, buildId: number, steps: readonly PlannedStep[]): void {
  steps.forEach((s, i) => store.steps.create({ ...s, buildId, seq: i + 1 }));
}

/**
 * Moves a build's steps on: ends running steps whose units have all ended, skips what can no
 * longer run, starts what can. `start` queues a step's planned units. Returns true when
 * anything changed. Repeats until nothing does (a step may end at once: no units).
 */
export function advanceSteps(store: Store, buildId: number, now: number,
  start: (step: StepRow, plan: readonly PlannedStepUnit[]) => void): boolean {
  let changed = false;
  for (let round = 0; round < 1000; round++) {
    const steps = store.steps.byBuild(buildId);
    if (steps.length === 0) return changed;
    const units = store.units.byBuild(buildId);
    const moved = steps.some((s) => (s.result === 'running' ? endIfDone(store, s, units, now) : false))
      || steps.some((s) => (s.result === 'pending' ? startOrSkip(store, s, steps, now, start) : false));
    if (!moved) return changed;
    changed = true;
  }
  return changed;
}

/** Every pending step of a cancelled build becomes `cancelled`. */
export function cancelPendingSteps(store: Store, buildId: number, now: number): void {
  for (const s of store.steps.byBuild(buildId)) if (s.result === 'pending') store.steps.finish(buildId, s.name, 'cancelled', now);
}

/** The first step that ended other than passed (its label and result), for the build's reason. */
export function firstUnpassedStep(store: Store, buildId: number): StepRow | undefined {
  return store.steps.byBuild(buildId).find((s) => s.result === 'failed' || s.result === 'exception');
}

function endIfDone(store: Store, step: StepRow, all: readonly UnitRow[], now: number): boolean {
  const mine = all.filter((u) => u.step === step.name);
  const current = currentUnits(mine);
  if (current.some((u) => u.state !== 'done')) return false;
  const { result } = decideResult(mine, current);
  const to: StepResult = result === 'flaky' ? 'passed' : result;
  return store.steps.finish(step.buildId, step.name, to as Exclude<StepResult, 'pending' | 'running'>, now);
}

function startOrSkip(store: Store, step: StepRow, steps: readonly StepRow[], now: number,
  start: (step: StepRow, plan: readonly PlannedStepUnit[]) => void): boolean {
  const needed = steps.filter((s) => step.needs.includes(s.stepName));
  if (needed.some((s) => s.result !== 'passed' && s.result !== 'pending' && s.result !== 'running')) {
    return store.steps.finish(step.buildId, step.name, 'skipped', now);
  }
  if (!needed.every((s) => s.result === 'passed')) return false;
  if (!store.steps.start(step.buildId, step.name, now)) return false;
  start(step, step.plan);
  return true;
}
