/**
 * Opens the SQLite database and applies migrations/NNN_name.sql in order, each once, each in
 * its own transaction, recording them in schema_migrations. A migration file that was applied
 * and then changed is an error: landed migrations never change, new ones are added.
 * better-sqlite3 is synchronous: never await inside a transaction.
 *
 * The server's connection (main.ts) waits at most BUSY_TIMEOUT_MS for another connection's lock
 * (another process holding a write transaction): better-sqlite3 waits on the event loop's
 * thread, so a long busy timeout would stall every socket. After that the write throws
 * SQLITE_BUSY (store/health.ts `isBusy`): HTTP answers 503 GG_STORAGE_BUSY, runners are asked to
 * resend, background work is retried later (storageHealth.ts). Opening and migrating, before
 * anything is served, and tools that serve nothing (backup, tests) wait up to OPEN_BUSY_TIMEOUT_MS.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgError } from '../errors.js';

export type DB = Database.Database;

export const BUSY_TIMEOUT_MS = 5; // 5 ms at most on the event loop per write, while another process holds the lock
export const OPEN_BUSY_TIMEOUT_MS = 5_000; // 5 seconds while opening and migrating (nothing is served yet), and for tools

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../../migrations/', import.meta.url));

export function openDatabase(file: string, migrationsDir = MIGRATIONS_DIR, busyTimeoutMs = OPEN_BUSY_TIMEOUT_MS): DB {
  if (file !== ':memory:') protectFiles(file);
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
  db.pragma('cache_size = -8000'); // 8 MB page cache
  migrate(db, migrationsDir);
  db.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  return db;
}

/**
 * Builds and logs are private: the data directory is created 0700 and the database 0600 (SQLite
 * gives -wal and -shm the database file's mode). Files and a directory of ours from older
 * versions are tightened; a directory that is not ours or is sticky (/tmp) is left as it is.
 */
export function protectFiles(file: string): void {
  const dir = dirname(file);
  const mine = (path: string) => { const st = statSync(path); return process.getuid === undefined || st.uid === process.getuid(); };
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } else if (mine(dir) && (statSync(dir).mode & 0o1077) !== 0 && (statSync(dir).mode & 0o1000) === 0) {
    chmodSync(dir, 0o700);
  }
  if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    if (existsSync(f) && mine(f)) chmodSync(f, 0o600);
  }
}

export function migrate(db: DB, dir: string): string[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, sha256 TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Map(
    (db.prepare('SELECT version, name, sha256 FROM schema_migrations').all() as { version: number; name: string; sha256: string }[])
      .map((r) => [r.version, r]),
  );
  const files = readdirSync(dir).filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const ran: string[] = [];
  for (const name of files) {
    const version = Number(name.slice(0, 3));
    const sql = readFileSync(join(dir, name), 'utf8');
    const sha256 = createHash('sha256').update(sql).digest('hex');
    const done = applied.get(version);
    if (done) {
      if (done.sha256 !== sha256) {
        throw new GgError('GG_MIGRATION_CHANGED',
          `migration ${name} was changed after it was applied; landed migrations never change — put the change in a new file`);
      }
      continue;
    }
    db.transaction(() => {
      db.exec(sql);
      db.prepare('INSERT INTO schema_migrations (version, name, sha256, applied_at) VALUES (?, ?, ?, ?)')
        .run(version, name, sha256, Date.now());
    })();
    ran.push(name);
  }
  return ran;
}
