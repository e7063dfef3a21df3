/**
 * What the server does when its database can be written again after a storage fault
 * (storageHealth.ts `recovered`), so nothing held back stays behind:
 * - the tree rule is applied again to every gated branch (the lifecycle writes a build's result
 *   and its tree change in one transaction, so there is no half-finished build to repair);
 * - queued units are handed out again;
 * - every repository's refs are scanned (a push noticed while nothing could be stored is
 *   taken in now);
 * the runner gateway asks its runners for what they kept (it listens itself). Each step is
 * guarded: a new fault leaves the rest to the next recovery.
 */
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { StorageHealth } from './storageHealth.js';
import type { BuildLifecycle } from './results/lifecycle.js';
import type { WorkQueue } from './dispatch/queue.js';
import type { RefChanges } from './changes/refs.js';

export interface ResumeDeps {
  config: Readonly<Config>; health: StorageHealth; lifecycle: BuildLifecycle; queue: WorkQueue; changes: RefChanges; log: Logger;
}

export function resumeAfterStorageFault({ config, health, lifecycle, queue, changes, log }: ResumeDeps): void {
  health.guard('resume: tree', () => { lifecycle.reapplyTree(); return true; });
  health.guard('resume: dispatch', () => { queue.dispatch(); return true; });
  for (const repo of config.repositories) {
    changes.scan(repo.name, 'scan').catch((err) => {
      if (!health.record(err, 'resume: scan')) log.warn({ err, repo: repo.name }, 'ref scan after a storage fault failed');
    });
  }
}
