/**
 * Wires the server together: store, scheduler, intake, runner gateway, HTTP routes, pages and
 * live updates. Each router gets an explicit dependency object of what it uses; what the
 * pipeline does is passed as closures. Start-up order: open and migrate the store, recover
 * unfinished work, listen, scan and watch refs. `close()` stops accepting, closes runner and
 * live sockets, then the database.
 */
import express from 'express';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config/config.js';
import { openStore, type Store } from './store/index.js';
import { Events } from './events.js';
import { Scheduler } from './dispatch/scheduler.js';
import { Intake } from './changes/intake.js';
import { RunnerGateway } from './dispatch/gateway.js';
import { WS_PATH } from './protocol.js';
import { apiRouter, type RunnerInfo } from './web/api.js';
import { createMetrics } from './metrics.js';
import { Tree } from './gate/tree.js';
import { treeRouter } from './web/treeApi.js';
import { quarantineRouter } from './web/quarantineApi.js';
import { createPages } from './web/pages.js';
import { LiveHub, LIVE_PATH } from './web/live.js';
import { adminGuard, bearerIsAdmin } from './web/admin.js';
import { errorHandler, notFound } from './web/errorHandler.js';

export interface RunningServer {
  /** Where people reach it: config.baseUrl, else http://localhost:PORT. */
  baseUrl: string;
  /** Where this host reaches it. */
  url: string;
  port: number;
  http: Server;
  store: Store;
  connectedRunners(): RunnerInfo[];
  close(): Promise<void>;
}

export interface ServeOptions {
  config: Readonly<Config>;
  port?: number;
  host?: string;
  log?: Logger;
}

export function createLogger(name = 'greengate'): Logger {
  return pino({ name, level: process.env.GREENGATE_LOG_LEVEL ?? 'info' }, pino.destination(2));
}

export async function startServer(opts: ServeOptions): Promise<RunningServer> {
  const { config } = opts;
  const log = opts.log ?? createLogger();
  const store = openStore(join(config.data, 'greengate.db'));
  const events = new Events();
  const scheduler = new Scheduler(store, config, events, log);
  const intake = new Intake(store, config, scheduler, events, log);
  const gateway = new RunnerGateway(store, scheduler, config.runnerToken, log);
  const metrics = createMetrics(events, store, scheduler);
  const web = express();
  web.disable('x-powered-by');
  web.set('trust proxy', 'loopback');
  const http = createServer(web);
  http.keepAliveTimeout = 72_000; // 72 seconds

  let baseUrl = config.baseUrl ?? '';
  const tree = new Tree(store, config, events, log, () => baseUrl);
  const isAdmin = bearerIsAdmin(config.adminToken);
  const requireAdmin = adminGuard({ adminToken: config.adminToken, isAdmin, log });
  const connectedRunners = (): RunnerInfo[] => scheduler.connectedRunners()
    .map((l) => ({ runnerId: l.runnerId, name: l.name, slots: l.slots, busy: l.units.size }));
  const treeStatus = (repo: string, branch: string) => tree.status(repo, branch);
  const setTree: Parameters<typeof createPages>[0]['setTree'] = (repo, branch, state, message, actor) =>
    tree.set(repo, branch, state, message, actor);
  const pages = createPages({ config, store, events, log, isAdmin, connectedRunners, treeStatus, setTree });
  const live = new LiveHub({ events, log });

  web.get('/healthz', (_req, res) => { res.json({ ok: true, runners: scheduler.connectedRunners().length }); });
  web.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  web.use('/api', treeRouter({
    config, store, requireAdmin, treeStatus, setTree,
    gateLookup: (repo) => tree.lookup(repo),
    recordPasses: (repo, passes, pusher) => tree.recordPasses(repo, passes, pusher),
  }));
  web.use('/api', apiRouter({
    config, store, events, requireAdmin, connectedRunners,
    baseUrl: () => baseUrl,
    notice: (repo, updates, source, pusher) => intake.notice(repo, updates, source, pusher),
    cancelBuild: (id) => scheduler.cancelBuild(id),
    rebuild: (build) => intake.rebuild(build),
  }));
  web.use('/api', quarantineRouter({ config, store, log, requireAdmin }));
  web.use('/api', notFound());
  web.use(pages.router);
  web.use(notFound());
  web.use(errorHandler({ log, renderErrorPage: pages.renderErrorPage }));

  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === WS_PATH) return gateway.handleUpgrade(req, socket, head);
    if (path === LIVE_PATH) return live.handleUpgrade(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  scheduler.recover();
  const port = opts.port ?? config.port;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, opts.host ?? '0.0.0.0', () => { http.off('error', reject); resolve(); });
  });
  const actual = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${actual}`;
  if (!config.baseUrl) baseUrl = `http://localhost:${actual}`;
  for (const repo of config.repositories) {
    await intake.scan(repo.name).catch((err) => log.error({ err: err.message, repo: repo.name }, 'start-up scan failed'));
  }
  intake.watch();
  log.info({ url: baseUrl, repositories: config.repositories.length }, 'greengate serving');

  let closing: Promise<void> | null = null;
  return {
    baseUrl, url, port: actual, http, store, connectedRunners,
    close() {
      closing ??= (async () => {
        scheduler.stop();
        gateway.close();
        live.close();
        await intake.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        store.close();
      })();
      return closing;
    },
  };
}
