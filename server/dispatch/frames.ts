/**
 * The frames a welcomed runner sends (heartbeat, started, log, finished), as the gateway
 * (gateway.ts) hands them over once parsed and validated (protocol.ts), a burst at a time.
 *
 * The frames of one burst are stored in ONE write transaction, and their answers (ack,
 * ackFinished, refuse) are sent only after it committed; when it fails (a storage fault, a busy
 * database, any error) it rolls back, nothing of it is answered, the runner's units are as before,
 * and the frames are handled again one by one exactly as a single frame is, so a fault is
 * answered as for one frame. A single frame takes that path at once.
 *
 * Alone, a log chunk or `finished` that cannot be stored (storage fault, or the database busy)
 * is not acked: the runner gets `retry` (after RETRY_WHILE_DEGRADED_MS, or at once when storage is
 * back: Connection.waiting; after RETRY_WHILE_BUSY_MS when busy) and keeps it. Heartbeat and
 * `started` writes that fail are skipped. Who may call: only a connection whose hello was taken.
 */
import type { ServerMessage } from '../protocol.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { Store } from '../store/index.js';
import type { ClosingCode } from '../errors.js';
import type { StorageHealth } from '../storageHealth.js';
import type { LogGuard } from './logGuard.js';
import type { Connection, RunnerMessage } from './connection.js';

export const RETRY_WHILE_DEGRADED_MS = 10_000; // runners resend on their own every 10 s; sooner when storage is back
export const RETRY_WHILE_BUSY_MS = 1_000; // 1 second: a lock held by another process is usually short

export class RunnerFrames {
  /** Set while a burst's transaction runs: writes throw instead of being guarded, a finished unit's dispatch waits for the commit. */
  private batch: { finished: boolean } | null = null;
  constructor(
    private readonly store: Store,
    private readonly lifecycle: BuildLifecycle,
    private readonly health: StorageHealth,
    private readonly guard: LogGuard,
    /** A unit's end was recorded (a slot is free): main.ts dispatches. */
    private readonly onFinished: () => void,
    /** What a frame that threw gets (the gateway closes, records a storage fault, or answers internal error). */
    private readonly failed: (conn: Connection, err: unknown) => void,
    /** Closes a runner's socket with the catalogue's close code (the gateway). */
    private readonly refuse: (conn: Connection, error: ClosingCode, reason: string) => void,
  ) {}

  /**
   * Handles the frames of a runner's burst: two or more in ONE transaction with their answers held
   * until it commits; if it throws, it rolled back, nothing was answered, and each frame is handled
   * again alone (its own transaction, storage faults answered with `retry` as always).
   */
  flush(conn: Connection): void {
    conn.flushQueued = false;
    const frames = conn.pending;
    if (frames.length === 0) return;
    conn.pending = [];
    if (frames.length > 1 && this.health.writable && !this.store.inTx()) {
      const units = [...conn.units];
      const batch = { finished: false };
      conn.held = [];
      this.batch = batch;
      let answers: ServerMessage[] | undefined;
      try {
        this.store.tx(() => { for (const msg of frames) this.handle(conn, msg); });
        answers = conn.held;
      } catch {
        conn.units.clear();
        for (const u of units) conn.units.add(u);
      } finally {
        this.batch = null;
        conn.held = null;
      }
      if (answers) {
        for (const m of answers) conn.send(m);
        if (batch.finished) this.onFinished();
        return;
      }
    }
    for (const msg of frames) {
      try {
        this.handle(conn, msg);
      } catch (err) {
        this.failed(conn, err);
      }
    }
  }

  private handle(conn: Connection, msg: RunnerMessage): void {
    switch (msg.type) {
      case 'hello':
        return this.refuse(conn, 'GG_PROTOCOL_ORDER', 'hello was already received on this connection');
      case 'heartbeat':
        if (this.health.writable) this.guarded('heartbeat', () => this.store.runners.touch(conn.runnerId, Date.now()));
        return;
      case 'started':
        if (this.health.writable) this.guarded('unit started', () => this.lifecycle.unitStarted(conn.runnerId, msg.unit, msg.at));
        return;
      case 'log': {
        const held = this.storeFor(conn, msg.unit, 'log', () => this.lifecycle.unitLog(conn.runnerId, msg, Date.now(),
          (chunk, unit) => this.guard.screenChunk(chunk, unit)));
        if (held === true) conn.send({ type: 'ack', unit: msg.unit, seq: msg.seq });
        else if (held === false) conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
        return;
      }
      case 'finished': {
        const had = conn.units.has(msg.unit);
        conn.units.delete(msg.unit);
        const held = this.storeFor(conn, msg.unit, 'finished', () => {
          const unit = this.store.units.get(msg.unit); // read once for the guard and the lifecycle
          return this.lifecycle.unitFinished(conn.runnerId, conn.name, this.guard.checkFinished(msg, conn.runnerId, unit), Date.now(), unit);
        });
        if (held === true) {
          conn.send({ type: 'ackFinished', unit: msg.unit });
          if (this.batch) this.batch.finished = true; // dispatched once the burst committed
          else this.onFinished();
        }
        else if (held === false) conn.send({ type: 'refuse', unit: msg.unit, reason: 'this runner does not hold that unit' });
        else if (had) conn.units.add(msg.unit); // still this runner's until its result is stored
        return;
      }
    }
  }

  /** Runs a store write for a unit; undefined (and a `retry` to the runner) when storage cannot take it. */
  private storeFor(conn: Connection, unit: number, what: string, write: () => boolean): boolean | undefined {
    if (this.batch) return write(); // a fault rolls the burst back; flush handles its frames again one by one
    const stored = this.health.writable ? this.health.guard(what, write) : this.health.holdBack(what);
    if (stored !== undefined) return stored;
    if (this.health.writable) { // the database was busy, not failing: no recovery will be announced
      conn.send({ type: 'retry', unit, afterMs: RETRY_WHILE_BUSY_MS, reason: `the server could not store this ${what}: database busy; keep it` });
      return undefined;
    }
    conn.waiting.add(unit);
    conn.send({ type: 'retry', unit, afterMs: RETRY_WHILE_DEGRADED_MS, reason: `the server could not store this ${what}: storage fault; keep it` });
    return undefined;
  }

  /** A write a failure of which is skipped (heartbeat, started); inside a burst it throws, so the burst is handled again frame by frame. */
  private guarded<T>(what: string, write: () => T): T | undefined {
    return this.batch ? write() : this.health.guard(what, write);
  }
}
