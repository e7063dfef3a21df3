/**
 * An A/B test's statistics, pure: per variant, distinct users exposed and converted per metric →
 * conversion rates, the lift against the control (the flag's defaultVariant) with its 95 %
 * confidence interval, a two-sided p-value, the sample-ratio check, a minimum-data mask and one
 * decision line naming the rule that made it.
 *
 * - Conversion rate: users who converted on the metric / users exposed (each counted once in a phase).
 * - Difference: two-proportion z-test (pooled standard error), two-sided; the 95 % interval is the
 *   unpooled (Wald) interval of the difference, shown relative to the control's rate (lift).
 * - Significance: alpha 0.05 shared by the variants compared with the control (Bonferroni).
 * - Sample ratio: χ² goodness of fit of exposures against the phase's weights (k − 1 degrees of
 *   freedom; exact for two variants, Wilson–Hilferty's normal approximation beyond); p < 0.001 → no verdict.
 * - Minimum data: every variant needs MIN_USERS exposed users and MIN_CONVERSIONS conversions on the
 *   metric; below, its numbers are masked (null) and no verdict is shown.
 */
import normalCdf from '@stdlib/stats-base-dists-normal-cdf';
import { sampleRatioP, SRM_ALPHA } from './rollout.js';

export const MIN_USERS = 100;
export const MIN_CONVERSIONS = 10;
export const ALPHA = 0.05;
const Z95 = 1.959963984540054;

export interface VariantResult {
  variant: string; users: number; converted: number | null; rate: number | null;
  lift: number | null; ciLow: number | null; ciHigh: number | null; pValue: number | null; masked: boolean;
}
export interface MetricResult { metric: string; variants: VariantResult[] }
export interface ExperimentResult {
  control: string; exposures: { variant: string; users: number; expected: number | null }[];
  srmP: number | null; metrics: MetricResult[]; decision: string;
}

/** k-variant sample-ratio p-value (χ², k − 1 df); null without weights. */
export function srmPValue(observed: readonly number[], weights: readonly number[] | null): number | null {
  if (!weights || weights.length !== observed.length || observed.length < 2) return null;
  const n = observed.reduce((s, x) => s + x, 0);
  const w = weights.reduce((s, x) => s + x, 0);
  if (!(n > 0) || !(w > 0) || weights.some((x) => x <= 0)) return null;
  if (observed.length === 2) return sampleRatioP(observed[0], observed[1], weights[0] / w);
  const chi2 = observed.reduce((s, o, i) => { const e = (n * weights[i]) / w; return s + (o - e) ** 2 / e; }, 0);
  const k = observed.length - 1;
  const z = (Math.cbrt(chi2 / k) - (1 - 2 / (9 * k))) / Math.sqrt(2 / (9 * k));
  return Math.min(1, Math.max(0, 1 - normalCdf(z, 0, 1)));
}

export function analyse(input: {
  control: string; exposures: { variant: string; users: number }[]; weights: Record<string, number> | null;
  conversions: { metric: string; variant: string; users: number }[];
}): ExperimentResult {
  const variants = [...new Set([input.control, ...Object.keys(input.weights ?? {}), ...input.exposures.map((e) => e.variant)])];
  const usersOf = (v: string) => input.exposures.find((e) => e.variant === v)?.users ?? 0;
  const weights = input.weights ? variants.map((v) => input.weights![v] ?? 0) : null;
  const srmP = srmPValue(variants.map(usersOf), weights);
  const totalW = weights?.reduce((s, x) => s + x, 0) ?? 0;
  const total = variants.reduce((s, v) => s + usersOf(v), 0);
  const exposures = variants.map((v, i) => ({ variant: v, users: usersOf(v), expected: weights && totalW > 0 ? (total * weights[i]) / totalW : null }));
  const compared = Math.max(1, variants.length - 1);
  const metrics = [...new Set(input.conversions.map((c) => c.metric))].sort().map((metric): MetricResult => {
    const conv = (v: string) => input.conversions.find((c) => c.metric === metric && c.variant === v)?.users ?? 0;
    const nc = usersOf(input.control);
    const rc = nc > 0 ? conv(input.control) / nc : 0;
    return { metric, variants: variants.map((v): VariantResult => {
      const n = usersOf(v);
      const k = conv(v);
      const masked = n < MIN_USERS || k < MIN_CONVERSIONS || nc < MIN_USERS || conv(input.control) < MIN_CONVERSIONS;
      if (masked) return { variant: v, users: n, converted: null, rate: null, lift: null, ciLow: null, ciHigh: null, pValue: null, masked };
      const r = k / n;
      if (v === input.control) return { variant: v, users: n, converted: k, rate: r, lift: null, ciLow: null, ciHigh: null, pValue: null, masked };
      const pooled = (k + conv(input.control)) / (n + nc);
      const sePooled = Math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / nc));
      const pValue = sePooled > 0 ? 2 * (1 - normalCdf(Math.abs(r - rc) / sePooled, 0, 1)) : 1;
      const se = Math.sqrt((r * (1 - r)) / n + (rc * (1 - rc)) / nc);
      return { variant: v, users: n, converted: k, rate: r, lift: rc > 0 ? (r - rc) / rc : null,
        ciLow: rc > 0 ? (r - rc - Z95 * se) / rc : null, ciHigh: rc > 0 ? (r - rc + Z95 * se) / rc : null, pValue: Math.min(1, Math.max(0, pValue)), masked };
    }) };
  });
  return { control: input.control, exposures, srmP, metrics, decision: decide(input.control, srmP, metrics, compared) };
}

function decide(control: string, srmP: number | null, metrics: MetricResult[], compared: number): string {
  const alpha = ALPHA / compared;
  const rule = `rule: two-sided z-test of conversion rates against ${control} at alpha ${ALPHA} / ${compared} variant(s) compared; every variant ≥ ${MIN_USERS} exposed users and ≥ ${MIN_CONVERSIONS} conversions; sample ratio p ≥ ${SRM_ALPHA}`;
  if (metrics.length === 0) return `No verdict: no conversions recorded in this phase (${rule}).`;
  if (srmP !== null && srmP < SRM_ALPHA) return `No verdict: sample-ratio mismatch (χ² p = ${srmP.toExponential(2)} < ${SRM_ALPHA}) — the split is not what the weights say, so the results cannot be trusted (${rule}).`;
  const primary = metrics[0];
  if (primary.variants.some((v) => v.masked)) return `No verdict yet on ${primary.metric}: below the minimum data (${rule}).`;
  const better = primary.variants.filter((v) => v.variant !== control && v.pValue !== null && v.pValue < alpha && (v.lift ?? 0) > 0)
    .sort((a, b) => (b.lift ?? 0) - (a.lift ?? 0))[0];
  const pct = (x: number | null) => (x === null ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`);
  if (better) return `${better.variant} wins on ${primary.metric}: lift ${pct(better.lift)} (95 % CI ${pct(better.ciLow)} to ${pct(better.ciHigh)}), p = ${better.pValue!.toExponential(2)} < ${alpha.toPrecision(3)} (${rule}).`;
  const worse = primary.variants.filter((v) => v.variant !== control && v.pValue !== null && v.pValue < alpha);
  if (worse.length) return `Keep ${control}: ${worse.map((v) => v.variant).join(', ')} converts worse on ${primary.metric} (lift ${pct(worse[0].lift)}, p = ${worse[0].pValue!.toExponential(2)}) (${rule}).`;
  return `No significant difference on ${primary.metric} yet (smallest p = ${Math.min(...primary.variants.map((v) => v.pValue ?? 1)).toExponential(2)} ≥ ${alpha.toPrecision(3)}) (${rule}).`;
}
