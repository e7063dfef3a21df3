/**
 * Which step an artifact belongs to, and which artifacts a unit gets before it runs. These are
 * the two seams the steps of issue 23 item 1 plug into:
 * - `stepOfUnit`: the step (label) that made a unit's files: `units.step`, or the builder's name
 *   for a builder without steps (one step named after it);
 * - `neededStepsOf`: the labels of the steps a unit's step needs, directly or not (build_steps;
 *   every matrix combination of a needed step); none without steps;
 * - `artifactsForUnit(buildId, neededSteps)`: the build's artifacts made by those steps, as an
 *   assign's `artifacts` (protocol.ts ArtifactRef), a later unit of a path replacing an earlier
 *   one. dispatch/queue.ts puts them in each assign.
 */
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { UnitRow } from '../store/units.js';
import type { ArtifactRef } from '../protocol.js';

/** Where a runner downloads artifact `id` (relative to the server URL; web/artifactsApi.ts serves it). */
export function artifactDownloadPath(id: number): string {
  return `/api/artifacts/${id}/download`;
}

/** The step whose artifacts a unit's uploads are. Without steps: the builder (a builder without steps is one step). */
export function stepOfUnit(unit: Pick<UnitRow, 'step'>, build: Pick<BuildRow, 'builder'>): string {
  return unit.step ?? build.builder;
}

/** The steps (labels) whose artifacts a unit gets before it runs: what its step needs, transitively. Without steps: none. */
export function neededStepsOf(store: Pick<Store, 'steps'>, unit: Pick<UnitRow, 'step'>, build: Pick<BuildRow, 'id'>): string[] {
  if (unit.step === null || unit.step === undefined) return [];
  const rows = store.steps.byBuild(build.id);
  const own = rows.find((r) => r.name === unit.step);
  if (!own) return [];
  const needed = new Set<string>();
  const todo = [...own.needs];
  while (todo.length > 0) {
    const name = todo.pop()!;
    if (needed.has(name)) continue;
    needed.add(name);
    for (const r of rows) if (r.stepName === name) todo.push(...r.needs);
  }
  return rows.filter((r) => needed.has(r.stepName)).map((r) => r.name);
}

/** The artifacts of `buildId` made by `neededSteps`, for a unit's assign; [] when it needs none. */
export function artifactsForUnit(store: Pick<Store, 'artifacts'>, buildId: number, neededSteps: readonly string[]): ArtifactRef[] {
  if (neededSteps.length === 0) return [];
  const byPath = new Map<string, ArtifactRef>();
  for (const a of store.artifacts.byBuildSteps(buildId, neededSteps).sort((x, y) => x.id - y.id)) {
    byPath.set(a.path, { path: a.path, size: a.size, sha256: a.sha256, url: artifactDownloadPath(a.id) });
  }
  return [...byPath.values()].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}
