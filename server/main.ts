/**
 * The server: the pipeline (server/pipeline.ts builds and connects every non-HTTP part, and says
 * who reacts to what, in order) with HTTP on top: the runner gateway, routes, pages, the live hub,
 * metrics. A unit finished → dispatch (the gateway). Each router and page module gets an
 * explicit dependency object of what it uses; what the pipeline does is passed as closures.
 * Start-up order: open and migrate the store, recover (units, counters, the tree), listen, scan
 * and watch refs. `close()` stops accepting, closes runner sockets, the live hub and the database.
 */
import express, { type Request } from 'express';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Config } from './config/config.js';
import { openStore, type Store } from './store/index.js';
import { BUSY_TIMEOUT_MS } from './store/db.js';
import { RunnerGateway } from './dispatch/gateway.js';
import { serverSecretValues } from './dispatch/serverSecrets.js';
import { WS_PATH } from './protocol.js';
import { apiRouter, type RunnerInfo } from './web/api.js';
import { createMetrics, hookMetricsOf } from './metrics.js';
import { treeRouter } from './web/treeApi.js';
import { GIT_PATH, gitHttpRouter } from './web/gitHttp.js';
import { authorizeHook } from './web/hookAuth.js';
import { takeNotice } from './changes/verify.js';
import { quarantineRouter } from './web/quarantineApi.js';
import { StorageHealth } from './storageHealth.js';
import { maskingStream } from './urlMask.js';
import { chooseLogFormat, humanStream } from './logFormat.js';
import { refuseWritesWhileDegraded } from './web/storageGuard.js';
import { MAX_BODY_BYTES, refuseLargeBodies } from './web/bodyLimit.js';
import { resumeAfterStorageFault } from './resume.js';
import { createPages } from './web/pages.js';
import { LiveHub, LIVE_PATH } from './web/live.js';
import { adminGuard, bearerAdmin } from './web/admin.js';
import { adminsOf } from './config/admins.js';
import { errorHandler, notFound } from './web/errorHandler.js';
import { deploysRouter } from './web/deploysApi.js';
import { alertmanagerRouter } from './web/alertmanagerApi.js';
import type { Outbox } from './notify/outbox.js';
import type { DeployHooks } from './deploy/hooks.js';
import type { Notify } from './culprit/finder.js';
import { manualBuildsRouter } from './web/manualBuildsApi.js';
import { createPipeline } from './pipeline.js';
import { DEFAULT_HOST, isWildcard, urlHost } from './config/listen.js';
import type { BuildRow } from './store/builds.js';
import { notificationsRouter } from './web/notificationsApi.js';
import { autoRevertRouter } from './web/autoRevertApi.js';
import { hookSecretRouter } from './web/hookSecretApi.js';
import { OFREP_PATH, ofrepRouter } from './web/ofrepApi.js';
import { OfrepAnswers } from './web/ofrepAnswers.js';
import { ofrepFastPath } from './web/ofrepFastPath.js';
import { flagsRouter } from './web/flagsApi.js';
import { queueRouter } from './web/queueApi.js';
import { enqueue } from './queue/entry.js';
import { checkPushedFlags } from './flags/pushCheck.js';
import { ARTIFACT_UPLOAD_RE, artifactsRouter } from './web/artifactsApi.js';
import { Blobs } from './artifacts/blobs.js';

export interface RunningServer {
  /** Where people reach it: config.baseUrl, else http://localhost:PORT. */
  baseUrl: string;
  /** Where this host reaches it. */
  url: string;
  port: number;
  http: Server;
  store: Store;
  /** Whether the database can be written (a full disk, an I/O error). */
  health: StorageHealth;
  log: Logger;
  connectedRunners(): RunnerInfo[];
  /** Notifications: `outbox.enqueue(kind, payload, recipients)` stores one (inside the caller's transaction). */
  outbox: Outbox;
  close(): Promise<void>;
}

export interface ServeOptions {
  config: Readonly<Config>;
  port?: number;
  host?: string;
  log?: Logger;
  /** The deploy orchestrator's watcher, revert and alerting (deploy/hooks.ts); absent ones are no-ops. */
  deployHooks?: Partial<DeployHooks>;
  /** Where culprit and automatic-revert notifications go (inside the transaction that causes them); the alerting outbox. */
  notify?: Notify;
}

/** The server's logger on stderr, every URL in it masked (urlMask.ts): human lines on a terminal, JSON lines otherwise (logFormat.ts). */
export function createLogger(name = 'greengate'): Logger {
  const dest = pino.destination(2);
  const human = chooseLogFormat(process.env.GREENGATE_LOG_FORMAT, process.stderr.isTTY === true) === 'human';
  return pino({ name, level: process.env.GREENGATE_LOG_LEVEL ?? 'info' }, maskingStream(human ? humanStream(dest) : dest));
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { config } = opts;
  const log = opts.log ?? createLogger();
  const store = openStore(join(config.data, 'greengate.db'), { busyTimeoutMs: BUSY_TIMEOUT_MS, log }); // never a long wait on the event loop
  let baseUrl = config.baseUrl ?? '';
  // Every non-HTTP part, built and connected once (who reacts to what, in order: server/pipeline.ts).
  const p = createPipeline({ store, config, log, baseUrl: () => baseUrl, deployHooks: opts.deployHooks, notify: opts.notify });
  const { events, tree, lifecycle, runners, queue, intake, changes, passes, reverter, outbox, sender, notify, deploys, alerts, waitingReason } = p;
  const { flags, kills } = p;
  const health = new StorageHealth(store, config.data, log);
  const gateway = new RunnerGateway(store, runners, lifecycle, config.runnerToken, log, health, undefined,
    { finished: () => queue.dispatch(), serverSecrets: () => serverSecretValues(config) });
  const metrics = createMetrics(events, store, () => runners.connected(), health);
  const web = express();
  web.disable('x-powered-by');
  web.set('trust proxy', 'loopback');
  // OFREP evaluations with a right flags token are answered before Express (web/ofrepFastPath.ts); the rest is Express's.
  const ofrepDeps = { config, library: flags, kills, experiments: p.experiments };
  const ofrep = new OfrepAnswers(ofrepDeps);
  const http = createServer(ofrepFastPath(ofrep, web));
  // A client that sends `Expect: 100-continue` (the runner's artifact uploads; curl with a large body) gets
  // its 100 at once, except on an artifact upload: that route sends it once the token, path and size limits
  // passed, so a refusal (401, 400, 413) answers before any byte of the body is sent.
  http.on('checkContinue', (req, res) => {
    if (!ARTIFACT_UPLOAD_RE.test((req.url ?? '').split('?')[0])) res.writeContinue();
    web(req, res);
  });
  http.keepAliveTimeout = 72_000; // 72 seconds

  const admins = () => adminsOf(config); // read on every request: a SIGHUP reload may change them
  const adminOf = bearerAdmin(admins);
  const requireAdmin = adminGuard({ admins, adminOf, log });
  const connectedRunners = (): RunnerInfo[] => runners.connected()
    .map((l) => ({ runnerId: l.runnerId, name: l.name, slots: l.slots, busy: l.units.size, labels: l.labels ?? {} }));
  const treeStatus = (repo: string, branch: string) => tree.status(repo, branch);
  const setTree: Parameters<typeof createPages>[0]['setTree'] = (repo, branch, state, message, actor) =>
    tree.set(repo, branch, state, message, actor);
  const cancelBuild = (id: number) => lifecycle.cancelBuild(id);
  const rebuild = (build: BuildRow, by?: string) => intake.rebuild(build, by ?? null);
  const pages = createPages({ config, store, events, log, bearerAdmin: adminOf, connectedRunners, treeStatus, setTree, waitingReason,
    cancelBuild, rebuild, storageBanner: () => health.banner(),
    manual: { start: (r) => p.manual.start(r), rerunFailed: (build, by) => p.manual.rerunFailed(build, by) },
    deploysPausedBecause: (repo, branch) => deploys.pausedBecause(repo, branch),
    queue: { config, status: (repo, branch) => p.landQueue.status(repo, branch), baseUrl: () => baseUrl },
    flags: { config, library: p.flags, kills: p.kills, rollouts: p.rollouts, experiments: p.experiments,
      killed: () => config.repositories.flatMap((r) => p.kills.killedIn(r.name).map((k) => ({ repo: r.name, key: k.key, actor: k.state.actor, message: k.state.message }))) } });
  const live = new LiveHub({ events, log });

  health.on('recovered', () => resumeAfterStorageFault({ config, health, lifecycle, queue, changes, log }));
  web.use(refuseLargeBodies(MAX_BODY_BYTES, [GIT_PATH, ARTIFACT_UPLOAD_RE])); // first: a body over any route's limit is not read at all
  web.get('/healthz', (_req, res) => {
    const storage = health.status();
    res.json({ ok: storage.state === 'ok', status: storage.state, runners: runners.connected().length, storage });
  });
  web.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  // Flag evaluations are reads (POST only by protocol): served while storage fails, so before the guard.
  web.use(OFREP_PATH, ofrepRouter(ofrepDeps, ofrep));
  web.use(refuseWritesWhileDegraded(health)); // before every route: a write is refused whole while storage fails
  const hookMetrics = hookMetricsOf(metrics);
  const authorize = (repo: string, req: Request, route: 'gate' | 'changes') => authorizeHook({ config, metrics: hookMetrics, log }, repo, req, route);
  web.use('/api', treeRouter({
    authorizeHook: authorize, passes,
    config, store, requireAdmin, treeStatus, setTree,
    gateLookup: (repo) => tree.lookup(repo),
    pipelines: intake.pipelines,
    checkFlags: checkPushedFlags,
  }));
  web.use('/api', apiRouter({
    config, store, events, requireAdmin, connectedRunners, log,
    baseUrl: () => baseUrl,
    authorizeHook: authorize,
    notice: (repo, updates, source, pusher) => takeNotice({ changes, log,
      countDropped: (n) => hookMetrics.changesRejected.inc({ reason: 'disagrees_with_git' }, n) }, repo, updates, source, pusher),
    waitingReason,
    cancelBuild,
    rebuild,
  }));
  web.use('/api', manualBuildsRouter({ store, requireAdmin, log, start: (r) => p.manual.start(r),
    rerunFailed: (build, by) => p.manual.rerunFailed(build, by) }));
  web.use('/api', quarantineRouter({ config, store, log, requireAdmin }));
  web.use('/api', deploysRouter({ config, store, requireAdmin, baseUrl: () => baseUrl,
    pause: (repo, branch, actor, reason) => deploys.pause(repo, branch, actor, reason),
    resume: (repo, branch) => deploys.resume(repo, branch),
    pausedBecause: (repo, branch) => deploys.pausedBecause(repo, branch) }));
  web.use('/api', alertmanagerRouter({ token: () => config.alertmanagerToken, alerts, log }));
  web.use('/api', notificationsRouter({ config, store }));
  web.use('/api', autoRevertRouter({ requireAdmin, switchState: () => reverter.switchState(), setEnabled: (on, actor) => reverter.setEnabled(on, actor) }));
  web.use('/api', hookSecretRouter({ config, requireAdmin, log }));
  web.use('/api', flagsRouter({ config, requireAdmin, library: flags, kills, rollouts: p.rollouts }));
  web.use('/api', artifactsRouter({ config, store, blobs: new Blobs(config.data), baseUrl: () => baseUrl, unitTokens: gateway.unitTokens }));
  const speculation = p.landQueue;
  web.use('/api', queueRouter({ config, requireAdmin, authorizeHook: authorize, baseUrl: () => baseUrl,
    enqueue: (repo, updates, pusher) => enqueue({ store, log, baseUrl: () => baseUrl, now: Date.now, queued: (r, b) => speculation.kick(r, b), gate: (r) => tree.lookup(r) }, repo, updates, pusher),
    status: (repo, branch) => speculation.status(repo, branch),
    remove: (repo, id, actor) => speculation.remove(repo, id, actor) }));
  web.use('/api', notFound());
  web.use(GIT_PATH, gitHttpRouter({ config, log, guesses: gateway.guesses, unitTokens: gateway.unitTokens }));
  web.use(pages.router);
  web.use(notFound());
  web.use(errorHandler({ log, renderErrorPage: pages.renderErrorPage, storageError: (err, where) => health.toGgError(err, where) }));

  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === WS_PATH) return gateway.handleUpgrade(req, socket, head);
    if (path === LIVE_PATH) return live.handleUpgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  lifecycle.recover();
  queue.start();
  await flags.start(); // the flags served from the first request on
  const port = opts.port ?? config.port;
  const host = opts.host ?? config.host ?? DEFAULT_HOST;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => { http.off('error', reject); resolve(); });
  });
  const actual = (http.address() as AddressInfo).port;
  const local = isWildcard(host) ? null : urlHost(host); // a specific address: reached there, not on localhost
  const url = `http://${local ?? '127.0.0.1'}:${actual}`;
  if (!config.baseUrl) baseUrl = `http://${local === '127.0.0.1' ? 'localhost' : local ?? 'localhost'}:${actual}`;
  for (const repo of config.repositories) {
    await changes.scan(repo.name).catch((err) => log.error({ err: err.message, repo: repo.name }, 'start-up scan failed'));
  }
  changes.watch();
  void deploys.kick();
  sender.start();
  notify.start();
  void reverter.kick(); // reverts wanted before a restart (the hooks ask this server, so after listen)
  speculation.start(); // the land queue resumes where it was (queue/speculation.ts)
  p.scheduler.start(); // schedules missed while down run once now (changes/schedule.ts)
  p.rollouts.start(); // guarded rollouts continue at their stored step (flags/rollouts.ts)
  p.experiments.start(); // server-side exposures written each FLUSH_MS (flags/experiments.ts)
  p.eventRetention.start(); // old A/B test events pruned, in small batches (flags/eventRetention.ts)
  log.info({ url: baseUrl, repositories: config.repositories.length }, 'greengate serving');

  let closing: Promise<void> | null = null;
  return {
    baseUrl, url, port: actual, http, store, health, log, connectedRunners, outbox,
    close() {
      closing ??= (async () => {
        queue.stop();
        p.scheduler.stop();
        await p.rollouts.stop();
        await p.eventRetention.stop();
        await speculation.stop();
        deploys.close();
        notify.stop();
        await sender.stop();
        health.close();
        gateway.close();
        live.close();
        await changes.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        p.experiments.stop(); // after the last evaluation: its buffered exposures are written
        store.close();
      })();
      return closing;
    },
  };
}
