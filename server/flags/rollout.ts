/**
 * A guarded rollout's arithmetic, pure (no I/O): the flag definition served at a step, and the
 * sample-ratio check. server/flags/rollouts.ts runs the ramp.
 *
 * Weights: flagd's `fractional` hashes targetingKey + flag key into [0, total weight) and gives the
 * bucket to the variants in the order listed (the first owns [0, w1), the next [w1, w1 + w2), …).
 * A rollout writes every `fractional` of the flag as `[[new, p], [old, 100 − p]]` — the new variant
 * first — so raising p from a to b keeps everyone below a: nobody who had the feature loses it while
 * it rises (test/server/flags/rollout.test.ts checks it on 10,000 keys with flagd-core). A flag with
 * no targeting gets that `fractional` as its targeting; a `bucketBy` first argument is kept. A flag
 * whose targeting has no `fractional` (or whose variants lack the new one) is left as written and
 * the problem reported: greengate cannot ramp what it cannot split.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import type { FlagSetDefinition } from './definitions.js';

/** The p-value below which a sample-ratio mismatch holds the ramp. */
export const SRM_ALPHA = 0.001;

export interface RolloutShare { key: string; variant: string; percent: number }
export interface Shaped { definition: FlagSetDefinition; problems: string[] }

/** The definition with each rollout's share applied to its flag's `fractional` weights. */
export function withShares(def: FlagSetDefinition, shares: readonly RolloutShare[]): Shaped {
  if (shares.length === 0) return { definition: def, problems: [] };
  const doc = JSON.parse(def.text) as { flags: Record<string, Record<string, unknown>> };
  const problems: string[] = [];
  for (const s of shares) {
    const flag = doc.flags[s.key];
    if (!flag) { problems.push(`rollout of "${s.key}": the flags file defines no such flag — add it or remove the rollout from greengate.yml`); continue; }
    const variants = Object.keys((flag.variants ?? {}) as Record<string, unknown>);
    if (!variants.includes(s.variant)) { problems.push(`rollout of "${s.key}": the flag has no variant "${s.variant}" (it has ${variants.join(', ') || 'none'}) — fix variant: in greengate.yml`); continue; }
    const dv = typeof flag.defaultVariant === 'string' ? flag.defaultVariant : null;
    const old = dv !== null && dv !== s.variant ? dv : variants.find((v) => v !== s.variant);
    if (old === undefined) { problems.push(`rollout of "${s.key}": the flag needs a second variant to ramp from`); continue; }
    const split = [[s.variant, s.percent], [old, 100 - s.percent]];
    const t = flag.targeting;
    if (t === undefined || t === null || (isObject(t) && Object.keys(t).length === 0)) {
      flag.targeting = { fractional: split };
    } else if (!rewrite(t, split)) {
      problems.push(`rollout of "${s.key}": its targeting has no "fractional" rule to ramp — add one (e.g. {"fractional": [["${s.variant}", 0], ["${old}", 100]]}) where the split belongs`);
    }
  }
  const text = JSON.stringify(doc);
  return { definition: { ...def, text, flags: doc.flags as unknown as FlagSetDefinition["flags"] }, problems };
}

/** Rewrites every fractional in a targeting rule (in place); whether there was one. */
function rewrite(node: unknown, split: (string | number)[][]): boolean {
  let found = false;
  if (Array.isArray(node)) for (const x of node) found = rewrite(x, split) || found;
  else if (isObject(node)) {
    for (const [op, args] of Object.entries(node)) {
      if (op === 'fractional' && Array.isArray(args)) {
        const bucketBy = args.length > 0 && !Array.isArray(args[0]) ? [args[0]] : [];
        node[op] = [...bucketBy, ...split.map((b) => [...b])];
        found = true;
      } else found = rewrite(args, split) || found;
    }
  }
  return found;
}

/**
 * Sample-ratio mismatch: χ² goodness of fit of exposures (new, old) against the expected share of
 * the new variant (0–1), one degree of freedom: p = 2 (1 − Φ(√χ²)). 1 when there is nothing to test.
 */
export function sampleRatioP(exposuresNew: number, exposuresOld: number, share: number): number {
  const n = exposuresNew + exposuresOld;
  if (!(n > 0) || !(share > 0) || !(share < 1)) return 1;
  const eNew = n * share;
  const eOld = n - eNew;
  const chi2 = (exposuresNew - eNew) ** 2 / eNew + (exposuresOld - eOld) ** 2 / eOld;
  const p = 2 * (1 - normalCdf(Math.sqrt(chi2), 0, 1));
  return Number.isFinite(p) ? Math.min(1, Math.max(0, p)) : 1;
}

/**
 * The significance the step at `index` of `steps` is judged at: the rollout's alpha spent over its
 * judged steps (all but a 100 % step) by the Pocock-type spending function of Lan and DeMets,
 * α*(t) = alpha · ln(1 + (e − 1) t) (K. K. G. Lan and D. L. DeMets, "Discrete sequential boundaries
 * for clinical trials", Biometrika 70(3):659–663, 1983), the information fraction t of the k-th of
 * K judged steps taken as k / K: step k is judged at α*(k/K) − α*((k−1)/K). The levels add up to
 * alpha, so by the union bound a good rollout is falsely killed at most alpha of the time however
 * many steps it has (well below: the looks read overlapping exposures). Pocock's shape spends a
 * little more at the first steps than an even split, so a bad variant is killed while few have it;
 * O'Brien–Fleming's (strict early) left a doubled error rate unkilled until the 5–25 % steps for
 * the same false kills (npm run bench:rollout, docs/benchmarks.md).
 */
export function stepAlpha(alpha: number, steps: readonly number[], index: number): number {
  const judged = steps.filter((p) => p < 100).length;
  const k = Math.min(judged, steps.slice(0, index + 1).filter((p) => p < 100).length);
  if (judged <= 1 || k < 1) return alpha;
  return spentAlpha(alpha, k / judged) - spentAlpha(alpha, (k - 1) / judged);
}

/** α*(t), the Pocock-type spending function: 0 at t = 0, alpha at t = 1, rising fastest early. */
export function spentAlpha(alpha: number, t: number): number {
  return alpha * Math.log(1 + (Math.E - 1) * Math.min(1, Math.max(0, t)));
}

export type StepDecision = 'wait' | 'kill' | 'hold' | 'advance';
export interface StepMeasure { exposuresNew: number; exposuresOld: number; regression: boolean; inconclusive: string | null }

/**
 * What a judged step does, in this order: too few exposures of the new variant (below minSample)
 * or a window without data waits (judged again a hold later, over the longer window) — no verdict
 * is taken before, so a step is tested once and waiting does not multiply false alarms; then a
 * regression kills; a sample-ratio mismatch against the step's share holds; anything else advances.
 */
export function decideStep(m: StepMeasure, percent: number, minSample: number): { decision: StepDecision; srmP: number } {
  const srmP = sampleRatioP(m.exposuresNew, m.exposuresOld, percent / 100);
  if (m.exposuresNew < minSample || m.inconclusive) return { decision: 'wait', srmP };
  if (m.regression) return { decision: 'kill', srmP };
  if (srmP < SRM_ALPHA) return { decision: 'hold', srmP };
  return { decision: 'advance', srmP };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
