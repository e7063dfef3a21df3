/**
 * The work queue: hands queued units (SQLite's queue order: priority, oldest build, longest first)
 * to connected runners with free slots, as placement.ts chooses, and sends each its `assign`.
 * The unit's state change is the lifecycle's; this module only decides who and sends. A sweep
 * every second lets orphaned units go (lifecycle) and looks again at units waiting for a runner
 * other than the one they avoid. Re-entrant calls during a dispatch are folded into it.
 * The units handed out from one look at the queue's head (up to QUEUE_PEEK) are assigned in ONE
 * transaction; their `assign`s are sent once it committed (store.afterCommit), never for an
 * assignment that rolled back.
 * The assign carries the ref shape of a build of the branch for every build the code under test
 * sees: a culprit search's bisect build (stored as refs/bisect/<search>) is sent as
 * refs/heads/<branch>, so nothing in the unit's environment or workspace tells it from a branch build.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import { unitFiles } from '../store/units.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { RunnerRegistry } from './registry.js';
import { hasFreeSlot, pickRunner, type RunnerLink } from './placement.js';
import { toBuilderSpec } from './builderSpec.js';
import { artifactsForUnit, neededStepsOf } from '../artifacts/handoff.js';
import { cloneUrlOf, type ServerMessage } from '../protocol.js';

export const SWEEP_MS = 1_000; // 1 second

export class WorkQueue {
  private dispatching = false;
  private again = false;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly lifecycle: BuildLifecycle,
    private readonly runners: RunnerRegistry,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Gives queued units to runners with free slots, highest priority and longest first. */
  dispatch(now = Date.now()): void {
    if (this.dispatching) { this.again = true; return; }
    this.dispatching = true;
    try {
      do {
        this.again = false;
        const links = this.runners.connected();
        if (!hasFreeSlot(links)) break;
        const queue = this.store.units.peek();
        const needs = this.runsOnLookup();
        const taken: [RunnerLink, number][] = []; // slots taken in this transaction: given back if it rolls back
        try {
          this.store.tx(() => {
            for (const id of queue) {
              // Read when its turn comes: a unit that left the queue meanwhile (assigned, cancelled) is passed over.
              const unit = this.store.units.get(id);
              if (!unit || unit.state !== 'queued') continue;
              const link = pickRunner(links, unit, now, (id) => this.store.units.get(id), needs(unit));
              if (!link) continue;
              if (this.assign(unit, link, now)) taken.push([link, unit.id]);
              if (!hasFreeSlot(links)) break;
            }
          });
        } catch (err) {
          for (const [link, unit] of taken) link.units.delete(unit);
          throw err;
        }
        if (taken.length > 0 && queue.length > 0) this.again = true;
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
  }

  private sweep(now = Date.now()): void {
    try {
      this.lifecycle.sweepOrphans(now);
      // A unit waiting for a runner other than the one it avoids may go back to it by now.
      this.dispatch(now);
    } catch (err) {
      this.log.error({ err }, 'queue sweep failed');
    }
  }

  /** The labels a unit's runner must have (its builder's runsOn), looked up once per build per dispatch. */
  private runsOnLookup(): (unit: UnitRow) => Readonly<Record<string, string>> | undefined {
    const byBuild = new Map<number, Readonly<Record<string, string>> | undefined>();
    return (unit) => {
      if (!byBuild.has(unit.buildId)) {
        const build = this.store.builds.get(unit.buildId);
        byBuild.set(unit.buildId, build && this.lifecycle.builderOf(build)?.runsOn);
      }
      if (unit.step !== null) { // a step may ask for other labels than its builder
        const build = this.store.builds.get(unit.buildId);
        return build && this.lifecycle.stepOf(build, unit)?.runsOn;
      }
      return byBuild.get(unit.buildId);
    };
  }

  private assign(unit: UnitRow, link: RunnerLink, now: number): boolean {
    const build = this.store.builds.get(unit.buildId);
    const repo = build && this.lifecycle.repoOf(build);
    const builder = build && this.lifecycle.stepOf(build, unit);
    if (!build || !repo || !builder || build.state === 'done') {
      this.lifecycle.endUnassignable(unit, build, now);
      return false;
    }
    if (!this.lifecycle.assign(unit.id, link.runnerId, now)) return false;
    link.units.add(unit.id);
    const artifacts = artifactsForUnit(this.store, build.id, neededStepsOf(this.store, unit, build)); // earlier steps' files, downloaded before setup
    const message: ServerMessage = {
      type: 'assign', unit: unit.id, build: build.id, repo: { name: repo.name, url: cloneUrlOf(repo), path: repo.path }, ref: assignRef(build),
      branch: build.branch, sha: build.sha, files: unitFiles(unit), attempt: unit.attempt,
      builder: toBuilderSpec(builder), ...(artifacts.length ? { artifacts } : {}),
    };
    this.store.afterCommit(() => link.send(message)); // the dispatch's transaction (or the caller's) committed
    return true;
  }
}

/** The ref a unit is told it builds: a bisect build looks like a build of its branch. */
export function assignRef(build: { kind: string; ref: string; branch: string }): string {
  return build.kind === 'bisect' ? `refs/heads/${build.branch}` : build.ref;
}
