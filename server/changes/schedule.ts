/**
 * Scheduled builds (issue 23 item 6): every builder with `schedule:` (config/schedule.ts) gets its
 * branch head built at the pattern's times, through ManualBuilds.start with cause 'schedule'.
 *
 * Restart-safe, as anacron: when each builder's schedule last fired is in SQLite (schedule_runs).
 * A schedule seen for the first time is recorded at that moment and runs from its next time on (not
 * at once). At start-up, and at each due time, a builder whose pattern had a time after its last run
 * and not after now runs ONCE (however many times were missed while the server was down) and its last
 * run becomes now. The last run moves in the same transaction that creates the builds, and only
 * from the value read (compare-and-set): two ticks, or two servers on one database, never run one
 * time twice; a failure before that transaction (git unreadable) leaves it due, tried at the next tick.
 *
 * Time comes from `now()` and timers from `timers` (tests pass a fake clock and call `tick()`).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { ManualBuilds } from './manual.js';
import { nextFire, scheduledBranch } from '../config/schedule.js';

/** Longest sleep between checks: a changed wall clock or a reload is noticed within it. */
export const MAX_SLEEP_MS = 60_000; // 1 minute
/** After a schedule could not start its build (git unreadable, branch gone): when it is tried again. */
export const RETRY_AFTER_MS = 60_000; // 1 minute

export interface SchedulerDeps {
  store: Store;
  config: Readonly<Config>;
  builds: Pick<ManualBuilds, 'start'>;
  log: Pick<Logger, 'info' | 'warn'>;
  now?: () => number;
  timers?: { set(f: () => void, ms: number): unknown; clear(t: unknown): void };
}

export class Scheduler {
  private timer: unknown = null;
  private running: Promise<number[]> | null = null;
  private stopped = true;
  /** Schedules that failed to start, by repo/builder: not tried again before this time. */
  private readonly backoff = new Map<string, number>();
  private readonly now: () => number;
  private readonly timers: NonNullable<SchedulerDeps['timers']>;

  constructor(private readonly d: SchedulerDeps) {
    this.now = d.now ?? Date.now;
    this.timers = d.timers ?? { set: (f, ms) => setTimeout(f, ms).unref(), clear: (t) => clearTimeout(t as NodeJS.Timeout) };
  }

  /** Runs what was missed while down (once each), then keeps time (checking at least every minute: a reload may add schedules). */
  start(): void {
    this.stopped = false;
    this.tickQuietly();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = null;
  }

  /** Builds every schedule that is due now; the new builds' ids. One tick at a time. */
  tick(): Promise<number[]> {
    this.running ??= this.fire().finally(() => {
      this.running = null;
      this.arm();
    });
    return this.running;
  }

  /** A tick from a timer: a failure (the database closing, a full disk) is logged, never an unhandled rejection. */
  private tickQuietly(): void {
    this.tick().catch((err) => this.d.log.warn({ err: (err as Error).message }, 'scheduled builds: check failed; trying again at the next one'));
  }

  private scheduled() {
    return this.d.config.repositories.flatMap((repo) => repo.builders.flatMap((b) => (b.schedule ? [{ repo, builder: b, schedule: b.schedule }] : [])));
  }

  private async fire(): Promise<number[]> {
    const ids: number[] = [];
    for (const { repo, builder, schedule } of this.scheduled()) {
      const now = this.now();
      const last = this.d.store.buildCauses.lastScheduled(repo.name, builder.name);
      if (last === undefined) {
        this.d.store.buildCauses.firstSeen(repo.name, builder.name, now);
        continue;
      }
      const due = nextFire(schedule.cron, last);
      if (due === null || due > now || (this.backoff.get(`${repo.name}/${builder.name}`) ?? 0) > now) continue;
      const branch = scheduledBranch(schedule, repo.gate)!;
      try {
        const made = await this.d.builds.start({ repo: repo.name, branch, builder: builder.name, cause: 'schedule', by: null,
          claim: () => this.d.store.buildCauses.claimScheduled(repo.name, builder.name, last, now) });
        if (made.length) this.d.log.info({ repo: repo.name, builder: builder.name, branch, builds: made, missed: due < now - 1000 }, 'scheduled build queued');
        ids.push(...made);
        this.backoff.delete(`${repo.name}/${builder.name}`);
      } catch (err) {
        this.backoff.set(`${repo.name}/${builder.name}`, now + RETRY_AFTER_MS);
        this.d.log.warn({ repo: repo.name, builder: builder.name, branch, err: (err as Error).message }, 'could not start a scheduled build; trying again at the next check');
      }
    }
    return ids;
  }

  private arm(): void {
    if (this.stopped) return;
    try {
      this.armNext();
    } catch (err) {
      this.d.log.warn({ err: (err as Error).message }, 'scheduled builds: cannot read when schedules last ran; checking again in a minute');
      this.timer = this.timers.set(() => { this.timer = null; this.tickQuietly(); }, MAX_SLEEP_MS);
    }
  }

  private armNext(): void {
    if (this.timer !== null) this.timers.clear(this.timer);
    const now = this.now();
    let next = now + MAX_SLEEP_MS;
    for (const { repo, builder, schedule } of this.scheduled()) {
      const at = nextFire(schedule.cron, this.d.store.buildCauses.lastScheduled(repo.name, builder.name) ?? now);
      if (at !== null) next = Math.min(next, Math.max(at, this.backoff.get(`${repo.name}/${builder.name}`) ?? 0));
    }
    this.timer = this.timers.set(() => { this.timer = null; this.tickQuietly(); }, Math.max(0, next - now) + 5);
  }
}
