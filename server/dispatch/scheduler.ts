/**
 * The scheduler: hands queued units to connected runners, follows each unit to its end, and
 * finishes builds. Single-threaded: every method runs to completion on the event loop, and
 * every store write is a synchronous transaction, so there are no interleavings to reason about.
 *
 * A unit is held by exactly one runner (units.runner_id, state running). A message about a unit
 * from any other runner is refused. A lost runner's units become new queued units at the front
 * of the queue (retry_of = the lost one); a unit lost twice ends its build as `exception`.
 * After a server restart, running units wait LOST_AFTER_MS for their runner to reconnect and
 * claim them before they count as lost. Which runner takes a unit: placement.ts.
 *
 * A late result (a `finished` for a unit the runner no longer holds, or for a unit of its that
 * was declared lost and queued again) is refused, so no unit's tests are counted twice.
 */
import type { Logger } from 'pino';
import type { Config, BuilderConfig, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import { unitFiles } from '../store/units.js';
import type { BuildRow } from '../store/builds.js';
import type { Events } from '../events.js';
import { LOST_AFTER_MS, type FinishedMessage, type LogMessage, type ServerMessage } from '../protocol.js';
import { decideResult, recordUnitTests } from '../results/results.js';
import { DEFAULT_OVERHEAD_MS, estimateDurations } from '../planning/planner.js';
import { cloneUrlOf } from '../web/gitHttp.js';
import { hasFreeSlot, pickRunner, remainingMs, type RunnerLink } from './placement.js';

export type { RunnerLink } from './placement.js';

export const LOST_PRIORITY = 100; // lost units go to the front of the queue
export const RETRY_PRIORITY = 50; // flaky retries next
export const MAX_LOSSES = 2; // a unit lost this many times ends its build as exception

export class Scheduler {
  private readonly links = new Map<number, RunnerLink>();
  private readonly orphans = new Map<number, number>(); // unit id → deadline
  private readonly cancelling = new Set<number>();
  private dispatching = false;
  private again = false;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly events: Events,
    private readonly log: Logger,
  ) {}

  /** After start-up: running units wait for their runners; builds whose units all ended are finished. */
  recover(now = Date.now()): void {
    this.store.runners.markAllDisconnected();
    for (const u of this.store.units.running()) this.orphans.set(u.id, now + LOST_AFTER_MS);
    for (const b of this.store.builds.unfinished()) this.checkBuild(b.id, now);
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
  }

  stop(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  connectedRunners(): RunnerLink[] {
    return [...this.links.values()];
  }

  /** A runner said hello. Returns the units it must drop (it no longer holds them). */
  runnerJoined(link: RunnerLink, claimed: readonly { unit: number; finished: boolean }[]): number[] {
    const old = this.links.get(link.runnerId);
    if (old && old !== link) this.runnerLeft(old, 'replaced by a new connection');
    this.links.set(link.runnerId, link);
    const drop: number[] = [];
    for (const c of claimed) {
      const unit = this.store.units.get(c.unit);
      if (unit && unit.runnerId === link.runnerId && unit.state === 'running') {
        link.units.add(unit.id);
        this.orphans.delete(unit.id);
      } else if (!(unit && unit.runnerId === link.runnerId && unit.state === 'done' && c.finished && unit.result !== 'exception')) {
        // Kept only when its result was recorded and just the ack went missing; a lost unit ran again elsewhere.
        drop.push(c.unit);
      }
    }
    this.events.emit('runners');
    queueMicrotask(() => this.dispatch());
    return drop;
  }

  runnerLeft(link: RunnerLink, reason: string, now = Date.now()): void {
    if (this.links.get(link.runnerId) !== link) return;
    this.links.delete(link.runnerId);
    this.store.runners.markDisconnected(link.runnerId, now);
    for (const id of link.units) {
      const unit = this.store.units.get(id);
      if (unit && unit.state === 'running' && unit.runnerId === link.runnerId) {
        this.loseUnit(unit, `runner ${link.name} lost: ${reason}`, now);
      }
    }
    link.units.clear();
    this.events.emit('runners');
    this.dispatch();
  }

  /** Gives queued units to runners with free slots, highest priority and longest first. */
  dispatch(now = Date.now()): void {
    if (this.dispatching) { this.again = true; return; }
    this.dispatching = true;
    try {
      do {
        this.again = false;
        if (!hasFreeSlot(this.links.values())) break;
        const queue = this.store.units.peek();
        let assigned = 0;
        const needs = this.runsOnLookup();
        for (const unit of queue) {
          const link = pickRunner(this.links.values(), unit, now, (id) => this.store.units.get(id), needs(unit));
          if (!link) continue;
          if (this.assign(unit, link, now)) assigned++;
          if (!hasFreeSlot(this.links.values())) break;
        }
        if (assigned > 0 && queue.length > 0) this.again = true;
      } while (this.again);
    } finally {
      this.dispatching = false;
    }
  }

  unitStarted(link: RunnerLink, unitId: number, at: number): void {
    if (!this.holds(link, unitId)) return;
    this.store.units.markStarted(unitId, Math.min(at, Date.now()));
    const unit = this.store.units.get(unitId);
    if (unit) this.events.emit('unit', unit);
  }

  /** Stores a log chunk. Returns false when the runner does not hold the unit. */
  unitLog(link: RunnerLink, msg: LogMessage, now = Date.now()): boolean {
    const unit = this.store.units.get(msg.unit);
    if (!unit || unit.runnerId !== link.runnerId) return false;
    const chunk = { unitId: msg.unit, seq: msg.seq, offset: msg.offset, stream: msg.stream, data: msg.data, at: now };
    const stored = this.store.tx(() => {
      const fresh = this.store.logs.append(chunk);
      if (fresh) this.store.units.addLogBytes(msg.unit, Buffer.byteLength(msg.data));
      return fresh;
    });
    if (stored) this.events.emit('log', { ...chunk, buildId: unit.buildId });
    return true;
  }

  /** Records a unit's end. Returns false when the runner does not hold the unit. */
  unitFinished(link: RunnerLink, msg: FinishedMessage, now = Date.now()): boolean {
    const unit = this.store.units.get(msg.unit);
    if (!unit || unit.runnerId !== link.runnerId) return false;
    link.units.delete(unit.id);
    // A repeat after a reconnect is acked (already recorded); the late result of a lost unit is refused.
    if (unit.state === 'done') return unit.result !== 'exception';
    const build = this.store.builds.get(unit.buildId);
    if (!build) return false;
    if (this.cancelling.delete(unit.id)) {
      this.store.units.finish(unit.id, { result: 'cancelled', exitCode: msg.exitCode, signal: msg.signal, error: 'cancelled', at: now });
    } else if (msg.exitCode === null && !msg.timedOut && msg.error) {
      // The runner could not run it (checkout or workspace trouble): infrastructure, not the code.
      this.loseUnit(unit, `runner ${link.name}: ${msg.error}`, now, link.runnerId);
    } else {
      const builder = this.builderOf(build);
      this.store.tx(() => {
        const outcome = recordUnitTests(this.store, build, unit, builder, msg, now);
        this.store.units.finish(unit.id, {
          result: outcome.failed ? 'failed' : 'passed', exitCode: msg.exitCode, signal: msg.signal,
          error: msg.timedOut ? `no progress for ${builder?.timeout ?? '?'} s: timed out` : msg.error, at: now,
        });
        if (outcome.retryFiles) this.createRetry(build, unit, outcome.retryFiles, link.runnerId, now);
      });
    }
    this.afterUnitChange(unit.id, now);
    return true;
  }

  /** Cancels a build: queued units at once, running ones through their runners. */
  cancelBuild(buildId: number, now = Date.now()): boolean {
    const build = this.store.builds.get(buildId);
    if (!build || build.state === 'done') return false;
    this.store.units.cancelQueued(buildId, now);
    for (const u of this.store.units.byBuild(buildId)) {
      if (u.state !== 'running' || u.runnerId === null) continue;
      const link = this.links.get(u.runnerId);
      this.cancelling.add(u.id);
      if (link) link.send({ type: 'cancel', unit: u.id, reason: 'build cancelled' });
      else this.store.units.finish(u.id, { result: 'cancelled', exitCode: null, signal: null, error: 'cancelled', at: now });
    }
    this.checkBuild(buildId, now);
    return true;
  }

  /** Finishes the build when every current unit has ended; otherwise updates its progress. */
  checkBuild(buildId: number, now = Date.now()): BuildRow | undefined {
    const units = this.store.units.byBuild(buildId);
    const retried = new Set(units.map((u) => u.retryOf).filter((id): id is number => id !== null));
    const current = units.filter((u) => !retried.has(u.id));
    const done = current.filter((u) => u.state === 'done');
    const left = current.filter((u) => u.state !== 'done').reduce((s, u) => s + remainingMs(u, now), 0);
    this.store.builds.setProgress(buildId, current.length, done.length, left);
    if (done.length < current.length) return this.store.builds.get(buildId);
    const { result, reason } = decideResult(units, current);
    if (this.store.builds.finish(buildId, result, reason, now)) {
      const build = this.store.builds.get(buildId)!;
      this.log.info({ build: buildId, result, reason }, 'build finished');
      this.events.emit('build', build);
      this.events.emit('buildFinished', build);
      return build;
    }
    return this.store.builds.get(buildId);
  }

  private afterUnitChange(unitId: number, now: number): void {
    const unit = this.store.units.get(unitId);
    if (unit) {
      this.events.emit('unit', unit);
      const build = this.checkBuild(unit.buildId, now);
      if (build && build.state !== 'done') this.events.emit('build', build);
    }
    this.dispatch(now);
  }

  private loseUnit(unit: UnitRow, reason: string, now: number, avoid: number | null = null): void {
    this.log.warn({ unit: unit.id, build: unit.buildId, reason }, 'unit lost');
    this.store.tx(() => {
      this.store.units.finish(unit.id, { result: 'exception', exitCode: null, signal: null, error: reason, at: now });
      if (unit.lostCount + 1 < MAX_LOSSES) {
        this.store.units.create({
          buildId: unit.buildId, seq: unit.seq, files: unitFiles(unit), attempt: unit.attempt, retryOf: unit.id,
          priority: LOST_PRIORITY, expectedMs: unit.expectedMs, avoidRunnerId: avoid, lostCount: unit.lostCount + 1, at: now,
        });
      }
    });
    this.orphans.delete(unit.id);
    this.afterUnitChange(unit.id, now);
  }

  /** A retry of the failing files, expected to take what they took so far (just learned). */
  private createRetry(build: BuildRow, unit: UnitRow, files: string[], runnerId: number, now: number): void {
    const estimates = estimateDurations(files, this.store.tests.fileDurations(build.repoId, build.builder));
    const expectedMs = Math.round([...estimates.values()].reduce((a, b) => a + b, 0) + DEFAULT_OVERHEAD_MS);
    this.store.units.create({
      buildId: unit.buildId, seq: unit.seq, files, attempt: unit.attempt + 1, retryOf: unit.id,
      priority: RETRY_PRIORITY, expectedMs, avoidRunnerId: runnerId, lostCount: unit.lostCount, at: now,
    });
  }

  private sweep(now = Date.now()): void {
    for (const [id, deadline] of this.orphans) {
      if (deadline > now) continue;
      this.orphans.delete(id);
      const unit = this.store.units.get(id);
      if (unit && unit.state === 'running') this.loseUnit(unit, 'its runner did not come back after a server restart', now);
    }
    // A unit waiting for a runner other than the one it avoids may go back to it by now.
    this.dispatch(now);
  }

  private assign(unit: UnitRow, link: RunnerLink, now: number): boolean {
    const build = this.store.builds.get(unit.buildId);
    const repo = build && this.repoOf(build);
    const builder = build && this.builderOf(build);
    if (!build || !repo || !builder || build.state === 'done') {
      this.store.units.finish(unit.id, build?.state === 'done'
        ? { result: 'cancelled', exitCode: null, signal: null, at: now, error: `its build had already ended (${build.result}) when a runner was free` }
        : { result: 'exception', exitCode: null, signal: null, at: now, error: 'its repository or builder is no longer in the configuration' });
      this.afterUnitChange(unit.id, now);
      return false;
    }
    const ok = this.store.tx(() => {
      if (!this.store.units.assign(unit.id, link.runnerId, now)) return false;
      this.store.builds.markStarted(build.id, now);
      return true;
    });
    if (!ok) return false;
    link.units.add(unit.id);
    link.send({
      type: 'assign', unit: unit.id, build: build.id, repo: { name: repo.name, url: cloneUrlOf(repo), path: repo.path }, ref: build.ref,
      branch: build.branch, sha: build.sha, files: unitFiles(unit), attempt: unit.attempt,
      builder: { name: builder.name, setup: builder.setup, run: builder.run, junit: builder.junit, timeout: builder.timeout },
    });
    if (build.state === 'queued') this.events.emit('build', this.store.builds.get(build.id)!);
    const fresh = this.store.units.get(unit.id);
    if (fresh) this.events.emit('unit', fresh);
    return true;
  }

  /** The labels a unit's runner must have (its builder's runsOn), looked up once per build per dispatch. */
  private runsOnLookup(): (unit: UnitRow) => Readonly<Record<string, string>> | undefined {
    const byBuild = new Map<number, Readonly<Record<string, string>> | undefined>();
    return (unit) => {
      if (!byBuild.has(unit.buildId)) {
        const build = this.store.builds.get(unit.buildId);
        byBuild.set(unit.buildId, build && this.builderOf(build)?.runsOn);
      }
      return byBuild.get(unit.buildId);
    };
  }

  private holds(link: RunnerLink, unitId: number): boolean {
    return link.units.has(unitId);
  }

  repoOf(build: Pick<BuildRow, 'repo'>): RepositoryConfig | undefined {
    return this.config.repositories.find((r) => r.name === build.repo);
  }

  builderOf(build: Pick<BuildRow, 'repo' | 'builder'>): BuilderConfig | undefined {
    return this.repoOf(build)?.builders.find((b) => b.name === build.builder);
  }
}
