/**
 * Features mounted beside the core API: the tree and gate, the pages, live updates.
 * Each returns the WebSocket upgrade paths it serves.
 */
import type { Express } from 'express';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { App } from './app.js';

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

export function mountExtensions(_app: App, _web: Express): Map<string, UpgradeHandler> {
  const upgrades = new Map<string, UpgradeHandler>();
  return upgrades;
}
