/**
 * The web pages: `/` waterfall (filtered by `?branch=` and `?author=`), `/runners`, `/tests` (here:
 * slowest, and flaky or failing by each test's newest RECENT_RUNS runs),
 * `/builds/:id` and its log (pagesBuild.ts) with admin cancel and rebuild (pagesBuildActions.ts),
 * `/tree` (pagesTree.ts), `/quarantine` and its admin lift form (pagesQuarantine.ts), `/flags/:repo` and a flag's page (pagesFlags.ts), `/queue/:repo/:branch` (pagesQueue.ts), the public `/badge/:repo/:branch.svg` (badge.ts), log ranges for the
 * viewer (pagesLog.ts), admin log in/out, static files. Every page is server-rendered and complete without JavaScript; a page's
 * live region is also served alone under `/fragments/…`, which app.js fetches again when the
 * live socket (live.ts) says something changed. Errors are thrown as catalogued GgErrors; the
 * one error handler (errorHandler.ts) renders them with `renderErrorPage`.
 * Who may call: everyone reads (the badge too); POSTs need an admin session and its CSRF token
 * (pagesSession.ts).
 */
import type { BuildRow } from '../store/builds.js';
import express, { type Request, type Response, type Router } from 'express';
import { formBody } from './bodyLimit.js';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type nunjucks from 'nunjucks';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { Events } from '../events.js';
import type { TreeStateName } from '../store/tree.js';
import type { TreeJson } from '../gate/tree.js';
import { findRepository } from '../config/repositories.js';
import { PageStore, RECENT_RUNS, RECENT_TESTS_WINDOW, type RecentTestStat, type RunningUnit, type TestRun, type TestStat } from '../store/pages.js';
import { parseOrThrow, type RunnerInfo } from './api.js';
import { createViews, pageLocals, send, sendFragment, VIEWS_DIR, type Locals } from './pagesView.js';
import { adminsOf, type Admin } from '../config/admins.js';
import { AdminSessions, safeNext } from './pagesSession.js';
import { buildWaterfall, DEFAULT_ROWS, MAX_ROWS, runnerSummary, waterfallQuery, type WaterfallDeps } from './pagesWaterfall.js';
import { buildPagesRouter } from './pagesBuild.js';
import { treePagesRouter } from './pagesTree.js';
import { quarantinePagesRouter } from './pagesQuarantine.js';
import { manualPagesRouter, type ManualPagesDeps } from './pagesManual.js';
import { buildActionsRouter } from './pagesBuildActions.js';
import { badgeRouter } from './badge.js';
import { logRouter } from './pagesLog.js';
import { deployLane, deployPagesRouter } from './pagesDeploys.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import { flagPagesRouter, type FlagPagesDeps } from './pagesFlags.js';
import { queuePagesRouter, type QueuePagesDeps } from './pagesQueue.js';

export const FRAGMENT_CACHE_MS = 2000; // a fragment is rendered again after an event or after 2 s
export const TEST_HISTORY_RUNS = 100;
export const TEST_RANKINGS_MS = 10_000; // /tests is computed again at most every 10 seconds
const MAX_BAR_STEP = 24; // px per run in the duration chart
const ANSI_UP_JS = fileURLToPath(import.meta.resolve('ansi_up'));

/** What the pages need from the rest of the server. */
export interface PagesDeps {
  config: Pick<Config, 'repositories' | 'adminToken' | 'admins'>;
  store: Pick<Store, 'db' | 'builds' | 'units' | 'tests' | 'runners' | 'tree' | 'repos' | 'notifications' | 'culprits' | 'deploys' | 'contention' | 'sessions' | 'buildCauses' | 'steps' | 'artifacts' | 'flags'>;
  events: Pick<Events, 'on'>;
  log: Logger;
  /** The admin of the API's bearer token (scripts); pages also accept the admin session. */
  bearerAdmin(req: Request): Admin | null;
  connectedRunners(): readonly RunnerInfo[];
  treeStatus(repo: string, branch: string): TreeJson;
  setTree(repo: string, branch: string, state: TreeStateName, message: string | null, actor: string): TreeJson;
  waitingReason(b: BuildRow): string | null;
  /** The build page's cancel button (as the admin API's): false when the build has already finished. */
  cancelBuild(id: number): boolean;
  /** The build page's rebuild button (as the admin API's): a new build of the same commit and builder. */
  rebuild(build: BuildRow, by?: string): Promise<number>;
  /** "Build now" and "re-run failed" (as the admin API's; changes/manual.ts); absent: no such buttons. */
  manual?: Pick<ManualPagesDeps, 'start' | 'rerunFailed'>;
  /** The banner to show while the database cannot be written, else null. */
  storageBanner?(): { kind: string; since: number; message: string } | null;
  /** Why a branch's deploys wait (deploy/orchestrator.ts), else null; absent: never. */
  deploysPausedBecause?(repo: string, branch: string): string | null;
  /** Feature flags (flag pages, the waterfall's killed-flags line); absent: no flag pages. */
  flags?: FlagPagesDeps & { killed(): { repo: string; key: string; actor: string; message: string | null }[] };
  /** The land queue pages (pagesQueue.ts); absent: none. */
  queue?: QueuePagesDeps;
}

/** What every page router shares: templates, page queries, sessions, fragments, page locals. */
export interface PageContext {
  env: nunjucks.Environment;
  pages: PageStore;
  sessions: AdminSessions;
  fragments: FragmentCache;
  locals(req: Request, extra: Locals): Locals;
  /** Why an unfinished build's units wait when no connected runner can take them, else null. */
  waitingReason(b: BuildRow): string | null;
}

/** Rendered fragments, shared by every browser until the next event (or FRAGMENT_CACHE_MS). */
export class FragmentCache {
  private gen = 0;
  private readonly entries = new Map<string, { gen: number; at: number; html: string }>();
  constructor(events: Pick<Events, 'on'>) {
    const bump = () => { this.gen++; };
    for (const e of ['build', 'unit', 'tree', 'runners'] as const) events.on(e, bump);
  }
  get(key: string, render: () => string, now = Date.now()): string {
    const hit = this.entries.get(key);
    if (hit && hit.gen === this.gen && now - hit.at < FRAGMENT_CACHE_MS) return hit.html;
    const html = render();
    if (this.entries.size > 200) this.entries.clear();
    this.entries.set(key, { gen: this.gen, at: now, html });
    return html;
  }
}

export const MAX_FILTER_CHARS = 200;
/** A filter field: trimmed; empty (an unfilled form field) means no filter. */
const filterField = (what: string) => z.string().trim()
  .max(MAX_FILTER_CHARS, `${what} is at most ${MAX_FILTER_CHARS} characters — shorten it`)
  .optional().transform((v) => v || undefined);
const WaterfallQuery = z.object({
  before: z.coerce.number().int().positive().optional(),
  rows: z.coerce.number().int().min(1).max(MAX_ROWS).default(DEFAULT_ROWS),
  branch: filterField('branch'),
  author: filterField('author'),
});
const HistoryQuery = z.object({
  repo: z.string().min(1).max(100), builder: z.string().min(1).max(100),
  classname: z.string().max(2000).default(''), name: z.string().min(1).max(2000),
  file: z.string().max(4096).optional(), // absent: the test in any file (links from before tests knew their file)
});

export interface Pages {
  router: Router;
  /** The HTML error page (views/error.njk) with the status; for the error handler. */
  renderErrorPage(req: Request, res: Response, status: number, message: string): void;
}

export function createPages(deps: PagesDeps): Pages {
  const env = createViews();
  const sessions = new AdminSessions({ admins: () => adminsOf(deps.config), bearerAdmin: deps.bearerAdmin, sessions: deps.store.sessions });
  const ctx: PageContext = {
    env, sessions, pages: new PageStore(deps.store.db), fragments: new FragmentCache(deps.events),
    waitingReason: deps.waitingReason,
    locals: (req, extra) => {
      const admin = sessions.isAdmin(req);
      return pageLocals(req, { admin, csrf: admin ? sessions.csrfToken(req) : null, adminEnabled: adminsOf(deps.config).length > 0, storage: deps.storageBanner?.() ?? null, ...extra });
    },
  };
  const waterfall: WaterfallDeps = { config: deps.config, store: deps.store, connectedRunners: deps.connectedRunners, treeStatus: deps.treeStatus,
    recentDeploys: () => deployLane(deps.store) };
  const r = express.Router();
  const form = formBody('16kb');

  r.get('/static/ansi_up.js', (_req, res) => { res.sendFile(ANSI_UP_JS, { maxAge: '1h' }); });
  r.use('/static', express.static(`${VIEWS_DIR}static`, { index: false, maxAge: '5m' }));

  r.get('/', (req, res) => {
    const t0 = performance.now();
    const q = parseOrThrow(WaterfallQuery, req.query, 'query');
    const w = buildWaterfall(waterfall, ctx.pages, { rows: q.rows, before: q.before, filter: q });
    const buildNow = deps.manual ? deps.config.repositories.map((repo) => ({ repo: repo.name, branch: repo.gate[0] ?? '', builders: repo.builders.map((b) => b.name),
      params: repo.builders.flatMap((b) => (b.params ?? []).map((p) => `${p.name}=${p.default}`)) })) : [];
    send(res, env, 'waterfall.njk', ctx.locals(req, { w, nav: 'waterfall', live: q.before ? '' : 'waterfall', treeState: w.treeState, buildNow,
      killedFlags: deps.flags?.killed() ?? [] }), t0);
  });

  r.get('/fragments/waterfall', (req, res) => {
    const t0 = performance.now();
    const q = parseOrThrow(WaterfallQuery, req.query, 'query');
    const html = ctx.fragments.get(`waterfall?${q.before ?? ''}&${waterfallQuery(q.rows, q)}`, () =>
      env.render('_waterfall.njk', { now: Date.now(), w: buildWaterfall(waterfall, ctx.pages, { rows: q.rows, before: q.before, filter: q }) }));
    sendFragment(res, html, t0);
  });

  r.get('/runners', (req, res) => {
    const t0 = performance.now();
    send(res, env, 'runners.njk', ctx.locals(req, { r: runnersModel(ctx, deps, waterfall), nav: 'runners', live: 'runners' }), t0);
  });
  r.get('/fragments/runners', (req, res) => {
    const t0 = performance.now();
    sendFragment(res, ctx.fragments.get('runners', () => env.render('_runners.njk', { now: Date.now(), r: runnersModel(ctx, deps, waterfall) })), t0);
  });

  let rankings: { at: number; slowest: TestStat[]; flakiest: RecentTestStat[] } | null = null;
  r.get('/tests', (req, res) => {
    const t0 = performance.now();
    if (!rankings || Date.now() - rankings.at > TEST_RANKINGS_MS) {
      const withHref = <T extends TestStat | RecentTestStat>(t: T) => ({ ...t, href: testHref(t) });
      const { slowest, flakiest } = ctx.pages.testRankings(50);
      rankings = { at: Date.now(), slowest: slowest.map(withHref), flakiest: flakiest.map(withHref) };
    }
    send(res, env, 'tests.njk', ctx.locals(req, { nav: 'tests', window: RECENT_TESTS_WINDOW, recentRuns: RECENT_RUNS, ...rankings }), t0);
  });

  r.get('/tests/history', (req, res) => {
    const t0 = performance.now();
    const q = parseOrThrow(HistoryQuery, req.query, 'query');
    const repoId = deps.store.repos.byName(findRepository(deps.config, q.repo).name)!.id;
    const runs = ctx.pages.testRuns(repoId, q.builder, q.classname, q.name, TEST_HISTORY_RUNS, q.file ?? null);
    send(res, env, 'testHistory.njk', ctx.locals(req, { nav: 'tests', test: q, runs, chart: durationChart(runs) }), t0);
  });

  r.get('/login', (req, res) => {
    send(res, env, 'login.njk', ctx.locals(req, { next: safeNext(req.query.next) }), performance.now());
  });
  const loginGuard = guessLimiter((req, res) => {
    deps.log.warn({ ip: req.ip }, 'admin log in refused: too many wrong tokens');
    send(res, env, 'login.njk', ctx.locals(req, { next: safeNext(req.body?.next),
      error: `Too many wrong tokens from this address: try again in ${retryMinutes(req)} minute(s).` }), performance.now(), 429);
  });
  r.post('/login', form, loginGuard, (req, res) => {
    const next = safeNext(req.body?.next);
    const admin = sessions.checkToken(typeof req.body?.token === 'string' ? req.body.token : '');
    if (!admin) {
      deps.log.info({ ip: req.ip }, 'admin log in refused');
      return send(res, env, 'login.njk', ctx.locals(req, { next, error: 'That is not the admin token.' }), performance.now(), 403);
    }
    sessions.issue(res, req.secure, admin);
    deps.log.info({ ip: req.ip, admin: admin.name }, 'admin logged in');
    res.redirect(303, next);
  });
  r.post('/logout', form, sessions.requireAdminForm(), (req, res) => {
    sessions.revoke(req, res);
    res.redirect(303, '/');
  });

  r.use(buildPagesRouter(ctx, { store: deps.store, config: deps.config }));
  r.use(treePagesRouter(ctx, form, { config: deps.config, store: deps.store, treeStatus: deps.treeStatus, setTree: deps.setTree }));
  r.use(quarantinePagesRouter(ctx, form, { config: deps.config, store: deps.store, log: deps.log }));
  r.use(buildActionsRouter(ctx, form, { store: deps.store, log: deps.log, cancelBuild: deps.cancelBuild, rebuild: deps.rebuild }));
  if (deps.manual) r.use(manualPagesRouter(ctx, form, { store: deps.store, log: deps.log, ...deps.manual }));
  r.use(badgeRouter({ config: deps.config, store: deps.store, pages: ctx.pages }));
  r.use(logRouter({ store: deps.store, pages: ctx.pages }));
  if (deps.flags) r.use(flagPagesRouter(ctx, form, { store: deps.store, ...deps.flags }));
  if (deps.queue) r.use(queuePagesRouter(ctx, deps.queue));
  r.use(deployPagesRouter(ctx, { store: deps.store, pausedBecause: (repo, branch) => deps.deploysPausedBecause?.(repo, branch) ?? null }));
  return {
    router: r,
    renderErrorPage: (req, res, status, message) => {
      send(res, env, 'error.njk', ctx.locals(req, { status, message }), performance.now(), status);
    },
  };
}

function runnersModel(ctx: PageContext, deps: Pick<PagesDeps, 'connectedRunners' | 'store'>, waterfall: WaterfallDeps) {
  const links = new Map(deps.connectedRunners().map((l) => [l.runnerId, l]));
  const byRunner = new Map<number, RunningUnit[]>();
  for (const u of ctx.pages.runningUnits()) byRunner.set(u.runnerId, [...(byRunner.get(u.runnerId) ?? []), u]);
  const runners = deps.store.runners.all().map((x) => ({
    ...x, connected: links.has(x.id), busy: links.get(x.id)?.busy ?? 0, units: byRunner.get(x.id) ?? [],
  }));
  return { ...runnerSummary(waterfall), runners };
}

function testHref(t: { repo: string; builder: string; classname: string; name: string; file: string }): string {
  const q = new URLSearchParams({ repo: t.repo, builder: t.builder, classname: t.classname, name: t.name, file: t.file });
  return `/tests/history?${q}`;
}

/** Bars of a test's durations, oldest left; geometry for the SVG in testHistory.njk. */
export function durationChart(runs: readonly TestRun[], width = 720, height = 140) {
  const ordered = [...runs].reverse();
  const maxMs = Math.max(1, ...ordered.map((r) => r.durationMs));
  const sorted = ordered.map((r) => r.durationMs).sort((a, b) => a - b);
  const medianMs = sorted.length ? sorted[Math.floor(sorted.length / 2)] : 0;
  const step = Math.min(MAX_BAR_STEP, width / Math.max(ordered.length, 1));
  const w = Math.max(1, step - (step > 4 ? 2 : 0));
  const bars = ordered.map((r, i) => {
    const h = Math.max(2, Math.round((r.durationMs / maxMs) * (height - 14)));
    return { x: +(i * step).toFixed(1), y: height - h, w: +w.toFixed(1), h, status: r.status, buildId: r.buildId, durationMs: r.durationMs };
  });
  const medianY = height - Math.round((medianMs / maxMs) * (height - 14));
  return { width, height, maxMs, medianMs, medianY, bars };
}
