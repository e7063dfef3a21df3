/**
 * Retention of A/B test events (issue 25): `flags.eventRetentionDays` per repository in greengate.yml
 * (default DEFAULT_EVENT_RETENTION_DAYS, 90). A pass runs at start-up and every PRUNE_EVERY_MS, reading
 * the configuration each time (a SIGHUP reload applies at the next pass).
 *
 * What is deleted: exposures and conversions (flag_exposures, flag_conversions) of a day older than
 * eventRetentionDays (UTC days, as they are stored), in every phase EXCEPT a running experiment's: the
 * phase a flag is served in now (experiments.ts `phaseOf`) when that shape splits users between at
 * least two variants (a fractional split with two weights above 0). Its verdict reads every event
 * of the phase, so it is kept whole until the phase ends (a push or a rollout step changing the
 * weights starts a new one); then its old days go at the next pass. A repository whose flags are not
 * loaded (nothing pushed yet, or the file unreadable) is skipped: its running phases are unknown.
 * Phases themselves (flag_phases, a row each) are kept.
 *
 * Deleting is done in batches of at most PRUNE_BATCH rows per table, each its own short statement,
 * yielding to the event loop between them (no long write lock; evaluations keep being answered).
 * A failed pass is logged and the next one tries again. The timer is unref'd.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { DEFAULT_EVENT_RETENTION_DAYS } from '../config/flags.js';
import type { Store } from '../store/index.js';
import type { FlagExperiments } from './experiments.js';
import type { FlagLibrary } from './library.js';

export const PRUNE_EVERY_MS = 60 * 60_000; // hourly: a pass with nothing old is a few index reads
export const PRUNE_BATCH = 2000;
const DAY = 86_400_000;

export interface EventPruneReport { exposures: number; conversions: number; skipped: string[] }

export class FlagEventRetention {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<EventPruneReport> | null = null;
  private stopped = false;

  constructor(private readonly deps: { store: Store; config: Readonly<Pick<Config, 'repositories'>>; library: Pick<FlagLibrary, 'of'>;
    experiments: Pick<FlagExperiments, 'phaseOf'>; log: Logger; now?: () => number; batch?: number }) {}

  start(everyMs = PRUNE_EVERY_MS): void {
    this.stopped = false;
    void this.runNow();
    this.timer ??= setInterval(() => { void this.runNow(); }, everyMs);
    this.timer.unref();
  }

  /** Stops the timer; a pass under way ends after its current batch. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass over every repository with flags (a pass under way is joined, not doubled). */
  runNow(): Promise<EventPruneReport> {
    this.running ??= this.pass().finally(() => { this.running = null; });
    return this.running;
  }

  private async pass(): Promise<EventPruneReport> {
    const report: EventPruneReport = { exposures: 0, conversions: 0, skipped: [] };
    const now = (this.deps.now ?? Date.now)();
    const limit = this.deps.batch ?? PRUNE_BATCH;
    try {
      for (const repo of this.deps.config.repositories) {
        if (!repo.flags || this.stopped) continue;
        const repoId = this.deps.store.repos.byName(repo.name)?.id;
        const set = this.deps.library.of(repo.name).set;
        if (repoId === undefined) continue;
        if (!set) { report.skipped.push(repo.name); continue; }
        const days = repo.flags.eventRetentionDays ?? DEFAULT_EVENT_RETENTION_DAYS;
        const beforeDay = Math.floor(now / DAY) - days; // a day is kept while it is at most `days` days before today
        const keep: [string, string][] = [];
        for (const key of set.keys) {
          const p = this.deps.experiments.phaseOf(repo.name, key);
          if (p?.weights && Object.values(p.weights).filter((w) => w > 0).length >= 2) keep.push([key, p.phase]);
        }
        for (;;) {
          const n = this.deps.store.experiments.pruneBefore(repoId, beforeDay, keep, limit);
          report.exposures += n.exposures;
          report.conversions += n.conversions;
          if ((n.exposures < limit && n.conversions < limit) || this.stopped) break;
          await new Promise((r) => setImmediate(r)); // evaluations and other work between batches
        }
      }
      if (report.exposures + report.conversions > 0 || report.skipped.length > 0) {
        this.deps.log.info(report, 'flag event retention: pruned old A/B test events');
      }
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'flag event retention: pruning failed; the next pass tries again');
    }
    return report;
  }
}
