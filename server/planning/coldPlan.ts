/**
 * The cold plan: how a builder's first build is split when nothing is learned for it yet
 * (issue 24 item 2). Pure functions, no I/O; the splitter gathers what is known and calls them.
 *
 * Estimates (estimateCold), from what is known:
 * - a file's learned time in another builder of the repository (same path) is taken as is;
 * - the other files share what is left of the suite's total (the last whole-suite time of any
 *   builder without a `tests` glob, kept as file ''), else the median of the files known from
 *   other builders when they are at least half of the files, else DEFAULT_DURATION_MS (1 s) each;
 * - within that share, a bigger test file is expected to take longer: half of the mean is fixed
 *   (process and module start) and half in proportion to the file's bytes at the commit. Without
 *   sizes every unknown file gets the mean.
 *
 * Units (planCold): COLD_UNITS_PER_SLOT (3) per slot, not one per `unitTargetSeconds`: each
 * slot's share is cut into units of 1/2, 1/3 and 1/6 of it, so the big ones go first and the small
 * ones at the end even out the slots when the estimates are wrong. Files go longest first to the
 * unit with the most room left; a file longer than a unit is a unit of its own; the unit holding
 * the longest file is handed out first. Never more units than files. From the first build on,
 * the builder learns its times as before and planner.ts plans.
 */
import { DEFAULT_DURATION_MS, type PlannedUnit } from './planner.js';
import { SlotHeap } from './slotHeap.js';

export const COLD_UNITS_PER_SLOT = 3;
/** Shares of a slot's work for its units, largest first (they sum to 1). */
const SLOT_SHARES = [1 / 2, 1 / 3, 1 / 6];
/** The part of a file's mean expectation that does not depend on its size. */
const FIXED_SHARE = 0.5;
const FIRST_UNIT_BONUS = 1.05;

export interface ColdKnowledge {
  /** Bytes of each test file at the commit (absent: sizes unknown). */
  sizes?: ReadonlyMap<string, number>;
  /** Learned times of these files in other builders of the repository. */
  otherBuilders?: ReadonlyMap<string, number>;
  /** The suite's whole time from the last run of any builder that runs it at once (ms). */
  suiteTotalMs?: number | null;
}

/** Expected duration of each file of a builder that has learned nothing (see the contract above). */
export function estimateCold(files: readonly string[], k: ColdKnowledge): Map<string, number> {
  const known = new Map<string, number>();
  for (const f of files) {
    const ms = k.otherBuilders?.get(f);
    if (isDuration(ms)) known.set(f, ms);
  }
  const unknown = files.filter((f) => !known.has(f));
  const knownSum = [...known.values()].reduce((a, b) => a + b, 0);
  let mean = known.size * 2 >= files.length ? median([...known.values()]) ?? DEFAULT_DURATION_MS : DEFAULT_DURATION_MS;
  if (isDuration(k.suiteTotalMs) && unknown.length && k.suiteTotalMs > knownSum) mean = (k.suiteTotalMs - knownSum) / unknown.length;
  const sizes = unknown.map((f) => k.sizes?.get(f));
  const sized = sizes.every((b) => typeof b === 'number' && b >= 0);
  const meanBytes = sized && unknown.length ? (sizes as number[]).reduce((a, b) => a + b, 0) / unknown.length : 0;
  const out = new Map<string, number>();
  files.forEach((f) => {
    if (known.has(f)) out.set(f, known.get(f)!);
  });
  unknown.forEach((f, i) => {
    const relative = sized && meanBytes > 0 ? sizes[i]! / meanBytes : 1;
    out.set(f, mean * (FIXED_SHARE + (1 - FIXED_SHARE) * relative));
  });
  return out;
}

/** A few units per slot, the longest file's first (see the contract above). An empty list gives []. */
export function planCold(durations: ReadonlyMap<string, number>, slots: number, overheadMs: number): PlannedUnit[] {
  if (!(slots >= 1)) throw new RangeError(`slots must be 1 or more, got ${slots}`);
  const files = [...durations].map(([file, ms]) => ({ file, ms: isDuration(ms) ? ms : 0 }))
    .sort((a, b) => b.ms - a.ms || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  if (!files.length) return [];
  const total = files.reduce((s, f) => s + f.ms, 0);
  const perSlot = total / Math.floor(slots);
  const targets = SLOT_SHARES.flatMap((share) => Array.from({ length: Math.floor(slots) }, () => share * perSlot))
    .slice(0, Math.min(files.length, COLD_UNITS_PER_SLOT * Math.floor(slots)));
  // The first unit (it gets the longest file) aims a little higher, so the queue (longest expectedMs first) hands it out first.
  const bins = targets.map((target, i) => ({ target: i === 0 ? target * FIRST_UNIT_BONUS : target, load: 0, files: [] as { file: string; ms: number }[] }));
  // The unit with the most room left (the first of equals) is the heap's soonest: keyed by load - target.
  const room = new SlotHeap(bins.map((b) => b.load - b.target));
  for (const f of files) {
    const best = bins[room.soonest()]!;
    best.files.push(f);
    best.load += f.ms;
    room.raiseSoonest(best.load - best.target);
  }
  return bins.filter((b) => b.files.length)
    .sort((a, b) => b.load - a.load || b.files[0]!.ms - a.files[0]!.ms)
    .map((b) => ({ files: b.files.map((f) => f.file), expectedMs: b.load + overheadMs }));
}

function median(values: number[]): number | null {
  if (!values.length) return null;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function isDuration(ms: number | null | undefined): ms is number {
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0;
}
