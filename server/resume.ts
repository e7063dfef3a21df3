/**
 * What the server does when its database can be written again after a storage fault
 * (storageHealth.ts `recovered`), so nothing held back stays behind:
 * - builds whose units have all ended are finished (a unit's result may have been stored
 *   while finishing its build was not);
 * - queued units are handed out again;
 * - every repository's refs are scanned (a push noticed while nothing could be stored is
 *   taken in now);
 * the runner gateway asks its runners for what they kept (it listens itself). Each step is
 * guarded: a new fault leaves the rest to the next recovery.
 */
import type { App } from './main.js';

export function resumeAfterStorageFault(app: App): void {
  const { store, scheduler, intake, health, log } = app;
  health.guard('resume: finish builds', () => {
    for (const b of store.builds.unfinished()) {
      const units = store.units.byBuild(b.id);
      // Only builds whose every unit has ended: one being planned right now has none yet.
      if (units.length > 0 && units.every((u) => u.state === 'done')) scheduler.checkBuild(b.id);
    }
  });
  health.guard('resume: dispatch', () => scheduler.dispatch());
  for (const repo of app.config.repositories) {
    intake.scan(repo.name, 'scan').catch((err) => {
      if (!health.record(err, 'resume: scan')) log.warn({ err, repo: repo.name }, 'ref scan after a storage fault failed');
    });
  }
}
