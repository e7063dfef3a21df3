/**
 * How much slower a builder's units run when several share a runner: the contention factor f(k)
 * at k concurrent units on one runner (f(1) = 1 by definition), learned from finished units. Pure
 * functions, no I/O; store/contention.ts keeps the factors, results.ts feeds them, the splitter
 * plans with them (planner.ts's `slowdown`), and the build page names a runner whose slots only
 * contend, or wait while CPUs idle, with advice from measured wall times (slotAdvice, contentionNotice).
 *
 * Concurrency: the time-weighted mean number of units (of any build) running on the unit's runner
 * while it ran, itself included (meanConcurrency); a unit teaches the factor at that mean, rounded.
 *
 * Circularity: file durations are learned *solo-equivalent*. A unit that ran at k is first
 * compared with what its files take alone (their learned durations plus the builder's overhead):
 * runMs ÷ soloMs is a sample of f(k) (k ≥ 2 only, every file's duration known, clamped to
 * 1…MAX_FACTOR, EWMA alpha 0.3). Then its times are divided by the factor now learned at k before
 * they teach the file durations and the overhead (costs.ts), so durations learned at 4 slots and
 * at 1 stay comparable. At the fixed point a file's learned duration d is its solo time and a
 * unit at k shows f(k)·d. When a builder's units only ever run at one k nothing separates the
 * factor from the durations: the factor stays 1 (what planning assumed before) and nothing is
 * worse than without it; the tail of a build, single-unit builds and retries run at lower k and
 * give the anchor.
 *
 * A factor counts for planning once it has MIN_FACTOR_SAMPLES samples. Between learned k the factor is
 * interpolated linearly from (1, 1); above the largest learned k it stays at that k's factor
 * (nothing known says it grows); it never decreases with k.
 */
import { updateEwma } from './planner.js';
import type { ContentionStore } from '../store/contention.js';

export const MAX_FACTOR = 16; // a unit 16× slower than alone is broken, not contended
export const MIN_FACTOR_SAMPLES = 3; // one slow unit is noise
/** The build page names a runner whose units ran at least this much slower together than alone. */
export const NOTICE_FACTOR = 1.3;

export interface LearnedFactor {
  factor: number;
  samples: number;
}

/** Learned factors by concurrency k (2…); k = 1 is never stored (it is 1). */
export type Contention = ReadonlyMap<number, LearnedFactor>;

export interface Span {
  start: number;
  /** null: still running (counts up to the end of the span it is compared with). */
  end: number | null;
}

/** Time-weighted mean number of units running on the runner during `own`, itself included (≥ 1). */
export function meanConcurrency(own: { start: number; end: number }, others: readonly Span[]): number {
  const length = own.end - own.start;
  if (!(length > 0)) return 1 + others.filter((o) => o.start <= own.start && (o.end === null || o.end > own.start)).length;
  let busy = 0;
  for (const o of others) {
    const from = Math.max(o.start, own.start);
    const to = Math.min(o.end ?? own.end, own.end);
    if (to > from) busy += to - from;
  }
  return 1 + busy / length;
}

/** The concurrency a unit teaches: its mean concurrency rounded, at least 1. */
export function concurrencyLevel(mean: number | null | undefined): number {
  return typeof mean === 'number' && Number.isFinite(mean) ? Math.max(1, Math.round(mean)) : 1;
}

/** A sample of f(k): the unit's run time over what its files and overhead take alone; null when it cannot tell. */
export function observeFactor(t: { runMs: number; soloMs: number | null }): number | null {
  if (t.soloMs === null || !(Number.isFinite(t.soloMs) && t.soloMs > 0) || !(Number.isFinite(t.runMs) && t.runMs > 0)) return null;
  return Math.min(MAX_FACTOR, Math.max(1, t.runMs / t.soloMs));
}

/** The factor at k after one more finished unit (unchanged when it teaches nothing or k < 2). */
export function learnFactor(previous: LearnedFactor | null, k: number, t: { runMs: number; soloMs: number | null }): LearnedFactor | null {
  const sample = k >= 2 ? observeFactor(t) : null;
  if (sample === null) return previous;
  return { factor: updateEwma(previous?.factor ?? null, sample), samples: (previous?.samples ?? 0) + 1 };
}

/**
 * f(k) (see the contract above): 1 at k ≤ 1 and when nothing is learned. Planning and the notice
 * count factors of MIN_FACTOR_SAMPLES samples; normalising a unit's times takes the estimate as
 * it stands (minSamples 1), else contention would be learned as per-unit overhead meanwhile.
 */
export function factorAt(contention: Contention, k: number, minSamples: number = MIN_FACTOR_SAMPLES): number {
  if (!(k > 1)) return 1;
  const points: [number, number][] = [[1, 1]];
  for (const [at, learned] of [...contention].sort((a, b) => a[0] - b[0])) {
    if (at < 2 || learned.samples < minSamples || !Number.isFinite(learned.factor)) continue;
    // Never decreasing with k: a lower learned factor at a higher k is read as the one before it.
    points.push([at, Math.min(MAX_FACTOR, Math.max(points[points.length - 1]![1], learned.factor))]);
  }
  let [k0, f0] = points[0]!;
  for (const [k1, f1] of points.slice(1)) {
    if (k <= k1) return f0 + ((f1 - f0) * (k - k0)) / (k1 - k0);
    [k0, f0] = [k1, f1];
  }
  return f0;
}

/**
 * How much slower each unit runs when n units of a build run at once over these runners (their
 * slot counts): the units fill the runners in proportion to their slots, and the factor is the
 * slot-weighted mean of each runner's f(k). 1 when nothing is learned.
 */
export function slowdownFor(contention: Contention, runnerSlots: readonly number[]): (n: number) => number {
  const slots = runnerSlots.filter((s) => s >= 1).map(Math.floor);
  const total = slots.reduce((a, b) => a + b, 0);
  const cache = new Map<number, number>();
  return (n: number) => {
    if (total === 0 || contention.size === 0) return 1;
    let f = cache.get(n);
    if (f === undefined) {
      f = slots.reduce((sum, s) => sum + s * factorAt(contention, Math.min(s, Math.ceil((n * s) / total))), 0) / total;
      cache.set(n, f);
    }
    return f;
  };
}

/**
 * Slot advice for a runner whose units ran `slots` at a time, from measured factors only: the wall
 * time of a fixed amount of work at j slots is f(j)/j of its time on one slot, so
 * - "about j would be as fast" names the fewest j < slots whose wall time is no longer than at
 *   `slots`, among j = 1 (the serial run, f = 1) and the levels learned from MIN_FACTOR_SAMPLES
 *   units — never a rounded slots ÷ factor: 2 slots at 1.6× still do 1.25× the work of 1;
 * - "more slots may help" when more units ran than the runner has CPUs, no fewer is as fast, and
 *   either they did more work per second than the CPUs could if they were CPU-bound
 *   (slots ÷ f(slots) > CPUs) or a measured level j with CPUs ≤ j < slots was at least
 *   RISING_GAIN slower: units beyond the CPUs paid off, so they wait (timers, I/O) while CPUs idle.
 * null when `slots` itself is not measured (fewer than MIN_FACTOR_SAMPLES units there) or neither holds.
 */
/** How much faster more slots beyond the CPUs must have been to say more may help (3 %: noise is not a gain). */
export const RISING_GAIN = 1.03;
export function slotAdvice(contention: Contention, slots: number, cpus: number | null = null): string | null {
  const own = contention.get(slots);
  if (!(slots >= 2) || !own || own.samples < MIN_FACTOR_SAMPLES) return null;
  const wall = (j: number) => factorAt(contention, j) / j;
  const measured = [1, ...[...contention].filter(([k, l]) => k >= 2 && k < slots && l.samples >= MIN_FACTOR_SAMPLES).map(([k]) => k)];
  const fewer = measured.sort((a, b) => a - b).find((j) => wall(j) <= wall(slots) * (1 + 1e-9));
  if (fewer !== undefined) return `about ${fewer} would be as fast`;
  const rising = measured.some((j) => j >= (cpus ?? Infinity) && wall(slots) * RISING_GAIN <= wall(j));
  if (cpus !== null && cpus >= 1 && slots > cpus && (slots / factorAt(contention, slots) > cpus || rising)) {
    return 'more slots may help: its units wait (timers, I/O) while CPUs idle';
  }
  return null;
}

/**
 * The line the build page shows for a runner whose units ran `slots` at a time, or null: when they
 * ran markedly slower together (f ≥ NOTICE_FACTOR) or more slots may help, with the advice of
 * slotAdvice — "r1: 4 slots ran 2.1× slower together than alone (2 CPUs) — about 2 would be as
 * fast" (the CPUs when the runner said).
 */
export function contentionNotice(runner: string, slots: number, contention: Contention, cpus: number | null = null): string | null {
  if (!(slots >= 2)) return null;
  const factor = factorAt(contention, slots);
  const advice = slotAdvice(contention, slots, cpus);
  if (!(factor >= NOTICE_FACTOR) && !advice?.startsWith('more')) return null;
  const machine = cpus !== null && cpus >= 1 ? ` (${cpus} ${cpus === 1 ? 'CPU' : 'CPUs'})` : '';
  return `${runner}: ${slots} slots ran ${factor.toFixed(1)}× slower together than alone${machine}${advice ? ` — ${advice}` : ''}`;
}

/** Teaches the builder's kept factor at k one finished unit's times and keeps it; returns the builder's factors now. */
export function teachFactor(contention: Pick<ContentionStore, 'get' | 'save'>, repoId: number, builder: string, k: number,
  times: { runMs: number; soloMs: number | null }, at: number): Contention {
  const before = contention.get(repoId, builder);
  const previous = before.get(k) ?? null;
  const after = learnFactor(previous, k, times);
  if (!after || after === previous) return before;
  contention.save(repoId, builder, k, after, at);
  return new Map(before).set(k, after);
}
