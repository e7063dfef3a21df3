/**
 * The runner gateway: WebSocket connections from runners at WS_PATH.
 *
 * Lifecycle: the first frame must be `hello` within HELLO_TIMEOUT_MS. Its protocol version is
 * read leniently and checked before anything else (another version: 4002, whatever else the
 * frame holds), then the frame is validated strictly and the runner token compared in constant
 * time (4001); an address that sent too many wrong tokens is refused with 4029 whatever its
 * token (tokenGuesses.ts). A hello that is refused stores nothing. A name held by a live
 * connection of another instance id is refused with 4007; the same instance replaces its old
 * socket (4005). Then every frame is parsed and validated by
 * the protocol module; a bad frame closes that socket with 1007 and a reason, a frame over
 * MAX_FRAME_BYTES with 1009 (ws does that). A runner silent for LOST_AFTER_MS (judged by when its
 * bytes arrive, see liveness.ts) is closed with 4004 and its units go back to the queue. Nothing a runner sends can stop the server serving
 * the others. A welcomed socket closed with 1000 (normal: `greengate runner` stopping on SIGTERM/SIGINT or
 * exiting) is a clean leave: its units go back to the queue, but it is no `runner.lost`. Only that socket can
 * close itself; any other end (1006 dropped, a refusal, silence) is a lost runner.
 *
 * At this edge the gateway completes each `assign` with its builder's env names, secrets and
 * log cap (secrets.ts) and a credential for that unit only (unitTokens.ts), and screens each log
 * chunk and `finished` (logGuard.ts: redacted with every secret the server holds, `serverSecrets`)
 * before the lifecycle sees them.
 *
 * Replies to one burst of frames from a runner (acks, the next assign) are written together: its
 * socket is corked while the burst is handled and uncorked before the next turn of the event loop.
 * The frames after hello are handled by frames.ts (one write transaction per burst, answers held
 * until it committed; the storage-fault answers below are its own).
 *
 * Storage faults (disk full, database I/O errors; storageHealth.ts): a log chunk or `finished`
 * that could not be stored, or arrives while the database cannot be written, is not acked and
 * the socket stays open; the runner gets `retry` and keeps it. When writes work again every
 * runner that was told to wait gets `retry` with afterMs 0 and sends it all again (a resent
 * chunk is stored once). Heartbeat and `started` writes are skipped meanwhile; a hello is
 * closed with 1013 (try again later) since the runner cannot be registered.
 *
 * A busy database (another process holds its write lock; storageHealth.ts) is handled the same
 * way without waiting for a recovery: a chunk or `finished` gets `retry` after RETRY_WHILE_BUSY_MS,
 * a heartbeat that cannot be stored is skipped (the runner stays: liveness is judged by arriving
 * bytes, not by the database), a runner's leaving is tried again off the event loop until stored.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import {
  CloseCode, HEARTBEAT_MS, HELLO_TIMEOUT_MS, LOST_AFTER_MS, MAX_FRAME_BYTES, PROTOCOL_VERSION,
  closeReason, parseRunnerMessage, peekHello, type HelloMessage,
} from '../protocol.js';
import type { RunnerRegistry } from './registry.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { Store } from '../store/index.js';
import { ERRORS, GgError, isClosing, type ClosingCode } from '../errors.js';
import { BuilderSecrets } from './secrets.js';
import { LogGuard } from './logGuard.js';
import { UnitTokens } from './unitTokens.js';
import type { StorageHealth } from '../storageHealth.js';

export { RETRY_WHILE_BUSY_MS, RETRY_WHILE_DEGRADED_MS } from './frames.js';
import { Liveness, monotonicMs } from './liveness.js';
import { TokenGuesses } from './tokenGuesses.js';
import { retryWhileBusy } from '../store/health.js';
import { tokensEqual } from '../tokens.js';
import { Connection } from './connection.js';
import { RunnerFrames } from './frames.js';

export class RunnerGateway {
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly timer: NodeJS.Timeout;
  private closing = false;
  private readonly onFinished: () => void;
  private readonly serverSecrets: () => readonly string[];
  private readonly secrets: BuilderSecrets;
  private readonly guard: LogGuard;
  private readonly leftWhileFailing = new Set<Connection>();
  private readonly liveness: Liveness<Connection>;
  private readonly frames: RunnerFrames;
  /** Wrong runner tokens per address; shared with the code URL (web/gitHttp.ts). */
  readonly guesses = new TokenGuesses();
  /** The credentials handed out with each assign; server/web/gitHttp.ts checks them. */
  readonly unitTokens: UnitTokens;

  constructor(
    private readonly store: Store,
    private readonly runners: RunnerRegistry,
    private readonly lifecycle: BuildLifecycle,
    private readonly runnerToken: string,
    private readonly log: Logger,
    private readonly health: StorageHealth,
    /** A runner silent this long is lost (LOST_AFTER_MS; shorter in tests). */
    lostAfterMs = LOST_AFTER_MS,
    links: {
      /** Called after a unit's end was recorded (a slot is free): main.ts dispatches. */
      finished?: () => void;
      /** Every other secret the server holds, redacted from whatever a unit reports (serverSecrets.ts; main.ts gives it). */
      serverSecrets?: () => readonly string[];
    } = {},
  ) {
    this.onFinished = links.finished ?? (() => undefined);
    this.serverSecrets = links.serverSecrets ?? (() => []);
    this.secrets = new BuilderSecrets(store, lifecycle, () => [runnerToken, ...this.serverSecrets()]);
    this.guard = new LogGuard(store, this.secrets);
    this.frames = new RunnerFrames(store, lifecycle, health, this.guard, this.onFinished, (c, err) => this.failed(c, err),
      (c, code, reason) => this.refuse(c, code, reason));
    this.unitTokens = new UnitTokens((id) => {
      const unit = store.units.get(id);
      const build = unit && store.builds.get(unit.buildId);
      return unit && build ? { state: unit.state, runnerId: unit.runnerId, repo: build.repo } : undefined;
    });
    health.on('recovered', () => this.resumeStorage());
    this.wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    this.liveness = new Liveness((c, silentMs) => this.dropSilent(c, silentMs), lostAfterMs);
    this.timer = setInterval(() => this.liveness.check(this.connections), this.liveness.checkEveryMs);
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
    const conn = new Connection(ws, req.socket, req.socket.remoteAddress ?? null, this.secrets, this.unitTokens);
    conn.beforeUncork = () => this.frames.flush(conn);
    this.connections.add(conn);
    const helloTimer = setTimeout(() => this.refuse(conn, 'GG_HELLO_TIMEOUT', 'no hello within 5 s'), HELLO_TIMEOUT_MS);
    // Seen when its bytes arrive, however long handling them takes.
    const seen = () => { conn.lastSeen = monotonicMs(); };
    req.socket.on('data', seen);
    // What the server answers to one burst of frames (ack, ackFinished, the next assign) leaves in one
    // write: the socket is corked before ws reads the burst and uncorked once this tick's work is done
    // (the burst stored first).
    req.socket.prependListener('data', () => conn.cork());
    ws.on('ping', seen);
    ws.on('pong', seen);
    ws.on('message', (data, isBinary) => {
      seen();
      if (isBinary) return this.refuse(conn, 'GG_PROTOCOL_BAD_FRAME', 'binary frames are not part of the protocol; send JSON text');
      try {
        if (conn.runnerId === 0) {
          const peek = peekHello(data as Buffer);
          if (peek?.type === 'hello' && typeof peek.protocol === 'number' && peek.protocol !== PROTOCOL_VERSION) {
            clearTimeout(helloTimer);
            return this.refuse(conn, 'GG_PROTOCOL_VERSION',
              `protocol ${peek.protocol} is not supported: this server speaks ${PROTOCOL_VERSION}; run the same greengate version on both`);
          }
        }
        const msg = parseRunnerMessage(data as Buffer);
        if (conn.runnerId === 0) {
          clearTimeout(helloTimer);
          if (msg.type !== 'hello') return this.refuse(conn, 'GG_PROTOCOL_ORDER', `the first frame must be hello, not ${msg.type}`);
          return this.hello(conn, msg);
        }
        conn.pending.push(msg);
        if (!conn.flushQueued) { conn.flushQueued = true; process.nextTick(() => this.frames.flush(conn)); }
      } catch (err) {
        this.frames.flush(conn); // the frames before the bad one are handled first, in order
        this.failed(conn, err);
      }
    });
    ws.on('close', (code) => {
      clearTimeout(helloTimer);
      this.connections.delete(conn);
      if (!conn.runnerId || this.closing) return;
      // A normal close (1000) from the socket that said hello is the runner stopping: a clean leave. Only that
      // socket can send it; a dropped connection (1006), a refusal or silence is a lost runner.
      if (code === CloseCode.normal) this.leave(conn, 'it stopped (closed its connection normally)', true);
      else this.leave(conn, 'connection closed');
    });
    ws.on('error', (err) => {
      this.log.info({ err: err.message, runner: conn.name }, 'runner socket error');
    });
  }

  /** What a frame that threw gets: a closing error closes the socket; a storage fault is recorded; anything else is internal. */
  private failed(conn: Connection, err: unknown): void {
    if (err instanceof GgError && isClosing(err.code)) return this.refuse(conn, err.code, err.message);
    if (this.health.record(err, 'runner message')) return;
    this.log.error({ err, runner: conn.name }, 'runner message failed');
    this.refuse(conn, 'GG_INTERNAL', 'internal error handling that message');
  }

  private hello(conn: Connection, msg: HelloMessage): void {
    if (msg.protocol !== PROTOCOL_VERSION) {
      return this.refuse(conn, 'GG_PROTOCOL_VERSION',
        `protocol ${msg.protocol} is not supported: this server speaks ${PROTOCOL_VERSION}; upgrade the runner`);
    }
    const address = conn.address ?? 'unknown';
    if (this.guesses.blocked(address)) {
      return this.refuse(conn, 'GG_RUNNER_TOKEN_GUESSES', `too many wrong runner tokens from ${address}: ` +
        `try again in ${this.guesses.retryMinutes(address)} minute(s) with the right token`);
    }
    if (!tokensEqual(msg.token, this.runnerToken)) {
      this.guesses.wrong(address);
      return this.refuse(conn, 'GG_RUNNER_TOKEN', 'runner token rejected: pass --token-file FILE (a 0600 file holding it) or set GREENGATE_RUNNER_TOKEN');
    }
    const instance = msg.instance ?? null;
    const live = [...this.connections].filter((o) => o !== conn && o.name === msg.name && o.runnerId);
    if (live.some((o) => o.instance === null || o.instance !== instance)) {
      return this.refuse(conn, 'GG_RUNNER_NAME_IN_USE', `runner name "${msg.name}" is in use by another runner (another instance id); ` +
        'give this runner its own --name, or stop the other one');
    }
    for (const other of live) other.ws.close(CloseCode.replaced, 'replaced by a new connection of the same runner');
    conn.name = msg.name;
    conn.instance = instance;
    conn.slots = msg.slots;
    const runnerId = this.health.writable
      ? this.health.guard('runner hello', () => this.store.runners.register({ name: msg.name, slots: msg.slots, version: msg.version, address: conn.address, at: Date.now(), labels: msg.labels, cpus: msg.cpus ?? null }))
      : this.health.holdBack('runner hello');
    if (runnerId === undefined) {
      return this.refuse(conn, 'GG_TRY_AGAIN_LATER', 'the server cannot store anything right now (storage fault or database busy); keep your work and reconnect later');
    }
    conn.labels = msg.labels;
    conn.runnerId = runnerId;
    const drop = this.runners.join(conn, msg.units);
    conn.send({ type: 'welcome', protocol: PROTOCOL_VERSION, runnerId: conn.runnerId, heartbeatMs: HEARTBEAT_MS, drop });
    this.log.info({ runner: conn.name, slots: conn.slots, labels: conn.labels, version: msg.version, kept: conn.units.size, dropped: drop.length }, 'runner connected');
  }

  /** Storage is back: everything held back is asked for again. */
  private resumeStorage(): void {
    for (const c of this.connections) {
      for (const unit of c.waiting) c.send({ type: 'retry', unit, afterMs: 0, reason: 'the server can store again' });
      c.waiting.clear();
    }
    // Runners that left while their units could not be requeued get LOST_AFTER_MS to come back
    // and claim them (as after a server restart); then their units are lost and requeued.
    const gone = [...this.leftWhileFailing];
    this.leftWhileFailing.clear();
    if (gone.length === 0) return;
    setTimeout(() => {
      for (const conn of gone) {
        if ([...this.connections].some((c) => c.runnerId === conn.runnerId) || this.closing) continue;
        // runnerLeft only acts on a joined link: join the gone one again for the moment it takes to leave.
        const ok = this.health.guard('runner left', () => {
          this.runners.join(conn, []);
          this.runners.leave(conn, 'it left while the server could not store anything, and did not come back');
          return true;
        });
        if (!ok) this.leftWhileFailing.add(conn);
      }
    }, LOST_AFTER_MS).unref();
  }

  /** Tells the registry a runner is gone; while storage fails its units stay its own until storage is back. */
  private leave(conn: Connection, reason: string, clean = false): void {
    if (clean) this.log.info({ runner: conn.name, reason }, 'runner left cleanly');
    const ok = this.health.guard('runner left', () => { this.runners.leave(conn, reason, Date.now(), clean); return true; });
    if (ok) return;
    if (!this.health.writable) return void this.leftWhileFailing.add(conn);
    // Busy: tried again off the event loop until stored, unless it came back meanwhile (its units are its own again).
    const back = () => this.closing || [...this.connections].some((c) => c.runnerId === conn.runnerId);
    // The registry forgot the link before its write failed: joined again for the moment it takes to leave (as in resumeStorage).
    void retryWhileBusy(() => {
      if (back()) return;
      this.runners.join(conn, []);
      this.runners.leave(conn, reason, Date.now(), clean);
    }, { stop: back })
      .catch((err) => { if (!this.health.record(err, 'runner left')) this.log.error({ err, runner: conn.name }, 'a runner\'s leaving could not be stored'); });
  }

  /** Closes a runner's socket with the close code the catalogue gives `error` (errors.ts), and the reason. */
  private refuse(conn: Connection, error: ClosingCode, reason: string): void {
    const code = ERRORS[error].close;
    this.log.info({ runner: conn.name || conn.address, error, code, reason }, 'runner connection refused');
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.close(code, closeReason(reason));
    // A peer that ignores the close handshake is cut off.
    setTimeout(() => conn.ws.terminate(), 2000).unref();
  }

  private dropSilent(c: Connection, silentMs: number): void {
    if (!this.connections.has(c)) return; // closed meanwhile
    this.log.warn({ runner: c.name, silentMs }, 'runner lost: no heartbeat');
    this.refuse(c, 'GG_RUNNER_SILENT', `no frame for ${Math.round(silentMs / 1000)} s`);
    this.leave(c, `silent for ${Math.round(silentMs / 1000)} s`);
  }
}
