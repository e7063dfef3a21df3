/**
 * The composition root of everything that is not HTTP: it builds every part once and connects
 * them with constructor arguments (no part registers itself, none is mutated from outside after
 * it is built). server/main.ts adds HTTP, the runner gateway and the pages on top; the in-memory
 * test pipeline (test/server/memory.ts) calls this same function.
 *
 * Who reacts to what, in order — the only place that says it:
 * - a build finished (inside its transaction, BuildLifecycle → `buildFinished`):
 *   1. culprit finding (first: a culprit it knows at once is named by the closure's notification),
 *   2. the tree rule (its changes run `treeChanged`, below),
 *   3. notifications (build.failed / build.fixed),
 *   4. deploys (a step moves its deploy; a green head requests one).
 * - the tree changed (inside its transaction, Tree → `treeChanged`): 1. notifications
 *   (tree.closed / tree.reopened), 2. deploys (an open tree lets waiting deploys start).
 * - a runner left (inside its transaction, RunnerRegistry → `leaving`): notifications (runner.lost, not for a clean stop).
 * - the runner set changed: split queued builds again, then dispatch.
 * - a build has units to hand out (intake, manual builds and schedules): dispatch.
 * - a ref is seen at a new head (RefChanges, after its change committed): 1. pending gate passes land,
 *   2. feature flags are read again when it is a flags repository's first gated branch (flags/library.ts).
 * - a flag is killed or restored (inside its transaction, FlagKills): a notification (flag.killed / flag.restored).
 * - a build finished, after its commit: the land queue passes the branch of a candidate build (queue/speculation.ts);
 *   a tree reopened, after its commit: the land queue of that branch may land again.
 * Work after a commit goes through store.afterCommit only (server/store/index.ts).
 */
import type { Logger } from 'pino';
import type { Config } from './config/config.js';
import type { Store } from './store/index.js';
import type { BuildRow } from './store/builds.js';
import { Events } from './events.js';
import { Tree, type TreeChange } from './gate/tree.js';
import { BuildLifecycle } from './results/lifecycle.js';
import { RunnerRegistry, type RunnerLink } from './dispatch/registry.js';
import { WorkQueue } from './dispatch/queue.js';
import { Splitter } from './planning/splitter.js';
import { Intake } from './changes/intake.js';
import { ManualBuilds } from './changes/manual.js';
import { Scheduler } from './changes/schedule.js';
import { RefChanges } from './changes/refs.js';
import { GatePasses } from './gate/passes.js';
import { describeWait } from './dispatch/placement.js';
import { CulpritFinder, type Notify } from './culprit/finder.js';
import { AutoReverter } from './culprit/revert.js';
import { culpritJson } from './culprit/json.js';
import { Outbox } from './notify/outbox.js';
import { NotificationSender } from './notify/sender.js';
import { NotifyTriggers } from './notify/triggers.js';
import { culpritNotifier } from './notify/culprit.js';
import { DeployOrchestrator } from './deploy/orchestrator.js';
import { DeployReverter } from './deploy/revert.js';
import { NO_HOOKS, type DeployHooks } from './deploy/hooks.js';
import { stepBuilder } from './deploy/steps.js';
import { followSource, watchStage } from './immune/watch.js';
import { ScrapeHistory } from './immune/scrape.js';
import { AlertBook } from './immune/alerts.js';
import { FlagLibrary } from './flags/library.js';
import { FlagKills } from './flags/kills.js';
import { FlagRollouts } from './flags/rollouts.js';
import { FlagExperiments } from './flags/experiments.js';
import { FlagEventRetention } from './flags/eventRetention.js';
import { Speculation } from './queue/speculation.js';
import { SATURATED_WAIT_MS } from './queue/batch.js';
import { queueLink } from './queue/entry.js';
import { checkPushedFlags } from './flags/pushCheck.js';
import type { GateRequest } from './gate/request.js';

export interface PipelineOptions {
  store: Store;
  config: Readonly<Config>;
  log: Logger;
  /** Where people reach the server (links in notifications, closures). */
  baseUrl: () => string;
  /** The deploy orchestrator's watcher, revert and alerting (deploy/hooks.ts); absent ones are the real ones. */
  deployHooks?: Partial<DeployHooks>;
  /** Where culprit and automatic-revert notifications go (inside the transaction that causes them); default: the outbox. */
  notify?: Notify;
}

export interface Pipeline {
  store: Store; events: Events; tree: Tree; lifecycle: BuildLifecycle; runners: RunnerRegistry; queue: WorkQueue;
  splitter: Splitter; intake: Intake; manual: ManualBuilds; scheduler: Scheduler; changes: RefChanges; passes: GatePasses; culprits: CulpritFinder; reverter: AutoReverter;
  outbox: Outbox; sender: NotificationSender; notify: NotifyTriggers; deploys: DeployOrchestrator; alerts: AlertBook;
  /** Feature flags: the definitions served per repository, and the kill switch. */
  flags: FlagLibrary; kills: FlagKills;
  /** Guarded incremental rollouts (flags.rollouts in greengate.yml), judged by the immune system's tests. */
  rollouts: FlagRollouts;
  /** A/B tests: exposures (every server-side evaluation, and client batches) and conversions, per phase. */
  experiments: FlagExperiments;
  /** Old A/B test events pruned (flags.eventRetentionDays), a running experiment's phase kept whole. */
  eventRetention: FlagEventRetention;
  /** The land queue's candidates and landings (server/queue/). */
  landQueue: Speculation;
  /** Why a build's units wait (no runner with its labels, …), or null. */
  waitingReason(build: BuildRow): string | null;
}

export function createPipeline(o: PipelineOptions): Pipeline {
  const { store, config, log, baseUrl } = o;
  const events = new Events();

  // The ordered writer lists (see the contract above). They name parts built below: each is called
  // only once everything is built (a build ends, the tree changes, a runner leaves).
  const buildFinished = (build: BuildRow): void => {
    culprits.buildFinished(build);
    tree.buildFinished(build);
    notify.buildFinished(build);
    deploys.buildFinished(build);
    store.afterCommit(() => landQueue.buildFinished(build));
  };
  const treeChanged = (change: TreeChange): void => {
    notify.treeChanged(change);
    deploys.treeChanged(change);
    if (change.state === 'open') store.afterCommit(() => void landQueue.kick(change.repo, change.branch));
  };
  const leaving = (link: RunnerLink, reason: string, units: readonly number[], at: number, clean: boolean): void => {
    notify.runnerLeft(link, reason, units, at, clean);
  };
  const runnersChanged = (): void => {
    try {
      splitter.replanQueued();
    } catch (err) {
      log.warn({ err }, 'could not split queued builds again for the runners there are now');
    }
    // Not after a commit: after the gateway has answered the runner that joined (its welcome first).
    queueMicrotask(() => queue.dispatch());
  };

  const tree = new Tree(store, config, events, log, baseUrl, treeChanged);
  const lifecycle = new BuildLifecycle(store, config, tree, events, log, {
    buildFinished,
    sendToRunner: (id, message) => runners.send(id, message),
    specialBuilder: (build) => stepBuilder(config, build), // a deploy step's, from its stage
  });
  const runners = new RunnerRegistry(store, lifecycle, events, log, { leaving, changed: runnersChanged });
  const queue = new WorkQueue(store, lifecycle, runners, log);
  const splitter = new Splitter(store, config, lifecycle, () => runners.connected().map((l) => l.slots), log);
  const intake = new Intake(store, config, splitter, lifecycle, log, () => queue.dispatch());
  // Builds nobody pushed: by hand, by a builder's schedule (started by main.ts), re-runs of what failed.
  const manual = new ManualBuilds(store, config, splitter, lifecycle, () => queue.dispatch(), intake.pipelines);
  const scheduler = new Scheduler({ store, config, builds: manual, log });
  // Passes through a closed tree wait in gate_passes until RefChanges sees their ref at the pushed commit.
  const passes = new GatePasses(store, tree, log);
  const flags = new FlagLibrary(config, log);
  const changes = new RefChanges(store, config, intake, log, (repo, ref, sha) => {
    passes.refSeen(repo, ref, sha);
    flags.refSeen(repo, ref, sha);
  });
  const waitingReason = (b: BuildRow): string | null => {
    if (b.state === 'done') return null;
    // A stepped build waits for the labels of its queued step (each step may ask for its own runsOn).
    const queued = store.steps.has(b.id) ? store.units.byBuild(b.id).find((u) => u.state === 'queued') : undefined;
    return describeWait(runners.connected(), (queued ? lifecycle.stepOf(b, queued) : lifecycle.builderOf(b))?.runsOn);
  };

  // Notifications: stored in the transaction of their event, sent after it.
  const outbox = new Outbox(store, config, log, () => sender.wake());
  const sender = new NotificationSender(store, outbox, log);
  const tell = o.notify ?? culpritNotifier(outbox);
  const notify = new NotifyTriggers({ store, config, outbox, log, baseUrl, waitingReason,
    culpritOf: (buildId) => {
      const c = culpritJson(store, buildId);
      return c && c.sha ? { sha: c.sha, confirmed: c.confirmed, builds: c.builds } : null;
    } });

  // Culprit finding and the guarded automatic revert (tree history through the tree).
  const reverter = new AutoReverter({ store, config, log, baseUrl, tree, notify: tell });
  const culprits = new CulpritFinder(store, config, intake, log, { notify: tell, revertWanted: () => void reverter.kick() });

  // Deploys: stages on runners, watched by the immune system; a regression is rolled back, the tree closed, people told.
  const alerts = new AlertBook(store.alerts); // Alertmanager's alerts, in SQLite, for deploy watches (alerts.alertsFiring)
  const scrapes = new ScrapeHistory(); // /metrics pages greengate scrapes itself, followed from start-up
  const deploys = new DeployOrchestrator({ store, config, lifecycle, tree, log, dispatch: () => queue.dispatch(), baseUrl,
    hooks: { ...NO_HOOKS,
      watch: (spec, w) => watchStage(spec, { ...w, history: scrapes, alerts }),
      follow: (spec) => void followSource(spec, scrapes).catch((err) => log.warn({ err: (err as Error).message }, 'cannot scrape a watch source')),
      notify: (kind, payload) => { outbox.enqueue(kind, payload, { repo: payload.repo }); },
      revert: new DeployReverter({ store, config, log, baseUrl }).revert,
      ...o.deployHooks } });

  // Feature flags' kill switch: recorded in SQLite with a notification, seen by the next evaluation.
  const kills = new FlagKills({ store, outbox, log, baseUrl, defines: (repo, key) => flags.of(repo).set?.has(key) ?? false });
  // Guarded rollouts: a flag's fractional weights raised step by step; a regression kills it (kills, actor "immune system").
  const rollouts = new FlagRollouts({ store, config, library: flags, kills, log, scrapes });
  const experiments = new FlagExperiments({ store, library: flags, log });
  const eventRetention = new FlagEventRetention({ store, config, library: flags, experiments, log });

  // The land queue: candidates as try builds, landings recorded as pushes; a change that leaves is told to its pusher's channels.
  const landQueue = new Speculation({ store, config, log, now: Date.now,
    treeOpen: (repo, branch) => tree.status(repo, branch).state === 'open',
    saturated: (repo) => store.landQueue.candidatesWaiting(repo, Date.now() - SATURATED_WAIT_MS) > 0,
    closedFor: (repo, branch) => { const g = tree.lookup(repo)(branch); return g.state === 'closed' ? g.build?.id ?? null : null; },
    startBuilds: (repo, update) => changes.notice(repo, [update], 'api', 'greengate-queue'),
    cancelBuild: (id) => lifecycle.cancelBuild(id),
    refusal: (repo, branch, sha) => checkPushedFlags(repo, { updates: [{ ref: `refs/heads/${branch}`, new: sha }] } as unknown as GateRequest, null),
    recordPush: (repo, update, pusher) => changes.notice(repo, [update], 'api', pusher),
    ended: (c, state, reason) => outbox.enqueue('queue.ejected', {
      text: `${c.repo}/${c.branch}: queued change ${c.id} (${c.commitSha.slice(0, 10)}${c.pusher ? ` by ${c.pusher}` : ''}) ${state === 'conflict' ? 'conflicts' : 'was ejected'}: ${reason}`,
      repo: c.repo, branch: c.branch, change: c.id, commit: c.commitSha, pusher: c.pusher, state, reason, link: queueLink(baseUrl(), c.repo, c.branch) }, { repo: c.repo }) });

  return { store, events, tree, lifecycle, runners, queue, splitter, intake, manual, scheduler, changes, passes, culprits, reverter, outbox, sender, notify,
    deploys, alerts, flags, kills, rollouts, experiments, eventRetention, landQueue, waitingReason };
}
