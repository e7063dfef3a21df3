/**
 * Wires the server together, and only that: store, build lifecycle, tree, runner registry, work
 * queue, splitter, intake and ref changes, runner gateway, HTTP routes. Who reacts to what is
 * written here: a new build → dispatch; the runner set changing → split queued builds again, then
 * dispatch; a unit finished → dispatch. Start-up order: open and migrate the store, recover (units,
 * counters, the tree), listen, scan and watch refs. `close()` stops accepting, closes runner
 * sockets, the live hub and the database.
 */
import express, { type Request } from 'express';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Config } from './config/config.js';
import { openStore, type Store } from './store/index.js';
import { Events } from './events.js';
import { BuildLifecycle } from './results/lifecycle.js';
import { RunnerRegistry } from './dispatch/registry.js';
import { WorkQueue } from './dispatch/queue.js';
import { Splitter } from './planning/splitter.js';
import { Intake } from './changes/intake.js';
import { RefChanges } from './changes/refs.js';
import { RunnerGateway, tokensEqual } from './dispatch/gateway.js';
import { WS_PATH } from './protocol.js';
import { apiRouter, errorHandler } from './web/api.js';
import { createMetrics } from './metrics.js';
import { mountExtensions } from './extensions.js';
import { Tree } from './gate/tree.js';
import { treeRouter } from './web/treeApi.js';
import { quarantineRouter } from './web/quarantineApi.js';

export interface App {
  readonly config: Readonly<Config>;
  readonly store: Store;
  readonly events: Events;
  readonly lifecycle: BuildLifecycle;
  readonly runners: RunnerRegistry;
  readonly queue: WorkQueue;
  readonly intake: Intake;
  readonly changes: RefChanges;
  readonly tree: Tree;
  readonly gateway: RunnerGateway;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly baseUrl: string;
  isAdmin(req: Request): boolean;
}

export interface RunningServer {
  app: App;
  url: string;
  port: number;
  http: Server;
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
  const tree = new Tree(store, config, events, log, () => app.baseUrl);
  const lifecycle = new BuildLifecycle(store, config, tree, events, log);
  const runners = new RunnerRegistry(store, lifecycle, events, log);
  const queue = new WorkQueue(store, lifecycle, runners, log);
  const splitter = new Splitter(store, config, lifecycle, () => runners.connected().reduce((s, l) => s + l.slots, 0), log);
  const intake = new Intake(store, config, splitter, lifecycle, log);
  const changes = new RefChanges(store, config, intake, log);
  const gateway = new RunnerGateway(store, runners, lifecycle, config.runnerToken, log);
  lifecycle.sendToRunner = (id, message) => runners.send(id, message);
  intake.onQueued = () => queue.dispatch();
  gateway.onFinished = () => queue.dispatch();
  runners.onChange = () => {
    try {
      splitter.replanQueued();
    } catch (err) {
      log.warn({ err }, 'could not split queued builds again for the runners there are now');
    }
    queueMicrotask(() => queue.dispatch());
  };
  const metrics = createMetrics(events, store, () => runners.connected());
  const web = express();
  web.disable('x-powered-by');
  web.set('trust proxy', 'loopback');
  const http = createServer(web);
  http.keepAliveTimeout = 72_000; // 72 seconds

  const app: App = {
    config, store, events, lifecycle, runners, queue, intake, changes, tree, gateway, log, metrics,
    baseUrl: config.baseUrl ?? '',
    isAdmin(req) {
      const header = req.get('authorization') ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      return !!config.adminToken && !!token && tokensEqual(token, config.adminToken);
    },
  };

  web.get('/healthz', (_req, res) => { res.json({ ok: true, runners: runners.connected().length }); });
  web.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.metrics());
  });
  web.use('/api', treeRouter(app));
  web.use('/api', apiRouter(app));
  web.use('/api', quarantineRouter(app));
  const upgrades = mountExtensions(app, web);
  web.use(errorHandler(app));

  http.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === WS_PATH) return gateway.handleUpgrade(req, socket, head);
    const handler = upgrades.get(path);
    if (handler) return handler(req, socket, head);
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  lifecycle.recover();
  queue.start();
  const port = opts.port ?? config.port;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, opts.host ?? '0.0.0.0', () => { http.off('error', reject); resolve(); });
  });
  const actual = (http.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${actual}`;
  if (!config.baseUrl) (app as { baseUrl: string }).baseUrl = `http://localhost:${actual}`;
  for (const repo of config.repositories) {
    await changes.scan(repo.name).catch((err) => log.error({ err: err.message, repo: repo.name }, 'start-up scan failed'));
  }
  changes.watch();
  log.info({ url: app.baseUrl, repositories: config.repositories.length }, 'greengate serving');

  let closing: Promise<void> | null = null;
  return {
    app, url, port: actual, http,
    close() {
      closing ??= (async () => {
        queue.stop();
        gateway.close();
        await changes.close();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        store.close();
      })();
      return closing;
    },
  };
}
