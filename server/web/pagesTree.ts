/**
 * `/tree`: the gated branches' state, every tree event with how long each closure lasted, who
 * and why, every push let through (bypass, revert, fix), and a Five Whys per closure. An admin
 * (page session + CSRF token) gets the close/open form and the Five Whys form; both POST,
 * then redirect back (303). Refusals from the tree (no message, branch not gated, unknown
 * repository) re-render the page with the reason and the catalogue's status. The newest
 * notification deliveries are listed as GET /api/notifications shows them (masked targets).
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { TreeStateName } from '../store/tree.js';
import type { TreeJson } from '../gate/tree.js';
import type { PageContext } from './pages.js';
import { send, sendFragment } from './pagesView.js';
import { parseOrThrow } from './api.js';
import { fail, GgError, type ErrorCode } from '../errors.js';
import { treeBanners } from './pagesWaterfall.js';
import { publicDelivery } from './notificationsApi.js';
import { webActor } from './admin.js';

export interface TreePagesDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'tree' | 'notifications'>;
  treeStatus(repo: string, branch: string): TreeJson;
  setTree(repo: string, branch: string, state: TreeStateName, message: string | null, actor: string): TreeJson;
}

/** The tree's refusals of a form, shown on the page itself. */
const FORM_REFUSALS = new Set<ErrorCode>(['GG_NOT_GATED', 'GG_MESSAGE_REQUIRED', 'GG_UNKNOWN_REPO']);

export const HISTORY_PAGE = 50;
export const WHYS = 5;
export const NOTIFICATIONS_SHOWN = 20;

const StateForm = z.object({
  repo: z.string().min(1).max(100), branch: z.string().min(1).max(1000),
  state: z.enum(['open', 'closed', 'maintenance']),
  message: z.string().max(4000).default(''), actor: z.string().max(200).default(''),
});
const WhysForm = z.object({
  why1: z.string().max(2000).default(''), why2: z.string().max(2000).default(''), why3: z.string().max(2000).default(''),
  why4: z.string().max(2000).default(''), why5: z.string().max(2000).default(''), author: z.string().max(200).default(''),
});
const HistoryQuery = z.object({ before: z.coerce.number().int().positive().optional() });

const KIND_CLASS: Record<string, string> = { close: 'failed', open: 'passed', maintenance: 'queued', bypass: 'flaky', revert: 'flaky', fix: 'flaky' };

export function treePagesRouter(ctx: PageContext, form: RequestHandler, deps: TreePagesDeps): Router {
  const { env, sessions } = ctx;
  const r = express.Router();

  const render = (req: Request, res: Response, t0: number, extra: Record<string, unknown> = {}, status = 200) => {
    const q = parseOrThrow(HistoryQuery, req.query, 'query');
    const events = historyModel(ctx, deps, q.before);
    send(res, env, 'tree.njk', ctx.locals(req, {
      nav: 'tree', live: 'tree', banners: treeBanners(deps), events, before: q.before ?? null,
      next: events.length === HISTORY_PAGE ? events[events.length - 1].id : null,
      notifications: deps.store.notifications.log({ limit: NOTIFICATIONS_SHOWN }).map(publicDelivery), ...extra,
    }), t0, status);
  };

  r.get('/tree', (req, res) => render(req, res, performance.now()));

  r.get('/fragments/tree', (_req, res) => {
    const t0 = performance.now();
    sendFragment(res, ctx.fragments.get('tree', () => env.render('_treeBanners.njk', { now: Date.now(), banners: treeBanners(deps) })), t0);
  });

  r.post('/tree/state', form, sessions.requireAdminForm(), (req, res) => {
    const f = parseOrThrow(StateForm, req.body, 'tree form');
    try {
      deps.setTree(f.repo, f.branch, f.state, f.message.trim() || null, webActor(res, f.actor));
    } catch (err) {
      if (err instanceof GgError && FORM_REFUSALS.has(err.code)) return render(req, res, performance.now(), { error: err.message }, err.status);
      throw err;
    }
    res.redirect(303, '/tree');
  });

  r.post('/tree/whys/:id', form, sessions.requireAdminForm(), (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'event id');
    const event = deps.store.tree.event(id);
    if (!event || event.kind !== 'close') fail('GG_NOT_FOUND', `no tree closure ${id}`);
    const f = parseOrThrow(WhysForm, req.body, 'Five Whys form');
    const answers = [f.why1, f.why2, f.why3, f.why4, f.why5].map((a) => a.trim());
    if (answers.every((a) => !a)) return render(req, res, performance.now(), { error: 'Write at least the first why.' }, 400);
    deps.store.tree.saveWhys(id, answers, webActor(res, f.author), Date.now());
    res.redirect(303, `/tree#event-${id}`);
  });

  return r;
}

function historyModel(ctx: PageContext, deps: TreePagesDeps, before: number | undefined) {
  return ctx.pages.treeHistory(before, HISTORY_PAGE).map((e) => {
    const isClosure = e.kind === 'close' && e.prevState !== 'closed';
    const whys = isClosure ? deps.store.tree.whys(e.id) : [];
    const whyAnswers = Array.from({ length: WHYS }, (_, i) => whys.find((w) => w.position === i + 1)?.answer ?? '');
    return {
      ...e, isClosure, whys, whyAnswers, kindClass: KIND_CLASS[e.kind] ?? 'queued',
      lastedMs: e.endedAt !== null ? e.endedAt - e.at : null,
      commitList: e.commits ? (JSON.parse(e.commits) as string[]) : [],
    };
  });
}
