/**
 * Commits' objects from the greengate server in one request: a git protocol-v2 `fetch`
 * POSTed to `<url>/git-upload-pack` (want the commit, have the mirror's newest tips, done), the
 * packfile taken from side band 1. This is what `git fetch` sends after its capability request,
 * without the git and git-remote-http processes around it, so a push reaches a runner's mirror
 * in one round trip. Progress (band 2) is dropped; an error (band 3, an ERR line, a status other
 * than 200) is thrown with the server's words. The pack is held in memory up to MAX_PACK_BYTES;
 * a bigger one is refused here (the caller falls back to `git fetch`).
 *
 * Only for the greengate server's own URLs (it speaks protocol v2 and serves any object by id);
 * a repository's cloneUrl is always fetched by git.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ErrorCode } from '../server/protocol.js';

export const MAX_PACK_BYTES = 64 * 1024 * 1024; // 64 MiB: bigger fetches go through git itself
export const PACK_FETCH_TIMEOUT_MS = 60_000; // 1 minute
export const MAX_HAVES = 32;

export class PackFetchError extends Error {
  readonly code: ErrorCode = 'GG_PACK_FETCH';
}

function pkt(line: string): string {
  return (Buffer.byteLength(line) + 4).toString(16).padStart(4, '0') + line;
}

/** The request body: `command=fetch`, want each of `wants`, have each of `haves`, done. */
export function fetchRequest(wants: string | readonly string[], haves: readonly string[]): string {
  return pkt('command=fetch\n') + pkt('agent=greengate-runner\n') + pkt('object-format=sha1\n') + '0001'
    + pkt('thin-pack\n') + pkt('ofs-delta\n') + pkt('no-progress\n') + [wants].flat().map((w) => pkt(`want ${w}\n`)).join('')
    + haves.slice(0, MAX_HAVES).map((h) => pkt(`have ${h}\n`)).join('') + pkt('done\n') + '0000';
}

/** Takes the packfile out of a v2 fetch response (sections of pkt-lines, the pack on side band 1). */
export function extractPack(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let inPack = false;
  for (let at = 0; at + 4 <= body.length;) {
    const len = Number.parseInt(body.subarray(at, at + 4).toString('latin1'), 16);
    if (!Number.isFinite(len)) throw new PackFetchError('the server\'s answer is not git pkt-lines');
    if (len < 4) { at += 4; if (inPack && len === 0) break; continue; } // flush, delimiter, response-end
    if (at + len > body.length) throw new PackFetchError('the server\'s answer ended inside a pkt-line');
    const payload = body.subarray(at + 4, at + len);
    at += len;
    if (!inPack) {
      const text = payload.toString('utf8');
      if (text.startsWith('ERR ')) throw new PackFetchError(`the server refused the fetch: ${text.slice(4).trim()}`);
      if (text === 'packfile\n') inPack = true;
      continue;
    }
    if (payload[0] === 1) parts.push(payload.subarray(1));
    else if (payload[0] === 3) throw new PackFetchError(`the server failed the fetch: ${payload.subarray(1).toString('utf8').trim()}`);
  }
  const pack = Buffer.concat(parts);
  if (!inPack || pack.length < 12 || pack.subarray(0, 4).toString('latin1') !== 'PACK') {
    throw new PackFetchError('the server\'s answer has no packfile');
  }
  return pack;
}

/** Fetches the objects of `wants` (commit ids) the mirror lacks; `url` is the repository's URL on the server. */
export function fetchPack(url: string, token: string, wants: string | readonly string[], haves: readonly string[]): Promise<Buffer> {
  const target = new URL(`${url}/git-upload-pack`);
  const body = Buffer.from(fetchRequest(wants, haves));
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    // node:http, one write for headers and body, no Nagle delay: a small fetch is one round trip.
    const req = send(target, {
      method: 'POST', agent: false, timeout: PACK_FETCH_TIMEOUT_MS,
      headers: {
        'content-type': 'application/x-git-upload-pack-request', accept: 'application/x-git-upload-pack-result',
        'git-protocol': 'version=2', authorization: `Bearer ${token}`, 'content-length': body.length,
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_PACK_BYTES) { res.destroy(); reject(new PackFetchError('the pack is too big to hold in memory')); } else chunks.push(d);
      });
      res.on('error', reject);
      res.on('end', () => {
        const all = Buffer.concat(chunks);
        if (res.statusCode !== 200) {
          return reject(new PackFetchError(`POST ${target.href} answered ${res.statusCode}: ${all.toString('utf8').slice(0, 300)}`));
        }
        try { resolve(extractPack(all)); } catch (err) { reject(err); }
      });
    });
    req.on('socket', (socket) => socket.setNoDelay(true));
    req.on('timeout', () => req.destroy(new PackFetchError(`no answer from ${target.origin} within ${PACK_FETCH_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The number of objects a pack holds (from its header). */
export function packObjectCount(pack: Buffer): number {
  return pack.readUInt32BE(8);
}
