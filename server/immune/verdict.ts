/**
 * The immune system's judgement, pure: what was measured in the window before a stage (or on the
 * rest of the fleet) and after it (or on the canary) → one MetricEvidence per metric, and the
 * Verdict. A metric is a regression only when its test is significant at alpha / (number of
 * metrics) — Bonferroni, so watching many metrics does not multiply false alarms — AND the
 * observed worsening (after / before) is at least `maxIncrease`. A firing alert for the deployed
 * service is a regression by itself (evidence with kind 'rate', metric "alert NAME", pValue 0).
 *
 * `effect` is Infinity when the before value is 0 and the after value is not (JSON writes null).
 */
import type { WatchMetric } from '../config/watch.js';
import { countTest, mannWhitney, median } from './stats.js';

export interface MetricEvidence {
  metric: string;
  kind: 'ratio' | 'rate' | 'latency';
  /** Error ratio (0–1), events per second, or latency (mean, or median of the samples). */
  before: number;
  after: number;
  pValue: number;
  /** How much worse after is than before (after / before; before / after for a rate whose drop is bad). */
  effect: number;
  regression: boolean;
  samplesBefore?: number[];
  samplesAfter?: number[];
}
/**
 * inconclusive: set (the reason) when a window had no data and what was read shows no regression —
 * the deploy is held, never promoted (server/immune/watch.ts).
 */
export interface Verdict { regression: boolean; evidence: MetricEvidence[]; inconclusive?: string }

export type Reading =
  | { kind: 'ratio'; errors: number; total: number }
  | { kind: 'rate'; count: number; seconds: number }
  | { kind: 'latency'; samples: number[]; mean?: number };

/** Evidence samples kept for charts: at most this many per side, evenly thinned. */
export const MAX_EVIDENCE_SAMPLES = 200;

export function judgeMetric(metric: WatchMetric, before: Reading, after: Reading, alpha: number, maxIncrease: number): MetricEvidence {
  const base = { metric: metric.name, kind: metric.kind };
  let result: { before: number; after: number; pValue: number; effect: number; samplesBefore?: number[]; samplesAfter?: number[] };
  if (metric.kind === 'ratio' && before.kind === 'ratio' && after.kind === 'ratio') {
    result = countTest(before.errors, before.total, after.errors, after.total, 'increase');
  } else if (metric.kind === 'rate' && before.kind === 'rate' && after.kind === 'rate') {
    result = countTest(before.count, before.seconds, after.count, after.seconds, metric.direction);
  } else if (metric.kind === 'latency' && before.kind === 'latency' && after.kind === 'latency') {
    const b = before.mean ?? median(before.samples);
    const a = after.mean ?? median(after.samples);
    const effect = b > 0 ? a / b : (a > 0 ? Infinity : 1);
    result = { before: b, after: a, effect, pValue: mannWhitney(before.samples, after.samples).pValue,
      samplesBefore: thinned(before.samples), samplesAfter: thinned(after.samples) };
  } else {
    throw new Error(`metric ${metric.name}: readings of kind ${before.kind}/${after.kind} for a ${metric.kind} metric`);
  }
  const regression = result.pValue < alpha && result.effect >= maxIncrease;
  return { ...base, ...result, regression };
}

/** The verdict over all metrics (each judged at alpha / count) and the firing alerts. */
export function judge(metrics: readonly WatchMetric[], readings: readonly { before: Reading; after: Reading }[],
  opts: { alpha: number; maxIncrease: number; alerts?: readonly { name: string; count: number }[] }): Verdict {
  const perMetric = opts.alpha / Math.max(1, metrics.length);
  const evidence = metrics.map((m, i) => judgeMetric(m, readings[i].before, readings[i].after, perMetric, opts.maxIncrease));
  for (const alert of opts.alerts ?? []) {
    evidence.push({ metric: `alert ${alert.name}`, kind: 'rate', before: 0, after: alert.count, pValue: 0, effect: Infinity, regression: true });
  }
  return { regression: evidence.some((e) => e.regression), evidence };
}

function thinned(values: readonly number[]): number[] {
  if (values.length <= MAX_EVIDENCE_SAMPLES) return [...values];
  const step = values.length / MAX_EVIDENCE_SAMPLES;
  return Array.from({ length: MAX_EVIDENCE_SAMPLES }, (_, i) => values[Math.floor(i * step)]);
}
