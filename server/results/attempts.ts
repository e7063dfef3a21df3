/**
 * A unit's next attempt (a new unit row, retry_of = the one it replaces, same seq and step), in
 * the caller's transaction: a lost unit queued again at the front (LOST_PRIORITY) unless it was
 * lost MAX_LOSSES times, a flaky unit's failing files retried next (RETRY_PRIORITY) on another
 * runner. The caller (results/lifecycle.ts) ends the replaced unit and moves the counters.
 */
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import { unitFiles, type UnitRow } from '../store/units.js';
import { DEFAULT_OVERHEAD_MS, estimateDurations } from '../planning/planner.js';

export const LOST_PRIORITY = 100; // lost units go to the front of the queue
export const RETRY_PRIORITY = 50; // flaky retries next
export const MAX_LOSSES = 2; // a unit lost this many times ends its build as exception

/** A lost unit queued again (avoiding `avoid`), or null when it was lost MAX_LOSSES times; what the new attempt is expected to take. */
export function requeueLost(store: Store, unit: UnitRow, avoid: number | null, now: number): { expectedMs: number } | null {
  if (unit.lostCount + 1 >= MAX_LOSSES) return null;
  store.units.create({
    buildId: unit.buildId, seq: unit.seq, files: unitFiles(unit), attempt: unit.attempt, retryOf: unit.id,
    priority: LOST_PRIORITY, expectedMs: unit.expectedMs, avoidRunnerId: avoid, lostCount: unit.lostCount + 1, at: now, step: unit.step,
  });
  return { expectedMs: unit.expectedMs };
}

/** A retry of the failing files, expected to take what they took so far (just learned), on another runner than `runnerId`. */
export function retryFailing(store: Store, build: BuildRow, unit: UnitRow, files: string[], runnerId: number, now: number): { expectedMs: number } {
  const estimates = estimateDurations(files, store.tests.fileDurationsOf(build.repoId, build.builder, files));
  const expectedMs = Math.round([...estimates.values()].reduce((a, b) => a + b, 0) + DEFAULT_OVERHEAD_MS);
  store.units.create({
    buildId: unit.buildId, seq: unit.seq, files, attempt: unit.attempt + 1, retryOf: unit.id,
    priority: RETRY_PRIORITY, expectedMs, avoidRunnerId: runnerId, lostCount: unit.lostCount, at: now, step: unit.step,
  });
  return { expectedMs };
}
