/**
 * The JSON API: changes, builds, units' logs, repositories; cancel and rebuild for admins.
 * Every input is validated (query strings and bodies with zod); a refusal is a catalogued
 * GgError (server/errors.ts) that errorHandler.ts answers as `{ error: { code, message } }`,
 * and changes nothing. Who may call: everyone reads; `POST /api/changes` needs the repository's
 * hook secret (hookAuth.ts) and is only a hint: each update is checked against git first
 * (changes/verify.ts); cancel and rebuild need the admin token (`requireAdmin`).
 *
 * Dependencies are explicit (ApiDeps): the store's aggregates it reads, the configuration, and
 * functions for what the pipeline does (take a change notice, cancel, rebuild, list runners).
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { jsonBody, textBody } from './bodyLimit.js';
import { z } from 'zod';
import type { Config, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { Events } from '../events.js';
import type { BuildRow } from '../store/builds.js';
import { unitFiles, type UnitRow } from '../store/units.js';
import { fail } from '../errors.js';
import { culpritJson, probeJson } from '../culprit/json.js';
import { concurrencyLevel, contentionNotice } from '../planning/contention.js';
import { actorOf } from './admin.js';
import { causeJson } from './manualBuildsApi.js';
import { stepOfUnit, stepsJson } from './steps.js';
import type { Logger } from 'pino';

export interface RefUpdate { old: string; new: string; ref: string }
/** A connected runner as the pages and the API show it. */
export interface RunnerInfo { runnerId: number; name: string; slots: number; busy: number; labels: Readonly<Record<string, string>> }

export interface ApiDeps {
  store: Pick<Store, 'builds' | 'units' | 'tests' | 'logs' | 'repos' | 'culprits' | 'contention' | 'runners' | 'buildCauses' | 'steps'>;
  config: Pick<Config, 'repositories'>;
  events: Pick<Events, 'on'>;
  baseUrl(): string;
  /** The admin guard (admin.ts), shared by every router so wrong tokens count once per address. */
  requireAdmin: RequestHandler;
  /** Where cancel and rebuild are logged with their admin's name (absent: not logged). */
  log?: Pick<Logger, 'info'>;
  connectedRunners(): readonly RunnerInfo[];
  /** The repository's hook, proven by its hook secret (hookAuth.ts); throws GG_HOOK_SECRET otherwise. */
  authorizeHook(repo: string, req: Request, route: 'gate' | 'changes'): RepositoryConfig;
  /** Takes in a change notice, checked against git (changes/verify.ts): what became of each update, and what was dropped. */
  notice(repo: RepositoryConfig, updates: readonly RefUpdate[], source: 'hook' | 'api', pusher: string | null): Promise<{ accepted: readonly object[]; dropped: readonly object[] }>;
  /** Why an unfinished build's units wait when no connected runner can take them, else null. */
  waitingReason(b: BuildRow): string | null;
  /** False when the build has already finished. */
  cancelBuild(id: number): boolean;
  /** Queues a new build of the same commit on the same builder; resolves to its id. */
  rebuild(build: BuildRow, by?: string): Promise<number>;
}

export const MAX_CHANGE_BODY = '256kb';
export const MAX_LIST_LIMIT = 500;

const LOG_PAGE_CHUNKS = 64;

/**
 * Writes one unit's stored log a page of chunks at a time and waits for the client to take it,
 * so a 100 MB log never sits in memory and no query stays open across a wait. False when the
 * client went away.
 */
async function streamLog(store: Pick<Store, 'logs'>, res: Response, unitId: number): Promise<boolean> {
  for (let seq = 0; ;) {
    const page = store.logs.chunksSince(unitId, seq, LOG_PAGE_CHUNKS);
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

const sha = z.string().regex(/^[0-9a-f]{40}$/);
const ChangesJson = z.strictObject({
  repo: z.string().min(1).max(100),
  updates: z.array(z.strictObject({ old: sha, new: sha, ref: z.string().min(1).max(1000) })).min(1).max(1000),
  pusher: z.string().max(200).optional(),
});
const ListQuery = z.object({
  repo: z.string().max(100).optional(),
  branch: z.string().max(1000).optional(),
  kind: z.enum(['branch', 'try', 'bisect']).optional(),
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LIST_LIMIT).default(50),
});

/** A `*name` route parameter (Express 5 gives one entry per path segment) as the text it stands for: branch names may hold "/" (release/1.2, or release%2F1.2). */
export function wildcardParam(raw: string | string[] | undefined): string {
  return Array.isArray(raw) ? raw.join('/') : String(raw ?? '');
}

export function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  return fail('GG_BAD_REQUEST', `${what}: ${issue.path.join('.') || '(body)'}: ${issue.message}`);
}

/** Text bodies of the post-receive hook: lines "<old> <new> <ref>". */
export function parseUpdateLines(text: string): RefUpdate[] {
  const updates: RefUpdate[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    const m = /^([0-9a-f]{40}) ([0-9a-f]{40}) (refs\/\S{1,1000})$/.exec(line.trim());
    if (!m) fail('GG_BAD_REQUEST', `line ${i + 1}: expected "<old-sha> <new-sha> <ref>"`);
    updates.push({ old: m[1], new: m[2], ref: m[3] });
  }
  if (updates.length === 0) fail('GG_BAD_REQUEST', 'no ref updates in the body: send lines "<old-sha> <new-sha> <ref>"');
  return updates;
}

/** What buildJson needs besides the build: links, and the slots there are to estimate time left. */
export interface BuildJsonContext { baseUrl: string; slots: number; waitingReason(b: BuildRow): string | null }

export function buildContext(deps: Pick<ApiDeps, 'baseUrl' | 'connectedRunners' | 'waitingReason'>): BuildJsonContext {
  return { baseUrl: deps.baseUrl(), slots: deps.connectedRunners().reduce((s, l) => s + l.slots, 0), waitingReason: deps.waitingReason };
}

export function buildJson(ctx: BuildJsonContext, b: BuildRow) {
  return {
    id: b.id, repo: b.repo, builder: b.builder, ref: b.ref, branch: b.branch, kind: b.kind, purpose: b.purpose, sha: b.sha, baseSha: b.baseSha,
    state: b.state, result: b.result, reason: b.reason, error: b.error ?? null,
    progress: { unitsDone: b.unitsDone, unitsTotal: b.unitsTotal, expectedMsLeft: b.state === 'done' ? 0 : expectedLeft(ctx.slots, b) },
    pushedAt: b.pushedAt, createdAt: b.createdAt, startedAt: b.startedAt, finishedAt: b.finishedAt,
    url: `${ctx.baseUrl}/builds/${b.id}`,
    waiting: ctx.waitingReason(b),
  };
}

function expectedLeft(slots: number, b: BuildRow): number {
  return Math.round(b.expectedMs / Math.max(1, Math.min(slots, b.unitsTotal - b.unitsDone)));
}

export function unitJson(u: UnitRow) {
  return {
    id: u.id, seq: u.seq, files: unitFiles(u), attempt: u.attempt, retryOf: u.retryOf, state: u.state, result: u.result,
    runner: u.runner, exitCode: u.exitCode, signal: u.signal, error: u.error, expectedMs: u.expectedMs, logBytes: u.logBytes,
    queuedAt: u.queuedAt, assignedAt: u.assignedAt, startedAt: u.startedAt, finishedAt: u.finishedAt,
    setupMs: u.setupMs, cacheHit: u.cacheHit === null ? null : u.cacheHit === 1, concurrency: u.concurrency,
  };
}

/**
 * The runners whose units of this build ran markedly slower together than alone, or waited while
 * CPUs idled (planning/contention.ts's slotAdvice): for each runner,
 * the most units at once among the build's units there (their mean concurrency, rounded) and the
 * builder's learned factor at that level (planning/contention.ts), as notice lines sorted by runner.
 */
export function contentionJson(store: Pick<Store, 'units' | 'contention' | 'runners'>, build: Pick<BuildRow, 'id' | 'repoId' | 'builder'>,
  units: readonly UnitRow[] = store.units.byBuild(build.id)): string[] {
  const levels = new Map<string, number>();
  for (const u of units) {
    if (u.runner === null || u.concurrency === null) continue;
    levels.set(u.runner, Math.max(levels.get(u.runner) ?? 1, concurrencyLevel(u.concurrency)));
  }
  if (![...levels.values()].some((k) => k >= 2)) return [];
  const learned = store.contention.get(build.repoId, build.builder);
  const cpus = new Map(store.runners.all().map((r) => [r.name, r.cpus]));
  return [...levels].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .flatMap(([runner, k]) => contentionNotice(runner, k, learned, cpus.get(runner) ?? null) ?? []);
}

/** Rendered list responses, dropped whenever a build or the runner set changes. */
export const MAX_CACHED_LISTS = 64;
class ListCache {
  private readonly bodies = new Map<string, string>();
  constructor(events: Pick<Events, 'on'>) {
    const clear = () => this.bodies.clear();
    events.on('build', clear);
    events.on('runners', clear);
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

export function apiRouter(deps: ApiDeps): Router {
  const { store, config } = deps;
  const r = express.Router();
  const lists = new ListCache(deps.events);
  const text = textBody(['text/plain', 'application/octet-stream'], MAX_CHANGE_BODY);
  const json = jsonBody(MAX_CHANGE_BODY);

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
    const repository = deps.authorizeHook(repo, req, 'changes');
    const { accepted, dropped } = await deps.notice(repository, updates, req.get('x-greengate-source') === 'api' ? 'api' : 'hook', pusher);
    // The builds' pages, for the hook to print (`greengate: build URL`); a build not created yet has none.
    const links = accepted.flatMap((a) => ('builds' in a && Array.isArray(a.builds) ? a.builds as number[] : []))
      .map((id) => `${deps.baseUrl()}/builds/${id}`);
    res.status(202).json({ accepted, dropped, links });
  });

  r.get('/repos', (_req, res) => {
    // pipeline: the file the builders come from at each commit (builders then lists none: they are per commit).
    res.json(config.repositories.map((x) => ({ name: x.name, gate: x.gate, builders: x.builders.map((b) => b.name), pipeline: x.pipeline ?? null })));
  });

  r.get('/builds', (req, res) => {
    const q = parseOrThrow(ListQuery, req.query, 'query');
    const body = lists.get(JSON.stringify(q), () => {
      const repoId = q.repo === undefined ? undefined : store.repos.byName(q.repo)?.id ?? -1;
      const builds = store.builds.list({ repoId, branch: q.branch, kind: q.kind, beforeId: q.before, limit: q.limit });
      const next = builds.length === q.limit ? builds[builds.length - 1].id : null;
      const ctx = buildContext(deps);
      return JSON.stringify({ builds: builds.map((b) => buildJson(ctx, b)), next });
    });
    res.type('application/json').send(body);
  });

  r.get('/builds/:id', (req, res) => {
    const build = getBuild(store, req.params.id);
    res.json({
      ...buildJson(buildContext(deps), build),
      blamelist: store.builds.blamelist(build.id),
      culprit: culpritJson(store, build.id),
      bisect: build.kind === 'bisect' ? probeJson(store, build.id) : null,
      steps: stepsJson(store, build),
      units: store.units.byBuild(build.id).map((u) => ({ ...unitJson(u), step: stepOfUnit(u, build) })),
      contention: contentionJson(store, build),
      ...causeJson(store, deps.config, build), // cause (schedule, by hand, re-run) and params: manualBuildsApi.ts
      ...testsJson(store.tests.finalByBuild(build.id), store.tests.byBuild(build.id)),
    });
  });

  r.get('/builds/:id/log', async (req, res) => {
    const build = getBuild(store, req.params.id);
    res.type('text/plain; charset=utf-8');
    for (const u of store.units.byBuild(build.id)) {
      res.write(`=== unit ${u.seq} (#${u.id}) attempt ${u.attempt} on ${u.runner ?? '-'}: ${u.result ?? u.state} ===\n`);
      if (!(await streamLog(store, res, u.id))) return;
    }
    res.end();
  });

  r.get('/units/:id/log', async (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'unit id');
    if (!store.units.get(id)) fail('GG_NOT_FOUND', `no unit ${id}`);
    res.type('text/plain; charset=utf-8');
    if (await streamLog(store, res, id)) res.end();
  });

  r.post('/builds/:id/cancel', deps.requireAdmin, (req, res) => {
    const build = getBuild(store, req.params.id);
    if (!deps.cancelBuild(build.id)) fail('GG_BUILD_DONE', `build ${build.id} has already finished: there is nothing to cancel`);
    deps.log?.info({ build: build.id, by: actorOf(res) }, 'build cancelled');
    res.json(buildJson(buildContext(deps), store.builds.get(build.id)!));
  });

  r.post('/builds/:id/rebuild', deps.requireAdmin, async (req, res) => {
    const build = getBuild(store, req.params.id);
    const id = await deps.rebuild(build, actorOf(res));
    deps.log?.info({ build: build.id, rebuild: id, by: actorOf(res) }, 'build rebuilt');
    res.status(202).json({ build: id });
  });
  return r;
}

/** A test counts once (its last attempt); the attempts it replaced are listed apart. */
function testsJson(final: readonly { id: number }[], all: readonly { id: number }[]) {
  const current = new Set(final.map((t) => t.id));
  return { tests: final, testAttempts: all.filter((t) => !current.has(t.id)) };
}

/** The build named by a route parameter; GG_NOT_FOUND when there is none. */
export function getBuild(store: Pick<Store, 'builds'>, raw: string | string[]): BuildRow {
  const id = parseOrThrow(z.coerce.number().int().positive(), raw, 'build id');
  return store.builds.get(id) ?? fail('GG_NOT_FOUND', `no build ${id}`);
}
