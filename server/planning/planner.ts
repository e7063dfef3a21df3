/**
 * Splitting a build's test files into units (work items) for the longest-first queue, and
 * learning file durations from finished units. Pure functions, no I/O, deterministic.
 *
 * The queue hands units out longest first to whichever runner slot frees up (greedy list
 * scheduling). The build then takes at least max(longest file, total / slots), and loses time
 * two ways: per-unit overhead (many small units) and slots idling while one finishes a big
 * unit (coarse units at the end). planUnits weighs the two:
 * - files are taken longest first; a file of targetMs or more is a unit of its own;
 * - the front of the queue is batched with a budget that shrinks with the work left
 *   (remaining / slots, as in guided self-scheduling), never over total / (2 × slots);
 * - once the work left is small, the rest is dealt out so that every slot ends at the same time
 *   (the tail: one batch per slot, more only where targetMs cuts one);
 * - the size where the tail starts (the granularity) is chosen by simulating the queue for a
 *   few candidates, on the expected durations and on NOISE_SCENARIOS deterministic ±30%
 *   perturbations of them (durations learned from history are never exact), and keeping the
 *   candidate with the shortest mean makespan;
 * - it never makes fewer units than min(files, slots), so no slot idles while another works;
 * - units pay for themselves: when the per-unit overhead is large (learned per builder, see
 *   costs.ts), batches may grow to MIN_UNIT_OVERHEADS overheads even past targetMs, and once
 *   one overhead per slot is a noticeable share of the work (COSTLY_UNIT_SHARE), one balanced
 *   unit per slot is among the candidates, so no plan is slower than that. (Below that share
 *   the simulation's ±30% underrates how wrong unknown durations are, and the finer plans'
 *   rebalancing is worth more than the overheads it costs.)
 * - contention (slowdown, learned per builder, see contention.ts): n units at once run
 *   slowdown(n) times slower than alone, so a plan of n units is simulated with every duration
 *   and overhead scaled by slowdown(min(n, slots)), and its units' expectedMs are those scaled
 *   times (what the units will show, so the slots finish together). One balanced unit per
 *   *useful* slot is then a candidate too: the fewest units p with the best effective parallelism
 *   p ÷ slowdown(p) (within USEFUL_SLOTS_SLACK); the floor of min(files, slots) units becomes
 *   min(files, p) for that plan. Slots beyond p would only contend and make units that do not
 *   pay for themselves.
 */

import { SlotHeap } from './slotHeap.js';
import { NOISE_SCENARIOS, perturb } from './noise.js';

export interface PlannedUnit {
  files: string[];
  /** Sum of the files' expected durations plus overheadMs. */
  expectedMs: number;
}

export interface PlanOptions {
  /** Batches are at most this long; files at least this long run alone. */
  targetMs: number;
  /** Runner slots in all (runners × slots each). */
  slots: number;
  /** Fixed cost of one unit (process start, reporter), added to each unit's expectedMs. */
  overheadMs?: number;
  /** How many times slower each unit runs when n units run at once (1: no contention, the default; contention.ts). */
  slowdown?: (n: number) => number;
}

export const DEFAULT_DURATION_MS = 1000; // 1 second for a file when nothing is known
export const DEFAULT_OVERHEAD_MS = 30; // 30 ms per unit
export const DEFAULT_EWMA_ALPHA = 0.3;
/** Weight of the exact-durations simulation against the mean of the noisy ones. */
const EXACT_WEIGHT = 0.1;
/** Granularities tried: the per-slot share, halved down to this many overheads. */
const MIN_GRANULARITY_OVERHEADS = 2;
const MAX_CANDIDATES = 12;
/** A batch may be this many overheads long whatever targetMs says (the overhead is then at most a tenth of it). */
export const MIN_UNIT_OVERHEADS = 10;
/** One unit per slot is a candidate once overheadMs × slots is this share of the total work. */
export const COSTLY_UNIT_SHARE = 0.05; // 5 %
/** The useful slots are the fewest whose effective parallelism is within this share of the best. */
export const USEFUL_SLOTS_SLACK = 0.02; // 2 %

/** Expected duration of each file: known from history (Map file→ms), unknown files get the median of known ones, or defaultMs (1000) when nothing is known. */
export function estimateDurations(
  files: string[],
  known: ReadonlyMap<string, number>,
  defaultMs: number = DEFAULT_DURATION_MS,
): Map<string, number> {
  const isKnown = (file: string): boolean => isDuration(known.get(file));
  // The median of this list's known files; if none is known, of everything known.
  const fallback =
    median(files.filter(isKnown).map((file) => known.get(file)!)) ??
    median([...known.values()].filter(isDuration)) ??
    defaultMs;
  const durations = new Map<string, number>();
  for (const file of files) durations.set(file, isKnown(file) ? known.get(file)! : fallback);
  return durations;
}

/** Groups files into units, returned longest-first (see the contract above). An empty file list gives []. */
export function planUnits(durations: ReadonlyMap<string, number>, opts: PlanOptions): PlannedUnit[] {
  const overheadMs = opts.overheadMs ?? DEFAULT_OVERHEAD_MS;
  if (!(opts.targetMs > 0)) throw new RangeError(`targetMs must be a positive number of milliseconds, got ${opts.targetMs}`);
  if (!(overheadMs >= 0)) throw new RangeError(`overheadMs must be 0 or more milliseconds, got ${overheadMs}`);
  if (!(opts.slots >= 1)) throw new RangeError(`slots must be 1 or more, got ${opts.slots}`);
  const files = [...durations]
    .map(([file, ms]) => ({ file, ms: isDuration(ms) ? ms : 0 }))
    .sort((a, b) => b.ms - a.ms || compareText(a.file, b.file));
  if (files.length === 0) return [];

  const plan: Plan = {
    ms: files.map((f) => f.ms),
    slots: Math.floor(opts.slots),
    targetMs: Math.max(opts.targetMs, MIN_UNIT_OVERHEADS * overheadMs),
    overheadMs,
    total: files.reduce((sum, f) => sum + f.ms, 0),
  };
  const scenarios = [plan.ms, ...perturb(files.map((f) => f.file), plan.ms)];
  const slowdown = (n: number) => readSlowdown(opts.slowdown, Math.min(Math.max(n, 1), plan.slots));
  let best: number[][] = [];
  let bestScore = Infinity;
  let bestMinUnits = plan.slots;
  const candidates: { make: () => number[][]; minUnits: number }[] = listGranularities(plan)
    .map((granularity) => ({ make: () => buildBatches(plan, granularity), minUnits: plan.slots }));
  if (overheadMs * plan.slots >= COSTLY_UNIT_SHARE * plan.total) candidates.push({ make: () => balancePerSlot(plan, plan.slots), minUnits: plan.slots });
  const useful = opts.slowdown ? countUsefulSlots(plan.slots, slowdown) : plan.slots;
  if (useful < plan.slots) candidates.push({ make: () => balancePerSlot(plan, useful), minUnits: useful });
  for (const candidate of candidates) {
    const batches = sortLongestFirst(candidate.make(), plan.ms);
    const exact = simulateMakespan(batches, plan.ms, plan);
    let noisy = 0;
    for (let k = 1; k < scenarios.length; k += 1) noisy += simulateMakespan(batches, scenarios[k]!, plan);
    // Every duration and overhead of the plan scales by the same factor, and so does its makespan.
    const score = (EXACT_WEIGHT * exact + (1 - EXACT_WEIGHT) * (noisy / NOISE_SCENARIOS)) * slowdown(batches.length);
    if (score < bestScore) [best, bestScore, bestMinUnits] = [batches, score, candidate.minUnits];
  }
  while (best.length < Math.min(files.length, bestMinUnits) && splitLargestBatch(best, plan.ms));
  const scale = slowdown(best.length);
  return sortLongestFirst(best, plan.ms).map((batch) => ({
    files: batch.map((i) => files[i]!.file),
    expectedMs: (sumOf(batch, plan.ms) + overheadMs) * scale,
  }));
}

/** The fewest slots whose effective parallelism p ÷ slowdown(p) is within USEFUL_SLOTS_SLACK of the best. */
export function countUsefulSlots(slots: number, slowdown: (n: number) => number): number {
  const effective = Array.from({ length: slots }, (_, i) => (i + 1) / slowdown(i + 1));
  const bestEffective = Math.max(...effective);
  return effective.findIndex((e) => e >= (1 - USEFUL_SLOTS_SLACK) * bestEffective) + 1;
}

function readSlowdown(slowdown: ((n: number) => number) | undefined, n: number): number {
  const factor = slowdown ? slowdown(n) : 1;
  return Number.isFinite(factor) && factor >= 1 ? factor : 1;
}

interface Plan {
  /** Expected durations, longest first; batches hold indexes into this list. */
  ms: number[];
  slots: number;
  targetMs: number;
  overheadMs: number;
  total: number;
}

/** Tail granularities to try: the per-slot share (capped at targetMs), halved step by step. */
function listGranularities(plan: Plan): number[] {
  const floor = Math.max(MIN_GRANULARITY_OVERHEADS * plan.overheadMs, 1);
  const candidates: number[] = [];
  for (let g = Math.min(plan.targetMs, plan.total / plan.slots); candidates.length < MAX_CANDIDATES; g /= 2) {
    candidates.push(g);
    if (g / 2 < floor) break;
  }
  return candidates;
}

function buildBatches(plan: Plan, granularity: number): number[][] {
  const { ms, slots, targetMs, total } = plan;
  const front: number[][] = [];
  let remaining = total;
  let next = 0;
  // Front: batches that shrink with the work left; the smallest files stay for the tail.
  while (next < ms.length && remaining > (granularity * slots) / 2) {
    const budget = Math.min(targetMs, total / (2 * slots), Math.max(remaining / slots, granularity));
    const batch = [next];
    let size = ms[next]!;
    for (next += 1; next < ms.length && size + ms[next]! <= budget; next += 1) {
      batch.push(next);
      size += ms[next]!;
    }
    front.push(batch);
    remaining -= size;
  }
  // Tail: each remaining file goes to the slot that would end first, so the slots end together.
  const ends = simulateEnds(sortLongestFirst(front, ms), ms, plan);
  const open: (number[] | null)[] = ends.map(() => null);
  const openMs = ends.map(() => 0);
  // A slot without an open batch would first pay for a new unit.
  const soonest = new SlotHeap(ends.map((end) => end + plan.overheadMs));
  const tail: number[][] = [];
  for (; next < ms.length; next += 1) {
    const slot = soonest.soonest();
    let batch = open[slot];
    if (!batch || openMs[slot]! + ms[next]! > targetMs) {
      batch = [];
      open[slot] = batch;
      openMs[slot] = 0;
      tail.push(batch);
      ends[slot]! += plan.overheadMs;
    }
    batch.push(next);
    openMs[slot]! += ms[next]!;
    ends[slot]! += ms[next]!;
    soonest.raiseSoonest(ends[slot]!);
  }
  return [...front, ...tail];
}

/** One batch per slot (at most), files longest first each to the least loaded slot. */
function balancePerSlot(plan: Plan, slots: number): number[][] {
  const batches: number[][] = Array.from({ length: Math.min(slots, plan.ms.length) }, () => []);
  const loads = batches.map(() => 0);
  const lightest = new SlotHeap(loads);
  plan.ms.forEach((ms, i) => {
    const slot = lightest.soonest();
    batches[slot]!.push(i);
    lightest.raiseSoonest(loads[slot]! + ms);
  });
  return batches;
}

/** When each slot becomes free if the queue hands out `sorted` (batches longest first) in that order. */
function simulateEnds(sorted: number[][], ms: readonly number[], plan: Plan): number[] {
  const ends = new Array<number>(plan.slots).fill(0);
  if (sorted.length <= plan.slots) {
    // Each batch finds a slot of its own (the heap below would give batch i slot i).
    sorted.forEach((batch, i) => { ends[i] = plan.overheadMs + sumOf(batch, ms); });
    return ends;
  }
  const soonest = new SlotHeap(ends);
  for (const batch of sorted) {
    const slot = soonest.soonest();
    soonest.raiseSoonest(ends[slot]! + plan.overheadMs + sumOf(batch, ms));
  }
  return ends;
}

function simulateMakespan(sorted: number[][], ms: readonly number[], plan: Plan): number {
  let max = 0;
  for (const end of simulateEnds(sorted, ms, plan)) if (end > max) max = end;
  return max;
}

function sortLongestFirst(batches: number[][], ms: readonly number[]): number[][] {
  const sizes = batches.map((batch) => sumOf(batch, ms));
  const order = batches.map((_, i) => i);
  order.sort((a, b) => sizes[b]! - sizes[a]! || batches[a]![0]! - batches[b]![0]!);
  return order.map((i) => batches[i]!);
}

/** Exponentially weighted mean update for learning durations: alpha 0.3 by default; first sample = the value. */
export function updateEwma(previous: number | null, sample: number, alpha: number = DEFAULT_EWMA_ALPHA): number {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`alpha must be in (0, 1], got ${alpha}`);
  if (!Number.isFinite(sample)) throw new RangeError(`a duration sample must be a finite number, got ${sample}`);
  if (previous === null || !Number.isFinite(previous)) return sample;
  return previous + alpha * (sample - previous);
}

/**
 * Splits a unit's measured time among its files in proportion to their expected durations (used
 * when JUnit gives no per-file times). Files without an expectation weigh the mean of the others.
 * Subtract the unit's overhead from totalMs first if it should not be learned as test time.
 */
export function shareDuration(totalMs: number, files: string[], expected: ReadonlyMap<string, number>): Map<string, number> {
  const unique = [...new Set(files)];
  const shares = new Map<string, number>();
  if (unique.length === 0) return shares;
  const knownWeights = unique.map((file) => expected.get(file)).filter((ms): ms is number => isDuration(ms) && ms > 0);
  const fallback = knownWeights.length ? knownWeights.reduce((a, b) => a + b, 0) / knownWeights.length : 1;
  const weights = unique.map((file) => {
    const ms = expected.get(file);
    return isDuration(ms) && ms > 0 ? ms : fallback;
  });
  const weightSum = weights.reduce((a, b) => a + b, 0);
  const total = Math.max(0, totalMs);
  unique.forEach((file, i) => shares.set(file, (total * weights[i]!) / weightSum));
  return shares;
}

/** Splits the longest multi-file batch into two halves of about equal expected time. */
function splitLargestBatch(batches: number[][], ms: readonly number[]): boolean {
  let index = -1;
  for (let i = 0; i < batches.length; i += 1) {
    if (batches[i]!.length < 2) continue;
    if (index < 0 || sumOf(batches[i]!, ms) > sumOf(batches[index]!, ms)) index = i;
  }
  if (index < 0) return false;
  const halves: [number[], number[]] = [[], []];
  const sizes = [0, 0];
  for (const file of batches[index]!) {
    const side = sizes[0]! < sizes[1]! || (sizes[0] === sizes[1] && halves[0].length <= halves[1].length) ? 0 : 1;
    halves[side].push(file);
    sizes[side] += ms[file]!;
  }
  batches.splice(index, 1, ...halves);
  return true;
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function sumOf(batch: readonly number[], ms: readonly number[]): number {
  let sum = 0;
  for (const i of batch) sum += ms[i]!;
  return sum;
}

function isDuration(ms: number | undefined): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
