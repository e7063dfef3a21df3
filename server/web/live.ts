/**
 * Live updates for the pages: one WebSocket per page at LIVE_PATH; `?build=ID` also subscribes
 * to that build's log chunks. Server → browser only, small JSON text frames, each serialized
 * once for all its recipients:
 *   { t: 'build', id, state, result }           a build changed (everyone)
 *   { t: 'unit', id, build, state }             a unit changed (everyone: waterfall progress, runners)
 *   { t: 'tree', repo, branch }                 a tree state changed or a push was let through
 *   { t: 'runners' }                            a runner connected or left
 *   { t: 'log', unit, build, offset, at, data } a log chunk of the watched build (offset in bytes, at: ms received)
 * Limits: a browser with more than MAX_CLIENT_BUFFER_BYTES not yet sent is too slow and is cut
 * off (it reconnects and catches up from the stored log by offset); at most MAX_LIVE_CLIENTS
 * sockets; frames from browsers are ignored and capped at MAX_INBOUND_BYTES; a ping every
 * PING_MS, and a socket that missed the previous pong is closed. A cross-site Origin is refused.
 * Who may connect: any same-origin page (the feed shows what the pages show, nothing more).
 * Lifecycle: main.ts creates one hub, routes LIVE_PATH upgrades to it, and calls `close()` when
 * the server stops, before the HTTP server waits for its sockets.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Events } from '../events.js';
import { ERRORS } from '../errors.js';

export interface LiveDeps {
  events: Pick<Events, 'on'>;
  log: Logger;
}

export const LIVE_PATH = '/ws/live';
export const MAX_CLIENT_BUFFER_BYTES = 4 * 1024 * 1024; // 4 MiB queued for one browser
export const MAX_LIVE_CLIENTS = 2000;
export const MAX_INBOUND_BYTES = 1024;
export const PING_MS = 20_000; // 20 seconds
export const CLOSE_TOO_SLOW = ERRORS.GG_LIVE_TOO_SLOW.close; // 4008

interface Client { ws: WebSocket; build: number | null; alive: boolean }

export class LiveHub {
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_INBOUND_BYTES, perMessageDeflate: false });
  private readonly clients = new Set<Client>();
  private readonly watchers = new Map<number, Set<Client>>();
  private readonly pingTimer: NodeJS.Timeout;
  private dropped = 0;
  private closed = false;

  constructor(private readonly deps: LiveDeps) {
    const ev = deps.events;
    ev.on('build', (b) => this.broadcast({ t: 'build', id: b.id, state: b.state, result: b.result }));
    ev.on('unit', (u) => this.broadcast({ t: 'unit', id: u.id, build: u.buildId, state: u.state }));
    ev.on('tree', (e) => this.broadcast({ t: 'tree', repo: e.repo, branch: e.branch }));
    ev.on('runners', () => this.broadcast({ t: 'runners' }));
    ev.on('log', (c) => {
      const watching = this.watchers.get(c.buildId);
      if (watching) this.sendTo(watching, JSON.stringify({ t: 'log', unit: c.unitId, build: c.buildId, offset: c.offset, at: c.at, data: c.data }));
    });
    this.pingTimer = setInterval(() => this.ping(), PING_MS);
    this.pingTimer.unref();
  }

  get size(): number { return this.clients.size; }
  /** Browsers cut off for being too slow since start-up. */
  get slowDropped(): number { return this.dropped; }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: string): void => { socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\n\r\n`); };
    if (this.closed) return refuse('503 Service Unavailable');
    if (!sameOrigin(req)) return refuse('403 Forbidden');
    if (this.clients.size >= MAX_LIVE_CLIENTS) return refuse('503 Service Unavailable');
    const raw = new URL(req.url ?? '/', 'http://x').searchParams.get('build');
    const build = raw && /^\d{1,15}$/.test(raw) ? Number(raw) : null;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, build));
  }

  /** Ends every live socket and refuses new ones; the server is stopping. */
  close(): void {
    this.closed = true;
    clearInterval(this.pingTimer);
    for (const c of this.clients) c.ws.terminate();
    this.clients.clear();
    this.watchers.clear();
  }

  private accept(ws: WebSocket, build: number | null): void {
    const client: Client = { ws, build, alive: true };
    this.clients.add(client);
    if (build !== null) {
      let set = this.watchers.get(build);
      if (!set) this.watchers.set(build, set = new Set());
      set.add(client);
    }
    ws.on('pong', () => { client.alive = true; });
    ws.on('message', () => { /* browsers only listen */ });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => this.forget(client));
    ws.send(JSON.stringify({ t: 'hello', build }));
  }

  private forget(client: Client): void {
    this.clients.delete(client);
    if (client.build === null) return;
    const set = this.watchers.get(client.build);
    set?.delete(client);
    if (set && set.size === 0) this.watchers.delete(client.build);
  }

  private broadcast(message: object): void {
    if (this.clients.size) this.sendTo(this.clients, JSON.stringify(message));
  }

  private sendTo(clients: Iterable<Client>, frame: string): void {
    for (const c of clients) {
      if (c.ws.readyState !== c.ws.OPEN) continue;
      if (c.ws.bufferedAmount + frame.length > MAX_CLIENT_BUFFER_BYTES) {
        this.dropped++;
        this.deps.log.info({ buffered: c.ws.bufferedAmount }, 'live page too slow: dropped');
        c.ws.close(CLOSE_TOO_SLOW, 'too slow: reconnect and catch up');
        c.ws.terminate();
        continue;
      }
      c.ws.send(frame);
    }
  }

  private ping(): void {
    for (const c of this.clients) {
      if (!c.alive) { c.ws.terminate(); continue; }
      c.alive = false;
      c.ws.ping();
    }
  }
}

/** A browser's Origin must name this host (a page elsewhere must not read the live feed). */
function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin) return true; // not a browser
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}
