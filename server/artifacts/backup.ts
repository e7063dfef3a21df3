/**
 * The artifact blobs' part of `greengate backup FILE` (cli/backup.ts): DATA/artifacts/sha256/…
 * copied to FILE.artifacts/sha256/… (files 0600, folders 0700), after the database copy, so every
 * artifact the copy names is there (unless retention removed its blob in between; blobs uploaded
 * since are extra and harmless). Uploads in flight (DATA/artifacts/tmp) and anything that is not a
 * content-addressed blob are left out. Safe while the server runs: a blob never changes once it has
 * its name. The copy is made in FILE.artifacts.partial-PID and renamed into place (an older copy of
 * that name is replaced); a failed copy leaves nothing behind. Without DATA/artifacts/sha256 it
 * makes nothing. Errors: GG_BACKUP naming the folder and the cause.
 */
import { chmod, constants, copyFile, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { GgError } from '../errors.js';

const PREFIX_RE = /^[0-9a-f]{2}$/;
const REST_RE = /^[0-9a-f]{62}$/;

export interface BlobsBackup { dir: string; files: number; bytes: number }

/** Where `greengate backup FILE` puts the artifacts: beside FILE. */
export function artifactsBackupDir(dest: string): string {
  return `${dest}.artifacts`;
}

/** Copies the data directory's artifact blobs beside `dest`; null when there are none to copy (no folder). */
export async function backupBlobs(dataDir: string, dest: string): Promise<BlobsBackup | null> {
  const source = join(dataDir, 'artifacts', 'sha256');
  if (!(await stat(source).catch(() => null))?.isDirectory()) return null;
  const dir = artifactsBackupDir(dest);
  const temp = `${dir}.partial-${process.pid}`;
  let files = 0;
  let bytes = 0;
  try {
    await rm(temp, { recursive: true, force: true });
    await mkdir(join(temp, 'sha256'), { recursive: true, mode: 0o700 });
    for (const prefix of (await readdir(source)).filter((p) => PREFIX_RE.test(p)).sort()) {
      const rests = (await readdir(join(source, prefix)).catch(() => [] as string[])).filter((r) => REST_RE.test(r));
      if (rests.length === 0) continue;
      await mkdir(join(temp, 'sha256', prefix), { mode: 0o700 });
      for (const rest of rests) {
        const from = join(source, prefix, rest);
        const to = join(temp, 'sha256', prefix, rest);
        try {
          await copyFile(from, to, constants.COPYFILE_FICLONE); // a reflink where the file system has them, else a copy
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed by retention meanwhile
          throw err;
        }
        await chmod(to, 0o600);
        files++;
        bytes += (await stat(to)).size;
      }
    }
    await rm(dir, { recursive: true, force: true });
    await rename(temp, dir);
    return { dir, files, bytes };
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    throw new GgError('GG_BACKUP', `cannot copy the artifacts of ${dataDir} to ${dir}: ${(err as Error).message} — free space there, or pass --no-artifacts and copy ${join(dataDir, 'artifacts')} yourself`);
  }
}
