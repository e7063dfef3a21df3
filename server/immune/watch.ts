/**
 * watchStage: the immune system's watch over one deploy stage. Called right after the stage's
 * `run` succeeded, at t0 = now(): it reads the window before (t0 − baselineSeconds, t0] (default five windows) — or,
 * with `compare`, the rest of the fleet over the window after — then the window after (t0, t0 + seconds]
 * in slices as they end (+ settleSeconds for the last scrape to land) and judges each metric
 * (server/immune/verdict.ts): a regression only when significant at alpha (shared by the
 * metrics) and at least maxIncrease worse. Alerts that started firing for `service` from t0 on
 * (opts.alerts) are regressions too; one that started before the watch was not caused by it.
 *
 * Fails closed. Every window read is saved at once (opts.samples: the orchestrator's is SQLite,
 * server/immune/samples.ts); resumed after a restart (`opts.startedAt`, the stored t0) the watch
 * reads only the windows it has not stored. A window the source has no data for — the server was
 * down while greengate scraped the page itself, Prometheus holds nothing for the selector — is
 * missing: unless what was read shows a regression anyway, the verdict is `inconclusive` (the
 * orchestrator holds the deploy; it never promotes it). One exception: the first deploy of a branch
 * (`opts.firstDeploy`) may have no baseline at all — nothing ran before it to measure — and is
 * judged on the window after alone (as before; the evidence says so).
 *
 * Slices: a Prometheus source is read over the whole window after it ends (Prometheus keeps the
 * samples; a range shorter than its scrape interval would be empty); a scraped page, whose history
 * is in memory, in slices of at least two scrapes (at most MAX_SLICES), each read when it ends —
 * a slice whose start the history does not reach (it began before a restart) is missing, unless
 * nothing listened on the page's port at the last scrape before the slice (connection refused,
 * ScrapeHistory.absentAt): the process answering now is one the stage started — a first deploy to
 * the host — and counts from 0, all of its counts its own (none from before the stage). Likewise a
 * page nothing listened on at the last scrape before the stage began (opts.stageStartedAt) has no
 * baseline after that refusal: a scrape of the stage's new process taken before the stage ended is
 * the new release, never the window before (no baseline: held, or the first deploy's exception).
 *
 * Sources: a Prometheus server (PromQL over HTTP) or a /metrics page scraped by greengate
 * (opts.history, a ScrapeHistory the caller keeps; pass the same one for the whole deploy and
 * follow the page before the stage runs — `followSource(spec, history)` — so a before window
 * exists; without one, a private history is used and the baseline is what the process counted
 * since it started).
 *
 * Cancelling: opts.signal aborts the wait and rejects with its reason. A source that fails
 * (Prometheus down, page unreachable) rejects with an Error naming it: the caller decides
 * (the orchestrator rolls back: a watch that cannot see is not a pass).
 */
import { baselineSecondsOf, maxIncreaseOf, type WatchMetric, type WatchSpec } from '../config/watch.js';
import type { AlertBook } from './alerts.js';
import { PrometheusReader, type WindowReader } from './prometheus.js';
import { combine, memoryBook, toReading, type SampleBook, type Side, type StoredWindow, type WindowReading } from './samples.js';
import { ScrapeHistory } from './scrape.js';
import { parseSelector, type Matcher } from '../config/selector.js';
import { judge, type MetricEvidence, type Verdict } from './verdict.js';

export type { MetricEvidence, Verdict } from './verdict.js';

export const MAX_SLICES = 30; // per window after a stage, for a scraped page

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
  /** Where each window read is kept (and found again after a restart); default: in memory. */
  samples?: SampleBook;
  /** No deploy of the branch was ever deployed: a baseline without data is not missing (nothing ran to measure). */
  firstDeploy?: boolean;
  /**
   * When the stage's run was queued (ms): a scraped page nothing listened on at the last scrape
   * before it has no baseline from then on (ScrapeHistory.refusedAt) — the stage started what answers.
   */
  stageStartedAt?: number;
}

/** Starts scraping the spec's page (if it is a scrape source) and resolves after the first scrape. */
export function followSource(spec: Pick<WatchSpec, 'source'>, history: ScrapeHistory): Promise<void> {
  if (!('scrape' in spec.source)) return Promise.resolve();
  return history.follow(spec.source.scrape, spec.source.interval * 1000);
}

/** The slices (from, to] of the window after a stage that starts at t0. */
/** How long before a scraped slice ends greengate scrapes the page itself (see watchStage). */
export const SCRAPE_LEAD_MS = 250; // a quarter of a second

export function slicesOf(spec: Pick<WatchSpec, 'seconds' | 'source'>, t0: number): [number, number][] {
  const windowMs = spec.seconds * 1000;
  const n = 'scrape' in spec.source
    ? Math.max(1, Math.min(MAX_SLICES, Math.floor(windowMs / (2 * spec.source.interval * 1000)))) : 1;
  return Array.from({ length: n }, (_, i) => [t0 + Math.round((windowMs * i) / n), t0 + Math.round((windowMs * (i + 1)) / n)]);
}

export async function watchStage(spec: WatchSpec, opts: WatchOptions = {}): Promise<Verdict> {
  const now = opts.now ?? Date.now;
  const sleep = opts.sleep ?? ((ms: number) => abortableSleep(ms, opts.signal));
  const t0 = opts.startedAt ?? now();
  const book = opts.samples ?? memoryBook();
  const ownHistory = 'scrape' in spec.source && !opts.history ? new ScrapeHistory({ now }) : null;
  const history = opts.history ?? ownHistory;
  const stored = book.load();
  const url = 'scrape' in spec.source ? spec.source.scrape : null;
  try {
    if (history) await followSource(spec, history);
    const reader: WindowReader = 'prometheus' in spec.source
      ? new PrometheusReader(spec.source.prometheus)
      : history!.reader(spec.source.scrape);
    /** A window's readings: the stored ones, else read now (and saved at once). */
    const windowOf = async (side: Side, from: number, to: number, extra: Matcher[]): Promise<StoredWindow> => {
      // The baseline is the one stored whatever its t0: a released hold watches again against the window before the deploy.
      const known = stored.find((w) => w.side === side && (side === 'before' || (w.from === from && w.to === to)));
      if (known && spec.metrics.every((m) => m.name in known.readings)) return known;
      // Nothing listened on the page when the stage began (refused at the last scrape before it): what
      // answered later is the stage's own process, not a baseline — the window before ends at that refusal.
      const refused = side === 'before' && url && opts.stageStartedAt !== undefined ? history!.refusedAt(url, opts.stageStartedAt) : null;
      const end = refused === null ? to : Math.max(from, Math.min(to, refused));
      const reachable = end > from && (side === 'before' || !url || (history!.since(url) ?? Infinity) <= from || history!.absentAt(url, from));
      const readings: Record<string, WindowReading | null> = {};
      for (const [i, r] of (await Promise.all(spec.metrics.map((m) => reachable ? readMetric(reader, m, extra, from, end) : null))).entries()) {
        readings[spec.metrics[i].name] = r;
      }
      const w: StoredWindow = { side, from, to: end, readings };
      book.save(w);
      return w;
    };
    const windows: StoredWindow[] = [];
    if (!spec.compare) windows.push(await windowOf('before', t0 - baselineSecondsOf(spec) * 1000, t0, []));
    opts.signal?.throwIfAborted();
    const slices = slicesOf(spec, t0);
    const canary: Matcher[] = spec.compare ? [{ label: spec.compare.label, op: '=', value: spec.compare.canary }] : [];
    const rest: Matcher[] = spec.compare ? [{ label: spec.compare.label, op: '!=', value: spec.compare.canary }] : [];
    for (const [i, [from, to]] of slices.entries()) {
      const done = stored.some((w) => w.side === 'after' && w.from === from) && (!spec.compare || stored.some((w) => w.side === 'rest' && w.from === from));
      if (!done) {
        if (history && url) {
          // One scrape taken just before the slice ends lands inside it, so a late periodic scrape (a
          // loaded machine) does not leave the slice without data and hold a healthy deploy.
          const lead = to - Math.min(SCRAPE_LEAD_MS, (to - from) / 4) - now();
          if (lead > 0) await sleep(lead);
          opts.signal?.throwIfAborted();
          await history.scrapeNow(url);
        }
        const wait = to + (i === slices.length - 1 ? spec.settleSeconds * 1000 : 0) - now();
        if (wait > 0) await sleep(wait);
        opts.signal?.throwIfAborted();
        if (history && url) await history.scrapeNow(url);
      }
      windows.push(await windowOf('after', from, to, canary));
      if (spec.compare) windows.push(await windowOf('rest', from, to, rest));
    }
    const alerts = spec.service && opts.alerts ? groupByName(opts.alerts.alertsFiring(spec.service, t0)) : [];
    return verdictOf(spec, windows, alerts, { firstDeploy: opts.firstDeploy });
  } finally {
    ownHistory?.close();
  }
}

/** The verdict over the windows read: each side's windows added up; a missing one makes a verdict without regression inconclusive. */
export function verdictOf(spec: Pick<WatchSpec, 'metrics' | 'alpha' | 'compare'> & Partial<Pick<WatchSpec, 'maxIncrease' | 'minEffect'>>,
  windows: readonly StoredWindow[], alerts: { name: string; count: number }[], opts: { firstDeploy?: boolean } = {}): Verdict {
  const beforeSide: Side = spec.compare ? 'rest' : 'before';
  const missing: string[] = [];
  const judged: WatchMetric[] = [];
  const readings: { before: ReturnType<typeof toReading>; after: ReturnType<typeof toReading> }[] = [];
  const unjudged: MetricEvidence[] = [];
  for (const m of spec.metrics) {
    const side = (s: Side) => {
      const ws = windows.filter((w) => w.side === s);
      if (s === 'before' && opts.firstDeploy && ws.every((w) => !w.readings[m.name])) return null; // nothing ran before: judged on nothing
      for (const w of ws) if (!w.readings[m.name]) missing.push(`${m.name} ${s === 'before' ? 'before the stage' : s === 'rest' ? 'on the rest of the fleet' : 'after the stage'} (${clock(w.from)}–${clock(w.to)})`);
      return combine(ws.flatMap((w) => w.readings[m.name] ?? []));
    };
    const b = side(beforeSide);
    const a = side('after');
    if (b && a) { judged.push(m); readings.push({ before: toReading(b), after: toReading(a) }); }
    else unjudged.push({ metric: m.name, kind: m.kind, before: NaN, after: NaN, pValue: 1, effect: NaN, regression: false });
  }
  const v = judge(judged, readings, { alpha: spec.alpha / Math.max(1, spec.metrics.length) * Math.max(1, judged.length),
    maxIncrease: maxIncreaseOf(spec), alerts });
  const verdict: Verdict = { regression: v.regression, evidence: [...v.evidence, ...unjudged] };
  if (missing.length && !v.regression) {
    verdict.inconclusive = `no data for ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ` and ${missing.length - 3} more` : ''}` +
      ' — the server was down or the source had none';
  }
  return verdict;
}

/** One metric over (from, to] of the series the extra matchers pick (null: the source has none). */
export async function readMetric(reader: WindowReader, metric: WatchMetric, extra: Matcher[], from: number, to: number): Promise<WindowReading | null> {
  switch (metric.kind) {
    case 'ratio': {
      const [errors, total] = await Promise.all([
        reader.increase(parseSelector(metric.errors), extra, from, to),
        reader.increase(parseSelector(metric.total), extra, from, to),
      ]);
      return total === null ? null : { kind: 'ratio', errors: errors ?? 0, total }; // no error series yet: none counted
    }
    case 'rate': {
      const count = await reader.increase(parseSelector(metric.counter), extra, from, to);
      return count === null ? null : { kind: 'rate', count, seconds: (to - from) / 1000 };
    }
    case 'latency': {
      if (metric.histogram !== undefined) {
        const b = await reader.buckets(parseSelector(metric.histogram), extra, from, to);
        return b && { kind: 'histogram', ...b };
      }
      const quantile: Matcher = { label: 'quantile', op: '=', value: String(metric.quantile) };
      const values = await reader.series(parseSelector(metric.summary!), [...extra, quantile], from, to);
      return values.length ? { kind: 'summary', values } : null;
    }
  }
}

function clock(ms: number): string { return new Date(ms).toISOString().slice(11, 19); }

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
