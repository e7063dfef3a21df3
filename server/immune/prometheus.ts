/**
 * Reading metric windows. `WindowReader` is what the watcher asks of a source; this module has the
 * Prometheus one (PromQL over its HTTP API: GET /api/v1/query and /api/v1/query_range). Times are
 * milliseconds since the epoch; a window is (from, to]. Every request has a timeout
 * (PROMETHEUS_TIMEOUT_MS) and a bounded answer (MAX_ANSWER_BYTES); a failure throws an Error
 * naming the query, the server and what it said.
 */
import { renderSelector, type Matcher, type Selector } from '../config/selector.js';
import { fail } from '../errors.js';

export interface Buckets {
  /** Upper bounds, ascending (the last may be Infinity), and the observations in each (not cumulative). */
  bounds: number[];
  counts: number[];
  sum: number;
  count: number;
}
export interface WindowReader {
  /** The summed increase of the counters the selector picks over the window; null: the source has no such series there. */
  increase(sel: Selector, extra: Matcher[], from: number, to: number): Promise<number | null>;
  /** A histogram's observations over the window, by bucket; null: the source has no such series there. */
  buckets(sel: Selector, extra: Matcher[], from: number, to: number): Promise<Buckets | null>;
  /** The values of a gauge-like series (a summary's quantile) over the window, averaged across series. */
  series(sel: Selector, extra: Matcher[], from: number, to: number): Promise<number[]>;
}

export const PROMETHEUS_TIMEOUT_MS = 10_000; // 10 seconds per query
export const MAX_ANSWER_BYTES = 8 * 1024 * 1024; // 8 MiB
export const MAX_RANGE_POINTS = 11_000; // Prometheus's own limit on query_range

type Sample = { metric: Record<string, string>; value?: [number, string]; values?: [number, string][] };

export class PrometheusReader implements WindowReader {
  constructor(private readonly url: string, private readonly stepSeconds = 1, private readonly fetchFn: typeof fetch = fetch) {}

  async increase(sel: Selector, extra: Matcher[], from: number, to: number): Promise<number | null> {
    const q = `sum(increase(${renderSelector(sel, '', extra)}[${rangeOf(from, to)}]))`;
    const v = await this.instant(q, to);
    return v.length ? num(v[0].value![1]) : null; // an empty vector: no samples of it in the window
  }

  async buckets(sel: Selector, extra: Matcher[], from: number, to: number): Promise<Buckets | null> {
    const range = rangeOf(from, to);
    const [byLe, sum, count] = await Promise.all([
      this.instant(`sum by (le) (increase(${renderSelector(sel, '_bucket', extra)}[${range}]))`, to),
      this.instant(`sum(increase(${renderSelector(sel, '_sum', extra)}[${range}]))`, to),
      this.instant(`sum(increase(${renderSelector(sel, '_count', extra)}[${range}]))`, to),
    ]);
    if (count.length === 0 && byLe.length === 0) return null;
    const cumulative = byLe.map((s) => ({ le: num(s.metric.le ?? 'NaN'), n: num(s.value![1]) }))
      .filter((b) => !Number.isNaN(b.le)).sort((a, b) => a.le - b.le);
    return {
      ...fromCumulative(cumulative),
      sum: sum.length ? num(sum[0].value![1]) : 0,
      count: count.length ? num(count[0].value![1]) : 0,
    };
  }

  async series(sel: Selector, extra: Matcher[], from: number, to: number): Promise<number[]> {
    const step = Math.max(this.stepSeconds, (to - from) / 1000 / MAX_RANGE_POINTS);
    const params = new URLSearchParams({ query: `avg(${renderSelector(sel, '', extra)})`,
      start: String(from / 1000), end: String(to / 1000), step: String(step) });
    const data = await this.get('/api/v1/query_range', params);
    return (data[0]?.values ?? []).map(([, v]) => num(v)).filter((v) => Number.isFinite(v));
  }

  private async instant(query: string, at: number): Promise<Sample[]> {
    return this.get('/api/v1/query', new URLSearchParams({ query, time: String(at / 1000) }));
  }

  private async get(path: string, params: URLSearchParams): Promise<Sample[]> {
    const where = `${this.url.replace(/\/$/, '')}${path}`;
    const query = params.get('query');
    let res: Response;
    try {
      res = await this.fetchFn(`${where}?${params}`, { signal: AbortSignal.timeout(PROMETHEUS_TIMEOUT_MS) });
    } catch (err) {
      fail('GG_METRICS_SOURCE', `Prometheus at ${this.url} did not answer ${query}: ${(err as Error).message} — check watch.source.prometheus`);
    }
    const text = await res.text();
    if (text.length > MAX_ANSWER_BYTES) fail('GG_METRICS_SOURCE', `Prometheus answered ${query} with over ${MAX_ANSWER_BYTES} bytes — narrow the selector`);
    let body: { status?: string; error?: string; data?: { resultType?: string; result?: Sample[] } };
    try { body = JSON.parse(text); } catch { body = {}; }
    if (!res.ok || body.status !== 'success') {
      fail('GG_METRICS_SOURCE', `Prometheus at ${this.url} refused ${query}: ${res.status} ${body.error ?? text.slice(0, 200)}`);
    }
    return body.data?.result ?? [];
  }
}

/** Cumulative bucket counts (le ascending) → per-bucket counts; a counter reset mid-way cannot make one negative. */
export function fromCumulative(cumulative: { le: number; n: number }[]): { bounds: number[]; counts: number[] } {
  const bounds: number[] = [];
  const counts: number[] = [];
  let prev = 0;
  for (const b of cumulative) {
    bounds.push(b.le);
    counts.push(Math.max(0, b.n - prev));
    prev = Math.max(prev, b.n);
  }
  return { bounds, counts };
}

function rangeOf(from: number, to: number): string {
  return `${Math.max(1, Math.round((to - from) / 1000))}s`;
}

function num(v: string): number {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}
