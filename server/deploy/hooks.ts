/**
 * What the deploy orchestrator needs from other parts, as small interfaces wired in main.ts:
 * - `watch`: the immune system's watcher (server/immune/ `watchStage`): resolves after the stage's
 *   window with a verdict; rejects or resolves early only when `signal` aborts (server closing).
 * - `revert`: the guarded automatic revert (deploy/revert.ts): pushes reverts of `shas` (newest
 *   first) of deploy `deployId` on the branch; throws with the reason when it refuses.
 * - `notify`: alerting (issue 15): one alert of a kind with its payload, called inside the
 *   transaction that rolls the deploy back or holds it (main.ts: the outbox's enqueue).
 * - `follow`: start reading a watch's source ahead of any deploy (a scrape source's baseline).
 * Defaults: the watcher waits out the window and finds nothing; revert fails saying it is not
 * connected (recorded on the deploy); notify and follow do nothing. main.ts connects what exists
 * (the revert: DeployReverter).
 */
import type { WatchConfig } from '../config/deploy.js';
import type { DeployAlertKind, NotificationPayloads } from '../notify/kinds.js';

import type { Verdict } from '../immune/watch.js';
import type { SampleBook } from '../immune/samples.js';
import { fail } from '../errors.js';
export type { MetricEvidence, Verdict } from '../immune/watch.js';
/**
 * startedAt: when the stage finished (ms), so a watch resumed after a restart keeps its windows;
 * samples: where the watch keeps each window it read (SQLite), so a resumed watch starts from them;
 * firstDeploy: no deploy of the branch was ever deployed (a missing baseline is then not missing data);
 * stageStartedAt: when the stage's run was queued (a scraped page nothing answered before it has no baseline after it).
 */
export interface WatchOptions { signal?: AbortSignal; now?: () => number; sleep?: (ms: number) => Promise<void>; startedAt?: number; samples?: SampleBook;
  firstDeploy?: boolean; stageStartedAt?: number }
export type WatchStage = (spec: WatchConfig, opts: WatchOptions) => Promise<Verdict>;
export type Revert = (repo: string, branch: string, shas: readonly string[], reason: string, deployId: number) => Promise<void>;
export type Notify = <K extends DeployAlertKind>(kind: K, payload: NotificationPayloads[K]) => void;

/**
 * follow: called once at start-up for every configured stage's watch, so a watcher that scrapes
 * a /metrics page itself has the window before a stage (its baseline) when the stage runs.
 */
export interface DeployHooks { watch: WatchStage; revert: Revert; notify: Notify; follow: (spec: WatchConfig) => void }

/** Waits out the window and finds nothing (no watcher wired). */
export const waitOnlyWatcher: WatchStage = (spec, opts) => new Promise<Verdict>((resolve, reject) => {
  const ends = (opts.startedAt ?? Date.now()) + spec.seconds * 1000;
  const timer = setTimeout(() => resolve({ regression: false, evidence: [] }), Math.max(0, ends - Date.now()));
  opts.signal?.addEventListener('abort', () => { clearTimeout(timer); reject(new Error('watch aborted')); }, { once: true });
});

export const NO_HOOKS: DeployHooks = {
  watch: waitOnlyWatcher,
  revert: async () => { fail('GG_REVERT_REFUSED', 'no revert is connected for deploys: revert the deployed commits by hand (the deploy lists them)'); },
  notify: () => {},
  follow: () => {},
};
