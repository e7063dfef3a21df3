/**
 * Scraping a `/metrics` page ourselves: a ScrapeHistory follows pages (one timer per URL, every
 * `interval`), parses the Prometheus text format with parse-prometheus-text-format, and keeps
 * each scrape's series for `keepMs` (at most MAX_SCRAPES per URL). `reader(url)` answers the
 * watcher's questions over that history as Prometheus would: counter increases sum the
 * differences of consecutive scrapes, a value that went down is a restart (the new value is the
 * increase, as Prometheus's increase() counts it) and a series first seen later counts from 0.
 *
 * The window before a stage exists only if the page was followed before the stage ran: the
 * deploy orchestrator calls `follow` when a deploy starts and passes the same history to
 * watchStage. When the history starts inside a window, the first scrape's counters count whole
 * (what the process counted since it started): a baseline over the process's life.
 *
 * A failed scrape (no answer within the interval or SCRAPE_TIMEOUT_MS, not 200, over
 * MAX_SCRAPE_BYTES, unparseable) is skipped and remembered as `lastError(url)`; timers are unref'd.
 * Its time is kept too, with whether the connection was refused (nothing listened on the port):
 * `absentAt(url, t)` says the page had no process at all at the last attempt at or before `t` and
 * none of its scrapes from then is kept — a process answering later started after that attempt, so
 * all it counted is its own (a deploy stage that started the app: its counters start from 0).
 */
import parsePrometheusTextFormat, { type PromFamily } from 'parse-prometheus-text-format';
import { fromCumulative, type Buckets, type WindowReader } from './prometheus.js';
import { matchesLabels, type Matcher, type Selector } from '../config/selector.js';
import { fail } from '../errors.js';

export const SCRAPE_TIMEOUT_MS = 5_000; // 5 seconds
export const MAX_SCRAPE_BYTES = 10 * 1024 * 1024; // 10 MiB
export const MAX_SCRAPES = 20_000; // per URL: 5.5 hours at one a second
export const DEFAULT_KEEP_MS = 2 * 60 * 60 * 1000; // 2 hours

interface Series { name: string; labels: Record<string, string>; value: number }
interface Scrape { t: number; series: Series[] }
/** A scrape that failed at `t`; `refused`: the connection was refused (no process listened). */
interface Failure { t: number; refused: boolean }
interface Followed { intervalMs: number; timer: NodeJS.Timeout; scrapes: Scrape[]; failures: Failure[]; lastError: string | null; inFlight: Promise<void> | null }

export class ScrapeHistory {
  private readonly pages = new Map<string, Followed>();
  private readonly keepMs: number;
  private readonly now: () => number;
  private readonly fetchFn: typeof fetch;

  constructor(opts: { keepMs?: number; now?: () => number; fetch?: typeof fetch } = {}) {
    this.keepMs = opts.keepMs ?? DEFAULT_KEEP_MS;
    this.now = opts.now ?? Date.now;
    this.fetchFn = opts.fetch ?? fetch;
  }

  /** Starts scraping `url` every `intervalMs` (again: keeps the history, takes the shorter interval); resolves after the first scrape. */
  follow(url: string, intervalMs: number): Promise<void> {
    const known = this.pages.get(url);
    if (known && known.intervalMs <= intervalMs) return known.inFlight ?? Promise.resolve();
    if (known) clearInterval(known.timer);
    const page: Followed = known ?? { intervalMs, timer: undefined as unknown as NodeJS.Timeout, scrapes: [], failures: [], lastError: null, inFlight: null };
    page.intervalMs = intervalMs;
    page.timer = setInterval(() => { void this.scrapeNow(url); }, intervalMs);
    page.timer.unref();
    this.pages.set(url, page);
    return this.scrapeNow(url);
  }

  unfollow(url: string): void {
    const page = this.pages.get(url);
    if (page) clearInterval(page.timer);
    this.pages.delete(url);
  }

  close(): void {
    for (const url of [...this.pages.keys()]) this.unfollow(url);
  }

  /** Scrapes a followed page now (waits for a scrape already under way first). */
  async scrapeNow(url: string): Promise<void> {
    const page = this.pages.get(url);
    if (!page) throw new Error(`${url} is not followed — call follow(url, interval) first`);
    if (page.inFlight) await page.inFlight;
    page.inFlight = this.scrapeOnce(url, page).finally(() => { page.inFlight = null; });
    return page.inFlight;
  }

  lastError(url: string): string | null { return this.pages.get(url)?.lastError ?? null; }
  /** When the oldest kept scrape of `url` was taken (null: none yet): a window starting before it has no base. */
  since(url: string): number | null { return this.pages.get(url)?.scrapes[0]?.t ?? null; }
  scrapeCount(url: string): number { return this.pages.get(url)?.scrapes.length ?? 0; }
  /**
   * Whether nothing listened at `url` at the last attempt at or before `t` (connection refused) and
   * no scrape of it from before `t` is kept: the process answering after `t` was not there then, so
   * its counters count from 0 (false when unknown: not followed then, or a scrape kept from before).
   */
  absentAt(url: string, t: number): boolean {
    const page = this.pages.get(url);
    if (!page || (page.scrapes[0] && page.scrapes[0].t <= t)) return false;
    return this.refusedAt(url, t) !== null;
  }

  /** When the last attempt at or before `t` was taken if nothing listened then (connection refused); null: it answered, failed otherwise, or none is known. */
  refusedAt(url: string, t: number): number | null {
    const page = this.pages.get(url);
    let last: Failure | null = null;
    for (const f of page?.failures ?? []) { if (f.t > t) break; last = f; }
    if (!page || !last?.refused) return null;
    const refused = last.t;
    return page.scrapes.some((s) => s.t > refused && s.t <= t) ? null : refused;
  }

  reader(url: string): WindowReader {
    const scrapes = () => this.pages.get(url)?.scrapes ?? [];
    return {
      increase: async (sel, extra, from, to) => increaseOf(scrapes(), sel.name, [...sel.matchers, ...extra], from, to),
      buckets: async (sel, extra, from, to) => bucketsOf(scrapes(), sel, extra, from, to),
      series: async (sel, extra, from, to) => seriesOf(scrapes(), sel, extra, from, to),
    };
  }

  private async scrapeOnce(url: string, page: Followed): Promise<void> {
    const t = this.now();
    try {
      const res = await this.fetchFn(url, { signal: AbortSignal.timeout(Math.min(SCRAPE_TIMEOUT_MS, Math.max(500, page.intervalMs * 2))),
        headers: { accept: 'text/plain;version=0.0.4' } });
      const text = await res.text();
      if (!res.ok) fail('GG_METRICS_SOURCE', `answered ${res.status}`);
      if (text.length > MAX_SCRAPE_BYTES) fail('GG_METRICS_SOURCE', `answered over ${MAX_SCRAPE_BYTES} bytes`);
      page.scrapes.push({ t, series: flatten(parsePrometheusTextFormat(text)) });
      page.lastError = null;
      const oldest = this.now() - this.keepMs;
      while (page.scrapes.length > MAX_SCRAPES || (page.scrapes.length > 2 && page.scrapes[0].t < oldest)) page.scrapes.shift();
    } catch (err) {
      page.lastError = `scraping ${url}: ${(err as Error).message}`;
      page.failures.push({ t, refused: refused(err) });
      const oldest = this.now() - this.keepMs;
      while (page.failures.length > MAX_SCRAPES || (page.failures.length > 1 && page.failures[0].t < oldest)) page.failures.shift();
    }
  }
}

/** fetch's error when the connection was refused (undici: TypeError "fetch failed", its cause's code). */
function refused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: string; errors?: { code?: string }[] } }).cause;
  return cause?.code === 'ECONNREFUSED' || (!!cause?.errors?.length && cause.errors.every((e) => e.code === 'ECONNREFUSED'));
}

/** Every sample as a series: a histogram as NAME_bucket{le}, NAME_sum, NAME_count; a summary as NAME{quantile}, NAME_sum, NAME_count. */
export function flatten(families: PromFamily[]): Series[] {
  const out: Series[] = [];
  for (const f of families) {
    for (const m of f.metrics) {
      const labels = m.labels ?? {};
      if (f.type === 'HISTOGRAM' || f.type === 'SUMMARY') {
        for (const [bound, v] of Object.entries(m.buckets ?? {})) out.push({ name: `${f.name}_bucket`, labels: { ...labels, le: bound }, value: num(v) });
        for (const [q, v] of Object.entries(m.quantiles ?? {})) out.push({ name: f.name, labels: { ...labels, quantile: q }, value: num(v) });
        if (m.sum !== undefined) out.push({ name: `${f.name}_sum`, labels, value: num(m.sum) });
        if (m.count !== undefined) out.push({ name: `${f.name}_count`, labels, value: num(m.count) });
      } else if (m.value !== undefined) {
        out.push({ name: f.name, labels, value: num(m.value) });
      }
    }
  }
  return out;
}

const keyOf = (s: Series) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

/** The scrapes that bound the window: the last one at or before `from` (if any) through the last one at or before `to`. */
function windowOf(scrapes: Scrape[], from: number, to: number): { base: Scrape | null; inside: Scrape[] } {
  let start = -1;
  for (let i = 0; i < scrapes.length && scrapes[i].t <= from; i++) start = i;
  const inside = scrapes.filter((s) => s.t > from && s.t <= to);
  return { base: start >= 0 ? scrapes[start] : null, inside };
}

/** Increase per matching series key over the window. */
function increasesOf(scrapes: Scrape[], name: string, matchers: Matcher[], from: number, to: number): Map<string, { series: Series; inc: number }> {
  const { base, inside } = windowOf(scrapes, from, to);
  const pick = (s: Scrape) => s.series.filter((x) => x.name === name && matchesLabels(matchers, x.labels));
  const out = new Map<string, { series: Series; inc: number }>();
  let prev = new Map<string, number>(base ? pick(base).map((x) => [keyOf(x), x.value]) : []);
  for (const scrape of inside) {
    const next = new Map<string, number>();
    for (const x of pick(scrape)) {
      const key = keyOf(x);
      const before = prev.get(key) ?? 0;
      const delta = x.value >= before ? x.value - before : x.value; // went down: a restart
      const entry = out.get(key) ?? { series: x, inc: 0 };
      entry.inc += Number.isFinite(delta) ? delta : 0;
      out.set(key, entry);
      next.set(key, x.value);
    }
    prev = next;
  }
  return out;
}

/** Null: no scrape in the window had the series. */
function increaseOf(scrapes: Scrape[], name: string, matchers: Matcher[], from: number, to: number): number | null {
  const increases = increasesOf(scrapes, name, matchers, from, to);
  if (increases.size === 0) return null;
  let sum = 0;
  for (const { inc } of increases.values()) sum += inc;
  return sum;
}

function bucketsOf(scrapes: Scrape[], sel: Selector, extra: Matcher[], from: number, to: number): Buckets | null {
  const matchers = [...sel.matchers, ...extra];
  const byLe = new Map<number, number>();
  for (const { series, inc } of increasesOf(scrapes, `${sel.name}_bucket`, matchers, from, to).values()) {
    const le = num(series.labels.le ?? 'NaN');
    if (!Number.isNaN(le)) byLe.set(le, (byLe.get(le) ?? 0) + inc);
  }
  const cumulative = [...byLe].map(([le, n]) => ({ le, n })).sort((a, b) => a.le - b.le);
  const count = increaseOf(scrapes, `${sel.name}_count`, matchers, from, to);
  if (count === null && byLe.size === 0) return null;
  return { ...fromCumulative(cumulative), sum: increaseOf(scrapes, `${sel.name}_sum`, matchers, from, to) ?? 0, count: count ?? 0 };
}

function seriesOf(scrapes: Scrape[], sel: Selector, extra: Matcher[], from: number, to: number): number[] {
  const matchers = [...sel.matchers, ...extra];
  const values: number[] = [];
  for (const scrape of scrapes) {
    if (scrape.t <= from || scrape.t > to) continue;
    const vs = scrape.series.filter((x) => x.name === sel.name && matchesLabels(matchers, x.labels)).map((x) => x.value).filter(Number.isFinite);
    if (vs.length) values.push(vs.reduce((a, b) => a + b, 0) / vs.length);
  }
  return values;
}

function num(v: string): number {
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return Number(v);
}
