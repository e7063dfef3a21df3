/**
 * A/B tests of feature flags (issue 25 item 6): exposures and conversions per variant, kept per
 * phase, and their results (experimentStats.ts).
 *
 * - A phase is one served shape of a flag: a hash of its state, variants, defaultVariant and
 *   targeting as served (a rollout's weights included). A push or a rollout step that changes the
 *   weights starts a new phase; results are per phase, never mixed.
 * - Exposures: every server-side evaluation with a targetingKey and a variant (web/ofrepAnswers.ts calls
 *   `expose`), buffered in memory and written each FLUSH_MS (100 ms), FLUSH_ROWS per transaction, and all on close; and batches that
 *   clients post (`record`: POST /ofrep/v1/events, the flags token), in one transaction each.
 * - Deduplicated per user per day (UTC) per phase: the store's primary keys. A user is
 *   sha256(targetingKey), 32 hex digits: no targeting key is stored.
 * - Events are recorded into the phase served when they arrive. `at` (ms or ISO 8601; default now)
 *   must be within the last MAX_AGE_DAYS and not more than 5 minutes ahead; it picks the day.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { z } from 'zod';
import { fail } from '../errors.js';
import type { Store } from '../store/index.js';
import type { ConversionRow, ExposureRow } from '../store/experiments.js';
import type { FlagSet } from './evaluator.js';
import type { FlagLibrary } from './library.js';
import { analyse, type ExperimentResult } from './experimentStats.js';

export const MAX_EVENTS = 1000; // per batch
export const MAX_EVENTS_BODY = '256kb';
export const MAX_AGE_DAYS = 7;
export const FLUSH_MS = 100; // small batches: one write of ~1 s of exposures stalled the event loop (bench:flags p99)
export const FLUSH_ROWS = 250; // per transaction (~1 ms at ~4.6 µs a row); the rest in the next turns of the event loop
const MAX_BUFFER = 10_000;
const DAY = 86_400_000;

export interface Phase { phase: string; weights: Record<string, number> | null }

const eventSchema = z.strictObject({
  flag: z.string('must be the flag key').min(1).max(200),
  variant: z.string('must be the variant the user got').min(1).max(200),
  targetingKey: z.string('must be the user\'s targetingKey (the one the flag was evaluated with)').min(1, 'must not be empty').max(500),
  kind: z.enum(['exposure', 'conversion'], 'must be "exposure" or "conversion"'),
  metric: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9 ._:-]{0,62}$/, 'must be a short metric name: letters, digits, " ._:-", e.g. checkout').optional(),
  value: z.number('must be a number').refine(Number.isFinite, 'must be a finite number').optional(),
  at: z.union([z.number().int(), z.string()], 'must be milliseconds since the epoch or an ISO 8601 time').optional(),
});
const batchSchema = z.strictObject({ events: z.array(z.unknown(), 'must be a list of events').min(1, 'must hold at least one event').max(MAX_EVENTS, `must hold at most ${MAX_EVENTS} events — send several batches`) });

export class FlagExperiments {
  private readonly phases = new WeakMap<FlagSet, Map<string, Phase>>();
  private buffer: { repo: string; row: ExposureRow; weights: Record<string, number> | null }[] = [];
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: { store: Store; library: Pick<FlagLibrary, 'of'>; log: Logger; now?: () => number }) {
    this.now = deps.now ?? Date.now;
  }

  /** The phase a flag is served in now (null: not served). */
  phaseOf(repo: string, key: string): Phase | null {
    const set = this.deps.library.of(repo).set;
    const flag = set?.definition.flags[key];
    if (!set || !flag) return null;
    let byKey = this.phases.get(set);
    if (!byKey) this.phases.set(set, byKey = new Map());
    let p = byKey.get(key);
    if (!p) {
      const shape = JSON.stringify({ state: flag.state, variants: flag.variants, defaultVariant: flag.defaultVariant ?? null, targeting: flag.targeting ?? null });
      p = { phase: createHash('sha256').update(shape).digest('hex').slice(0, 16), weights: weightsOf(flag.targeting) };
      byKey.set(key, p);
    }
    return p;
  }

  /** One server-side evaluation: an exposure (buffered; written within FLUSH_MS). */
  expose(repo: string, key: string, variant: string, targetingKey: string): void {
    const p = this.phaseOf(repo, key);
    if (!p) return;
    const row: ExposureRow = { key, phase: p.phase, user: userOf(targetingKey), day: Math.floor(this.now() / DAY), variant };
    const id = `${repo}\0${key}\0${row.phase}\0${row.user}\0${row.day}`;
    if (this.seen.has(id)) return;
    this.seen.add(id);
    this.buffer.push({ repo, row, weights: p.weights }); // written as JSON once per phase, at the flush
    if (this.buffer.length >= MAX_BUFFER) this.flush();
  }

  start(): void {
    this.timer ??= setInterval(() => this.drain(), FLUSH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  /** Writes every buffered exposure now, in one transaction (on close, before results, a full buffer). */
  flush(): void {
    this.write(this.take(this.buffer.length));
  }

  /** The timer's flush: FLUSH_ROWS per transaction, the event loop turning between them (each write is ~1 ms, not one long stall). */
  private drain(): void {
    this.write(this.take(FLUSH_ROWS));
    if (this.buffer.length > 0) setImmediate(() => this.drain());
  }

  private take(n: number): typeof this.buffer {
    const batch = this.buffer.splice(0, n);
    if (this.buffer.length === 0) this.seen.clear();
    return batch;
  }

  /** One transaction of exposures; a failure is logged and they are dropped. */
  private write(batch: typeof this.buffer): void {
    if (batch.length === 0) return;
    try {
      const byRepo = new Map<string, typeof batch>();
      for (const b of batch) {
        const rows = byRepo.get(b.repo);
        if (rows) rows.push(b); else byRepo.set(b.repo, [b]);
      }
      this.deps.store.tx(() => {
        for (const [repo, rows] of byRepo) {
          const repoId = this.deps.store.repos.byName(repo)?.id;
          if (repoId === undefined) continue;
          const phases = new Map(rows.map((b) => [`${b.row.key}\0${b.row.phase}`, b]));
          for (const b of phases.values()) this.deps.store.experiments.phase(repoId, b.row.key, b.row.phase, b.weights ? JSON.stringify(b.weights) : null, this.now());
          this.deps.store.experiments.add(repoId, rows.map((b) => b.row), []);
        }
      });
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message, exposures: batch.length }, 'exposures not recorded');
    }
  }

  /** A batch of client events (POST /ofrep/v1/events): checked whole, then written in one transaction. */
  record(repo: string, body: unknown): { accepted: number; duplicates: number } {
    const batch = batchSchema.safeParse(body);
    if (!batch.success) fail('GG_FLAG_EVENTS', `the body must be {"events": [{flag, variant, targetingKey, kind, metric?, value?, at?}, …]}: events ${batch.error.issues[0].message}`);
    const repoId = this.deps.store.repos.byName(repo)?.id ?? fail('GG_UNKNOWN_REPO', `unknown repository "${repo}"`);
    const now = this.now();
    const exposures: ExposureRow[] = [];
    const conversions: ConversionRow[] = [];
    const phases = new Map<string, Phase>();
    batch.data.events.forEach((raw, i) => {
      const parsed = eventSchema.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        fail('GG_FLAG_EVENTS', `events[${i}]${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}`);
      }
      const e = parsed.data;
      const flag = this.deps.library.of(repo).set?.definition.flags[e.flag];
      if (!flag) fail('GG_FLAG_EVENTS', `events[${i}].flag: repository ${repo} serves no flag "${e.flag.slice(0, 100)}"`);
      if (!(e.variant in (flag!.variants ?? {}))) fail('GG_FLAG_EVENTS', `events[${i}].variant: flag ${e.flag} has no variant "${e.variant.slice(0, 100)}" (it has ${Object.keys(flag!.variants).join(', ')})`);
      if (e.kind === 'conversion' && e.metric === undefined) fail('GG_FLAG_EVENTS', `events[${i}].metric: a conversion needs the metric it counts for, e.g. "checkout"`);
      const at = e.at === undefined ? now : typeof e.at === 'number' ? e.at : Date.parse(e.at);
      if (!Number.isFinite(at) || at < now - MAX_AGE_DAYS * DAY || at > now + 5 * 60_000) {
        fail('GG_FLAG_EVENTS', `events[${i}].at: must be a time within the last ${MAX_AGE_DAYS} days (milliseconds since the epoch or ISO 8601), not in the future`);
      }
      const p = phases.get(e.flag) ?? this.phaseOf(repo, e.flag)!;
      phases.set(e.flag, p);
      const base = { key: e.flag, phase: p.phase, user: userOf(e.targetingKey), day: Math.floor(at / DAY) };
      if (e.kind === 'exposure') exposures.push({ ...base, variant: e.variant });
      else conversions.push({ ...base, metric: e.metric!, value: e.value ?? 1 });
    });
    const added = this.deps.store.tx(() => {
      for (const [key, p] of phases) this.deps.store.experiments.phase(repoId, key, p.phase, p.weights ? JSON.stringify(p.weights) : null, now);
      return this.deps.store.experiments.add(repoId, exposures, conversions);
    });
    return { accepted: added, duplicates: exposures.length + conversions.length - added };
  }

  /** The experiment page's numbers for a phase (default: the newest). */
  results(repo: string, key: string, phase?: string): { phases: { phase: string; startedAt: number; current: boolean }[]; phase: string | null; result: ExperimentResult | null } {
    this.flush();
    const repoId = this.deps.store.repos.byName(repo)?.id;
    const flag = this.deps.library.of(repo).set?.definition.flags[key];
    if (repoId === undefined || !flag) return { phases: [], phase: null, result: null };
    const current = this.phaseOf(repo, key)?.phase ?? null;
    const rows = this.deps.store.experiments.phases(repoId, key);
    const chosen = rows.find((r) => r.phase === phase) ?? rows.find((r) => r.phase === current) ?? rows[0];
    const phases = rows.map((r) => ({ phase: r.phase, startedAt: r.startedAt, current: r.phase === current }));
    if (!chosen) return { phases, phase: null, result: null };
    const control = typeof flag.defaultVariant === 'string' ? flag.defaultVariant : Object.keys(flag.variants)[0];
    const result = analyse({ control, exposures: this.deps.store.experiments.exposed(repoId, key, chosen.phase),
      weights: chosen.weights ? JSON.parse(chosen.weights) as Record<string, number> : null,
      conversions: this.deps.store.experiments.converted(repoId, key, chosen.phase) });
    return { phases, phase: chosen.phase, result };
  }
}

function userOf(targetingKey: string): string {
  return createHash('sha256').update(targetingKey).digest('hex').slice(0, 32);
}

/** The first fractional split in a targeting rule, as {variant: weight}; null without one. */
function weightsOf(node: unknown): Record<string, number> | null {
  if (Array.isArray(node)) {
    for (const x of node) { const w = weightsOf(x); if (w) return w; }
  } else if (node !== null && typeof node === 'object') {
    for (const [op, args] of Object.entries(node)) {
      if (op === 'fractional' && Array.isArray(args)) {
        const out: Record<string, number> = {};
        for (const b of args) if (Array.isArray(b) && typeof b[0] === 'string') out[b[0]] = (out[b[0]] ?? 0) + (typeof b[1] === 'number' ? b[1] : 1);
        return Object.keys(out).length ? out : null;
      }
      const w = weightsOf(args);
      if (w) return w;
    }
  }
  return null;
}
