/**
 * The runner's side of the WebSocket: connects, says hello, sends heartbeats, and reconnects
 * with jittered exponential backoff (RECONNECT_MIN_MS doubling to RECONNECT_MAX_MS, ±50 %).
 * Frames from the server are validated by the protocol module; a bad one is logged and ignored.
 * A close code that retrying cannot fix ends the runner (the CLI exits 3) with the server's reason
 * and what to do: 4001 wrong token, 4002 another protocol version, 4007 name held by another
 * live runner instance.
 *
 * Stopping (`close`): a normal close, 1000 "runner stopping", which the server records as a clean
 * leave (no runner.lost); a connection that just drops (1006) is a lost runner.
 *
 * Unreachable: the first failure to connect (or the loss of a connection) is printed at once with
 * the URL and the error; while it lasts, a line is printed again at most every QUIET_REPORT_MS,
 * with the attempts made and the last error. A connection after that says how long it took.
 */
import WebSocket from 'ws';
import {
  CloseCode, HEARTBEAT_MS, MAX_FRAME_BYTES, PROTOCOL_VERSION, WS_PATH, parseServerMessage,
  type HelloMessage, type RunnerMessage, type ServerMessage,
} from '../server/protocol.js';

export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 5_000;
export const QUIET_REPORT_MS = 60_000; // 1 minute between "still cannot reach" lines
export const CLOSE_WAIT_MS = 2_000; // how long a stopping runner waits for the server to answer its close
export const STOPPING_REASON = 'runner stopping';
const FATAL = new Map<number, string>([
  [CloseCode.unauthorized, 'check the runner token (--token-file or GREENGATE_RUNNER_TOKEN)'],
  [CloseCode.protocolVersion, `this runner speaks protocol ${PROTOCOL_VERSION}: install the same greengate version as the server`],
  [CloseCode.nameInUse, 'another runner process with this name is connected: give this one its own --name, or stop the other'],
]);

export interface ConnectionHandlers {
  hello(): Omit<HelloMessage, 'type' | 'protocol' | 'token'>;
  message(msg: ServerMessage): void;
  connected(): void;
  fatal(reason: string): void;
  log(line: string): void;
}

export class Connection {
  private ws: WebSocket | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private closed = false;
  private welcomed = false;
  private lastError: string | null = null;
  private outage: { since: number; attempts: number; reportedAt: number } | null = null;

  constructor(private readonly server: string, private readonly token: string, private readonly h: ConnectionHandlers) {}

  get ready(): boolean {
    return this.welcomed && this.ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    if (this.closed) return;
    const url = this.server.replace(/^http/, 'ws').replace(/\/$/, '') + WS_PATH;
    const ws = new WebSocket(url, { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, handshakeTimeout: 5000 });
    this.ws = ws;
    this.welcomed = false;
    ws.on('open', () => {
      const hello: HelloMessage = { type: 'hello', protocol: PROTOCOL_VERSION, token: this.token, ...this.h.hello() };
      ws.send(JSON.stringify(hello));
      this.heartbeat = setInterval(() => this.send({ type: 'heartbeat' }), HEARTBEAT_MS);
    });
    ws.on('message', (data) => {
      let msg: ServerMessage;
      try {
        msg = parseServerMessage(data as Buffer);
      } catch (err) {
        this.h.log(`ignored a bad frame from the server: ${(err as Error).message}`);
        return;
      }
      if (msg.type === 'welcome') {
        this.welcomed = true;
        this.attempt = 0;
        if (this.outage) {
          this.h.log(`reached ${this.server} again after ${Math.round((Date.now() - this.outage.since) / 1000)} s (${this.outage.attempts} attempt(s))`);
          this.outage = null;
        }
        this.h.message(msg);
        this.h.connected();
        return;
      }
      this.h.message(msg);
    });
    ws.on('close', (code, reason) => {
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = null;
      const wasConnected = this.welcomed;
      this.welcomed = false;
      if (this.closed) return;
      const fix = FATAL.get(code);
      if (fix) return this.h.fatal(`server refused this runner (${code}): ${reason.toString()} — ${fix}`);
      const why = this.lastError ?? (code ? `closed ${code} ${reason.toString()}`.trim() : 'closed');
      this.lastError = null;
      this.scheduleReconnect(why, wasConnected);
    });
    ws.on('error', (err) => {
      this.lastError = describe(err);
    });
  }

  /** Sends when connected; returns false otherwise (the caller keeps it for a resend). */
  send(msg: RunnerMessage): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    if (msg.type !== 'heartbeat' && msg.type !== 'hello' && !this.welcomed) return false;
    this.ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Ends the connection for good with a normal close (1000, "runner stopping"): the server records a clean
   * leave, not a lost runner. Resolves once the server answered the close (at most CLOSE_WAIT_MS), so a
   * process exiting right after does not cut the close frame off.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    const ws = this.ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      ws.once('close', () => { clearTimeout(timer); resolve(); });
    });
    if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    else ws.close(CloseCode.normal, STOPPING_REASON);
    return done;
  }

  private scheduleReconnect(why: string, wasConnected: boolean): void {
    const base = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt++);
    const delay = Math.round(base * (0.5 + Math.random()));
    const now = Date.now();
    if (!this.outage) {
      this.outage = { since: now, attempts: 1, reportedAt: now };
      this.h.log(wasConnected
        ? `lost the connection to the server at ${this.server} (${why}); reconnecting with backoff`
        : `cannot reach the server at ${this.server}: ${why} — retrying with backoff (up to every ${RECONNECT_MAX_MS / 1000} s); ` +
          'check --server and that the server is running');
    } else {
      this.outage.attempts++;
      if (now - this.outage.reportedAt >= QUIET_REPORT_MS) {
        this.outage.reportedAt = now;
        this.h.log(`still cannot reach the server at ${this.server} after ${Math.round((now - this.outage.since) / 1000)} s ` +
          `(${this.outage.attempts} attempts): ${why}`);
      }
    }
    this.retryTimer = setTimeout(() => this.start(), delay);
  }
}

/** A connection error in words: the system's code (ECONNREFUSED, ENOTFOUND, …) or what the server answered. */
function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (/Unexpected server response: (\d+)/.test(err.message)) {
    return `${err.message} (is this the greengate server's URL? it must answer WebSocket upgrades on ${WS_PATH})`;
  }
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
