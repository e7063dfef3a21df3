/**
 * Retention: `retention: { logsDays, buildsDays }` in greengate.yml. Prunes at start-up and then
 * every PRUNE_EVERY_MS (daily), reading the configuration each time (a SIGHUP reload applies at
 * the next pass; `runNow()` runs a pass at once). What may be deleted is decided in
 * store/retention.ts; a failed pass is logged and the next one tries again. Timers are unref'd.
 */
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Store } from './store/index.js';

export const PRUNE_EVERY_MS = 24 * 60 * 60 * 1000; // 1 day
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PruneReport { logChunks: number; builds: number }

export class Retention {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly store: Store, private readonly config: Readonly<Config>, private readonly log: Logger,
    private readonly now: () => number = Date.now) {}

  start(everyMs = PRUNE_EVERY_MS): void {
    this.runNow();
    this.timer = setInterval(() => this.runNow(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  runNow(): PruneReport {
    const { logsDays, buildsDays } = this.config.retention ?? {};
    const report: PruneReport = { logChunks: 0, builds: 0 };
    if (logsDays === undefined && buildsDays === undefined) return report;
    try {
      if (buildsDays !== undefined) report.builds = this.store.retention.pruneBuilds(this.now() - buildsDays * DAY_MS);
      if (logsDays !== undefined) report.logChunks = this.store.retention.pruneLogs(this.now() - logsDays * DAY_MS);
      this.log.info({ ...report, logsDays, buildsDays }, 'retention: pruned old builds and logs');
    } catch (err) {
      this.log.error({ err }, 'retention: pruning failed; the next pass tries again');
    }
    return report;
  }
}
