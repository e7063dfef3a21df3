/**
 * An online copy of the database (better-sqlite3's db.backup(), SQLite's backup API): safe while
 * the server writes, page by page, without stopping it. The copy is written to a temporary file
 * beside the destination (0600), checked (it opens and passes `PRAGMA integrity_check`, and has
 * the schema's migrations), then renamed into place; a failed copy leaves nothing behind, and a
 * finished one leaves FILE alone (no -wal or -shm files: the copy uses a rollback journal).
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { GgError } from '../errors.js';

export interface BackupResult { file: string; bytes: number; migrations: number; builds: number }

export async function backupDatabase(source: string, dest: string): Promise<BackupResult> {
  if (!existsSync(source)) throw new GgError('GG_BACKUP', `no database at ${source} — give the data directory the server uses (--data DIR or --config FILE)`);
  const temp = `${dest}.partial-${process.pid}`;
  const db = new Database(source, { readonly: true, fileMustExist: true });
  try {
    const { totalPages } = await db.backup(temp);
    chmodSync(temp, 0o600);
    // The copy inherits WAL mode from the source: opening it would leave TEMP-wal and TEMP-shm
    // beside FILE. Switched to a rollback journal, it is one self-contained file (the server
    // turns WAL back on when it opens a restored copy).
    const copy = new Database(temp, { fileMustExist: true });
    try {
      copy.pragma('journal_mode = DELETE');
      const check = copy.pragma('integrity_check', { simple: true });
      if (check !== 'ok') throw new GgError('GG_BACKUP', `the copy failed SQLite's integrity check (${String(check)}) — try again; if it repeats, check the disk`);
      const migrations = (copy.prepare('SELECT count(*) AS n FROM schema_migrations').get() as { n: number }).n;
      const builds = (copy.prepare('SELECT count(*) AS n FROM builds').get() as { n: number }).n;
      copy.close();
      renameSync(temp, dest);
      return { file: dest, bytes: totalPages * (db.pragma('page_size', { simple: true }) as number), migrations, builds };
    } finally {
      if (copy.open) copy.close();
    }
  } catch (err) {
    for (const f of [temp, `${temp}-wal`, `${temp}-shm`, `${temp}-journal`]) rmSync(f, { force: true });
    if (err instanceof GgError) throw err;
    throw new GgError('GG_BACKUP', `cannot back up ${source} to ${dest}: ${(err as Error).message}`);
  } finally {
    db.close();
  }
}
