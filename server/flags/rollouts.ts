/**
 * Guarded incremental rollouts (issue 25 item 5; config: flags.rollouts in greengate.yml, admin-owned).
 * Each rollout raises its flag's new variant through its steps (percent of targeting keys, applied to
 * the flag's `fractional` weights by rollout.ts, so nobody who had the feature loses it). A step is
 * held `hold` seconds, then judged on the series labelled flag=KEY, variant=NEW against
 * variant!=NEW over the same window — the rollout's so far (start, now] for the regression test, the
 * step's (step start, now] for its exposures (see measure) — with the immune system's tests (immune/watch.ts
 * verdictOf: each metric at the step's share of alpha — rollout.ts stepAlpha, Lan and DeMets'
 * Pocock-type alpha spending — divided by the metrics, and at least maxIncrease worse). Then, in this order:
 *   - fewer than minSample exposures of the new variant, or no data → wait (judged again a hold later;
 *     no verdict before, so waiting does not multiply false alarms);
 *   - a regression → the flag is killed (kills.ts, actor "immune system", a flag.killed notification
 *     with the evidence) and the rollout stops ('killed'); nothing is closed (the code is fine);
 *   - a sample-ratio mismatch (χ² p < 0.001 against the step's share) → 'held', not advanced;
 *   - otherwise → the next step (its window starts now), or 'done' after the last.
 * The 100 % step has nothing left to compare against: it is done once held. An admin who restores
 * a flag the rollout killed (kills.ts) resumes the ramp at the step it was killed at, its windows
 * starting afresh (the bad variant's old errors are not held against the fixed one).
 * State is SQLite's (store/rollouts.ts, migration 032), saved with each decision in one transaction,
 * and loaded at start: after a restart a rollout continues at its step and its step's start (the
 * source, Prometheus, still has the window). A `source: { scrape: URL }` is read as a deploy's watch reads
 * it (immune/scrape.ts): greengate follows the app's /metrics page from start-up, every `interval`, and
 * keeps 2 hours of scrapes in memory — after a restart a window that began before it counts the app's
 * counters since the first scrape (what the process counted since it started). The served definition is the library's, reshaped when
 * a rollout moves. A Prometheus that fails is logged and the step judged again a hold later.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { RolloutConfig } from '../config/rollouts.js';
import type { Store } from '../store/index.js';
import type { RolloutPoint, RolloutRow } from '../store/rollouts.js';
import { PrometheusReader, type WindowReader } from '../immune/prometheus.js';
import { ScrapeHistory } from '../immune/scrape.js';
import { readMetric, verdictOf } from '../immune/watch.js';
import type { StoredWindow, WindowReading } from '../immune/samples.js';
import type { FlagLibrary } from './library.js';
import type { FlagKills } from './kills.js';
import { decideStep, sampleRatioP, stepAlpha, SRM_ALPHA, withShares, type RolloutShare } from './rollout.js';

export const ROLLOUT_ACTOR = 'immune system';
export const DEFAULT_TICK_MS = 1000;

export interface RolloutDeps {
  store: Store; config: Readonly<Config>; library: FlagLibrary; kills: FlagKills; log: Logger;
  now?: () => number;
  /** The metric source of a rollout with `source: { prometheus }` (default: that Prometheus). */
  reader?: (url: string) => WindowReader;
  /** The /metrics pages greengate scrapes itself (`source: { scrape }`; default: the rollouts' own). */
  scrapes?: ScrapeHistory;
}

export interface RolloutView {
  key: string; variant: string; steps: number[]; hold: number; minSample: number;
  /** 'waiting': not started (its flag is not served yet, or cannot be ramped: reason). */
  state: RolloutRow['state'] | 'waiting'; step: number; percent: number; stepStartedAt: number | null; reason: string | null;
  points: RolloutPoint[];
}

export class FlagRollouts {
  private readonly rows = new Map<string, RolloutRow>();
  private readonly lastJudged = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly now: () => number;
  private readonly scrapes: ScrapeHistory;

  constructor(private readonly deps: RolloutDeps) {
    this.now = deps.now ?? Date.now;
    this.scrapes = deps.scrapes ?? new ScrapeHistory({ now: this.now });
    for (const row of deps.store.rollouts.all()) this.rows.set(id(row.repo, row.key), row);
    deps.library.shapeWith((repo, def) => withShares(def, this.shares(repo)));
  }

  /** The configured rollouts of a repository. */
  configured(repo: string): [string, RolloutConfig][] {
    return Object.entries(this.deps.config.repositories.find((r) => r.name === repo)?.flags?.rollouts ?? {});
  }

  /** A rollout's state (null: not started). */
  stateOf(repo: string, key: string): RolloutRow | null {
    return this.rows.get(id(repo, key)) ?? null;
  }

  /** What the flag page and GET /api/flags/:repo/:key/rollout show (null: no rollout of that flag). */
  view(repo: string, key: string): RolloutView | null {
    const c = this.configured(repo).find(([k]) => k === key)?.[1];
    if (!c) return null;
    const row = this.stateOf(repo, key);
    const repoId = this.deps.store.repos.byName(repo)?.id;
    const problem = (this.deps.library.shapeProblems.get(repo) ?? []).find((p) => p.startsWith(`rollout of "${key}"`)) ?? null;
    return { key, variant: c.variant, steps: c.steps, hold: c.hold, minSample: c.minSample,
      state: row?.state ?? 'waiting', step: row?.step ?? 0, percent: row?.percent ?? c.steps[0], stepStartedAt: row?.stepStartedAt ?? null,
      reason: problem ?? row?.reason ?? null, points: repoId === undefined ? [] : this.deps.store.rollouts.points(repoId, key) };
  }

  /** The shares served now: each configured rollout at its step (not started: its first step). */
  shares(repo: string): RolloutShare[] {
    return this.configured(repo).map(([key, c]) => ({ key, variant: c.variant, percent: this.stateOf(repo, key)?.percent ?? c.steps[0] }));
  }

  start(tickMs = DEFAULT_TICK_MS): void {
    if (this.timer) return;
    this.followScrapes();
    this.timer = setInterval(() => { void this.tick(); }, tickMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over every rollout (one at a time; a pass still running is not overlapped). */
  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.pass().finally(() => { this.running = null; });
    return this.running;
  }

  /** Follows every `source: { scrape }` page of a configured rollout (again after a reload: a page followed already keeps its history). */
  private followScrapes(): void {
    for (const r of this.deps.config.repositories) {
      for (const [key, c] of this.configured(r.name)) {
        if ('scrape' in c.source) void this.scrapes.follow(c.source.scrape, c.source.interval * 1000).catch((err) =>
          this.deps.log.warn({ repo: r.name, key, err: (err as Error).message }, 'cannot scrape a rollout source'));
      }
    }
  }

  private async pass(): Promise<void> {
    this.followScrapes();
    for (const r of this.deps.config.repositories) {
      for (const [key, c] of this.configured(r.name)) {
        try {
          await this.step(r.name, key, c);
        } catch (err) {
          this.deps.log.error({ repo: r.name, key, err: (err as Error).message }, 'rollout step not judged: judged again after its hold');
          this.lastJudged.set(id(r.name, key), this.now());
        }
      }
    }
  }

  private async step(repo: string, key: string, c: RolloutConfig): Promise<void> {
    const served = this.deps.library.of(repo).set;
    if (!served?.has(key) || (this.deps.library.shapeProblems.get(repo) ?? []).some((p) => p.startsWith(`rollout of "${key}"`))) return;
    const repoId = this.deps.store.repos.byName(repo)?.id;
    if (repoId === undefined) return;
    const now = this.now();
    let row = this.stateOf(repo, key);
    if (!row) {
      row = { repo, key, startedAt: now, step: 0, percent: c.steps[0], stepStartedAt: now, state: 'ramping', reason: null, updatedAt: now };
      this.save(repoId, row, null);
      return;
    }
    if (row.state === 'killed' && !this.deps.kills.lookup(repo)(key)) {
      // An admin restored the flag the immune system killed: the ramp resumes at its step, judged afresh from now.
      this.save(repoId, { ...row, startedAt: now, stepStartedAt: now, state: 'ramping', reason: `resumed at ${row.percent} % after the flag was restored`, updatedAt: now }, null);
      return;
    }
    if (row.state === 'killed' || row.state === 'done') return;
    const since = Math.max(row.stepStartedAt, this.lastJudged.get(id(repo, key)) ?? 0);
    if (now - since < c.hold * 1000) return;
    this.lastJudged.set(id(repo, key), now);
    const base = { at: now, percent: row.percent };
    if (row.percent >= 100) {
      this.save(repoId, { ...row, state: 'done', reason: null, updatedAt: now }, { ...base, exposuresNew: 0, exposuresOld: 0, metricNew: null, metricOld: null, pValue: null, srmP: null, decision: 'done' });
      return;
    }
    const m = await this.measure(key, c, row.step, row.percent, row.startedAt, row.stepStartedAt, now);
    const point: RolloutPoint = { ...base, exposuresNew: m.exposuresNew, exposuresOld: m.exposuresOld, metricNew: m.metricNew, metricOld: m.metricOld,
      pValue: m.pValue, srmP: m.srmP, decision: 'wait' };
    const { decision } = decideStep(m, row.percent, c.minSample);
    if (decision === 'kill') {
      const message = `guarded rollout at ${row.percent} %: ${m.evidence}`;
      this.deps.store.tx(() => {
        this.deps.kills.kill(repo, key, ROLLOUT_ACTOR, message);
        this.save(repoId, { ...row!, state: 'killed', reason: message, updatedAt: now }, { ...point, decision: 'kill' });
      });
      return;
    }
    if (decision === 'wait') {
      this.save(repoId, { ...row, reason: m.inconclusive ?? `waiting for ${c.minSample} exposures of ${c.variant} (${Math.round(m.exposuresNew)} so far)`, updatedAt: now }, point);
      return;
    }
    if (decision === 'hold') {
      const reason = `sample-ratio mismatch: ${Math.round(m.exposuresNew)} exposures of ${c.variant} against ${Math.round(m.exposuresOld)} others at ${row.percent} % (χ² p = ${m.srmP.toExponential(2)} < ${SRM_ALPHA}) — check how exposures are counted and labelled`;
      this.save(repoId, { ...row, state: 'held', reason, updatedAt: now }, { ...point, decision: 'hold' });
      return;
    }
    const next = row.step + 1;
    if (next >= c.steps.length) {
      this.save(repoId, { ...row, state: 'done', reason: null, updatedAt: now }, { ...point, decision: 'done' });
      return;
    }
    this.save(repoId, { ...row, step: next, percent: c.steps[next], stepStartedAt: now, state: 'ramping', reason: null, updatedAt: now }, { ...point, decision: 'advance' });
  }

  /**
   * The regression test reads the rollout's whole window (start, now] on both sides — every exposure
   * so far, so a doubled error rate at a 1 % step is seen by the later steps — and the step's own
   * window (step start, now] gives the exposures for minSample and the sample-ratio check against
   * the step's share. (npm run bench:rollout: 99 % of doubled error rates caught at 10,000 exposures
   * per hold; judging each step's window alone caught 84 %.)
   */
  private async measure(key: string, c: RolloutConfig, stepIndex: number, percent: number, from: number, stepFrom: number, to: number) {
    const reader = 'scrape' in c.source ? this.scrapes.reader(c.source.scrape)
      : (this.deps.reader ?? ((url: string) => new PrometheusReader(url)))(c.source.prometheus);
    const flag = { label: 'flag', op: '=' as const, value: key };
    const readSide = async (op: '=' | '!=', since: number, metrics = c.metrics) => {
      const readings: Record<string, WindowReading | null> = {};
      for (const m of metrics) readings[m.name] = await readMetric(reader, m, [flag, { label: 'variant', op, value: c.variant }], since, to);
      return readings;
    };
    const after = await readSide('=', from);
    const rest = await readSide('!=', from);
    const windows: StoredWindow[] = [{ side: 'after', from, to, readings: after }, { side: 'rest', from, to, readings: rest }];
    const verdict = verdictOf({ metrics: c.metrics, alpha: stepAlpha(c.alpha, c.steps, stepIndex), maxIncrease: c.maxIncrease, compare: { label: 'variant', canary: c.variant } }, windows, []);
    const first = c.metrics.find((m) => m.kind === 'ratio')!;
    const total = (r: WindowReading | null | undefined) => (r && r.kind === 'ratio' ? r.total : 0);
    const ratio = (r: WindowReading | null) => (r && r.kind === 'ratio' && r.total > 0 ? r.errors / r.total : null);
    const stepNew = stepFrom > from ? total((await readSide('=', stepFrom, [first]))[first.name]) : total(after[first.name]);
    const stepOld = stepFrom > from ? total((await readSide('!=', stepFrom, [first]))[first.name]) : total(rest[first.name]);
    const firstEvidence = verdict.evidence.find((e) => e.metric === first.name);
    const bad = verdict.evidence.filter((e) => e.regression);
    return {
      exposuresNew: stepNew, exposuresOld: stepOld, metricNew: ratio(after[first.name]), metricOld: ratio(rest[first.name]),
      pValue: firstEvidence && Number.isFinite(firstEvidence.pValue) ? firstEvidence.pValue : null,
      srmP: sampleRatioP(stepNew, stepOld, percent / 100),
      regression: verdict.regression, inconclusive: verdict.inconclusive ?? null,
      evidence: bad.map((e) => `${e.metric} ${fmt(e.before)} → ${fmt(e.after)} on ${c.variant} (p = ${e.pValue.toExponential(2)})`).join('; '),
    };
  }

  private save(repoId: number, row: RolloutRow, point: RolloutPoint | null): void {
    const moved = this.stateOf(row.repo, row.key)?.percent !== row.percent;
    this.deps.store.tx(() => {
      const { repo: _repo, ...rest } = row;
      this.deps.store.rollouts.save(repoId, rest);
      if (point) this.deps.store.rollouts.addPoint(repoId, row.key, point);
      this.deps.store.afterCommit(() => {
        this.rows.set(id(row.repo, row.key), row);
        if (moved) {
          this.deps.library.reshape(row.repo);
          this.deps.log.info({ repo: row.repo, key: row.key, percent: row.percent }, 'guarded rollout moved');
        }
      });
    });
  }
}

function id(repo: string, key: string): string {
  return `${repo}\0${key}`;
}

function fmt(v: number): string {
  return Number.isFinite(v) ? (Math.abs(v) < 1 ? `${(v * 100).toPrecision(3)} %` : v.toPrecision(4)) : String(v);
}
