/**
 * watchStage: the immune system's watch over one deploy stage. Called right after the stage's
 * `run` succeeded, at t0 = now(): it reads the window before (t0 − baselineSeconds, t0] (default five windows) — or,
 * with `compare`, the rest of the fleet over the window after — waits `seconds` (+ settleSeconds
 * for the last scrape to land), reads the window after (t0, t0 + seconds] and judges each metric
 * (server/immune/verdict.ts): a regression only when significant at alpha (shared by the
 * metrics) and at least maxIncrease worse. Alerts firing for `service` from t0 on (opts.alerts)
 * are regressions too.
 *
 * Sources: a Prometheus server (PromQL over HTTP) or a /metrics page scraped by greengate
 * (opts.history, a ScrapeHistory the caller keeps; pass the same one for the whole deploy and
 * follow the page before the stage runs — `followSource(spec, history)` — so a before window
 * exists; without one, a private history is used and the baseline is what the process counted
 * since it started). Resuming after a restart: pass `opts.startedAt` (the stored t0) and only the
 * rest of the window is waited.
 *
 * Cancelling: opts.signal aborts the wait and rejects with its reason. A source that fails
 * (Prometheus down, page unreachable) rejects with an Error naming it: the caller decides
 * (the orchestrator rolls back: a watch that cannot see is not a pass).
 */
import { baselineSecondsOf, maxIncreaseOf, type WatchMetric, type WatchSpec } from '../config/watch.js';
import type { AlertBook } from './alerts.js';
import { PrometheusReader, type WindowReader } from './prometheus.js';
import { ScrapeHistory } from './scrape.js';
import { parseSelector, type Matcher } from './selector.js';
import { samplesOfBuckets } from './stats.js';
import { judge, type Reading, type Verdict } from './verdict.js';

export type { MetricEvidence, Verdict } from './verdict.js';

export interface WatchOptions {
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Scraped pages' history (scrape sources); see followSource. */
  history?: ScrapeHistory;
  /** Alerts from Alertmanager (spec.service). */
  alerts?: Pick<AlertBook, 'alertsFiring'>;
  /** When the stage finished (ms), for a watch resumed after a restart; default now(). */
  startedAt?: number;
}

/** Starts scraping the spec's page (if it is a scrape source) and resolves after the first scrape. */
export function followSource(spec: Pick<WatchSpec, 'source'>, history: ScrapeHistory): Promise<void> {
  if (!('scrape' in spec.source)) return Promise.resolve();
  return history.follow(spec.source.scrape, spec.source.interval * 1000);
}

export async function watchStage(spec: WatchSpec, opts: WatchOptions = {}): Promise<Verdict> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => abortableSleep(ms, opts.signal));
  const t0 = opts.startedAt ?? now();
  const windowMs = spec.seconds * 1000;
  const baselineMs = baselineSecondsOf(spec) * 1000;
  const ownHistory = 'scrape' in spec.source && !opts.history ? new ScrapeHistory({ now }) : null;
  const history = opts.history ?? ownHistory;
  try {
    if (history) await followSource(spec, history);
    const reader: WindowReader = 'prometheus' in spec.source
      ? new PrometheusReader(spec.source.prometheus)
      : history!.reader(spec.source.scrape);
    // Before: read now, while it is fresh in the source (a scrape history is kept anyway).
    const before = spec.compare ? null : await Promise.all(spec.metrics.map((m) => read(reader, m, [], t0 - baselineMs, t0)));
    opts.signal?.throwIfAborted();
    const wait = t0 + windowMs + spec.settleSeconds * 1000 - now();
    if (wait > 0) await sleep(wait);
    opts.signal?.throwIfAborted();
    if (history && 'scrape' in spec.source) await history.scrapeNow(spec.source.scrape);
    const end = t0 + windowMs;
    const canary: Matcher[] = spec.compare ? [{ label: spec.compare.label, op: '=', value: spec.compare.canary }] : [];
    const rest: Matcher[] = spec.compare ? [{ label: spec.compare.label, op: '!=', value: spec.compare.canary }] : [];
    const after = await Promise.all(spec.metrics.map((m) => read(reader, m, canary, t0, end)));
    const baseline = before ?? await Promise.all(spec.metrics.map((m) => read(reader, m, rest, t0, end)));
    const alerts = spec.service && opts.alerts ? groupByName(opts.alerts.alertsFiring(spec.service, t0)) : [];
    return judge(spec.metrics, spec.metrics.map((_, i) => ({ before: baseline[i], after: after[i] })),
      { alpha: spec.alpha, maxIncrease: maxIncreaseOf(spec), alerts });
  } finally {
    ownHistory?.close();
  }
}

async function read(reader: WindowReader, metric: WatchMetric, extra: Matcher[], from: number, to: number): Promise<Reading> {
  switch (metric.kind) {
    case 'ratio': {
      const [errors, total] = await Promise.all([
        reader.increase(parseSelector(metric.errors), extra, from, to),
        reader.increase(parseSelector(metric.total), extra, from, to),
      ]);
      return { kind: 'ratio', errors, total };
    }
    case 'rate':
      return { kind: 'rate', count: await reader.increase(parseSelector(metric.counter), extra, from, to), seconds: (to - from) / 1000 };
    case 'latency': {
      if (metric.histogram !== undefined) {
        const b = await reader.buckets(parseSelector(metric.histogram), extra, from, to);
        const finiteTop = b.bounds.filter(Number.isFinite).at(-1) ?? 0;
        const bounds = b.bounds.map((x) => (Number.isFinite(x) ? x : finiteTop * 2)); // over the last bucket: ranked last
        return { kind: 'latency', samples: samplesOfBuckets(bounds, b.counts), mean: b.count > 0 ? b.sum / b.count : undefined };
      }
      const quantile: Matcher = { label: 'quantile', op: '=', value: String(metric.quantile) };
      return { kind: 'latency', samples: await reader.series(parseSelector(metric.summary!), [...extra, quantile], from, to) };
    }
  }
}

function groupByName(alerts: { name: string }[]): { name: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(a.name, (counts.get(a.name) ?? 0) + 1);
  return [...counts].map(([name, count]) => ({ name, count }));
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(timer); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
