/**
 * The JSON API. Every input is validated (query strings and bodies with zod); an error answers
 * `{ error: { code, message } }` with a 4xx status and changes nothing.
 */
import express, { type Request, type RequestHandler, type Response, type NextFunction, type Router } from 'express';
import { z } from 'zod';
import type { App } from '../main.js';
import { IntakeError, type RefUpdate } from '../changes/intake.js';
import type { BuildRow } from '../store/builds.js';
import { unitFiles, type UnitRow } from '../store/units.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import { describeWait } from '../dispatch/placement.js';

export const MAX_CHANGE_BODY = '256kb';
export const MAX_LIST_LIMIT = 500;

const LOG_PAGE_CHUNKS = 64;

/**
 * Writes one unit's stored log a page of chunks at a time and waits for the client to take it,
 * so a 100 MB log never sits in memory and no query stays open across a wait. False when the
 * client went away.
 */
async function streamLog(app: App, res: Response, unitId: number): Promise<boolean> {
  for (let seq = 0; ;) {
    const page = app.store.logs.chunksSince(unitId, seq, LOG_PAGE_CHUNKS);
    for (const c of page) res.write(c.data);
    if (page.length < LOG_PAGE_CHUNKS) return !res.destroyed;
    seq = page[page.length - 1].seq + 1;
    if (res.destroyed) return false;
    if (res.writableNeedDrain) {
      const drained = await new Promise<boolean>((resolve) => {
        const done = (ok: boolean) => { res.off('drain', onDrain); res.off('close', onClose); resolve(ok); };
        const onDrain = () => done(true);
        const onClose = () => done(false);
        res.on('drain', onDrain).on('close', onClose);
      });
      if (!drained) return false;
    }
  }
}

export class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

const sha = z.string().regex(/^[0-9a-f]{40}$/);
const ChangesJson = z.strictObject({
  repo: z.string().min(1).max(100),
  updates: z.array(z.strictObject({ old: sha, new: sha, ref: z.string().min(1).max(1000) })).min(1).max(1000),
  pusher: z.string().max(200).optional(),
});
const ListQuery = z.object({
  repo: z.string().max(100).optional(),
  branch: z.string().max(1000).optional(),
  kind: z.enum(['branch', 'try']).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(50),
});

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new HttpError(400, 'GG_BAD_REQUEST', `${what}: ${issue.path.join('.') || '(body)'}: ${issue.message}`);
}

/** Text bodies of the post-receive hook: lines "<old> <new> <ref>". */
export function parseUpdateLines(text: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S{1,1000})$/.exec(line.trim());
    if (!m) throw new HttpError(400, 'GG_BAD_REQUEST', `line ${i + 1}: expected "<old-sha> <new-sha> <ref>"`);
    updates.push({ old: m[1], new: m[2], ref: m[3] });
  }
  if (updates.length === 0) throw new HttpError(400, 'GG_BAD_REQUEST', 'no ref updates in the body');
  return updates;
}

export function buildJson(app: App, b: BuildRow) {
  return {
    id: b.id, repo: b.repo, builder: b.builder, ref: b.ref, branch: b.branch, kind: b.kind, sha: b.sha, baseSha: b.baseSha,
    state: b.state, result: b.result, reason: b.reason,
    progress: { unitsDone: b.unitsDone, unitsTotal: b.unitsTotal, expectedMsLeft: b.state === 'done' ? 0 : expectedLeft(app, b) },
    pushedAt: b.pushedAt, createdAt: b.createdAt, startedAt: b.startedAt, finishedAt: b.finishedAt,
    url: `${app.baseUrl}/builds/${b.id}`,
    waiting: waitingReason(app, b),
  };
}

/** Why an unfinished build's units wait when no connected runner can take them (e.g. "waiting: no connected runner has os=linux"). */
export function waitingReason(app: App, b: BuildRow): string | null {
  if (b.state === 'done') return null;
  return describeWait(app.scheduler.connectedRunners(), app.scheduler.builderOf(b)?.runsOn);
}

function expectedLeft(app: App, b: BuildRow): number {
  const slots = app.scheduler.connectedRunners().reduce((s, l) => s + l.slots, 0);
  return Math.round(b.expectedMs / Math.max(1, Math.min(slots, b.unitsTotal - b.unitsDone)));
}

export function unitJson(u: UnitRow) {
  return {
    id: u.id, seq: u.seq, files: unitFiles(u), attempt: u.attempt, retryOf: u.retryOf, state: u.state, result: u.result,
    runner: u.runner, exitCode: u.exitCode, signal: u.signal, error: u.error, expectedMs: u.expectedMs, logBytes: u.logBytes,
    queuedAt: u.queuedAt, assignedAt: u.assignedAt, startedAt: u.startedAt, finishedAt: u.finishedAt,
  };
}

/** Rendered list responses, dropped whenever a build or the runner set changes. */
export const MAX_CACHED_LISTS = 64;
class ListCache {
  private readonly bodies = new Map<string, string>();
  constructor(app: App) {
    const clear = () => this.bodies.clear();
    app.events.on('build', clear);
    app.events.on('runners', clear);
  }
  get(key: string, render: () => string): string {
    let body = this.bodies.get(key);
    if (body === undefined) {
      body = render();
      if (this.bodies.size >= MAX_CACHED_LISTS) this.bodies.clear();
      this.bodies.set(key, body);
    }
    return body;
  }
}

export function apiRouter(app: App): Router {
  const r = express.Router();
  const lists = new ListCache(app);
  const text = express.text({ type: ['text/plain', 'application/octet-stream'], limit: MAX_CHANGE_BODY });
  const json = express.json({ limit: MAX_CHANGE_BODY });

  r.post('/changes', text, json, async (req, res) => {
    let repo: string;
    let updates: RefUpdate[];
    let pusher: string | null = req.get('x-greengate-pusher')?.slice(0, 200) ?? null;
    if (typeof req.body === 'string') {
      repo = parseOrThrow(z.string().min(1).max(100), req.query.repo, 'query parameter repo');
      updates = parseUpdateLines(req.body);
    } else {
      const body = parseOrThrow(ChangesJson, req.body, 'change notice');
      ({ repo, updates } = body);
      pusher = body.pusher ?? pusher;
    }
    const results = await app.intake.notice(repo, updates, req.get('x-greengate-source') === 'api' ? 'api' : 'hook', pusher);
    res.status(202).json({ accepted: results });
  });

  r.get('/repos', (_req, res) => {
    res.json(app.config.repositories.map((x) => ({ name: x.name, gate: x.gate, builders: x.builders.map((b) => b.name) })));
  });

  r.get('/builds', (req, res) => {
    const q = parseOrThrow(ListQuery, req.query, 'query');
    const body = lists.get(JSON.stringify(q), () => {
      const repoId = q.repo === undefined ? undefined : app.store.repos.byName(q.repo)?.id ?? -1;
      const builds = app.store.builds.list({ repoId, branch: q.branch, kind: q.kind, beforeId: q.before, limit: q.limit });
      const next = builds.length === q.limit ? builds[builds.length - 1].id : null;
      return JSON.stringify({ builds: builds.map((b) => buildJson(app, b)), next });
    });
    res.type('application/json').send(body);
  });

  r.get('/builds/:id', (req, res) => {
    const build = getBuild(app, req.params.id);
    res.json({
      ...buildJson(app, build),
      blamelist: app.store.builds.blamelist(build.id),
      units: app.store.units.byBuild(build.id).map(unitJson),
      tests: app.store.tests.byBuild(build.id),
    });
  });

  r.get('/builds/:id/log', async (req, res) => {
    const build = getBuild(app, req.params.id);
    res.type('text/plain; charset=utf-8');
    for (const u of app.store.units.byBuild(build.id)) {
      res.write(`=== unit ${u.seq} (#${u.id}) attempt ${u.attempt} on ${u.runner ?? '-'}: ${u.result ?? u.state} ===\n`);
      if (!(await streamLog(app, res, u.id))) return;
    }
    res.end();
  });

  r.get('/units/:id/log', async (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'unit id');
    if (!app.store.units.get(id)) throw new HttpError(404, 'GG_NOT_FOUND', `no unit ${id}`);
    res.type('text/plain; charset=utf-8');
    if (await streamLog(app, res, id)) res.end();
  });

  r.post('/builds/:id/cancel', requireAdmin(app), (req, res) => {
    const build = getBuild(app, req.params.id);
    if (!app.scheduler.cancelBuild(build.id)) throw new HttpError(409, 'GG_BUILD_DONE', `build ${build.id} has already finished`);
    res.json(buildJson(app, app.store.builds.get(build.id)!));
  });

  r.post('/builds/:id/rebuild', requireAdmin(app), async (req, res) => {
    const build = getBuild(app, req.params.id);
    const id = await app.intake.rebuild(build);
    res.status(202).json({ build: id });
  });
  return r;
}

export function getBuild(app: App, raw: string | string[]): BuildRow {
  const id = parseOrThrow(z.coerce.number().int().positive(), raw, 'build id');
  const build = app.store.builds.get(id);
  if (!build) throw new HttpError(404, 'GG_NOT_FOUND', `no build ${id}`);
  return build;
}

const adminGuards = new WeakMap<App, RequestHandler>();

/**
 * Admin actions need the admin token: `Authorization: Bearer <token>`. Wrong tokens are counted
 * per client address (guesses.ts): after too many, 429 until the window ends.
 */
export function requireAdmin(app: App): RequestHandler {
  let guard = adminGuards.get(app);
  if (!guard) {
    guard = guessLimiter((req, res) => {
      app.log.warn({ ip: req.ip }, 'admin token guesses refused');
      res.status(429).json({ error: { code: 'GG_TOO_MANY_GUESSES', message: `too many wrong admin tokens from ${req.ip}: ` +
        `try again in ${retryMinutes(req)} minute(s) with the right token (Authorization: Bearer <adminToken>)` } });
    });
    adminGuards.set(app, guard);
  }
  const counted = guard;
  return (req: Request, res: Response, next: NextFunction) => {
    void counted(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (app.isAdmin(req)) return next();
      next(new HttpError(401, 'GG_ADMIN_TOKEN', app.config.adminToken
        ? 'admin token missing or wrong: pass --admin-token or set GREENGATE_ADMIN_TOKEN'
        : 'admin actions are disabled: set adminToken in greengate.yml'));
    });
  };
}

function isCodedError(err: unknown): err is Error & { status: number; code: string } {
  return err instanceof Error && typeof (err as { status?: unknown }).status === 'number'
    && typeof (err as { code?: unknown }).code === 'string' && String((err as { code?: unknown }).code).startsWith('GG_');
}

/** Last in the chain: turns errors into JSON; 5xx are logged at error, 4xx at info. */
export function errorHandler(app: App) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let status = 500;
    let code = 'GG_INTERNAL';
    let message = 'internal error';
    if (err instanceof HttpError || err instanceof IntakeError || isCodedError(err)) {
      ({ status, code, message } = err);
    } else if (err instanceof Error && 'type' in err && typeof (err as { status?: unknown }).status === 'number') {
      status = (err as unknown as { status: number }).status; // body-parser: too large, bad JSON
      code = 'GG_BAD_BODY';
      message = err.message;
    }
    if (status >= 500) app.log.error({ err, url: req.originalUrl }, 'request failed');
    else app.log.info({ url: req.originalUrl, status, code, message }, 'request refused');
    if (res.headersSent) return res.end();
    res.status(status).json({ error: { code, message } });
  };
}
