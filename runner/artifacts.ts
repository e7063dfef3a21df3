/**
 * Artifacts on the runner (protocol v4): files a unit made are uploaded when it ends, files of
 * earlier steps are downloaded into the workspace before it starts. Both stream over HTTP with
 * the unit's own credential (assign.unitToken), never through the WebSocket, never buffered.
 *
 * Upload (`uploadArtifacts`, from the runner's own process, outside the sandbox): every file the
 * builder's `artifacts` globs match in the workspace, one `PUT /api/units/:id/artifacts?path=`
 * each with Content-Length. Never anything outside the workspace: a symbolic link is uploaded
 * only when it resolves inside the workspace (a pushed test could link /etc/shadow or the runner's
 * token file into dist/), files under a linked folder only when that folder resolves inside it,
 * and each file is opened O_NOFOLLOW after resolving; every file skipped is named in the unit's
 * log. The first refusal (a size limit: the server says which file, its size, the limit and the
 * key that raises it) stops the upload and is the unit's error.
 *
 * Download (`downloadArtifacts`): each ArtifactRef to its path in the workspace, sha256 checked
 * while it streams (a mismatch removes the file and fails the unit); the path is checked again
 * here, and a folder that resolves outside the workspace (a checked-in link) is refused.
 */
import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import picomatch from 'picomatch';
import { artifactUploadPath, fail, isArtifactPath, type ArtifactRef } from '../server/protocol.js';

export interface ArtifactTransfer {
  /** The greengate server's HTTP URL (the runner's --server). */
  server: string;
  unit: number;
  /** The unit's credential (assign.unitToken). */
  token: string;
  /** A line for the unit's log. */
  log(line: string): void;
}
export interface UploadReport { files: number; bytes: number; skipped: number; error: string | null }

const inside = (root: string, p: string) => p === root || p.startsWith(root + sep);

/** Uploads the workspace files matching `globs`; never throws: a failure is the report's error. */
export async function uploadArtifacts(workspace: string, globs: readonly string[], t: ArtifactTransfer): Promise<UploadReport> {
  const report: UploadReport = { files: 0, bytes: 0, skipped: 0, error: null };
  try {
    const root = await realpath(workspace);
    const matched = await matching(workspace, globs);
    for (const rel of matched) {
      const skip = (why: string) => { report.skipped++; t.log(`[greengate] artifact ${rel} not uploaded: ${why}`); };
      if (!isArtifactPath(rel)) { skip('its name has a backslash or a control character'); continue; }
      const folder = await realpath(dirname(join(workspace, rel))).catch(() => null);
      if (folder === null || !inside(root, folder)) { skip('it is reached through a link to a folder outside the workspace'); continue; }
      let file = join(folder, rel.split('/').pop()!);
      const st = await lstat(file).catch(() => null);
      if (st === null) { skip('it is gone'); continue; }
      if (st.isSymbolicLink()) {
        const target = await realpath(file).catch(() => null);
        if (target === null) { skip('it is a broken symbolic link'); continue; }
        if (!inside(root, target)) { skip('it is a symbolic link to a file outside the workspace'); continue; }
        if (!(await lstat(target)).isFile()) { skip('it is a symbolic link to a folder (list the files inside it instead)'); continue; }
        file = target;
      }
      const fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => null);
      if (fh === null) { skip('it cannot be opened'); continue; }
      try {
        const fst = await fh.stat();
        if (!fst.isFile()) { skip('it is not a regular file'); continue; }
        const size = fst.size;
        await put(t, rel, size, createReadStream('', { fd: fh, autoClose: false, start: 0, ...(size > 0 ? { end: size - 1 } : {}) }));
        report.files++;
        report.bytes += size;
      } finally {
        await fh.close().catch(() => undefined);
      }
    }
    t.log(`[greengate] artifacts: ${report.files} file(s), ${report.bytes} bytes uploaded${report.skipped ? `, ${report.skipped} skipped` : ''}`);
  } catch (err) {
    report.error = `artifact upload failed: ${(err as Error).message}`.slice(0, 4000);
  }
  return report;
}

/**
 * The workspace paths (files and symbolic links, never followed; nothing under .git) that
 * `globs` match (picomatch), sorted. Only each glob's static folder is walked.
 */
async function matching(workspace: string, globs: readonly string[]): Promise<string[]> {
  const isMatch = picomatch([...globs], { dot: true });
  const found = new Set<string>();
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(rel ? join(workspace, rel) : workspace, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.name === '.git') continue;
      if (e.isDirectory()) await walk(path);
      else if ((e.isFile() || e.isSymbolicLink()) && isMatch(path)) found.add(path);
    }
  };
  const bases = new Set(globs.map((g) => picomatch.scan(g).base.replace(/\/+$/, '')));
  for (const base of bases) {
    if (base && [...bases].some((b) => b !== base && (b === '' || base.startsWith(`${b}/`)))) continue; // walked from a shorter base
    const st = base ? await lstat(join(workspace, base)).catch(() => null) : null;
    if (base && st && !st.isDirectory()) { if (isMatch(base)) found.add(base); continue; } // a plain path, or a link (checked by the caller)
    await walk(base);
  }
  return [...found].sort();
}

/** One PUT; resolves on 201, throws GG_ARTIFACT_TRANSFER with the server's message otherwise. */
function put(t: ArtifactTransfer, path: string, size: number, body: Readable): Promise<void> {
  const url = new URL(artifactUploadPath(t.unit, path), t.server);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<void>((resolve, reject) => {
    let answered = false;
    let continued = false;
    const req = send(url, {
      method: 'PUT',
      // Expect: 100-continue — the body is sent only once the server has checked the token, the path and the
      // size limits; a refusal (401, 400, 413) answers before any byte of it, so its message always arrives.
      headers: { authorization: `Bearer ${t.token}`, 'content-length': String(size), 'content-type': 'application/octet-stream',
        expect: '100-continue' },
    }, (res: IncomingMessage) => {
      answered = true;
      if (!continued) body.destroy(); // refused before the body: nothing of it is read
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { if (text.length < 8192) text += d; });
      res.on('end', () => {
        if (res.statusCode === 201) return resolve();
        let message = text.slice(0, 1000);
        try { message = (JSON.parse(text) as { error: { message: string } }).error.message; } catch { /* not our JSON */ }
        reject(new Error(`${path}: the server answered ${res.statusCode}: ${message}`));
      });
      res.on('error', reject);
    });
    // A server that refuses while the body is being sent answers before it reads it all: its answer wins.
    req.on('error', (err) => { if (!answered) setTimeout(() => { if (!answered) reject(new Error(`${path}: ${err.message}`)); }, 200).unref(); });
    body.on('error', (err) => req.destroy(err));
    req.on('continue', () => { continued = true; body.pipe(req); });
  }).catch((err: Error) => fail('GG_ARTIFACT_TRANSFER', err.message));
}

/** Downloads `refs` into the workspace at their paths, each sha256 checked; throws GG_ARTIFACT_TRANSFER naming the file. */
export async function downloadArtifacts(workspace: string, refs: readonly ArtifactRef[], t: ArtifactTransfer): Promise<number> {
  if (refs.length === 0) return 0;
  const root = await realpath(workspace);
  let bytes = 0;
  for (const ref of refs) {
    if (!isArtifactPath(ref.path)) fail('GG_ARTIFACT_TRANSFER', `artifact path "${ref.path.slice(0, 200)}" is not inside the workspace: not downloaded`);
    const dest = join(workspace, ref.path);
    await mkdir(dirname(dest), { recursive: true });
    const folder = await realpath(dirname(dest));
    if (!inside(root, folder)) fail('GG_ARTIFACT_TRANSFER', `artifact ${ref.path}: its folder is a link out of the workspace: not downloaded`);
    const file = join(folder, ref.path.split('/').pop()!);
    await rm(file, { force: true, recursive: true }); // a checked-in file or link of that name is replaced, never written through
    const res = await fetch(new URL(ref.url, t.server), { headers: { authorization: `Bearer ${t.token}` } })
      .catch((err: Error) => fail('GG_ARTIFACT_TRANSFER', `artifact ${ref.path}: ${err.message}`));
    if (res.status !== 200 || !res.body) {
      fail('GG_ARTIFACT_TRANSFER', `artifact ${ref.path}: the server answered ${res.status}: ${(await res.text().catch(() => '')).slice(0, 500)}`);
    }
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({ transform(chunk: Buffer, _e, done) { size += chunk.length; hash.update(chunk); done(null, chunk); } });
    await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), count, createWriteStream(file, { flags: 'wx', mode: 0o644 }));
    const sha256 = hash.digest('hex');
    if (sha256 !== ref.sha256 || size !== ref.size) {
      await rm(file, { force: true });
      fail('GG_ARTIFACT_TRANSFER', `artifact ${ref.path}: got ${size} bytes with sha256 ${sha256}, expected ${ref.size} bytes with sha256 ${ref.sha256}: removed`);
    }
    bytes += size;
  }
  t.log(`[greengate] artifacts: ${refs.length} file(s), ${bytes} bytes downloaded from earlier steps`);
  return bytes;
}
