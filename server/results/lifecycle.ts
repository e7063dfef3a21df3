/**
 * The build lifecycle: the one owner of a build's life in SQLite. Every change of a unit's state
 * (assigned, started, log, finished, lost, cancelled), of a build's counters and result, and the
 * writers that commit with a build's end (server/pipeline.ts `buildFinished`: culprit finding, the
 * tree rule, notifications, deploys), are written here, each in ONE synchronous transaction.
 * Observers (pages, metrics) are told through `events` only after the commit (store.afterCommit),
 * so nothing they see can be rolled back and nothing is half written when the process dies.
 *
 * Ownership: a unit is held by the runner named in units.runner_id while it is `running`; a
 * message about a unit from any other runner is refused. Cancel intent is stored
 * (units.cancel_requested): a cancelled unit ends `cancelled` whenever and however it ends, also
 * across a restart. Counters (builds.units_total/units_done/expected_ms) move by the finished
 * unit alone, so finishing a unit costs the same whatever the build's size; the build's result is
 * read from its units once, when the last one ends.
 *
 * Steps (a builder with `steps:`): the build keeps a row per step (build_steps); every change of
 * a unit runs the step rule (results/steps.ts) in the same transaction, which queues the units of
 * the steps whose needs have passed, and skips or cancels the rest. A lost or retried unit keeps
 * its step.
 *
 * A lost unit becomes a new queued unit at the front of the queue (retry_of = the lost one); a
 * unit lost MAX_LOSSES times ends its build as `exception`. After a restart, running units wait
 * LOST_AFTER_MS for their runner to claim them (registry.ts) before they count as lost.
 */
import type { Logger } from 'pino';
import type { BuilderConfig, Config, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { UnitRow } from '../store/units.js';
import type { BuildRow, NewBuild } from '../store/builds.js';
import type { Events } from '../events.js';
import type { Tree } from '../gate/tree.js';
import { LOST_AFTER_MS, type FinishedMessage, type LogMessage, type ServerMessage } from '../protocol.js';
import { recordUnitTests } from './results.js';
import { requeueLost, retryFailing } from './attempts.js';
import type { StepConfig } from '../config/steps.js';
import { BuildBuilders, type BuilderOfBuild } from './builders.js';
import { BuildEnd } from './buildEnd.js';
import { advanceSteps, insertSteps, type PlannedStep } from './steps.js';

export { LOST_PRIORITY, MAX_LOSSES, RETRY_PRIORITY } from './attempts.js';

/** How the lifecycle reaches runners: a message to the runner holding a unit (false when it is not connected). */
export type SendToRunner = (runnerId: number, message: ServerMessage) => boolean;


/** What the lifecycle is connected to, given once at construction (server/pipeline.ts declares it). */
export interface LifecycleLinks {
  /**
   * The ordered writers that commit with a build's end (server/pipeline.ts `buildFinished`): called
   * inside the transaction that finishes the build, after its result is written. They must not
   * await; what they write rolls back with the result. Default: the tree rule alone.
   */
  buildFinished?: (build: BuildRow) => void;
  /** How the lifecycle reaches runners. */
  sendToRunner?: SendToRunner;
  /** The builder of a build that is not one of `builders:` (a deploy step, server/deploy/steps.ts); undefined: none. */
  specialBuilder?: (build: BuilderOfBuild) => BuilderConfig | undefined;
}

export type { BuilderOfBuild } from './builders.js';

export class BuildLifecycle {
  private readonly orphans = new Map<number, number>(); // unit id → deadline for its runner to claim it
  private readonly builders: BuildBuilders;
  private readonly end: BuildEnd;
  private readonly sendToRunner: SendToRunner;
  private readonly buildFinished: (build: BuildRow) => void;

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly tree: Tree,
    private readonly events: Events,
    private readonly log: Logger,
    links: LifecycleLinks = {},
  ) {
    this.sendToRunner = links.sendToRunner ?? (() => false);
    this.buildFinished = links.buildFinished ?? ((b) => this.tree.buildFinished(b));
    this.builders = new BuildBuilders(config, links.specialBuilder ?? (() => undefined));
    this.end = new BuildEnd(store, events, log, this.buildFinished, (id, now) => this.advance(id, now), (id) => this.emitBuild(id));
  }

  /** Start-up: counters recounted, finished builds finished, the tree rule re-applied, running units wait for their runners. */
  recover(now = Date.now()): void {
    this.commit(() => {
      for (const b of this.store.builds.unfinished()) {
        this.end.recount(b.id);
        this.end.check(b.id, now);
      }
      this.tree.recover(now);
    });
    for (const u of this.store.units.running()) this.orphans.set(u.id, now + LOST_AFTER_MS);
  }

  /** The tree rule applied again to every gated branch (after a storage fault; idempotent). */
  reapplyTree(now = Date.now()): void {
    this.commit(() => this.tree.recover(now));
  }

  /** A runner claimed a unit after a reconnect: it is no longer an orphan; a stored cancel is sent again. */
  claimed(unit: UnitRow): void {
    this.orphans.delete(unit.id);
    if (unit.cancelRequested && unit.runnerId !== null) {
      this.sendToRunner(unit.runnerId, { type: 'cancel', unit: unit.id, reason: 'build cancelled' });
    }
  }

  /**
   * Every build the server makes is made here (inside the caller's transaction): its row, with its
   * `purpose` (normal, bisect, deploy, rollback: the one marker of special builds), and its units.
   * The caller announces it after the commit.
   */
  create(build: NewBuild, units: readonly { files: string[]; expectedMs: number }[], steps?: readonly PlannedStep[]): number {
    const id = this.store.builds.create(build);
    if (steps) this.insertSteps(id, steps, build.pushedAt);
    else this.insertUnits(id, units, build.pushedAt);
    return id;
  }

  /**
   * The steps of a new or joined build of a builder with `steps:` (results/steps.ts), inside the
   * caller's transaction: a joined build's queued units and steps are replaced; the first steps' units are queued.
   */
  insertSteps(buildId: number, steps: readonly PlannedStep[], at: number): void {
    this.store.steps.deleteAll(buildId);
    insertSteps(this.store, buildId, steps);
    this.advance(buildId, at);
  }

  /** Units created for a new or re-split build (inside the caller's transaction); the counters follow. `step`: their step's label. */
  insertUnits(buildId: number, units: readonly { files: string[]; expectedMs: number }[], at: number, step: string | null = null): void {
    const first = step === null ? 1 : this.store.units.nextSeq(buildId);
    this.store.units.createMany(units.map((p, i) => ({ buildId, seq: first + i, files: p.files, attempt: 1, retryOf: null,
      priority: 0, expectedMs: Math.round(p.expectedMs), avoidRunnerId: null, lostCount: 0, at, step })));
    this.store.builds.adjustProgress(buildId, units.length, 0, units.reduce((s, u) => s + Math.round(u.expectedMs), 0));
  }

  /** Drops a build's queued units before a new split (inside the caller's transaction). */
  dropQueued(buildId: number): void {
    const q = this.store.units.queuedSummary(buildId);
    this.store.units.deleteQueued(buildId);
    this.store.builds.adjustProgress(buildId, -q.n, 0, -q.ms);
  }

  /** A build was created or changed by intake: finish it if it has nothing to run, and tell observers. */
  announce(buildId: number, now = Date.now()): BuildRow | undefined {
    return this.commit(() => this.end.check(buildId, now, true));
  }

  /** Hands a queued unit to a runner. False when it was taken meanwhile. `buildId`: the unit's build, when the caller read it. */
  assign(unitId: number, runnerId: number, now = Date.now(), buildId?: number): boolean {
    return this.commit(() => {
      if (!this.store.units.assign(unitId, runnerId, now)) return false;
      const build = buildId ?? this.store.units.get(unitId)!.buildId;
      if (this.store.builds.markStarted(build, now)) this.emitBuild(build);
      this.emitUnit(unitId);
      return true;
    });
  }

  /** A queued unit that can no longer run (its build ended, or its builder left the configuration). */
  endUnassignable(unit: UnitRow, build: BuildRow | undefined, now = Date.now()): void {
    this.commit(() => {
      const outcome = build?.state === 'done'
        ? { result: 'cancelled' as const, error: `its build had already ended (${build.result}) when a runner was free` }
        : { result: 'exception' as const, error: 'its repository or builder is no longer in the configuration' };
      if (!this.store.units.finish(unit.id, { ...outcome, exitCode: null, signal: null, at: now })) return;
      this.store.builds.adjustProgress(unit.buildId, 0, 1, -unit.expectedMs);
      this.emitUnit(unit.id);
      this.end.check(unit.buildId, now);
    });
  }

  unitStarted(runnerId: number, unitId: number, at: number): boolean {
    const unit = this.store.units.get(unitId);
    if (!holds(unit, runnerId)) return false;
    this.commit(() => {
      this.store.units.markStarted(unitId, Math.min(at, Date.now()));
      this.emitUnit(unitId);
    });
    return true;
  }

  /**
   * Stores a log chunk (a resent chunk once), as `screen` makes it (the gateway's redaction and cap,
   * dispatch/logGuard.ts, given the unit row read here once). Returns false when the runner does not hold the unit.
   */
  unitLog(runnerId: number, msg: LogMessage, now = Date.now(), screen: (msg: LogMessage, unit: UnitRow) => LogMessage = (m) => m): boolean {
    const unit = this.store.units.get(msg.unit);
    if (!unit || unit.runnerId !== runnerId) return false;
    const { data } = screen(msg, unit);
    const chunk = { unitId: msg.unit, seq: msg.seq, offset: msg.offset, stream: msg.stream, data, at: now };
    this.commit(() => {
      if (!this.store.logs.append(chunk)) return;
      this.store.units.addLogBytes(msg.unit, Buffer.byteLength(msg.data));
      this.later(() => this.events.emit('log', { ...chunk, buildId: unit.buildId }));
    });
    return true;
  }

  /**
   * Records a unit's end, its tests, a retry, the build's result and the tree change, in one
   * transaction. Returns true when the report is recorded (or was already: a repeat after a
   * reconnect), false when the runner does not hold the unit or it was lost meanwhile. `read`: the
   * unit's row as the caller read it in this same synchronous step (nothing written since), else read here.
   */
  unitFinished(runnerId: number, runnerName: string, msg: FinishedMessage, now = Date.now(), read?: UnitRow): boolean {
    return this.commit(() => {
      const unit = read && read.id === msg.unit ? read : this.store.units.get(msg.unit);
      if (!unit || unit.runnerId !== runnerId) return false;
      if (unit.state === 'done') return unit.result !== 'exception';
      const build = this.store.builds.get(unit.buildId);
      if (!build) return false;
      this.store.units.recordSetup(unit.id, msg.setupMs, msg.cacheHit);
      if (unit.cancelRequested) {
        this.endUnit(unit, { result: 'cancelled', exitCode: msg.exitCode, signal: msg.signal, error: 'cancelled', at: now });
      } else if (msg.exitCode === null && !msg.timedOut && msg.error) {
        // The runner could not run it (checkout or workspace trouble): infrastructure, not the code.
        this.lose(unit, `runner ${runnerName}: ${msg.error}`, now, runnerId);
        return true;
      } else {
        const builder = this.stepOf(build, unit);
        const outcome = recordUnitTests(this.store, build, unit, builder, msg, now);
        const error = msg.timedOut ? `no progress for ${builder?.timeout ?? '?'} s: timed out` : msg.error;
        const retry = outcome.retryFiles ? retryFailing(this.store, build, unit, outcome.retryFiles, runnerId, now) : null;
        this.endUnit(unit, { result: outcome.failed ? 'failed' : 'passed', exitCode: msg.exitCode, signal: msg.signal, error, at: now }, retry);
      }
      this.end.check(unit.buildId, now);
      return true;
    });
  }

  /** A unit whose runner is gone: ended as `exception`, queued again unless lost MAX_LOSSES times. */
  unitLost(unit: UnitRow, reason: string, now = Date.now(), avoid: number | null = null): void {
    this.commit(() => {
      const fresh = this.store.units.get(unit.id);
      if (!fresh || fresh.state !== 'running') return;
      this.lose(fresh, reason, now, avoid);
      this.end.check(fresh.buildId, now);
    });
  }

  /** Cancels a build: queued units at once; running ones are marked and their runners told. False when it has ended. */
  cancelBuild(buildId: number, now = Date.now()): boolean {
    const tell = this.commit(() => this.end.cancel(buildId, now));
    if (!tell) return false;
    for (const u of tell) if (u.runnerId !== null) this.sendToRunner(u.runnerId, { type: 'cancel', unit: u.id, reason: 'build cancelled' });
    return true;
  }

  /** Every second: orphans whose runner did not come back are lost (or cancelled, when that was asked). */
  sweepOrphans(now = Date.now()): void {
    for (const [id, deadline] of this.orphans) {
      if (deadline > now) continue;
      this.orphans.delete(id);
      const unit = this.store.units.get(id);
      if (!unit || unit.state !== 'running') continue;
      if (unit.cancelRequested) {
        this.commit(() => {
          this.endUnit(unit, { result: 'cancelled', exitCode: null, signal: null, error: 'cancelled (its runner did not come back)', at: now });
          this.end.check(unit.buildId, now);
        });
      } else {
        this.unitLost(unit, 'its runner did not come back after a server restart', now);
      }
    }
  }

  repoOf(build: Pick<BuildRow, 'repo'>): RepositoryConfig | undefined { return this.builders.repoOf(build); }
  /** The builder a build runs (builders.ts). */
  builderOf(build: BuilderOfBuild): BuilderConfig | undefined { return this.builders.builderOf(build); }
  /** What a unit runs: its step of its build's builder (builders.ts). */
  stepOf(build: BuilderOfBuild, unit: Pick<UnitRow, 'step'>): StepConfig | undefined { return this.builders.stepOf(build, unit); }

  /**
   * A build that cannot run at all (its commit's pipeline file is missing or invalid): made and
   * ended at once as 'exception' with `error`, no units, in one transaction. The caller announces it.
   */
  createFailed(build: NewBuild, error: string, now = Date.now()): number {
    return this.commit(() => this.end.failed(build, error, now));
  }

  /** Runs fn in one transaction (store.tx); what it asked to tell observers is told after the commit (and dropped on rollback). */
  private commit<T>(fn: () => T): T { return this.store.tx(fn); }

  private later(f: () => void): void { this.store.afterCommit(f); }
  private emitUnit(id: number): void { this.later(() => { const u = this.store.units.get(id); if (u) this.events.emit('unit', u); }); }
  private emitBuild(id: number): void { this.later(() => { const b = this.store.builds.get(id); if (b) this.events.emit('build', b); }); }

  /** Ends a unit and moves its build's counters: a unit replaced by `retry` is no longer current. */
  private endUnit(unit: UnitRow, o: { result: 'passed' | 'failed' | 'exception' | 'cancelled'; exitCode: number | null;
    signal: string | null; error: string | null; at: number }, retry: { expectedMs: number } | null = null): void {
    if (!this.store.units.finish(unit.id, o)) return;
    if (retry) this.store.builds.adjustProgress(unit.buildId, 0, 0, retry.expectedMs - unit.expectedMs);
    else this.store.builds.adjustProgress(unit.buildId, 0, 1, -unit.expectedMs);
    this.orphans.delete(unit.id);
    this.emitUnit(unit.id);
  }

  private lose(unit: UnitRow, reason: string, now: number, avoid: number | null): void {
    this.log.warn({ unit: unit.id, build: unit.buildId, reason }, 'unit lost');
    const retry = requeueLost(this.store, unit, avoid, now);
    this.endUnit(unit, { result: 'exception', exitCode: null, signal: null, error: reason, at: now }, retry);
  }

  /** Moves a stepped build's steps on (results/steps.ts), queueing the units of those that start; true when anything changed. */
  private advance(buildId: number, now: number): boolean {
    return advanceSteps(this.store, buildId, now, (step, plan) => {
      this.insertUnits(buildId, plan, now, step.name);
      this.emitBuild(buildId);
    });
  }

}

function holds(unit: UnitRow | undefined, runnerId: number): unit is UnitRow {
  return !!unit && unit.runnerId === runnerId && unit.state === 'running';
}
