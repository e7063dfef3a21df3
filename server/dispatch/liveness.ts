/**
 * Which runner connections are lost, judged by when their bytes ARRIVED (the gateway stamps
 * `lastSeen` on every socket read, ping and pong), never by when their messages were handled.
 *
 * Every checkEveryMs: a connection silent for pingAfterMs (2/3 of lostAfterMs) is pinged once; one
 * silent for lostAfterMs whose ping has gone unanswered for the rest (1/3) is dropped. Two guards
 * keep a busy server from dropping runners whose frames wait unread in its sockets:
 * - the verdict is taken in setImmediate, after the event loop's next poll for input, so bytes
 *   that were waiting while the check's timer fired have stamped lastSeen by then;
 * - a check that comes late (the loop was blocked for over 2 × checkEveryMs) pings but drops
 *   nobody: the loop must have been reading sockets normally for one round first.
 * Every time here is on a monotonic clock (`monotonicMs`, performance.now): a wall-clock step
 * (NTP, an operator's `date -s`) neither hides a frozen runner nor drops a live one.
 */
import { LOST_AFTER_MS } from '../protocol.js';

export const LIVENESS_CHECK_MS = 1_000; // 1 second between checks at most

/** Milliseconds on a clock that only moves forward (not the wall clock): stamp `lastSeen` and `pingedAt` with it. */
export function monotonicMs(): number {
  return performance.now();
}

export interface Watched {
  /** 0 until the runner's hello was accepted: only welcomed runners are judged. */
  runnerId: number;
  /** When bytes last arrived from it (monotonicMs). */
  lastSeen: number;
  /** When it was last pinged for being silent (monotonicMs, 0: never). */
  pingedAt: number;
  /** Sends a WebSocket ping (a live peer answers with a pong). */
  ping(): void;
}

export class Liveness<T extends Watched> {
  readonly lostAfterMs: number;
  readonly pingAfterMs: number;
  readonly checkEveryMs: number;
  private lastCheckAt = monotonicMs();

  constructor(private readonly drop: (conn: T, silentMs: number) => void, lostAfterMs: number = LOST_AFTER_MS) {
    if (!(lostAfterMs > 0)) throw new RangeError(`lostAfterMs must be a positive number of milliseconds, got ${lostAfterMs}`);
    this.lostAfterMs = lostAfterMs;
    this.pingAfterMs = Math.round((lostAfterMs * 2) / 3);
    this.checkEveryMs = Math.max(1, Math.min(LIVENESS_CHECK_MS, Math.round(lostAfterMs / 6)));
  }

  /** One round over the connections (call every checkEveryMs); drops happen after the next poll for input. */
  check(conns: Iterable<T>, now = monotonicMs()): void {
    const late = now - this.lastCheckAt > 2 * this.checkEveryMs;
    this.lastCheckAt = now;
    const suspects: T[] = [];
    for (const c of conns) {
      if (!c.runnerId) continue;
      const silentMs = now - c.lastSeen;
      if (silentMs >= this.pingAfterMs && c.pingedAt <= c.lastSeen) {
        c.pingedAt = now;
        c.ping();
      }
      if (silentMs > this.lostAfterMs && !late) suspects.push(c);
    }
    if (suspects.length) setImmediate(() => this.judge(suspects, monotonicMs()));
  }

  private judge(suspects: T[], now: number): void {
    const pongWaitMs = this.lostAfterMs - this.pingAfterMs;
    for (const c of suspects) {
      if (now - c.lastSeen <= this.lostAfterMs) continue; // bytes arrived meanwhile
      if (c.pingedAt <= c.lastSeen || now - c.pingedAt < pongWaitMs) continue; // its ping is not overdue yet
      this.drop(c, now - c.lastSeen);
    }
  }
}
