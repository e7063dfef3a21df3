/** The store: the only place SQL lives. One module per aggregate, opened together. */
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
  constructor(readonly db: DB) {
    this.repos = new RepoStore(db);
    this.builds = new BuildStore(db);
    this.units = new UnitStore(db);
    this.logs = new LogStore(db);
    this.runners = new RunnerStore(db);
    this.tests = new TestStore(db);
    this.tree = new TreeStore(db);
    this.gatePasses = new GatePassStore(db);
    this.costs = new CostStore(db);
    this.contention = new ContentionStore(db);
    this.retention = new RetentionStore(db);
    this.deploys = new DeployStore(db);
    this.watchSamples = new WatchSampleStore(db);
    this.alerts = new AlertStore(db);
    this.notifications = new NotificationStore(db);
    this.culprits = new CulpritStore(db);
    this.ownReverts = new OwnRevertStore(db);
    this.sessions = new SessionStore(db);
  }
  /** Runs fn in one synchronous transaction (never await inside). */
  tx<T>(fn: () => T): T { return this.db.transaction(fn)(); }
  close(): void { this.db.close(); }
}

/** `busyTimeoutMs`: how long a write waits for another process's lock (db.ts; the server passes BUSY_TIMEOUT_MS). */
export function openStore(file: string, opts: { busyTimeoutMs?: number } = {}): Store {
  return new Store(openDatabase(file, undefined, opts.busyTimeoutMs));
}
