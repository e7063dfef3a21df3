/**
 * `npm run bench:rollout`: false kills and detection of the guarded rollout (server/flags/rollouts.ts),
 * on seeded synthetic exposures, judged by exactly what the server runs: the immune system's
 * verdict over the two sides of the step's window (immune/watch.ts verdictOf, with `compare` on the
 * variant label, alpha spent over the steps: stepAlpha) and the step's decision (flags/rollout.ts decideStep: kill, wait for minSample,
 * hold on a sample-ratio mismatch, advance). Each rollout ramps 1 → 5 → 10 → 25 → 50 → 100 %; each
 * step's regression test reads every exposure since the rollout started, its minSample and
 * sample-ratio check the step's own (as the server, flags/rollouts.ts measure). Each
 * hold brings `--exposures` exposures (default 10,000) split between the variants by the step's
 * share, each failing at 0.5 % (the old variant, and the new one of a good rollout) or 1 % (the new
 * variant of a bad rollout: the error rate doubled). A step waiting for minSample is judged again
 * over its longer window, as the server does. Default rule: alpha 0.002 (config/rollouts.ts DEFAULT_ROLLOUT_ALPHA; `--alpha`), maxIncrease 1.5, minSample 1000.
 *
 *   node dist/test/bench/rollout.js [--rollouts 200] [--seed 25] [--seeds 1] [--exposures 10000] [--min-sample 1000] [--alpha 0.002]
 *   npm run bench:rollout -- --seeds 10       (seeds 25–34, 200 rollouts each: each seed, the worst, pooled)
 *   npm run bench:rollout -- --rollouts 2000  (one seed, 2,000 rollouts)
 */
import { verdictOf } from '../../server/immune/watch.js';
import { decideStep, stepAlpha } from '../../server/flags/rollout.js';
import { DEFAULT_ROLLOUT_ALPHA } from '../../server/config/rollouts.js';
import type { WatchMetric } from '../../server/config/watch.js';
import { seededRandom } from '../helpers.js';

const STEPS = [1, 5, 10, 25, 50, 100];
const BASE = 0.005;
const ALPHA = DEFAULT_ROLLOUT_ALPHA;
const MAX_HOLDS = 100; // per step, before a rollout counts as stuck
const METRIC: WatchMetric = { name: 'errors', kind: 'ratio', errors: 'app_requests_total{status="500"}', total: 'app_requests_total' };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

type Outcome = { end: 'done' | 'killed' | 'held' | 'stuck'; percent: number; holds: number };

export function simulateRollout(random: () => number, exposures: number, newRate: number, minSample: number, alpha = ALPHA): Outcome {
  let holds = 0;
  const side = { new: { errors: 0, total: 0 }, old: { errors: 0, total: 0 } }; // since the rollout started
  for (const [index, percent] of STEPS.entries()) {
    if (percent === 100) return { end: 'done', percent, holds: holds + 1 };
    const stepNew = side.new.total;
    const stepOld = side.old.total;
    for (let h = 0; h < MAX_HOLDS; h++) {
      holds++;
      for (let i = 0; i < exposures; i++) {
        const s = random() * 100 < percent ? side.new : side.old;
        s.total++;
        if (random() < (s === side.new ? newRate : BASE)) s.errors++;
      }
      const verdict = verdictOf({ metrics: [METRIC], alpha: stepAlpha(alpha, STEPS, index), maxIncrease: 1.5, compare: { label: 'variant', canary: 'on' } }, [
        { side: 'after', from: 0, to: 1, readings: { errors: { kind: 'ratio', ...side.new } } },
        { side: 'rest', from: 0, to: 1, readings: { errors: { kind: 'ratio', ...side.old } } }], []);
      const { decision } = decideStep({ exposuresNew: side.new.total - stepNew, exposuresOld: side.old.total - stepOld, regression: verdict.regression,
        inconclusive: verdict.inconclusive ?? null }, percent, minSample);
      if (decision === 'kill') return { end: 'killed', percent, holds };
      if (decision === 'hold') return { end: 'held', percent, holds };
      if (decision === 'advance') break;
      if (h === MAX_HOLDS - 1) return { end: 'stuck', percent, holds };
    }
  }
  return { end: 'done', percent: 100, holds };
}

interface SeedFigures {
  seed: number; rollouts: number;
  good: { killed: number; held: number; done: number; stuck: number; meanHolds: number };
  bad: { killed: number; held: number; done: number; stuck: number; killedAtPercent: Record<string, number> };
}

/** `rollouts` good and `rollouts` bad rollouts on one seed. */
function runSeed(seed: number, rollouts: number, exposures: number, minSample: number, alpha: number): SeedFigures {
  const random = seededRandom(seed);
  const run = (rate: number) => Array.from({ length: rollouts }, () => simulateRollout(random, exposures, rate, minSample, alpha));
  const good = run(BASE);
  const bad = run(2 * BASE);
  const count = (os: Outcome[], end: Outcome['end']) => os.filter((o) => o.end === end).length;
  const killedAt = new Map<number, number>();
  for (const o of bad) if (o.end === 'killed') killedAt.set(o.percent, (killedAt.get(o.percent) ?? 0) + 1);
  return {
    seed, rollouts,
    good: { killed: count(good, 'killed'), held: count(good, 'held'), done: count(good, 'done'), stuck: count(good, 'stuck'),
      meanHolds: +(good.reduce((s, o) => s + o.holds, 0) / rollouts).toFixed(1) },
    bad: { killed: count(bad, 'killed'), held: count(bad, 'held'), done: count(bad, 'done'), stuck: count(bad, 'stuck'),
      killedAtPercent: Object.fromEntries([...killedAt].sort((a, b) => a[0] - b[0])) },
  };
}

const pct = (n: number, of: number) => `${n}/${of} (${(100 * n / of).toFixed(1)} %)`;

function line(f: SeedFigures): string {
  return `seed ${f.seed}: good rollouts killed: ${pct(f.good.killed, f.rollouts)}, held ${f.good.held}, completed ${f.good.done}; ` +
    `bad (doubled error rate) caught: ${pct(f.bad.killed, f.rollouts)}, killed at ${JSON.stringify(f.bad.killedAtPercent)} %`;
}

/**
 * One seed (`--seed`), or `--seeds N`: the seeds `--seed` … `--seed` + N − 1, `--rollouts` each, then
 * the worst seed on each target and all of them pooled.
 */
function main(): void {
  const rollouts = arg('rollouts', 200);
  const exposures = arg('exposures', 10_000);
  const minSample = arg('min-sample', 1000);
  const alpha = arg('alpha', ALPHA);
  const first = arg('seed', 25);
  const seeds = arg('seeds', 1);
  if (!Number.isInteger(seeds) || seeds < 1) throw new RangeError(`--seeds must be a whole number ≥ 1 (got ${process.argv[process.argv.indexOf('--seeds') + 1]})`);
  const t0 = Date.now();
  const all: SeedFigures[] = [];
  for (let s = first; s < first + seeds; s++) {
    const f = runSeed(s, rollouts, exposures, minSample, alpha);
    all.push(f);
    console.log(line(f));
    if (seeds === 1) console.log(JSON.stringify({ ...f, exposuresPerHold: exposures, minSample, seconds: +((Date.now() - t0) / 1000).toFixed(1) }));
  }
  if (seeds === 1) return;
  const worstKills = all.reduce((w, f) => (f.good.killed > w.good.killed ? f : w));
  const worstCatch = all.reduce((w, f) => (f.bad.killed < w.bad.killed ? f : w));
  const n = rollouts * seeds;
  const killed = all.reduce((s, f) => s + f.good.killed, 0);
  const caught = all.reduce((s, f) => s + f.bad.killed, 0);
  console.log(`worst seed for false kills: ${worstKills.seed}, ${pct(worstKills.good.killed, rollouts)} killed (target ≤ 1 %)`);
  console.log(`worst seed for detection: ${worstCatch.seed}, ${pct(worstCatch.bad.killed, rollouts)} caught (target ≥ 95 %)`);
  console.log(`all ${seeds} seeds: good killed ${pct(killed, n)}, bad caught ${pct(caught, n)}`);
  console.log(JSON.stringify({ seeds: all.map((f) => f.seed), rollouts, exposuresPerHold: exposures, minSample,
    worst: { falseKills: { seed: worstKills.seed, killed: worstKills.good.killed }, detection: { seed: worstCatch.seed, caught: worstCatch.bad.killed } },
    pooled: { rollouts: n, goodKilled: killed, badCaught: caught }, seconds: +((Date.now() - t0) / 1000).toFixed(1) }));
}

main();
