/**
 * The store: the only place SQL lives. One module per aggregate, opened together.
 *
 * The after-commit rule (the one way anything reacts to a committed change): `tx(fn)` runs fn in
 * one synchronous transaction (nested calls are savepoints) and keeps a queue of work that
 * `afterCommit(f)` adds while it runs. The queue runs, in the order it was added, once the
 * OUTERMOST transaction has committed; work added inside a transaction (or a nested savepoint)
 * that rolls back is dropped with it. `afterCommit` outside any transaction runs f at once: the
 * write it follows has already committed (autocommit). A failing f is logged and does not stop
 * the others nor undo the commit. Work that runs after a commit may open new transactions; their
 * own queue runs when they commit. Events (events.ts) are emitted only from such work, never
 * inside a transaction.
 */
import { openDatabase, type DB } from './db.js';
import { RepoStore } from './repos.js';
import { BuildStore } from './builds.js';
import { UnitStore } from './units.js';
import { LogStore } from './logs.js';
import { RunnerStore } from './runners.js';
import { TestStore } from './tests.js';
import { TreeStore } from './tree.js';
import { GatePassStore } from './gatePasses.js';
import { CostStore } from './costs.js';
import { ContentionStore } from './contention.js';
import { RetentionStore } from './retention.js';
import { DeployStore } from './deploys.js';
import { WatchSampleStore } from './watchSamples.js';
import { AlertStore } from './alerts.js';
import { NotificationStore } from './notifications.js';
import { CulpritStore } from './culprits.js';
import { OwnRevertStore } from './ownReverts.js';
import { SessionStore } from './sessions.js';
import { BuildCauseStore } from './buildCauses.js';
import { FlagStore } from './flags.js';
import { RolloutStore } from './rollouts.js';
import { ExperimentStore } from './experiments.js';
import { StepStore } from './steps.js';
import { ArtifactStore } from './artifacts.js';
import { LandQueueStore } from './landQueue.js';

export class Store {
  readonly repos: RepoStore;
  readonly builds: BuildStore;
  readonly units: UnitStore;
  readonly logs: LogStore;
  readonly runners: RunnerStore;
  readonly tests: TestStore;
  readonly tree: TreeStore;
  readonly gatePasses: GatePassStore;
  readonly costs: CostStore;
  readonly contention: ContentionStore;
  readonly retention: RetentionStore;
  readonly deploys: DeployStore;
  readonly watchSamples: WatchSampleStore;
  readonly alerts: AlertStore;
  readonly notifications: NotificationStore;
  readonly culprits: CulpritStore;
  readonly ownReverts: OwnRevertStore;
  readonly sessions: SessionStore;
  readonly buildCauses: BuildCauseStore;
  readonly flags: FlagStore;
  readonly rollouts: RolloutStore;
  readonly experiments: ExperimentStore;
  readonly steps: StepStore;
  readonly artifacts: ArtifactStore;
  readonly landQueue: LandQueueStore;
  private depth = 0;
  private queue: (() => void)[] = [];
  constructor(readonly db: DB, private readonly log: AfterCommitLog = consoleLog) {
    this.repos = new RepoStore(db);
    this.builds = new BuildStore(db);
    this.units = new UnitStore(db);
    this.logs = new LogStore(db);
    this.runners = new RunnerStore(db);
    this.tests = new TestStore(db);
    this.tree = new TreeStore(db);
    this.gatePasses = new GatePassStore(db);
    this.costs = new CostStore(db);
    this.contention = new ContentionStore(db, (id) => this.units.cache.forget(id));
    this.retention = new RetentionStore(db, () => this.forgetRows());
    this.deploys = new DeployStore(db);
    this.watchSamples = new WatchSampleStore(db);
    this.alerts = new AlertStore(db);
    this.notifications = new NotificationStore(db);
    this.culprits = new CulpritStore(db);
    this.ownReverts = new OwnRevertStore(db);
    this.sessions = new SessionStore(db);
    this.buildCauses = new BuildCauseStore(db);
    this.flags = new FlagStore(db);
    this.rollouts = new RolloutStore(db);
    this.experiments = new ExperimentStore(db);
    this.steps = new StepStore(db);
    this.artifacts = new ArtifactStore(db);
    this.landQueue = new LandQueueStore(db);
  }
  /** Runs fn in one synchronous transaction (never await inside); then, after the outermost commit, the work fn queued. */
  tx<T>(fn: () => T): T {
    const mark = this.queue.length;
    if (this.depth === 0) this.rowCache(true);
    this.depth++;
    let out: T;
    try {
      out = this.db.transaction(fn)();
    } catch (err) {
      this.queue.length = mark; // rolled back: what it queued is dropped with it
      this.forgetRows(); // and the rows read since (a savepoint's writes are undone)
      throw err;
    } finally {
      this.depth--;
      if (this.depth === 0 && this.queue.length === 0) this.rowCache(false);
    }
    if (this.depth === 0) {
      // The work after the commit (events, the assigns sent) reads the rows as this transaction left them.
      try { this.flush(); } finally { this.rowCache(false); }
    }
    return out;
  }

  /**
   * The unit and build rows are kept while a transaction is open and while the work after its
   * commit runs (rowCache.ts; synchronously, right after the commit), never across two: a new
   * transaction starts with none.
   */
  private rowCache(on: boolean): void { this.units.cache.setActive(on); this.builds.cache.setActive(on); }
  private forgetRows(): void { this.units.cache.clear(); this.builds.cache.clear(); }

  /** Work to run once the current outermost transaction commits (dropped on rollback); outside one, at once. */
  afterCommit(f: () => void): void {
    if (this.depth > 0) this.queue.push(f);
    else this.run(f);
  }

  /** Whether a transaction (of tx) is open. */
  inTx(): boolean { return this.depth > 0; }

  private flush(): void {
    while (this.queue.length) {
      const work = this.queue;
      this.queue = [];
      for (const f of work) this.run(f);
    }
  }

  private run(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.log.error({ err }, 'work after a commit failed');
    }
  }
  close(): void { this.db.close(); }
}

/** Where a failure of after-commit work is reported (the server's logger). */
export interface AfterCommitLog { error(obj: object, msg: string): void }
const consoleLog: AfterCommitLog = { error: (obj, msg) => console.error(msg, obj) };

/**
 * `busyTimeoutMs`: how long a write waits for another process's lock (db.ts; the server passes BUSY_TIMEOUT_MS).
 * `log`: where a failure of after-commit work is reported.
 */
export function openStore(file: string, opts: { busyTimeoutMs?: number; log?: AfterCommitLog } = {}): Store {
  return new Store(openDatabase(file, undefined, opts.busyTimeoutMs), opts.log);
}
