/**
 * The windows a stage's watch reads, as stored (server/store/watchSamples.ts): a WindowReading per
 * metric — raw counts, so windows add up — or null when the source had no data for it. A watch
 * saves each window as soon as it is read (a SampleBook) and, resumed after a restart, reads only
 * the windows it has not stored. `combine` adds a side's windows; `toReading` gives the verdict's
 * Reading; `missingData` says whether a reading is absent (fails closed: the watch is inconclusive).
 */
import type { WatchMetric } from '../config/watch.js';
import type { WatchSampleStore } from '../store/watchSamples.js';
import { samplesOfBuckets } from './stats.js';
import type { Reading } from './verdict.js';

export type WindowReading =
  | { kind: 'ratio'; errors: number; total: number }
  | { kind: 'rate'; count: number; seconds: number }
  | { kind: 'histogram'; bounds: number[]; counts: number[]; sum: number; count: number }
  | { kind: 'summary'; values: number[] };

export type Side = 'before' | 'after' | 'rest';
/** One window (from, to] of one side; readings by metric name (null: no data). */
export interface StoredWindow { side: Side; from: number; to: number; readings: Record<string, WindowReading | null> }
/** Where a watch keeps its windows: the orchestrator's is SQLite, per deploy and stage. */
export interface SampleBook { load(): StoredWindow[]; save(w: StoredWindow): void }

/** A book kept in memory (a watch without one: nothing survives a restart). */
export function memoryBook(): SampleBook {
  const windows: StoredWindow[] = [];
  return { load: () => [...windows], save: (w) => { windows.push(w); } };
}

/** The book of one deploy stage's watch, in SQLite. */
export function storedBook(store: WatchSampleStore, deployId: number, position: number, now: () => number = Date.now): SampleBook {
  return {
    load: () => store.of(deployId, position).map((r) => ({ side: r.side, from: r.from, to: r.to, readings: fromJson(r.readings) })),
    save: (w) => { store.add(deployId, position, { side: w.side, from: w.from, to: w.to, readings: toJson(w.readings), at: now() }); },
  };
}

/** The stored JSON of a window's readings → readings; anything else is no data. */
function parseReadings(json: string): Record<string, WindowReading | null> {
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, WindowReading | null> : {};
  } catch { return {}; }
}

/** Adds windows of the same metric (counts add; histogram buckets add by bound; summary values join). Null: none given. */
export function combine(readings: readonly WindowReading[]): WindowReading | null {
  if (readings.length === 0) return null;
  const first = readings[0];
  switch (first.kind) {
    case 'ratio': return { kind: 'ratio', ...sum(readings as Extract<WindowReading, { kind: 'ratio' }>[], ['errors', 'total']) };
    case 'rate': return { kind: 'rate', ...sum(readings as Extract<WindowReading, { kind: 'rate' }>[], ['count', 'seconds']) };
    case 'summary': return { kind: 'summary', values: (readings as Extract<WindowReading, { kind: 'summary' }>[]).flatMap((r) => r.values) };
    case 'histogram': {
      const hs = readings as Extract<WindowReading, { kind: 'histogram' }>[];
      const byBound = new Map<number, number>();
      for (const h of hs) h.bounds.forEach((b, i) => byBound.set(b, (byBound.get(b) ?? 0) + (h.counts[i] ?? 0)));
      const bounds = [...byBound.keys()].sort((a, b) => a - b);
      return { kind: 'histogram', bounds, counts: bounds.map((b) => byBound.get(b)!),
        ...sum(hs, ['sum', 'count']) };
    }
  }
}

/** What the verdict compares. */
export function toReading(r: WindowReading): Reading {
  switch (r.kind) {
    case 'ratio': case 'rate': return r;
    case 'summary': return { kind: 'latency', samples: r.values };
    case 'histogram': {
      const finiteTop = r.bounds.filter(Number.isFinite).at(-1) ?? 0;
      const bounds = r.bounds.map((x) => (Number.isFinite(x) ? x : finiteTop * 2)); // over the last bucket: ranked last
      return { kind: 'latency', samples: samplesOfBuckets(bounds, r.counts), mean: r.count > 0 ? r.sum / r.count : undefined };
    }
  }
}

/** The WindowReading kind a metric is read as. */
export function kindOf(metric: WatchMetric): WindowReading['kind'] {
  if (metric.kind !== 'latency') return metric.kind;
  return metric.histogram !== undefined ? 'histogram' : 'summary';
}

/** JSON has no Infinity: a histogram's +Inf bound is stored as null and read back as Infinity. */
export function toJson(readings: Record<string, WindowReading | null>): string {
  return JSON.stringify(readings, (_k, v) => (v === Infinity ? '+Inf' : v));
}
export function fromJson(json: string): Record<string, WindowReading | null> {
  const out = parseReadings(json);
  for (const r of Object.values(out)) {
    if (r?.kind === 'histogram') r.bounds = r.bounds.map((b) => ((b as unknown) === '+Inf' ? Infinity : b));
  }
  return out;
}

function sum<K extends string>(rows: readonly Record<K, number>[], keys: K[]): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const k of keys) {
    let total = 0;
    for (const r of rows) if (Number.isFinite(r[k])) total += r[k];
    out[k] = total;
  }
  return out;
}
