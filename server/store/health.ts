/**
 * Storage faults at the SQLite boundary: which errors mean the disk under the database is at
 * fault (full, failing, read-only) rather than the request, and a probe write that tells
 * whether the database can be written again.
 *
 * better-sqlite3 throws SqliteError with `code` = the extended result code name
 * (SQLITE_FULL, SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, …). A failed statement or
 * transaction is rolled back by SQLite, so after a fault nothing half-written remains.
 */
import type { DB } from './db.js';

export type StorageFaultKind = 'full' | 'io';

export interface StorageFault {
  kind: StorageFaultKind;
  /** The SQLite result code name, e.g. SQLITE_FULL. */
  sqliteCode: string;
  message: string;
}

/**
 * True when the database was locked by another connection (SQLITE_BUSY, SQLITE_LOCKED and their
 * extended codes) for longer than the busy timeout (db.ts): nothing is wrong with the disk, the
 * write was not made and may be tried again.
 */
export function isBusy(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/** The storage fault an error stands for, or null when it is not one. */
export function storageFaultOf(err: unknown): StorageFault | null {
  if (!(err instanceof Error)) return null;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return null;
  if (code === 'SQLITE_FULL') return { kind: 'full', sqliteCode: code, message: err.message };
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_CANTOPEN')) {
    return { kind: 'io', sqliteCode: code, message: err.message };
  }
  return null;
}

/**
 * Commits one small write (the header's user_version, set to the value it has) and throws the
 * SQLite error when the database cannot be written. Changes nothing anyone reads.
 */
export function probeWrite(db: DB): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  db.pragma(`user_version = ${Math.trunc(version)}`);
}

export const BUSY_RETRY_FIRST_MS = 50; // the first wait after a busy database; doubled each time
export const BUSY_RETRY_MAX_MS = 2_000; // 2 seconds between tries at most

/**
 * Runs fn until it does not fail for a busy database, waiting between tries off the event loop
 * (timers: 50 ms, doubled up to 2 s). Gives fn's result, or throws its other error, or the busy
 * error once `deadlineMs` has passed (default: keep trying) or `stop()` says so.
 */
export async function retryWhileBusy<T>(fn: () => T | Promise<T>,
  opts: { deadlineMs?: number; stop?: () => boolean } = {}): Promise<T> {
  const start = performance.now();
  for (let wait = BUSY_RETRY_FIRST_MS; ; wait = Math.min(wait * 2, BUSY_RETRY_MAX_MS)) {
    try {
      return await fn();
    } catch (err) {
      const late = opts.deadlineMs !== undefined && performance.now() - start + wait > opts.deadlineMs;
      if (!isBusy(err) || late || opts.stop?.()) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, wait).unref());
  }
}
