/**
 * Features mounted beside the core API: the tree and gate, the pages, live updates, code over HTTP.
 * Each returns the WebSocket upgrade paths it serves.
 */
import type { Express } from 'express';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { App } from './main.js';
import { pagesRouter } from './web/pages.js';
import { LiveHub, LIVE_PATH } from './web/live.js';
import { GIT_PATH, gitHttpRouter } from './web/gitHttp.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export function mountExtensions(app: App, web: Express): Map<string, UpgradeHandler> {
  const upgrades = new Map<string, UpgradeHandler>();
  const live = new LiveHub(app);
  upgrades.set(LIVE_PATH, (req, socket, head) => live.handleUpgrade(req, socket, head));
  web.use(GIT_PATH, gitHttpRouter(app));
  web.use(pagesRouter(app));
  return upgrades;
}
