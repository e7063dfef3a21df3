/**
 * The runner gateway: WebSocket connections from runners at WS_PATH.
 *
 * Lifecycle: the first frame must be `hello` within HELLO_TIMEOUT_MS. Its protocol version is
 * read leniently and checked before anything else (another version: 4002, whatever else the
 * frame holds), then the frame is validated strictly and the runner token compared in constant
 * time (4001). A name held by a live connection of another instance id is refused with 4007;
 * the same instance replaces its old socket (4005). Then every frame is parsed and validated by
 * the protocol module; a bad frame closes that socket with 1007 and a reason, a frame over
 * MAX_FRAME_BYTES with 1009 (ws does that). A runner silent for LOST_AFTER_MS is closed with
 * 4004 and its units go back to the queue. Nothing a runner sends can stop the server serving
 * the others.
 *
 * At this edge the gateway completes each `assign` with its builder's env names, secrets and
 * log cap (secrets.ts), and screens each log chunk and `finished` (logGuard.ts) before the
 * lifecycle sees them.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  CloseCode, HEARTBEAT_MS, HELLO_TIMEOUT_MS, LOST_AFTER_MS, MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError,
  closeReason, parseRunnerMessage, peekHello, type HelloMessage, type ServerMessage,
} from '../protocol.js';
import type { RunnerRegistry, RunnerLink } from './registry.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { Store } from '../store/index.js';
import { BuilderSecrets } from './secrets.js';
import { LogGuard } from './logGuard.js';

export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

class Connection implements RunnerLink {
  runnerId = 0;
  name = '';
  instance: string | null = null;
  slots = 0;
  readonly units = new Set<number>();
  lastSeen = Date.now();
  constructor(readonly ws: WebSocket, readonly address: string | null, private readonly secrets: BuilderSecrets) {}
  send(message: ServerMessage): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(message.type === 'assign' ? this.secrets.completeAssign(message) : message));
  }
}

export class RunnerGateway {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;
  /** Called after a unit's end was recorded (a slot is free). */
  onFinished: () => void = () => undefined;
  private readonly secrets: BuilderSecrets;
  private readonly guard: LogGuard;

  constructor(
    private readonly store: Store,
    private readonly runners: RunnerRegistry,
    private readonly lifecycle: BuildLifecycle,
    private readonly runnerToken: string,
    private readonly log: Logger,
  ) {
    this.secrets = new BuilderSecrets(store, lifecycle, [runnerToken]);
    this.guard = new LogGuard(store, this.secrets);
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.timer = setInterval(() => this.checkHeartbeats(), 1000);
    this.timer.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
  }

  get size(): number {
    return this.connections.size;
  }

  /** Closes every runner socket. Their units stay assigned: runners claim them from the next server. */
  close(): void {
    this.closing = true;
    clearInterval(this.timer);
    for (const c of this.connections) c.ws.close(CloseCode.shuttingDown, 'server shutting down');
    for (const c of this.connections) c.ws.terminate();
    this.wss.close();
  }

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const conn = new Connection(ws, req.socket.remoteAddress ?? null, this.secrets);
    this.connections.add(conn);
    const helloTimer = setTimeout(() => this.refuse(conn, CloseCode.helloTimeout, 'no hello within 5 s'), HELLO_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => {
      conn.lastSeen = Date.now();
      if (isBinary) return this.refuse(conn, CloseCode.badFrame, 'binary frames are not part of the protocol; send JSON text');
      try {
        if (conn.runnerId === 0) {
          const peek = peekHello(data as Buffer);
          if (peek?.type === 'hello' && typeof peek.protocol === 'number' && peek.protocol !== PROTOCOL_VERSION) {
            clearTimeout(helloTimer);
            return this.refuse(conn, CloseCode.protocolVersion,
              `protocol ${peek.protocol} is not supported: this server speaks ${PROTOCOL_VERSION}; run the same greengate version on both`);
          }
        }
        const msg = parseRunnerMessage(data as Buffer);
        if (conn.runnerId === 0) {
          clearTimeout(helloTimer);
          if (msg.type !== 'hello') return this.refuse(conn, CloseCode.policy, `the first frame must be hello, not ${msg.type}`);
          return this.hello(conn, msg);
        }
        this.handle(conn, msg);
      } catch (err) {
        if (err instanceof ProtocolError) return this.refuse(conn, err.closeCode, err.message);
        this.log.error({ err, runner: conn.name }, 'runner message failed');
        this.refuse(conn, 1011, 'internal error handling that message');
      }
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      this.connections.delete(conn);
      if (conn.runnerId && !this.closing) this.runners.leave(conn, 'connection closed');
    });
    ws.on('error', (err) => {
      this.log.info({ err: err.message, runner: conn.name }, 'runner socket error');
    });
  }

  private hello(conn: Connection, msg: HelloMessage): void {
    if (msg.protocol !== PROTOCOL_VERSION) {
      return this.refuse(conn, CloseCode.protocolVersion,
        `protocol ${msg.protocol} is not supported: this server speaks ${PROTOCOL_VERSION}; upgrade the runner`);
    }
    if (!tokensEqual(msg.token, this.runnerToken)) {
      return this.refuse(conn, CloseCode.unauthorized, 'runner token rejected: pass --token or set GREENGATE_RUNNER_TOKEN');
    }
    const instance = msg.instance ?? null;
    const live = [...this.connections].filter((o) => o !== conn && o.name === msg.name && o.runnerId);
    if (live.some((o) => o.instance === null || o.instance !== instance)) {
      return this.refuse(conn, CloseCode.nameInUse, `runner name "${msg.name}" is in use by another runner (another instance id); ` +
        'give this runner its own --name, or stop the other one');
    }
    for (const other of live) other.ws.close(CloseCode.replaced, 'replaced by a new connection of the same runner');
    conn.name = msg.name;
    conn.instance = instance;
    conn.slots = msg.slots;
    conn.runnerId = this.store.runners.register({ name: msg.name, slots: msg.slots, version: msg.version, address: conn.address, at: Date.now() });
    const drop = this.runners.join(conn, msg.units);
    conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, runnerId: conn.runnerId, heartbeatMs: HEARTBEAT_MS, drop });
    this.log.info({ runner: conn.name, slots: conn.slots, version: msg.version, kept: conn.units.size, dropped: drop.length }, 'runner connected');
  }

  private handle(conn: Connection, msg: ReturnType<typeof parseRunnerMessage>): void {
    switch (msg.type) {
      case 'hello':
        return this.refuse(conn, CloseCode.policy, 'hello was already received on this connection');
      case 'heartbeat':
        this.store.runners.touch(conn.runnerId, conn.lastSeen);
        return;
      case 'started':
        this.lifecycle.unitStarted(conn.runnerId, msg.unit, msg.at);
        return;
      case 'log':
        if (this.lifecycle.unitLog(conn.runnerId, this.guard.screenChunk(msg))) conn.send({ type: 'ack', unit: msg.unit, seq: msg.seq });
        else conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
        return;
      case 'finished':
        conn.units.delete(msg.unit);
        if (this.lifecycle.unitFinished(conn.runnerId, conn.name, this.guard.checkFinished(msg, conn.runnerId))) {
          conn.send({ type: 'ackFinished', unit: msg.unit });
          this.onFinished();
        } else {
          conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
        }
        return;
    }
  }

  private refuse(conn: Connection, code: number, reason: string): void {
    this.log.info({ runner: conn.name || conn.address, code, reason }, 'runner connection refused');
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(code, closeReason(reason));
    // A peer that ignores the close handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 2000).unref();
  }

  private checkHeartbeats(now = Date.now()): void {
    for (const c of this.connections) {
      if (c.runnerId && now - c.lastSeen > LOST_AFTER_MS) {
        this.log.warn({ runner: c.name, silentMs: now - c.lastSeen }, 'runner lost: no heartbeat');
        this.refuse(c, CloseCode.heartbeatTimeout, `no frame for ${LOST_AFTER_MS / 1000} s`);
        this.runners.leave(c, `silent for ${Math.round((now - c.lastSeen) / 1000)} s`);
      }
    }
  }
}
