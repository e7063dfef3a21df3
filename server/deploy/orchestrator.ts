/**
 * The deploy orchestrator: the state machine of deploys (migrations/012_deploys.sql), in SQLite.
 *
 * - Request: when a branch build of a branch with `deploy:` ends and every builder's newest build
 *   of the branch is at that head and passed (or was flaky), a `pending` deploy is written in the
 *   transaction that finishes the build (`buildFinished`, a writer of server/pipeline.ts's list).
 * - Start (advance): one deploy at a time per branch. While none runs, the newest pending deploy
 *   starts and older pending ones end `superseded` (newer green heads coalesce) — unless the branch
 *   is paused (`greengate deploy pause`), under maintenance or closed by hand.
 * - Stages in order: the stage's run step (steps.ts: a one-unit build on a runner) → its watch
 *   (hooks.watch, the immune system) → the next stage, or `deployed`. A step's end is read in the
 *   transaction that finishes its build.
 * - Immune response: a regression verdict, in ONE transaction: the stage `regressed` with the
 *   evidence, the rollback steps queued (this stage, then the earlier ones, last first), the tree
 *   closed with the evidence and the deploy's commits (the gate then passes reverts of them: the
 *   revert's push needs no bypass), the revert recorded as pending, the alert enqueued (hooks.notify:
 *   the outbox, in this transaction). After the commit the revert (hooks.revert) is made and
 *   recorded; the deploy ends
 *   `rolled_back` when its last rollback step has run. A failed run step rolls back the same way
 *   and ends `failed` (no revert, no closure). A watcher that fails rolls back as `failed` too.
 * - Hold (fails closed): an inconclusive verdict (a window without data, see server/immune/watch.ts)
 *   holds the deploy (its deploy.held alert enqueued in the same transaction): it stays `watching` with
 *   `heldAt`/`holdReason`, its watch stopped, the branch's
 *   next deploys wait. Never promoted by itself: `resume` of the branch watches the stage again (a
 *   new window after, the stored baseline before the deploy); `pause` of the branch rolls it back
 *   (`failed`: no revert, no closure — nothing was shown to be wrong).
 * - Restart: steps are units (reclaimed or requeued by the unit path); a stage found `watching`
 *   is watched again with its stored start (`startedAt`: the watcher keeps the same windows and
 *   reads only those it has not stored in watch_samples; its run is not repeated); a held one stays
 *   held; a pending revert is made (an alert pending before migration 021: enqueued once).
 * Never awaits inside a transaction; effects happen after commits (store.afterCommit) and are recorded once done.
 * The watches and their verdicts' transactions are deploy/watches.ts (DeployWatches).
 * A tree that opens again (`treeChanged`, a writer of server/pipeline.ts's list) lets waiting deploys start.
 */
import { PIPELINE_BUILDER } from '../config/pipeline.js';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { DeployRow } from '../store/deploys.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { Tree, TreeChange } from '../gate/tree.js';
import { git } from '../git.js';
import { createStep, findStage, isDeployStep } from './steps.js';
import type { DeployHooks, Verdict } from './hooks.js';
import { DeployWatches } from './watches.js';
import { deployAlert, makeEffects } from './effects.js';

export { IMMUNE_ACTOR } from '../gate/tree.js'; // the actor shown for its closures (gate/tree.ts owns tree state)
export const MAX_DEPLOY_COMMITS = 200;

export interface OrchestratorDeps {
  store: Store; config: Readonly<Config>; lifecycle: BuildLifecycle; tree: Tree; hooks: DeployHooks; log: Logger;
  /** Hands queued units to runners (after a step was queued). */
  dispatch: () => void;
  baseUrl: () => string;
}

export class DeployOrchestrator {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly newSteps: number[] = [];
  private followed = false;
  private kicked = false; // the server's start-up kick came (after listen): tree changes during recovery wait for it

  private readonly watching: DeployWatches;

  constructor(private readonly d: OrchestratorDeps) {
    this.watching = new DeployWatches(d, { promote: (...a) => this.promote(...a), rollbackStage: (...a) => this.rollbackStage(...a),
      alert: (id) => this.alert(id), kick: () => this.kick() });
  }

  /** Start-up (and after any change): move every deploy as far as it can go. Serialized. */
  kick(): Promise<void> {
    this.kicked = true;
    this.chain = this.chain.then(() => this.advance()).catch((err) => this.d.log.error({ err }, 'deploys could not advance'));
    return this.chain;
  }

  close(): void {
    this.closed = true;
    this.watching.close();
  }

  /** Pauses the branch's deploys; a held deploy of the branch is rolled back. */
  pause(repo: string, branch: string, actor: string | null, reason: string | null): void {
    const { store } = this.d;
    const now = Date.now();
    store.tx(() => {
      store.deploys.pause(this.repoId(repo), branch, actor, reason, now);
      for (const x of this.heldOf(repo, branch)) {
        const stage = store.deploys.stages(x.id)[x.stage];
        store.deploys.release(x.id);
        store.deploys.stageEnded(x.id, x.stage, 'failed', null, now);
        store.deploys.beginRollback(x.id, x.stage, 'failed',
          `stage ${stage.name}: held (${x.holdReason ?? 'inconclusive'}), rolled back by ${actor ?? 'an admin'}${reason ? `: ${reason}` : ''}`, false);
        this.alert(x.id);
        this.rollbackStage(x, x.stage, now);
      }
    });
    this.d.log.info({ repo, branch, actor }, 'deploys paused');
    void this.kick();
  }

  /** Resumes the branch's deploys; a held deploy of the branch is watched again (a new window, the stored baseline). */
  resume(repo: string, branch: string): void {
    const { store } = this.d;
    const now = Date.now();
    store.tx(() => {
      store.deploys.resume(this.repoId(repo), branch);
      for (const x of this.heldOf(repo, branch)) {
        const stage = store.deploys.stages(x.id)[x.stage];
        const seconds = findStage(this.d.config, x.repo, x.branch, stage.name)?.watch?.seconds ?? 0;
        store.deploys.release(x.id);
        store.watchSamples.dropAfter(x.id, x.stage);
        store.deploys.stageWatching(x.id, x.stage, now, now + seconds * 1000);
        this.d.log.info({ deploy: x.id, stage: stage.name }, 'a held deploy is watched again');
      }
    });
    this.d.log.info({ repo, branch }, 'deploys resumed');
    void this.kick();
  }

  private heldOf(repo: string, branch: string): DeployRow[] {
    return this.d.store.deploys.active().filter((x) => x.repo === repo && x.branch === branch && x.state === 'watching' && x.heldAt !== null);
  }

  /** Why deploys of a branch wait, or null when they may start. */
  pausedBecause(repo: string, branch: string): string | null {
    const pause = this.d.store.deploys.pauseOf(this.repoId(repo), branch);
    if (pause) return `paused${pause.actor ? ` by ${pause.actor}` : ''}${pause.reason ? `: ${pause.reason}` : ''}`;
    const tree = this.d.tree.status(repo, branch);
    if (tree.state === 'maintenance') return 'the tree is under maintenance';
    if (tree.state === 'closed' && tree.closedBy !== 'build') return `the tree was closed by ${tree.actor ?? 'hand'}`;
    return null;
  }

  /** A tree change (inside its transaction): an opened tree lets waiting deploys start, after the commit. */
  treeChanged(change: TreeChange): void {
    if (change.state === 'open' && this.kicked) this.d.store.afterCommit(() => void this.kick());
  }

  /** A build ended (inside the transaction that finished it): a step moves its deploy; a green head requests one. */
  buildFinished(build: BuildRow): void {
    const { store, config } = this.d;
    if (isDeployStep(build)) this.stepFinished(build, Date.now());
    else if (build.kind === 'branch') {
      const deploy = config.repositories.find((r) => r.name === build.repo)?.deploy?.[build.branch];
      if (!deploy || !this.headIsGreen(build)) return;
      const id = store.deploys.request(build.repoId, build.branch, build.sha, build.id, deploy.stages.map((s) => s.name), Date.now());
      this.d.log.info({ deploy: id, repo: build.repo, branch: build.branch, sha: build.sha }, 'deploy requested: the head is green');
    } else return;
    store.afterCommit(() => void this.kick());
  }

  /** The build is at the branch's head (as last seen in git), and every builder's newest build of it is at that head and green. */
  private headIsGreen(build: BuildRow): boolean {
    const repo = this.d.config.repositories.find((r) => r.name === build.repo);
    const head = this.d.store.repos.refHead(build.repoId, build.ref);
    if (head !== null && head !== build.sha) return false; // a rebuild of an older commit, or the branch moved on
    const names = !repo ? [] : repo.pipeline ? this.d.store.builds.buildersAt(build.repoId, build.branch, PIPELINE_BUILDER) : repo.builders.map((b) => b.name);
    return !!repo && names.length > 0 && names.every((name) => {
      const latest = this.d.store.builds.latestFor(build.repoId, name, build.ref);
      return latest?.sha === build.sha && latest.state === 'done' && (latest.result === 'passed' || latest.result === 'flaky');
    });
  }

  /** Enqueues the deploy's alert as its row now says (inside the caller's transaction). */
  private alert(deployId: number): void {
    const deploy = this.d.store.deploys.get(deployId);
    if (!deploy) return;
    const a = deployAlert(this.d.store, deploy, this.d.baseUrl());
    if (a.kind === 'deploy.held') this.d.hooks.notify(a.kind, a.payload);
    else this.d.hooks.notify(a.kind, a.payload);
  }

  /** Alerts left pending by a server before migration 021: each enqueued once, in one transaction. */
  private carriedAlerts(): void {
    const { store } = this.d;
    store.tx(() => {
      for (const id of store.deploys.carriedAlerts()) {
        this.alert(id);
        store.deploys.dropCarriedAlert(id);
      }
    });
  }

  private async advance(): Promise<void> {
    if (this.closed) return;
    if (!this.followed) {
      this.carriedAlerts();
      this.followed = true;
      this.watching.followAll();
    }
    const active = this.d.store.deploys.active();
    const busy = new Set(active.filter((x) => x.state !== 'pending').map((x) => `${x.repoId}\0${x.branch}`));
    const newest = new Map<string, DeployRow>();
    for (const x of active) if (x.state === 'pending') newest.set(`${x.repoId}\0${x.branch}`, x);
    for (const [key, deploy] of newest) {
      if (busy.has(key) || this.pausedBecause(deploy.repo, deploy.branch)) continue;
      await this.start(deploy);
    }
    for (const x of this.d.store.deploys.active()) {
      if (x.state === 'watching' && x.heldAt === null && !this.watching.has(x.id)) this.watching.watch(x);
      if (x.revertState === 'pending') await makeEffects(this.d, x);
    }
    this.flushSteps();
  }

  private async start(deploy: DeployRow): Promise<void> {
    const { store } = this.d;
    const last = store.deploys.lastDeployed(deploy.repoId, deploy.branch);
    const older = store.deploys.active().filter((x) => x.state === 'pending' && x.id < deploy.id && x.repoId === deploy.repoId && x.branch === deploy.branch);
    const commits = last ? await this.commitsOf(deploy, last.sha)
      : [...new Set([deploy, ...older.reverse()].flatMap((x) => x.buildId === null ? [x.sha] : store.builds.blamelist(x.buildId).map((c) => c.sha)))];
    const now = Date.now();
    store.tx(() => {
      for (const x of older) store.deploys.finish(x.id, 'superseded', `a newer green head (deploy ${deploy.id}) was deployed instead`, now);
      if (!store.deploys.start(deploy.id, last?.sha ?? null, commits, now)) return;
      this.runStage(deploy, 0, now);
    });
    this.d.log.info({ deploy: deploy.id, repo: deploy.repo, branch: deploy.branch, sha: deploy.sha, commits: commits.length }, 'deploy started');
  }

  /** The commits since the branch's last deploy (newest first); before the first deploy, the blamelists of the green builds. */
  private async commitsOf(deploy: DeployRow, base: string): Promise<string[]> {
    const repo = this.d.config.repositories.find((r) => r.name === deploy.repo);
    if (!repo) return [deploy.sha];
    try {
      const out = await git(repo.path, ['rev-list', `--max-count=${MAX_DEPLOY_COMMITS}`, `${base}..${deploy.sha}`]);
      return out.split('\n').filter(Boolean);
    } catch (err) {
      this.d.log.warn({ err, deploy: deploy.id }, 'could not list the commits of a deploy; the head alone is recorded');
      return [deploy.sha];
    }
  }

  /** Queues stage `position`'s run step (in the caller's transaction). */
  private runStage(deploy: DeployRow, position: number, now: number): void {
    const stage = this.d.store.deploys.stages(deploy.id)[position];
    const id = createStep(this.d.lifecycle, deploy, stage.name, 'deploy', now);
    this.d.store.deploys.stageRunning(deploy.id, position, id, now);
    this.d.store.deploys.setState(deploy.id, 'running', position);
    this.newSteps.push(id);
  }

  /** Queues stage `position`'s rollback step (in the caller's transaction). */
  private rollbackStage(deploy: DeployRow, position: number, now: number): void {
    const stage = this.d.store.deploys.stages(deploy.id)[position];
    const id = createStep(this.d.lifecycle, deploy, stage.name, 'rollback', now);
    this.d.store.deploys.stageRollingBack(deploy.id, position, id);
    this.d.store.deploys.setRollbackAt(deploy.id, position);
    this.newSteps.push(id);
  }

  /** A step's build ended (inside the transaction that finished it). */
  private stepFinished(build: BuildRow, now: number): void {
    const { store } = this.d;
    const stage = store.deploys.stageOfBuild(build.id);
    const deploy = stage && store.deploys.get(stage.deployId);
    if (!stage || !deploy) return;
    const ok = build.result === 'passed' || build.result === 'flaky';
    if (stage.runBuildId === build.id && deploy.state === 'running' && deploy.stage === stage.position) {
      const config = findStage(this.d.config, deploy.repo, deploy.branch, stage.name);
      if (!ok) {
        store.deploys.stageEnded(deploy.id, stage.position, 'failed', null, now);
        store.deploys.beginRollback(deploy.id, stage.position, 'failed', `stage ${stage.name}: run ${build.result} (build ${build.id})`, false);
        this.alert(deploy.id);
        this.rollbackStage(deploy, stage.position, now);
      } else if (config?.watch) {
        store.deploys.stageWatching(deploy.id, stage.position, now, now + config.watch.seconds * 1000);
        store.deploys.setState(deploy.id, 'watching', stage.position);
      } else {
        this.promote(deploy, stage.position, null, now);
      }
    } else if (stage.rollbackBuildId === build.id && deploy.state === 'rolling_back') {
      store.deploys.stageEnded(deploy.id, stage.position, ok ? 'rolled_back' : 'failed', null, now);
      if (!ok) {
        store.deploys.finish(deploy.id, 'failed', `the rollback of stage ${stage.name} ${build.result} (build ${build.id}) — undo it by hand`, now);
      } else if (stage.position > 0) {
        this.rollbackStage(deploy, stage.position - 1, now);
      } else {
        store.deploys.finish(deploy.id, deploy.outcome ?? 'rolled_back', null, now);
      }
    }
  }

  /** The stage is done: the next one runs, or the deploy is `deployed` (in the caller's transaction). */
  private promote(deploy: DeployRow, position: number, verdict: Verdict | null, now: number): void {
    this.d.store.deploys.stageEnded(deploy.id, position, 'deployed', verdict, now);
    if (position + 1 < this.d.store.deploys.stages(deploy.id).length) this.runStage(deploy, position + 1, now);
    else this.d.store.deploys.finish(deploy.id, 'deployed', null, now);
  }

  /** New step builds are told to observers and handed to runners after their transaction. */
  private flushSteps(): void {
    const ids = this.newSteps.splice(0);
    for (const id of ids) this.d.lifecycle.announce(id);
    if (ids.length) this.d.dispatch();
  }

  private repoId(name: string): number { return this.d.store.repos.byName(name)!.id; }
}
