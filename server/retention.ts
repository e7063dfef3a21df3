/**
 * Retention: `retention: { logsDays, buildsDays }` in greengate.yml. Prunes at start-up and then
 * every PRUNE_EVERY_MS (daily), reading the configuration each time (a SIGHUP reload applies at
 * the next pass; `runNow()` runs a pass at once). What may be deleted is decided in
 * store/retention.ts; a failed pass is logged and the next one tries again. Timers are unref'd.
 * Artifacts go with their build's logs (logsDays) or with the build (buildsDays); after each
 * pass the blobs no artifact row names any more are removed (artifacts/blobs.ts `sweep`, in the
 * background: `sweeping` is its promise).
 */
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Store } from './store/index.js';
import { Blobs, SWEEP_GRACE_MS } from './artifacts/blobs.js';

export const PRUNE_EVERY_MS = 24 * 60 * 60 * 1000; // 1 day
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PruneReport { logChunks: number; builds: number; artifacts: number }

export class Retention {
  private timer: NodeJS.Timeout | null = null;
  /** The last pass's removal of unreferenced artifact blobs: how many it removed. */
  sweeping: Promise<number> = Promise.resolve(0);

  constructor(private readonly store: Store, private readonly config: Readonly<Config>, private readonly log: Logger,
    private readonly now: () => number = Date.now, private readonly sweepGraceMs = SWEEP_GRACE_MS) {}

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
    const report: PruneReport = { logChunks: 0, builds: 0, artifacts: 0 };
    if (logsDays === undefined && buildsDays === undefined) return report;
    try {
      if (buildsDays !== undefined) report.builds = this.store.retention.pruneBuilds(this.now() - buildsDays * DAY_MS);
      if (logsDays !== undefined) report.logChunks = this.store.retention.pruneLogs(this.now() - logsDays * DAY_MS);
      if (logsDays !== undefined) report.artifacts = this.store.retention.pruneArtifacts(this.now() - logsDays * DAY_MS);
      this.log.info({ ...report, logsDays, buildsDays }, 'retention: pruned old builds, logs and artifacts');
      if (!this.config.data) return report;
      const blobs = new Blobs(this.config.data);
      this.sweeping = this.sweeping.then(() => blobs.sweep((sha) => this.store.artifacts.referenced(sha), Date.now(), this.sweepGraceMs))
        .catch((err) => { this.log.error({ err }, 'retention: removing artifact files failed; the next pass tries again'); return 0; });
    } catch (err) {
      this.log.error({ err }, 'retention: pruning failed; the next pass tries again');
    }
    return report;
  }
}
