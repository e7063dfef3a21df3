/**
 * A build's end, for the lifecycle (results/lifecycle.ts), in the caller's transaction: when its
 * counters say every current unit has ended, its result from its units (and its steps), the new
 * failures of a failed build, and the writers that commit with a build's end (server/pipeline.ts
 * `buildFinished`: culprit finding, the tree rule, notifications, deploys). Observers are told
 * (`build`, `buildFinished` events) only after the commit. Also a build's cancel, the start-up
 * recount of a build's counters from its units, and a build that cannot run at all, ended as it is made.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import { currentUnits, type UnitRow } from '../store/units.js';
import type { BuildRow, BuildResult, NewBuild } from '../store/builds.js';
import type { Events } from '../events.js';
import { decideResult } from './results.js';
import { markNewFailures } from './newFailures.js';
import { cancelPendingSteps, firstUnpassedStep } from './steps.js';

/** A fault injection point for the crash-recovery test (GG_FAULT=crash-after-build-result). */
const FAULT = process.env.GG_FAULT ?? '';

export class BuildEnd {
  constructor(
    private readonly store: Store,
    private readonly events: Events,
    private readonly log: Logger,
    /** The ordered writers that commit with a build's end (LifecycleLinks.buildFinished). */
    private readonly buildFinished: (build: BuildRow) => void,
    /** Moves a stepped build's steps on; true when anything changed (the lifecycle's `advance`). */
    private readonly advance: (buildId: number, now: number) => boolean,
    /** Tells observers of a build's new counters after the commit. */
    private readonly emitBuild: (buildId: number) => void,
  ) {}

  /**
   * Finishes the build when its counters say every current unit has ended: its result from its
   * units, and the tree rule for its branch, in the caller's transaction. Otherwise, when `announce`
   * is asked for, tells observers of its new counters.
   */
  check(buildId: number, now: number, announce = true): BuildRow | undefined {
    const build = this.store.builds.get(buildId);
    if (!build || build.state === 'done') return build;
    if (this.advance(buildId, now)) return this.check(buildId, now, announce);
    if (build.unitsDone < build.unitsTotal) {
      if (announce) this.emitBuild(buildId);
      return build;
    }
    const units = this.store.units.byBuild(buildId);
    let { result, reason } = decideResult(units, currentUnits(units));
    const step = (result === 'passed' || result === 'flaky') ? firstUnpassedStep(this.store, buildId) : undefined;
    if (step) ({ result, reason } = { result: step.result === 'exception' ? 'exception' : 'failed', reason: `step ${step.name} ${step.result}` });
    if (!this.store.builds.finish(buildId, result, reason, now)) return build;
    if (result === 'failed') markNewFailures(this.store, build);
    this.finished(build, result, reason);
    if (FAULT === 'crash-after-build-result') process.kill(process.pid, 'SIGKILL');
    const finished = this.store.builds.get(buildId)!;
    this.buildFinished(finished); // culprit, tree rule, notifications, deploys: server/pipeline.ts
    return finished;
  }

  /** A build that cannot run at all: made and ended as 'exception' with `error`, no units, in the caller's transaction. */
  failed(build: NewBuild, error: string, now: number): number {
    const id = this.store.builds.create(build);
    this.store.builds.setError(id, error);
    const reason = `cannot run: ${error.split('\n')[0]}`.slice(0, 500);
    this.store.builds.finish(id, 'exception', reason, now);
    const finished = this.store.builds.get(id)!;
    this.finished(finished, 'exception', reason);
    this.buildFinished(finished);
    return id;
  }

  /**
   * Cancels a build (queued units and pending steps at once, running units marked cancel_requested)
   * in the caller's transaction; the running units whose runners are to be told, or false when it had ended.
   */
  cancel(buildId: number, now: number): UnitRow[] | false {
    const build = this.store.builds.get(buildId);
    if (!build || build.state === 'done') return false;
    const queued = this.store.units.queuedSummary(buildId);
    this.store.units.cancelQueued(buildId, now);
    cancelPendingSteps(this.store, buildId, now);
    this.store.builds.adjustProgress(buildId, 0, queued.n, -queued.ms);
    const tell = this.store.units.byBuild(buildId).filter((u) => u.state === 'running' && this.store.units.requestCancel(u.id));
    this.check(buildId, now, true);
    return tell;
  }

  /** Counters from the units themselves (start-up only: they move incrementally afterwards). */
  recount(buildId: number): void {
    const current = currentUnits(this.store.units.byBuild(buildId));
    const left = current.filter((u) => u.state !== 'done');
    this.store.builds.setProgress(buildId, current.length, current.length - left.length, left.reduce((s, u) => s + u.expectedMs, 0));
  }

  private finished(build: BuildRow, result: BuildResult, reason: string | null): void {
    this.log.info({ build: build.id, result, reason }, 'build finished');
    this.store.afterCommit(() => {
      const b = this.store.builds.get(build.id);
      if (!b) return;
      this.events.emit('build', b);
      this.events.emit('buildFinished', b);
    });
  }
}
