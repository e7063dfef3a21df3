/**
 * The flag page's chart of a guarded rollout (flags/rollouts.ts), server-rendered SVG like the
 * deploy evidence charts: over time (each judgement a point), the new variant's share (percent,
 * a step line, left scale 0–100 %) and the first metric on the new variant and on the others
 * (right scale, 0 to the largest value). Pure: a RolloutView in, markup out (text escaped).
 */
import type { RolloutView } from '../flags/rollouts.js';

const escapeXml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function rolloutSvg(view: RolloutView, width = 720, height = 180): string {
  const pad = 28;
  const pts = view.points;
  const head = `<svg xmlns="http://www.w3.org/2000/svg" class="rollout-chart" role="img" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<title>${escapeXml(`${view.key}: ${view.variant} at ${view.percent} % (${view.state})`)}</title>` +
    `<line x1="${pad}" y1="${height - pad}" x2="${width - pad}" y2="${height - pad}" stroke="#999"/>`;
  if (pts.length === 0) return `${head}<text x="${pad}" y="${height / 2}" font-size="12">no step judged yet</text></svg>`;
  const t0 = pts[0].at;
  const span = Math.max(1, pts[pts.length - 1].at - t0);
  const x = (at: number) => pad + ((at - t0) / span) * (width - 2 * pad);
  const yPct = (p: number) => height - pad - (p / 100) * (height - 2 * pad);
  const metrics = pts.flatMap((p) => [p.metricNew, p.metricOld]).filter((v): v is number => v !== null && Number.isFinite(v));
  const max = Math.max(...metrics, 0) || 1;
  const yMetric = (v: number) => height - pad - (v / max) * (height - 2 * pad);
  const share = pts.map((p, i) => `${x(p.at).toFixed(1)},${yPct(i > 0 ? pts[i - 1].percent : p.percent).toFixed(1)} ${x(p.at).toFixed(1)},${yPct(p.percent).toFixed(1)}`).join(' ');
  const line = (pick: (p: RolloutView['points'][number]) => number | null, colour: string, cls: string) => {
    const ps = pts.filter((p) => pick(p) !== null).map((p) => `${x(p.at).toFixed(1)},${yMetric(pick(p)!).toFixed(1)}`);
    return ps.length ? `<polyline class="${cls}" points="${ps.join(' ')}" fill="none" stroke="${colour}" stroke-width="1.5"/>` : '';
  };
  const marks = pts.filter((p) => p.decision !== 'wait').map((p) =>
    `<circle class="decision ${p.decision}" cx="${x(p.at).toFixed(1)}" cy="${yPct(p.percent).toFixed(1)}" r="3" fill="${p.decision === 'kill' ? '#c62828' : p.decision === 'hold' ? '#f9a825' : '#2e7d32'}"><title>${escapeXml(`${p.decision} at ${p.percent} %`)}</title></circle>`).join('');
  return head +
    `<polyline class="share" points="${share}" fill="none" stroke="#1565c0" stroke-width="2"/>` +
    line((p) => p.metricOld, '#546e7a', 'metric-old') + line((p) => p.metricNew, view.state === 'killed' ? '#c62828' : '#2e7d32', 'metric-new') + marks +
    `<text x="${pad}" y="14" font-size="11">share of ${escapeXml(view.variant)} (blue, 0–100 %); first metric on ${escapeXml(view.variant)} (green/red) and the others (grey), max ${escapeXml(max.toPrecision(3))}</text></svg>`;
}
