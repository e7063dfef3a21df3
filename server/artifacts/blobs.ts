/**
 * The artifact blob folder: DATA/artifacts/sha256/ab/cdef… holds each distinct content once.
 * `write` streams a body to a temp file in DATA/artifacts/tmp while hashing it (sha256) and
 * counting it, then renames it to its content address (an identical blob already there is kept
 * and the temp file removed): memory stays flat whatever the size. `sweep` removes blobs no
 * artifact row names any more (retention), except ones younger than SWEEP_GRACE_MS (an upload
 * whose row is not committed yet). Files are 0600 in 0700 folders, like the database.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GgError, fail } from '../errors.js';

export const SWEEP_GRACE_MS = 60 * 60 * 1000; // 1 hour: a blob this young may belong to an upload in flight
const SHA_RE = /^[0-9a-f]{64}$/;

export interface StoredBlob { sha256: string; size: number }

export class Blobs {
  readonly root: string;
  constructor(dataDir: string) { this.root = join(dataDir, 'artifacts'); }

  pathOf(sha256: string): string {
    if (!SHA_RE.test(sha256)) fail('GG_BAD_REQUEST', `"${sha256.slice(0, 80)}" is not a sha256 (64 lowercase hex characters)`);
    return join(this.root, 'sha256', sha256.slice(0, 2), sha256.slice(2));
  }

  /**
   * Streams `body` into the store. `tooBig(bytesSoFar)` is asked as bytes arrive: a message stops
   * the copy and throws it (GG_ARTIFACT_TOO_LARGE). The body must be exactly `expected` bytes when given.
   */
  async write(body: Readable, opts: { expected?: number; tooBig?: (bytes: number) => string | null } = {}): Promise<StoredBlob> {
    const tmpDir = join(this.root, 'tmp');
    await mkdir(tmpDir, { recursive: true, mode: 0o700 });
    const tmp = join(tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        const why = opts.tooBig?.(size) ?? null;
        if (why) return done(new GgError('GG_ARTIFACT_TOO_LARGE', why));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp, { mode: 0o600 }));
      if (opts.expected !== undefined && size !== opts.expected) {
        fail('GG_BAD_BODY', `the body was ${size} bytes but Content-Length said ${opts.expected}: send the whole file again`);
      }
      const sha256 = hash.digest('hex');
      const dest = this.pathOf(sha256);
      await mkdir(join(dest, '..'), { recursive: true, mode: 0o700 });
      await rename(tmp, dest); // same content, same bytes: replacing an existing blob changes nothing
      return { sha256, size };
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** The blob's bytes as a stream; GG_NOT_FOUND when it is missing. */
  async open(sha256: string): Promise<{ stream: ReadStream; size: number }> {
    const file = this.pathOf(sha256);
    const st = await stat(file).catch(() => null);
    if (!st) fail('GG_NOT_FOUND', `the artifact's content (sha256 ${sha256}) is no longer stored: retention removed it, or the data folder was changed`);
    return { stream: createReadStream(file), size: st.size };
  }

  /** Removes blobs `referenced` says no row names (older than SWEEP_GRACE_MS); returns how many. */
  async sweep(referenced: (sha256: string) => boolean, now = Date.now(), graceMs = SWEEP_GRACE_MS): Promise<number> {
    const top = join(this.root, 'sha256');
    let removed = 0;
    for (const prefix of await readdir(top).catch(() => [] as string[])) {
      for (const rest of await readdir(join(top, prefix)).catch(() => [] as string[])) {
        const sha256 = prefix + rest;
        if (!SHA_RE.test(sha256) || referenced(sha256)) continue;
        const file = join(top, prefix, rest);
        const st = await stat(file).catch(() => null);
        if (!st || now - st.mtimeMs < graceMs) continue;
        await rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }
}
