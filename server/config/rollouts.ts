/**
 * `rollouts:` under a repository's `flags:` in greengate.yml (issue 25 item 5): guarded incremental
 * rollouts, admin-owned — they live in greengate.yml, not in the pushed flags file, so pushed code
 * cannot turn off its own guard. server/flags/rollouts.ts runs them.
 *
 *   flags:
 *     file: flags.json
 *     token: ${SHOP_FLAGS_TOKEN}
 *     rollouts:
 *       new-checkout:
 *         variant: "on"                  # the new variant whose share rises
 *         steps: [1, 5, 10, 25, 50, 100] # percent of targeting keys, strictly rising
 *         hold: 600                      # seconds each step is held before it is judged
 *         minSample: 1000                # exposures of the new variant a step needs before a verdict
 *         alpha: 0.002                   # false-kill rate for the whole rollout: spent over its steps, shared by its metrics
 *         maxIncrease: 1.5               # smallest worsening (new / old) that counts
 *         source: { prometheus: http://prometheus:9090 }   # or { scrape: http://app:8080/metrics, interval: 1 }
 *         metrics:                       # as a deploy's watch:, series labelled flag=KEY and variant=NAME
 *           - { name: errors, kind: ratio, errors: 'http_requests_total{status=~"5.."}', total: http_requests_total }
 *
 * The first ratio metric's `total` counts exposures per variant (the sample-ratio check and minSample).
 */
import { z } from 'zod';
import { sourceSchema, watchMetricSchema } from './watch.js';

/** `{ scrape: URL, interval }`: greengate scrapes the app's /metrics page itself (as a deploy's watch does). */
const scrapeSource = sourceSchema.options[1];

export const MAX_ROLLOUTS = 50; // per repository
/** The whole rollout's false-kill rate by default (flags/rollout.ts stepAlpha spends it over the steps; npm run bench:rollout). */
export const DEFAULT_ROLLOUT_ALPHA = 0.002;
const toNumber = (v: unknown) => typeof v === 'string' && /^\s*\d+(\.\d*)?\s*$/.test(v) ? Number(v) : v;
const num = (min: number, max: number, what: string) => {
  const msg = `must be ${what} from ${min} to ${max}`;
  return z.preprocess(toNumber, z.number(msg).min(min, msg).max(max, msg));
};

export const rolloutSchema = z.strictObject({
  variant: z.string('must be the name of the variant whose share rises, e.g. variant: "on"').min(1, 'must name a variant'),
  steps: z.array(z.number().int('each step must be a whole percent').min(1, 'each step must be 1 to 100 (percent)').max(100, 'each step must be 1 to 100 (percent)'),
    'must be a list of percents, e.g. [1, 5, 10, 25, 50, 100]').min(1, 'needs at least one step, e.g. [1, 5, 10, 25, 50, 100]').max(100)
    .refine((s) => s.every((p, i) => i === 0 || p > s[i - 1]), 'must rise strictly (e.g. [1, 5, 10, 25, 50, 100]): a share that falls would take the feature from people who had it'),
  hold: num(1, 30 * 86400, 'a number of seconds each step is held'),
  minSample: z.number('must be a whole number of exposures').int('must be a whole number of exposures').min(1, 'must be at least 1 exposure').max(1e9).default(1000),
  alpha: num(1e-9, 0.5, 'a significance level').default(DEFAULT_ROLLOUT_ALPHA),
  maxIncrease: num(1, 1000, 'a ratio new / old').default(1.5),
  source: z.strictObject({
    prometheus: z.string().refine((s) => /^https?:\/\/[^\s/]+/.test(s), 'must be an http:// or https:// URL of a Prometheus server').optional(),
    scrape: scrapeSource.shape.scrape.optional(),
    interval: scrapeSource.shape.interval, // seconds between scrapes (scrape only)
  }, 'must be { prometheus: URL } or { scrape: URL of the app\'s /metrics page, interval: SECONDS } (series labelled flag and variant)')
    .refine((s) => (s.prometheus === undefined) !== (s.scrape === undefined),
      'give exactly one of prometheus: URL (a Prometheus server) or scrape: URL (greengate scrapes the app\'s /metrics page)')
    .transform((s): { prometheus: string } | { scrape: string; interval: number } => (s.scrape !== undefined ? { scrape: s.scrape, interval: s.interval } : { prometheus: s.prometheus! })),
  metrics: z.array(watchMetricSchema).min(1, 'needs at least one metric, e.g. a ratio of errors to requests').max(20)
    .refine((ms) => ms.some((m) => m.kind === 'ratio'), 'needs a ratio metric: its total counts the exposures of each variant'),
});
export type RolloutConfig = z.output<typeof rolloutSchema>;
export const rolloutsSchema = z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,200}$/, 'must be a flag key of the flags file'), rolloutSchema)
  .refine((r) => Object.keys(r).length <= MAX_ROLLOUTS, `at most ${MAX_ROLLOUTS} rollouts per repository`).optional();
export const ROLLOUT_KEYS = Object.keys(rolloutSchema.shape);
