/**
 * `greengate backup FILE [--config greengate.yml | --data DIR]`: an online copy of the server's
 * database (store/backup.ts), safe while the server runs. The data directory comes from --data,
 * else from the configuration's `data:` alone (config/dataDir.ts: no tokens, no other key is read,
 * so the service user runs it without the server's environment). Then DATA/artifacts' blobs are
 * copied to FILE.artifacts/ (artifacts/backup.ts), unless `artifacts` is false (--no-artifacts).
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from './usage.js';

export async function runBackup(opts: { dest: string; config?: string; data?: string; artifacts?: boolean }): Promise<void> {
  let data = opts.data ? resolve(opts.data) : undefined;
  if (!data) {
    const file = resolve(opts.config ?? 'greengate.yml');
    if (!existsSync(file)) throw new UsageError(`backup: no configuration at ${file}: pass --config FILE or --data DIR`);
    const { loadDataDir } = await import('../config/dataDir.js');
    data = loadDataDir(file);
  }
  const { backupDatabase } = await import('../store/backup.js');
  const r = await backupDatabase(join(data, 'greengate.db'), opts.dest);
  process.stdout.write(`backed up ${join(data, 'greengate.db')} to ${r.file}: ${r.bytes} bytes, ${r.builds} builds, ` +
    `${r.migrations} migrations; checked: it opens and passes the integrity check\n`);
  if (opts.artifacts === false) return;
  const { backupBlobs } = await import('../artifacts/backup.js');
  const a = await backupBlobs(data, r.file);
  if (a) process.stdout.write(`artifacts: ${a.files} file${a.files === 1 ? '' : 's'}, ${a.bytes} bytes, copied to ${a.dir}\n`);
}
