/**
 * Storage health: whether the server can write its database right now.
 *
 * Lifecycle: `ok` → a write fails with a storage fault (disk full, I/O error, read-only file;
 * see store/health.ts) and whoever caught it calls `record` → `degraded` → a probe every
 * PROBE_MS (the data disk has RESUME_FREE_BYTES free, and a small write commits) → `ok`, and
 * the `recovered` listeners run (main.ts resumes what was held back).
 *
 * While degraded, writers hold back instead of failing half-way: the runner gateway answers
 * `retry` (runners keep their log chunks and results), HTTP writes answer 503 with `refusal()`,
 * pages show `banner()`, /healthz says degraded. Reads go on. Nothing here throws out of a timer.
 * The data directory's path goes to the log only; callers get what happened and what to do.
 *
 * A busy database (another process holds its write lock past the busy timeout; store/db.ts) is
 * not a fault: `record` says hold back (true) but the state stays `ok` and nothing is probed.
 * The write is simply not made: HTTP answers 503 GG_STORAGE_BUSY (`toGgError`), the gateway
 * asks the runner to resend soon, a heartbeat goes unstored (the runner stays connected: its
 * liveness is judged by arriving bytes), background work tries again on its next round.
 */
import { EventEmitter } from 'node:events';
import { statfsSync } from 'node:fs';
import type { Logger } from 'pino';
import { GgError } from './errors.js';
import { maskUrls } from './urlMask.js';
import type { Store } from './store/index.js';
import { isBusy, probeWrite, storageFaultOf, type StorageFault, type StorageFaultKind } from './store/health.js';

export const PROBE_MS = 1000; // 1 second between probes while degraded
export const RESUME_FREE_BYTES = 1024 * 1024; // 1 MiB free on the data disk before writes resume
export const BUSY_LOG_MS = 5_000; // a busy database is logged at most every 5 seconds

interface HealthEvents {
  fault: [kind: StorageFaultKind, where: string];
  busy: [where: string];
  refused: [what: string];
  recovered: [];
}

interface CurrentFault extends StorageFault { since: number; where: string }

export class StorageHealth extends EventEmitter<HealthEvents> {
  private fault: CurrentFault | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private busyLoggedAt = -Infinity;

  constructor(private readonly store: Store, private readonly dataDir: string, private readonly log: Logger,
    private readonly probeMs = PROBE_MS) {
    super();
  }

  get writable(): boolean {
    return this.fault === null;
  }

  /** Records `err` when it is a storage fault or a busy database (then true: the caller holds back); false for any other error. */
  record(err: unknown, where: string): boolean {
    if (isBusy(err)) {
      this.emit('busy', where);
      if (performance.now() - this.busyLoggedAt >= BUSY_LOG_MS) {
        this.busyLoggedAt = performance.now();
        this.log.warn({ where, code: (err as { code?: string }).code },
          'database busy: another process holds its write lock; writes are refused (503) or tried again until it lets go');
      }
      return true;
    }
    const fault = refineFault(storageFaultOf(err), this.dataDir);
    if (!fault) return false;
    if (!this.fault) {
      this.fault = { ...fault, since: Date.now(), where };
      this.log.error({ code: fault.sqliteCode, where, data: this.dataDir, err: fault.message },
        fault.kind === 'full'
          ? 'storage full: the data directory\'s disk has no space; writes are held back until space is freed'
          : 'storage error: the database cannot be written; writes are held back until a probe write succeeds');
      this.startProbing();
    } else {
      this.fault = { ...this.fault, kind: fault.kind, sqliteCode: fault.sqliteCode, message: fault.message };
      this.log.debug({ code: fault.sqliteCode, where }, 'storage still failing');
    }
    this.emit('fault', fault.kind, where);
    return true;
  }

  /** A storage fault as the catalogued error for a caller (recorded); null for any other error. */
  toGgError(err: unknown, where: string): GgError | null {
    if (!this.record(err, where)) return null;
    return isBusy(err) ? busyError() : this.describe();
  }

  /** Counts a write not attempted because storage is degraded; gives undefined, like a guarded write that failed. */
  holdBack(what: string): undefined {
    this.emit('refused', what);
    return undefined;
  }

  /** The error for a write held back while degraded: what happened, that nothing is lost, what to do. */
  refusal(what: string): GgError {
    this.holdBack(what);
    return this.describe();
  }

  private describe(): GgError {
    const f = this.fault;
    if (f?.kind === 'full') {
      return new GgError('GG_STORAGE_FULL', `the disk of the server's data directory is full (${f.sqliteCode}): this request was not `
        + 'stored, and nothing stored before is lost. Free space on that disk (the server\'s log names it); the server resumes '
        + 'by itself within seconds, then send this again.');
    }
    return new GgError('GG_STORAGE_IO', `the server cannot write its database (${f?.sqliteCode ?? 'SQLITE_IOERR'}): this request `
      + 'was not stored, and nothing stored before is lost. Check the data directory\'s disk and the database file\'s '
      + 'permissions (the server\'s log names them); the server resumes by itself once a write succeeds, then send this again.');
  }

  /** Runs fn; a storage fault is recorded and gives undefined, any other error is thrown on. */
  guard<T>(where: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      if (this.record(err, where)) return undefined;
      throw err;
    }
  }

  /** For pages: null while healthy. */
  banner(): { kind: StorageFaultKind; since: number; message: string } | null {
    const f = this.fault;
    if (!f) return null;
    const what = f.kind === 'full' ? 'the disk of the server\'s data directory is full' : `the server cannot write its database (${f.sqliteCode})`;
    return {
      kind: f.kind, since: f.since,
      message: `Storage problem: ${what}. Runners keep their logs and results until they can be stored, so nothing is lost; `
        + 'new pushes are not taken in and admin changes are refused until it is fixed. The server resumes by itself.',
    };
  }

  /** For /healthz. */
  status(): { state: 'ok' } | { state: 'degraded'; kind: StorageFaultKind; code: string; since: number } {
    const f = this.fault;
    return f ? { state: 'degraded', kind: f.kind, code: f.sqliteCode, since: f.since } : { state: 'ok' };
  }

  /** One probe now; true when writes work again. */
  probe(): boolean {
    const f = this.fault;
    if (!f) return true;
    try {
      if (f.kind === 'full' && freeBytes(this.dataDir) < RESUME_FREE_BYTES) return false;
      probeWrite(this.store.db);
    } catch (err) {
      if (!this.record(err, 'probe')) this.log.warn({ err }, 'storage probe failed');
      return false;
    }
    this.fault = null;
    this.stopProbing();
    this.log.warn({ downMs: Date.now() - f.since, code: f.sqliteCode }, 'storage writable again: resuming');
    for (const listener of this.listeners('recovered')) {
      try {
        listener();
      } catch (err) {
        if (!this.record(err, 'resume')) this.log.error({ err }, 'resuming after a storage fault failed');
      }
    }
    return this.writable;
  }

  close(): void {
    this.closed = true;
    this.stopProbing();
  }

  private startProbing(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.probe(), this.probeMs);
    this.timer.unref();
  }

  private stopProbing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function busyError(): GgError {
  return new GgError('GG_STORAGE_BUSY', 'another process holds the server\'s database write lock (SQLITE_BUSY): this request was not '
    + 'stored, and nothing stored before is lost. Send it again in a moment; if this lasts, find what else opened the '
    + 'database (a backup, a sqlite3 shell) and end it.');
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** An I/O error on a disk with no space left (SQLite reports some as IOERR_SHMSIZE, IOERR_WRITE) is a full disk. */
export function refineFault(fault: StorageFault | null, dataDir: string): StorageFault | null {
  if (!fault || fault.kind === 'full') return fault;
  try {
    return freeBytes(dataDir) === 0 ? { ...fault, kind: 'full' } : fault;
  } catch {
    return fault;
  }
}

/**
 * For the `greengate` process: a storage fault thrown from a timer, an event handler or a
 * promise nobody awaited is recorded and logged instead of ending the server; any other
 * uncaught error still ends it (exit 1) after logging. Returns the uninstaller.
 */
export function installProcessGuard(health: StorageHealth, log: Logger): () => void {
  const onError = (err: unknown) => {
    if (health.record(err, 'background task')) return;
    log.fatal({ err }, 'uncaught error: the server stops');
    process.stderr.write(`greengate: uncaught error: ${maskUrls(err instanceof Error ? err.stack ?? err.message : String(err))}\n`);
    process.exit(1);
  };
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  return () => {
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  };
}
