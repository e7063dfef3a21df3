/**
 * A verdict in words (tree closure, alert, deploy page) and each metric's before/after as a
 * server-rendered SVG chart (no script; text escaped).
 */
import type { MetricEvidence, Verdict } from './hooks.js';

export const MAX_DESCRIBED = 3; // metrics named in a closure message

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (n !== 0 && Math.abs(n) < 0.001) return n.toExponential(2);
  return Number(n.toPrecision(4)).toString();
}

/** A p-value for people: `< 0.001` below that (3.3e-16 means "certainly" to a reader), else two significant digits. */
export function formatPValue(p: number): string {
  if (!Number.isFinite(p)) return String(p);
  return p < 0.001 ? '< 0.001' : Number(p.toPrecision(2)).toString();
}

/** A measured value for people: three significant digits, never in exponent form (0.000123, not 1.23e-4). */
export function formatPlain(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number(n.toPrecision(3)).toLocaleString('en-US', { maximumFractionDigits: 20, useGrouping: false });
}

/** One metric in words; `forPeople` (the deploy page): plain values and `p < 0.001`, else (messages, logs) `p=1.00e-9`. */
export function describeEvidence(e: MetricEvidence, forPeople = false): string {
  if (!forPeople) return `${e.metric} ${formatNumber(e.before)} → ${formatNumber(e.after)} (×${formatNumber(e.effect)}, p=${formatNumber(e.pValue)})`;
  const p = formatPValue(e.pValue);
  return `${e.metric} ${formatPlain(e.before)} → ${formatPlain(e.after)} (×${formatPlain(e.effect)}, p ${p.startsWith('<') ? p : `= ${p}`})`;
}

/** The regressed metrics (or, without any, "no metric evidence"), as one line. */
export function describeVerdict(v: Verdict, forPeople = false): string {
  const bad = v.evidence.filter((e) => e.regression);
  if (bad.length === 0) return v.regression ? 'regression (an alert fired; no metric evidence)' : 'no regression';
  const more = bad.length > MAX_DESCRIBED ? ` and ${bad.length - MAX_DESCRIBED} more` : '';
  return bad.slice(0, MAX_DESCRIBED).map((e) => describeEvidence(e, forPeople)).join('; ') + more;
}

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * One metric's chart (for people: its numbers plain, never in exponent form): the samples before and after (when the watcher gave them) as two series
 * side by side, else two bars (before, after); a red "after" when it regressed.
 */
export function evidenceSvg(e: MetricEvidence, width = 360, height = 120): string {
  const pad = 24;
  const before = e.samplesBefore?.length ? e.samplesBefore : [e.before];
  const after = e.samplesAfter?.length ? e.samplesAfter : [e.after];
  const all = [...before, ...after].filter(Number.isFinite);
  const max = Math.max(...all, 0) || 1;
  const y = (v: number) => height - pad - (Math.max(0, v) / max) * (height - 2 * pad);
  const half = (width - 2 * pad) / 2;
  const afterColour = e.regression ? '#c62828' : '#2e7d32';
  const series = (values: number[], x0: number, colour: string, cls: string) => {
    if (values.length === 1) {
      const x = x0 + half * 0.25;
      return `<rect class="${cls}" x="${x.toFixed(1)}" y="${y(values[0]).toFixed(1)}" width="${(half * 0.5).toFixed(1)}" ` +
        `height="${(height - pad - y(values[0])).toFixed(1)}" fill="${colour}"/>`;
    }
    const step = half / Math.max(1, values.length - 1);
    const points = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polyline class="${cls}" points="${points}" fill="none" stroke="${colour}" stroke-width="1.5"/>`;
  };
  return `<svg xmlns="http://www.w3.org/2000/svg" class="evidence-chart" role="img" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" data-metric="${escapeXml(e.metric)}">` +
    `<title>${escapeXml(describeEvidence(e, true))}</title>` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#999"/>` +
    series(before, pad, '#546e7a', 'before') + series(after, pad + half, afterColour, 'after') +
    `<text x="${pad}" y="${height - 6}" font-size="11">before ${escapeXml(formatPlain(e.before))}</text>` +
    `<text x="${pad + half}" y="${height - 6}" font-size="11">after ${escapeXml(formatPlain(e.after))}</text>` +
    `<text x="${pad}" y="14" font-size="11">max ${escapeXml(formatPlain(max))}</text></svg>`;
}
