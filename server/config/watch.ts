/**
 * `watch:` of a deploy stage in greengate.yml: what the immune system (server/immune/) compares
 * before and after the stage. Validated once with the rest of the file; `watchSchema` is the one
 * schema, `WatchSpec` its parsed type (defaults filled in).
 *
 *   watch:
 *     seconds: 60                      # the window after the stage
 *     baselineSeconds: 300             # the window before it (default: 5 × seconds, see baselineSecondsOf)
 *     alpha: 0.01                      # significance, for all metrics together (Bonferroni)
 *     maxIncrease: 1.5                 # smallest worsening that counts (after / before); alias minEffect
 *     source: { prometheus: http://prometheus:9090 }     # PromQL over its HTTP API
 *     # or:  { scrape: http://app:8080/metrics, interval: 1 }   greengate scrapes it itself
 *     compare: { label: track, canary: canary }   # optional: canary series against the rest, same window
 *     service: shop                    # optional: Alertmanager alerts with label service=shop count
 *     metrics:
 *       - { name: errors, kind: ratio, errors: 'http_requests_total{status=~"5.."}', total: http_requests_total }
 *       - { name: signups, kind: rate, counter: signups_total, direction: decrease }
 *       - { name: latency, kind: latency, histogram: http_request_duration_seconds }
 *       - { name: p50, kind: latency, summary: rpc_duration_seconds, quantile: 0.5 }
 */
import { z } from 'zod';
import { parseSelector } from './selector.js';

export const MAX_WATCH_METRICS = 50;
const toNumber = (v: unknown) => typeof v === 'string' && /^\s*\d+(\.\d*)?\s*$/.test(v) ? Number(v) : v;
const num = (min: number, max: number, what: string) => {
  const msg = `must be ${what} from ${min} to ${max}`;
  return z.preprocess(toNumber, z.number(msg).min(min, msg).max(max, msg));
};
const selector = (example: string) => z.string(`must be a series selector, e.g. ${example}`).superRefine((s, ctx) => {
  try { parseSelector(s); } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }); }
});
const httpUrl = (what: string) => z.string().refine((s) => /^https?:\/\/[^\s/]+/.test(s),
  `must be an http:// or https:// URL of ${what}`);
const metricName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,62}$/, 'must be a short name: letters, digits, " ._:-", e.g. errors');

const ratioSchema = z.strictObject({
  name: metricName,
  kind: z.literal('ratio'),
  errors: selector('\'http_requests_total{status=~"5.."}\''),
  total: selector('http_requests_total'),
});
const rateSchema = z.strictObject({
  name: metricName,
  kind: z.literal('rate'),
  counter: selector('signups_total'),
  /** Which way is worse: more events (errors, the default) or fewer (signups, orders). */
  direction: z.enum(['increase', 'decrease']).default('increase'),
});
const latencySchema = z.strictObject({
  name: metricName,
  kind: z.literal('latency'),
  histogram: selector('http_request_duration_seconds').optional(),
  summary: selector('rpc_duration_seconds').optional(),
  quantile: num(0, 1, 'a quantile').default(0.5), // summary only: the quantile series compared
}).refine((m) => (m.histogram === undefined) !== (m.summary === undefined),
  'give exactly one of histogram: NAME (a Prometheus histogram) or summary: NAME (a summary\'s quantile series)');

export const watchMetricSchema = z.discriminatedUnion('kind', [ratioSchema, rateSchema, latencySchema], {
  error: 'must have kind: ratio (errors and total counters), rate (a counter) or latency (histogram or summary)',
});

export const sourceSchema = z.union([
  z.strictObject({ prometheus: httpUrl('a Prometheus server, e.g. http://localhost:9090') }),
  z.strictObject({
    scrape: httpUrl('a /metrics page, e.g. http://localhost:8080/metrics'),
    interval: num(0.2, 60, 'a number of seconds').default(1), // between scrapes
  }),
], { error: 'must be { prometheus: URL } (PromQL over its HTTP API) or { scrape: URL } (greengate scrapes a /metrics page)' });

export const watchSchema = z.strictObject({
  seconds: num(1, 86400, 'a number of seconds (e.g. seconds: 60)'),
  baselineSeconds: num(1, 86400, 'a number of seconds').optional(), // absent: BASELINE_WINDOWS × seconds
  alpha: num(1e-9, 0.5, 'a significance level').default(0.01),
  maxIncrease: num(1, 1000, 'a ratio after / before').optional(), // default 1.5, see effectiveWatch
  minEffect: num(1, 1000, 'a ratio after / before').optional(), // alias of maxIncrease
  settleSeconds: num(0, 120, 'a number of seconds').default(3), // after the window, for the last scrape to land
  source: sourceSchema,
  compare: z.strictObject({
    label: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a Prometheus label name'),
    canary: z.string().min(1, 'must be the label value of the canary series'),
  }).optional(),
  service: z.string().min(1).max(200).optional(),
  metrics: z.array(watchMetricSchema).max(MAX_WATCH_METRICS, `at most ${MAX_WATCH_METRICS} metrics`).default([]),
}).refine((w) => w.maxIncrease === undefined || w.minEffect === undefined, {
  message: 'give maxIncrease or minEffect (the same setting), not both', path: ['minEffect'],
});

export type WatchSpec = z.output<typeof watchSchema>;
export type WatchSpecInput = z.input<typeof watchSchema>;
export type WatchMetric = z.output<typeof watchMetricSchema>;
export type WatchSource = WatchSpec['source'];

export const DEFAULT_MAX_INCREASE = 1.5;

/** The smallest worsening (after / before) that is a regression. */
/**
 * The before window when greengate.yml gives none: five windows. A baseline five times as long
 * is known five times better, so chance dips in it stop looking like regressions after the stage:
 * on `npm run bench:immune`'s seeded traffic (0.5 % errors, 200 deploys per row) equal windows
 * rolled back 1 good deploy in 200 at 5,000 and 20,000 requests, five windows none at 10,000,
 * where a doubled error rate was caught in 199 of 200 (docs/benchmarks.md).
 */
export const BASELINE_WINDOWS = 5;

export function baselineSecondsOf(spec: Pick<WatchSpec, 'seconds' | 'baselineSeconds'>): number {
  return spec.baselineSeconds ?? Math.min(86_400, BASELINE_WINDOWS * spec.seconds);
}

export function maxIncreaseOf(spec: Pick<WatchSpec, 'maxIncrease' | 'minEffect'>): number {
  return spec.maxIncrease ?? spec.minEffect ?? DEFAULT_MAX_INCREASE;
}
