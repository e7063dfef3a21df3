/**
 * `npm run bench:immune`: false alarms and detection of the immune system's judgement, on seeded
 * synthetic traffic. Each simulated deploy has a window before and after, each with N requests:
 * a steady 0.5 % error rate and latencies of 100 ms ± 30 % (uniform), observed into prom-client's
 * default histogram buckets (with _sum and _count), so each deploy is judged on exactly what
 * watchStage reads from a histogram and two counters. Good deploys change nothing; bad ones
 * double the error rate. The default watch spec judges them (alpha 0.01 over both metrics,
 * maxIncrease 1.5). Prints one line per N and the figures for docs/benchmarks.md.
 *
 * `--baselines 1,5` runs each row with a before window that many times as long as the after
 * window (watch `baselineSeconds`), with as many more requests.
 *
 *   node dist/test/bench/immune.js [--deploys 200] [--seed 16] [--requests 1000,5000] [--baselines 1,5]
 */
import { watchSchema } from '../../server/config/watch.js';
import { maxIncreaseOf } from '../../server/config/watch.js';
import { judge, type Reading } from '../../server/immune/verdict.js';
import { samplesOfBuckets } from '../../server/immune/stats.js';
import { seededRandom } from '../helpers.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]; // prom-client's defaults, seconds

export function simulateWindow(random: () => number, requests: number, errorRate: number, latency = 0.1, noise = 0.3):
  { ratio: Reading; latency: Reading } {
  let errors = 0;
  let sum = 0;
  const counts = new Array<number>(BUCKETS.length + 1).fill(0);
  for (let i = 0; i < requests; i++) {
    if (random() < errorRate) errors++;
    const l = latency * (1 + noise * (2 * random() - 1));
    sum += l;
    let b = BUCKETS.findIndex((bound) => l <= bound);
    if (b < 0) b = BUCKETS.length;
    counts[b]++;
  }
  const bounds = [...BUCKETS, BUCKETS.at(-1)! * 2];
  return {
    ratio: { kind: 'ratio', errors, total: requests },
    latency: { kind: 'latency', samples: samplesOfBuckets(bounds, counts), mean: sum / requests },
  };
}

export const SPEC = watchSchema.parse({
  seconds: 60,
  source: { scrape: 'http://app.invalid/metrics' },
  metrics: [
    { name: 'errors', kind: 'ratio', errors: 'http_requests_total{status=~"5.."}', total: 'http_requests_total' },
    { name: 'latency', kind: 'latency', histogram: 'http_request_duration_seconds' },
  ],
});

/** How many of `deploys` simulated deploys (the before window `baseline` times as long as the after one) simulated deploys the judgement calls a regression. */
export function countRegressions(seed: number, deploys: number, requests: number, afterErrorRate: number, afterLatency = 0.1, baseline = 1): number {
  const random = seededRandom(seed);
  let regressions = 0;
  for (let d = 0; d < deploys; d++) {
    const before = simulateWindow(random, Math.round(requests * baseline), 0.005);
    const after = simulateWindow(random, requests, afterErrorRate, afterLatency);
    const verdict = judge(SPEC.metrics, [
      { before: before.ratio, after: after.ratio },
      { before: before.latency, after: after.latency },
    ], { alpha: SPEC.alpha, maxIncrease: maxIncreaseOf(SPEC) });
    if (verdict.regression) regressions++;
  }
  return regressions;
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

function list(name: string, fallback: number[]): number[] {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1].split(',').map(Number) : fallback;
}

if (process.argv[1]?.endsWith('immune.js')) {
  const deploys = arg('deploys', 200);
  const seed = arg('seed', 16);
  console.log(`immune system judgement: ${deploys} deploys per row, seed ${seed}, alpha ${SPEC.alpha} over 2 metrics, maxIncrease ${maxIncreaseOf(SPEC)}`);
  console.log('baseline  requests/window  good deploys rolled back  error rate doubled: detected  latency +60 %: detected');
  for (const baseline of list('baselines', [1, 5])) for (const requests of list('requests', [1_000, 5_000, 10_000, 20_000])) {
    const started = Date.now();
    const falseAlarms = countRegressions(seed, deploys, requests, 0.005, 0.1, baseline);
    const detected = countRegressions(seed + 1, deploys, requests, 0.010, 0.1, baseline);
    const slower = countRegressions(seed + 2, deploys, requests, 0.005, 0.16, baseline);
    console.log(`${`${baseline}×`.padStart(8)}  ${String(requests).padStart(15)}  ${`${falseAlarms} / ${deploys}`.padStart(24)}  ` +
      `${`${detected} / ${deploys} (${(100 * detected / deploys).toFixed(1)} %)`.padStart(29)}  ` +
      `${`${slower} / ${deploys}`.padStart(23)}   (${Date.now() - started} ms)`);
  }
}
