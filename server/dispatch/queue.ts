/**
 * The work queue: hands queued units (SQLite's queue order: priority, oldest build, longest first)
 * to connected runners with free slots, as placement.ts chooses, and sends each its `assign`.
 * The unit's state change is the lifecycle's; this module only decides who and sends. A sweep
 * every second lets orphaned units go (lifecycle) and looks again at units waiting for a runner
 * other than the one they avoid. Re-entrant calls during a dispatch are folded into it.
 * The units handed out from one look at the queue's head (up to QUEUE_PEEK) are assigned in ONE
 * transaction (a pass's very first one alone, so the first assign after a push waits for no other);
 * their `assign`s are sent once it committed (store.afterCommit), never for an assignment that
 * rolled back. A dispatch asked for inside a transaction runs after its commit (dropped on rollback).
 * The assign carries the ref shape of a build of the branch for every build the code under test
 * sees: a culprit search's bisect build (stored as refs/bisect/<search>) is sent as
 * refs/heads/<branch>, so nothing in the unit's environment or workspace tells it from a branch build.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import { QUEUE_PEEK, unitFiles } from '../store/units.js';
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
    // Never inside a caller's transaction: its rollback would undo assignments whose slots were taken.
    if (this.store.inTx()) return this.store.afterCommit(() => this.dispatch());
    if (this.dispatching) { this.again = true; return; }
    this.dispatching = true;
    try {
      let limit = 1; // a pass's first assign is committed and sent alone: push → first assign waits for one unit
      do {
        this.again = false;
        const links = this.runners.connected();
        if (!hasFreeSlot(links)) break;
        const queue = this.store.units.peek();
        const needs = this.runsOnLookup();
        let assigned = 0;
        for (let at = 0; at < queue.length && hasFreeSlot(links);) {
          const done = this.assignSome(queue, at, limit, links, needs, now);
          at = done.next;
          assigned += done.assigned;
          if (done.assigned > 0) limit = QUEUE_PEEK;
        }
        if (assigned > 0 && queue.length > 0) this.again = true;
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
  }

  /**
   * Assigns units of `queue` from index `from` on, up to `limit` of them, in ONE transaction; their
   * assigns are sent once it (or the caller's) committed, a runner's together in one write. If it
   * rolls back the slots it took are given back and nothing is sent. Returns where it stopped.
   */
  private assignSome(queue: readonly number[], from: number, limit: number, links: readonly RunnerLink[],
    needs: (unit: UnitRow) => Readonly<Record<string, string>> | undefined, now: number): { next: number; assigned: number } {
    const taken: [RunnerLink, number][] = [];
    let at = from;
    try {
      this.store.tx(() => {
        const outbox = new Map<RunnerLink, ServerMessage[]>();
        while (at < queue.length && taken.length < limit && hasFreeSlot(links)) {
          // Read when its turn comes: a unit that left the queue meanwhile (assigned, cancelled) is passed over.
          const unit = this.store.units.get(queue[at++]);
          if (!unit || unit.state !== 'queued') continue;
          const link = pickRunner(links, unit, now, (id) => this.store.units.get(id), needs(unit));
          if (!link) continue;
          const message = this.assign(unit, link, now);
          if (!message) continue;
          taken.push([link, unit.id]);
          outbox.set(link, [...(outbox.get(link) ?? []), message]);
        }
        if (outbox.size) this.store.afterCommit(() => { for (const [link, messages] of outbox) sendAll(link, messages); });
      });
    } catch (err) {
      for (const [link, unit] of taken) link.units.delete(unit);
      throw err;
    }
    return { next: at, assigned: taken.length };
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

  /** Assigns the unit to the runner (the slot taken); the assign to send once committed, or undefined when it was not assigned. */
  private assign(unit: UnitRow, link: RunnerLink, now: number): ServerMessage | undefined {
    const build = this.store.builds.get(unit.buildId);
    const repo = build && this.lifecycle.repoOf(build);
    const builder = build && this.lifecycle.stepOf(build, unit);
    if (!build || !repo || !builder || build.state === 'done') {
      this.lifecycle.endUnassignable(unit, build, now);
      return undefined;
    }
    if (!this.lifecycle.assign(unit.id, link.runnerId, now, unit.buildId)) return undefined;
    link.units.add(unit.id);
    const artifacts = artifactsForUnit(this.store, build.id, neededStepsOf(this.store, unit, build)); // earlier steps' files, downloaded before setup
    const message: ServerMessage = {
      type: 'assign', unit: unit.id, build: build.id, repo: { name: repo.name, url: cloneUrlOf(repo), path: repo.path }, ref: assignRef(build),
      branch: build.branch, sha: build.sha, files: unitFiles(unit), attempt: unit.attempt,
      builder: toBuilderSpec(builder), ...(artifacts.length ? { artifacts } : {}),
    };
    return message;
  }
}

function sendAll(link: RunnerLink, messages: readonly ServerMessage[]): void {
  if (link.sendMany) link.sendMany(messages);
  else for (const m of messages) link.send(m);
}

/** The ref a unit is told it builds: a bisect build looks like a build of its branch. */
export function assignRef(build: { kind: string; ref: string; branch: string }): string {
  return build.kind === 'bisect' ? `refs/heads/${build.branch}` : build.ref;
}
