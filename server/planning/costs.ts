/**
 * What one more unit costs a builder: the fixed time each unit pays besides its tests (process
 * start, framework load, reporter), learned from finished units. Pure functions, no I/O; the
 * store keeps the result (store/costs.ts), results.ts feeds it each finished unit, and the
 * splitter plans with it (planner.ts's overheadMs), so a suite whose processes take a second to
 * start is cut into few units and a light one into many.
 *
 * A sample is the unit's run time (its `started` report to its end) less its busy time: the sum
 * of its files' reported wall times when every file has one (from the JUnit suites, module
 * loading included, so the sample is only what each unit pays once: process and framework
 * start), else the sum of its JUnit test durations when there are any (per-file loading then
 * counts as overhead), else the sum of its files' learned durations when every file has one. Tests that ran in parallel inside the unit (their sum exceeds the run
 * time) and a unit with nothing known teach nothing. Samples are clamped to 0…MAX_OVERHEAD_MS
 * and averaged with the planner's EWMA (alpha 0.3); before any, DEFAULT_OVERHEAD_MS (30 ms) is
 * the prior. The times are those the unit would have shown alone (results.ts divides them by the
 * builder's contention factor first, contention.ts), so slots that contend do not read as overhead.
 */
import { DEFAULT_OVERHEAD_MS, updateEwma } from './planner.js';
import type { CostStore } from '../store/costs.js';

export const MAX_OVERHEAD_MS = 60_000; // 1 minute: anything above is not a per-unit start-up cost

export interface UnitCost {
  /** Learned fixed cost of one unit, in ms. */
  overheadMs: number;
  samples: number;
}

export interface FinishedUnitTimes {
  /** The unit's run time: started → finished (ms). */
  runMs: number;
  /** Sum of its JUnit test durations, or null when it reported no tests. */
  testMs: number | null;
  /** Sum of its files' learned durations, or null when a file had none. */
  knownMs: number | null;
  /** Sum of its files' reported wall times, or null/absent unless every file has one. */
  wallMs?: number | null;
}

/** The unit's fixed cost as this unit shows it, or null when it cannot tell. */
export function observeOverhead(t: FinishedUnitTimes): number | null {
  if (!(Number.isFinite(t.runMs) && t.runMs >= 0)) return null;
  const busyMs = t.wallMs !== undefined && t.wallMs !== null ? t.wallMs : t.testMs !== null && t.testMs > 0 ? t.testMs : t.knownMs;
  if (busyMs === null || !Number.isFinite(busyMs) || busyMs > t.runMs) return null;
  return Math.min(MAX_OVERHEAD_MS, t.runMs - busyMs);
}

/** The cost after one more finished unit (unchanged when the unit tells nothing). */
export function learnUnitCost(previous: UnitCost | null, t: FinishedUnitTimes): UnitCost | null {
  const sample = observeOverhead(t);
  if (sample === null) return previous;
  return { overheadMs: updateEwma(previous?.overheadMs ?? null, sample), samples: (previous?.samples ?? 0) + 1 };
}

/** The per-unit overhead to plan with: the learned one, else the prior. */
export function overheadFor(cost: UnitCost | null | undefined): number {
  return cost && Number.isFinite(cost.overheadMs) && cost.overheadMs >= 0 ? cost.overheadMs : DEFAULT_OVERHEAD_MS;
}

/** Teaches the builder's kept cost one finished unit's times and keeps the result; returns the cost now. `before`: the cost as the caller just read it. */
export function teachUnitCost(costs: Pick<CostStore, 'get' | 'save'>, repoId: number, builder: string, times: FinishedUnitTimes, at: number,
  before: UnitCost | null = costs.get(repoId, builder)): UnitCost | null {
  const after = learnUnitCost(before, times);
  if (after && after !== before) costs.save(repoId, builder, after, at);
  return after;
}
