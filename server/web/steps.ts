/**
 * A build's steps as the API and the pages show them (issue 23 items 4, 5): `{ name, result,
 * startedAt, finishedAt, needs, matrix? }` with results passed | failed | skipped | cancelled |
 * exception | running | pending. A build of a builder without `steps:` (and every build made
 * before migration 023) is one step named after its builder, its state the build's.
 * Read only; callers check who may read the build (everyone, today).
 */
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { StepResult } from '../store/steps.js';
import type { UnitRow } from '../store/units.js';

export interface StepJson {
  name: string; result: StepResult; startedAt: number | null; finishedAt: number | null; needs: string[];
  /** A matrix combination's variables; absent for a step without a matrix. */
  matrix?: Record<string, string>;
}

export function stepsJson(store: Pick<Store, 'steps'>, build: BuildRow): StepJson[] {
  const rows = store.steps.byBuild(build.id);
  if (rows.length > 0) {
    return rows.map((s) => ({ name: s.name, result: s.result, startedAt: s.startedAt, finishedAt: s.finishedAt, needs: s.needs,
      ...(s.matrix ? { matrix: s.matrix } : {}) }));
  }
  return [{ name: build.builder, result: buildStepResult(build), startedAt: build.startedAt, finishedAt: build.finishedAt, needs: [] }];
}

/** The step a unit belongs to: its own, or its builder's one step. */
export function stepOfUnit(u: Pick<UnitRow, 'step'>, build: Pick<BuildRow, 'builder'>): string {
  return u.step ?? build.builder;
}

/** Units grouped under their steps, in the steps' order (the build page). */
export function unitsBySteps<U extends Pick<UnitRow, 'step'>>(steps: readonly StepJson[], units: readonly U[], build: Pick<BuildRow, 'builder'>):
  { step: StepJson; units: U[] }[] {
  return steps.map((step) => ({ step, units: units.filter((u) => stepOfUnit(u, build) === step.name) }));
}

function buildStepResult(b: BuildRow): StepResult {
  if (b.state === 'queued') return 'pending';
  if (b.state === 'running') return 'running';
  return b.result === 'flaky' || b.result === null ? 'passed' : b.result;
}
