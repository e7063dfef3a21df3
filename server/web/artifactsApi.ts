/**
 * Artifacts over HTTP (issue 23 item 2).
 *
 * - `PUT /api/units/:id/artifacts?path=P` — a runner uploads one file a unit made. Who may call:
 *   only the holder of that unit's credential (the assign's `unitToken`, dispatch/unitTokens.ts),
 *   and only while SQLite says the unit runs on the runner it was issued to (the runner uploads
 *   before it reports `finished`). No token, a wrong one, another unit's, or one of a unit that
 *   has ended: 401 GG_ARTIFACT_UNAUTHORIZED. The runner token itself is refused too: a credential
 *   names one unit. Credentials live in memory: for a running unit assigned before this server
 *   process started, the 401 says the server restarted (the unit fails that attempt; a first one
 *   is tried again with a new credential). Body: the file's bytes with Content-Length (411 without); P must be a
 *   normalized workspace-relative path (400 GG_ARTIFACT_PATH). Over `artifactLimits` (a file over
 *   maxFileBytes, or the build's artifacts over maxBuildBytes): 413 GG_ARTIFACT_TOO_LARGE naming
 *   the file, its size, the limit and the key that raises it, before a byte of the body is read.
 *   The body is streamed to a temp file while hashed, then stored content-addressed
 *   (artifacts/blobs.ts); memory stays flat. Answers 201 with the artifact as the list shows it.
 * - `GET /api/builds/:id/artifacts` → `[{ id, step, path, size, sha256, url }]`; `url` is
 *   `GET /api/artifacts/:id/download`: the file (Content-Length, application/octet-stream,
 *   Content-Disposition attachment). Who may call: everyone, like builds and their logs (api.ts).
 */
import express, { type Request, type Response, type Router } from 'express';
import { basename } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { artifactLimitsOf } from '../config/artifacts.js';
import type { Store } from '../store/index.js';
import type { ArtifactRow } from '../store/artifacts.js';
import { fail } from '../errors.js';
import { isArtifactPath } from '../protocol.js';
import type { Blobs } from '../artifacts/blobs.js';
import { artifactDownloadPath, stepOfUnit } from '../artifacts/handoff.js';
import { tokenFrom } from './gitHttp.js';
import { getBuild, parseOrThrow } from './api.js';

export interface ArtifactsApiDeps {
  store: Pick<Store, 'artifacts' | 'builds' | 'units' | 'tx'>;
  config: Pick<Config, 'artifactLimits'>;
  blobs: Blobs;
  baseUrl(): string;
  /** Unit credentials (dispatch/unitTokens.ts): the unit a token names while it runs, else null; `since`: this process's start. */
  unitTokens: { runningUnit(token: string): number | null; readonly since?: number };
}

/** The upload route's path: its body is streamed to the blob store under its own limits, not bodyLimit.ts's. */
export const ARTIFACT_UPLOAD_RE = /^\/api\/units\/\d+\/artifacts$/;
const MB = 1024 * 1024;
const human = (n: number) => (n >= MB ? `${(n / MB).toFixed(1)} MiB` : `${n} bytes`);

/** An artifact as the API lists it. */
export function artifactJson(baseUrl: string, a: ArtifactRow) {
  return { id: a.id, step: a.step, path: a.path, size: a.size, sha256: a.sha256, url: `${baseUrl}${artifactDownloadPath(a.id)}` };
}

export function artifactsRouter(deps: ArtifactsApiDeps): Router {
  const { store } = deps;
  const r = express.Router();

  r.put('/units/:id/artifacts', async (req: Request, res: Response) => {
    const unitId = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'unit id');
    const holder = deps.unitTokens.runningUnit(tokenFrom(req.get('authorization')));
    if (holder === null || holder !== unitId) {
      res.set('connection', 'close');
      const unit = store.units.get(unitId);
      if (unit?.state === 'running' && unit.assignedAt !== null && deps.unitTokens.since !== undefined && unit.assignedAt < deps.unitTokens.since) {
        fail('GG_ARTIFACT_UNAUTHORIZED', `unit ${unitId} was assigned before this server restarted: its credential (the assign's unitToken) ` +
          'was issued by the earlier server process, and unit credentials are kept in memory only, so no upload of it is accepted now — ' +
          'the unit fails this attempt, and a first attempt is tried again with a new credential');
      }
      fail('GG_ARTIFACT_UNAUTHORIZED', `uploading an artifact of unit ${unitId} needs that unit's own credential (the unitToken of its assign) ` +
        'while the unit runs: send "Authorization: Bearer <unitToken>" from the runner that holds the unit');
    }
    const path = typeof req.query.path === 'string' ? req.query.path : '';
    if (!isArtifactPath(path)) {
      res.set('connection', 'close');
      fail('GG_ARTIFACT_PATH', `artifact path "${path.slice(0, 200)}" is not a normalized path inside the workspace: ` +
        'give ?path= relative to the workspace, without a leading "/", "..", ".", "//", ".git" or a backslash, e.g. ?path=dist/app.js');
    }
    const header = req.get('content-length');
    if (header === undefined || !/^\d+$/.test(header)) {
      res.set('connection', 'close');
      fail('GG_ARTIFACT_LENGTH_REQUIRED', `uploading ${path} needs a Content-Length header with the file's size in bytes`);
    }
    const size = Number(header);
    const unit = store.units.get(unitId)!;
    const build = store.builds.get(unit.buildId)!;
    const overLimit = (bytes: number): string | null => {
      const limits = artifactLimitsOf(deps.config);
      if (bytes > limits.maxFileBytes) {
        return `artifact ${path} is ${human(bytes)} (${bytes} bytes), over artifactLimits.maxFileBytes (${limits.maxFileBytes} bytes): ` +
          'raise artifactLimits.maxFileBytes in greengate.yml, or narrow the builder\'s artifacts globs';
      }
      const others = store.artifacts.buildBytes(build.id, { unitId, path });
      if (others + bytes > limits.maxBuildBytes) {
        return `artifact ${path} (${bytes} bytes) would bring build ${build.id}'s artifacts to ${others + bytes} bytes, over ` +
          `artifactLimits.maxBuildBytes (${limits.maxBuildBytes} bytes): raise artifactLimits.maxBuildBytes in greengate.yml, or upload fewer files`;
      }
      return null;
    };
    const early = overLimit(size);
    if (early) {
      res.set('connection', 'close');
      fail('GG_ARTIFACT_TOO_LARGE', early);
    }
    if (/100-continue/i.test(req.get('expect') ?? '')) res.writeContinue(); // checked: now the body may come (main.ts checkContinue)
    const blob = await deps.blobs.write(req, { expected: size, tooBig: (n) => (n > size ? `the body of ${path} is longer than its Content-Length (${size})` : null) });
    const row = store.tx(() => {
      if (deps.unitTokens.runningUnit(tokenFrom(req.get('authorization'))) !== unitId) {
        fail('GG_ARTIFACT_UNAUTHORIZED', `unit ${unitId} ended while ${path} was being uploaded: the file was not kept`);
      }
      const late = overLimit(blob.size); // another unit of the build may have uploaded meanwhile
      if (late) fail('GG_ARTIFACT_TOO_LARGE', late);
      return store.artifacts.put({ buildId: build.id, unitId, step: stepOfUnit(unit, build), path, size: blob.size, sha256: blob.sha256, createdAt: Date.now() });
    });
    res.status(201).json(artifactJson(deps.baseUrl(), row));
  });

  r.get('/builds/:id/artifacts', (req, res) => {
    const build = getBuild(store, req.params.id);
    res.json(store.artifacts.byBuild(build.id).map((a) => artifactJson(deps.baseUrl(), a)));
  });

  r.get('/artifacts/:id/download', async (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'artifact id');
    const a = store.artifacts.get(id) ?? fail('GG_NOT_FOUND', `no artifact ${id}: GET /api/builds/<id>/artifacts lists a build's artifacts`);
    const { stream, size } = await deps.blobs.open(a.sha256);
    res.status(200).set({
      'content-type': 'application/octet-stream',
      'content-length': String(size),
      'content-disposition': `attachment; filename="${basename(a.path).replace(/[^\x20-\x7e]|["\\]/g, '_')}"; ` +
        `filename*=UTF-8''${encodeURIComponent(basename(a.path))}`,
      'x-content-type-options': 'nosniff',
      'x-greengate-sha256': a.sha256,
    });
    await pipeline(stream, res).catch(() => undefined); // a client that goes away ends the copy
  });
  return r;
}
