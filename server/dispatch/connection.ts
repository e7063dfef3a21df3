/**
 * One runner's WebSocket as the gateway (gateway.ts) keeps it: who it is once its hello was taken,
 * the units it holds, its liveness, and how messages reach it. `send` completes an `assign` with its
 * builder's secrets and env (secrets.ts) and the unit's own credential (unitTokens.ts). While a burst
 * of its frames is stored (`held` set by the gateway) what is sent to it waits, and is sent only once
 * that transaction committed. `cork` holds the socket's writes to the end of the tick (a burst being
 * read), `sendMany` writes several messages at once (a dispatch's assigns).
 */
import type { WebSocket } from 'ws';
import type { Duplex } from 'node:stream';
import type { Labels, ServerMessage, parseRunnerMessage } from '../protocol.js';
import type { RunnerLink } from './registry.js';
import type { BuilderSecrets } from './secrets.js';
import type { UnitTokens } from './unitTokens.js';
import { monotonicMs } from './liveness.js';

/** A frame from a runner, as protocol.ts parses it. */
export type RunnerMessage = ReturnType<typeof parseRunnerMessage>;

export class Connection implements RunnerLink {
  runnerId = 0;
  name = '';
  instance: string | null = null;
  slots = 0;
  labels: Labels = {};
  readonly units = new Set<number>();
  /** Units told to retry: told again, at once, when storage is back. */
  readonly waiting = new Set<number>();
  lastSeen = monotonicMs();
  pingedAt = 0;
  /** Frames of the current burst, stored together at the end of this tick (RunnerGateway.flush). */
  pending: RunnerMessage[] = [];
  flushQueued = false;
  /** While a burst's transaction is open: its answers, sent once it committed (dropped if it rolled back). */
  held: ServerMessage[] | null = null;
  /** Run at the end of a tick in which the socket was corked, before it is uncorked (the gateway stores the burst). */
  beforeUncork: () => void = () => undefined;
  private corked = false;
  constructor(readonly ws: WebSocket, private readonly socket: Duplex, readonly address: string | null,
    private readonly secrets: BuilderSecrets, private readonly unitTokens: UnitTokens) {}
  /** Holds what is written to the socket until the end of this tick (a burst being read): what is sent meanwhile leaves in one write. */
  cork(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(() => { this.beforeUncork(); this.corked = false; this.socket.uncork(); });
  }
  ping(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.ping();
  }
  sendMany(messages: readonly ServerMessage[]): void {
    this.socket.cork();
    try {
      for (const m of messages) this.send(m);
    } finally {
      this.socket.uncork();
    }
  }
  send(message: ServerMessage): void {
    if (this.held) return void this.held.push(message);
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (message.type !== 'assign') return this.ws.send(JSON.stringify(message));
    const unitToken = this.unitTokens.issue(message.unit, this.runnerId, message.repo.name);
    this.ws.send(JSON.stringify({ ...this.secrets.completeAssign(message), unitToken }));
  }
}
