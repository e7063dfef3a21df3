/**
 * Which step an artifact belongs to, and which artifacts a unit gets before it runs. These are
 * the two seams the steps of issue 23 item 1 plug into:
 * - `stepOfUnit`: the step that made a unit's files (the builder's name while units have no
 *   step column; with `units.step` it is that);
 * - `neededStepsOf`: the steps a unit needs (none while builders have no steps);
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
export function stepOfUnit(_unit: Pick<UnitRow, 'id'>, build: Pick<BuildRow, 'builder'>): string {
  return build.builder;
}

/** The steps whose artifacts a unit gets before it runs. Without steps: none (the lead wires the steps' `needs` here). */
export function neededStepsOf(_unit: Pick<UnitRow, 'id'>, _build: Pick<BuildRow, 'builder'>): string[] {
  return [];
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
