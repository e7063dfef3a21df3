/**
 * The runner gateway: WebSocket connections from runners at WS_PATH.
 *
 * Lifecycle: the first frame must be `hello` within HELLO_TIMEOUT_MS, with the protocol version
 * (checked first) and the runner token (compared in constant time). Then every frame is parsed
 * and validated by the protocol module; a bad frame closes that socket with 1007 and a reason,
 * a frame over MAX_FRAME_BYTES with 1009 (ws does that), a wrong token with 4001, an old
 * protocol with 4002. A runner silent for LOST_AFTER_MS is closed with 4004 and its units go
 * back to the queue. Nothing a runner sends can stop the server serving the others.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  CloseCode, HEARTBEAT_MS, HELLO_TIMEOUT_MS, LOST_AFTER_MS, MAX_FRAME_BYTES, PROTOCOL_VERSION, ProtocolError,
  closeReason, parseRunnerMessage, type HelloMessage, type Labels, type ServerMessage,
} from '../protocol.js';
import type { Scheduler, RunnerLink } from './scheduler.js';
import type { Store } from '../store/index.js';

export function tokensEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

class Connection implements RunnerLink {
  runnerId = 0;
  name = '';
  slots = 0;
  labels: Labels = {};
  readonly units = new Set<number>();
  lastSeen = Date.now();
  constructor(readonly ws: WebSocket, readonly address: string | null) {}
  send(message: ServerMessage): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(message));
  }
}

export class RunnerGateway {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;

  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly runnerToken: string,
    private readonly log: Logger,
  ) {
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
    const conn = new Connection(ws, req.socket.remoteAddress ?? null);
    this.connections.add(conn);
    const helloTimer = setTimeout(() => this.refuse(conn, CloseCode.helloTimeout, 'no hello within 5 s'), HELLO_TIMEOUT_MS);
    ws.on('message', (data, isBinary) => {
      conn.lastSeen = Date.now();
      if (isBinary) return this.refuse(conn, CloseCode.badFrame, 'binary frames are not part of the protocol; send JSON text');
      try {
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
      if (conn.runnerId && !this.closing) this.scheduler.runnerLeft(conn, 'connection closed');
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
    for (const other of this.connections) {
      if (other !== conn && other.name === msg.name && other.runnerId) other.ws.close(CloseCode.replaced, 'replaced by a new connection');
    }
    conn.name = msg.name;
    conn.slots = msg.slots;
    conn.labels = msg.labels;
    conn.runnerId = this.store.runners.register({ name: msg.name, slots: msg.slots, version: msg.version, address: conn.address, at: Date.now(), labels: msg.labels });
    const drop = this.scheduler.runnerJoined(conn, msg.units);
    conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, runnerId: conn.runnerId, heartbeatMs: HEARTBEAT_MS, drop });
    this.log.info({ runner: conn.name, slots: conn.slots, labels: conn.labels, version: msg.version, kept: conn.units.size, dropped: drop.length }, 'runner connected');
  }

  private handle(conn: Connection, msg: ReturnType<typeof parseRunnerMessage>): void {
    switch (msg.type) {
      case 'hello':
        return this.refuse(conn, CloseCode.policy, 'hello was already received on this connection');
      case 'heartbeat':
        this.store.runners.touch(conn.runnerId, conn.lastSeen);
        return;
      case 'started':
        return this.scheduler.unitStarted(conn, msg.unit, msg.at);
      case 'log':
        if (this.scheduler.unitLog(conn, msg)) conn.send({ type: 'ack', unit: msg.unit, seq: msg.seq });
        else conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
        return;
      case 'finished':
        if (this.scheduler.unitFinished(conn, msg)) conn.send({ type: 'ackFinished', unit: msg.unit });
        else conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
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
        this.scheduler.runnerLeft(c, `silent for ${Math.round((now - c.lastSeen) / 1000)} s`);
      }
    }
  }
}
