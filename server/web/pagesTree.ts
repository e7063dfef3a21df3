/**
 * `/tree`: the gated branches' state, every tree event with how long each closure lasted, who
 * and why, every push let through (bypass, revert, fix), and a Five Whys per closure. An admin
 * (page session + CSRF token) gets the close/open form and the Five Whys form; both POST,
 * then redirect back (303). Refusals from the tree (no message, branch not gated) re-render
 * the page with the reason.
 */
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import { z } from 'zod';
import type { PageDeps } from './pages.js';
import { send, sendFragment } from './pagesView.js';
import { HttpError, parseOrThrow } from './api.js';
import { TreeError } from '../gate/tree.js';
import { treeBanners } from './pagesWaterfall.js';

export const HISTORY_PAGE = 50;
export const WHYS = 5;

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

export function treePagesRouter(deps: PageDeps, form: RequestHandler): Router {
  const { app, env, sessions } = deps;
  const r = express.Router();

  const render = (req: Request, res: Response, t0: number, extra: Record<string, unknown> = {}, status = 200) => {
    const q = parseOrThrow(HistoryQuery, req.query, 'query');
    const events = historyModel(deps, q.before);
    send(res, env, 'tree.njk', deps.locals(req, {
      nav: 'tree', live: 'tree', banners: treeBanners(app), events, before: q.before ?? null,
      next: events.length === HISTORY_PAGE ? events[events.length - 1].id : null, ...extra,
    }), t0, status);
  };

  r.get('/tree', (req, res) => render(req, res, performance.now()));

  r.get('/fragments/tree', (_req, res) => {
    const t0 = performance.now();
    sendFragment(res, deps.fragments.get('tree', () => env.render('_treeBanners.njk', { now: Date.now(), banners: treeBanners(app) })), t0);
  });

  r.post('/tree/state', form, sessions.requireAdminForm(), (req, res) => {
    const f = parseOrThrow(StateForm, req.body, 'tree form');
    try {
      app.tree.set(f.repo, f.branch, f.state, f.message.trim() || null, f.actor.trim() || 'admin (web)');
    } catch (err) {
      if (err instanceof TreeError) return render(req, res, performance.now(), { error: err.message }, err.status);
      throw err;
    }
    res.redirect(303, '/tree');
  });

  r.post('/tree/whys/:id', form, sessions.requireAdminForm(), (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'event id');
    const event = app.store.tree.event(id);
    if (!event || event.kind !== 'close') throw new HttpError(404, 'GG_NOT_FOUND', `no tree closure ${id}`);
    const f = parseOrThrow(WhysForm, req.body, 'Five Whys form');
    const answers = [f.why1, f.why2, f.why3, f.why4, f.why5].map((a) => a.trim());
    if (answers.every((a) => !a)) return render(req, res, performance.now(), { error: 'Write at least the first why.' }, 400);
    app.store.tree.saveWhys(id, answers, f.author.trim() || 'admin (web)', Date.now());
    res.redirect(303, `/tree#event-${id}`);
  });

  return r;
}

function historyModel(deps: PageDeps, before: number | undefined) {
  return deps.pages.treeHistory(before, HISTORY_PAGE).map((e) => {
    const isClosure = e.kind === 'close' && e.prevState !== 'closed';
    const whys = isClosure ? deps.app.store.tree.whys(e.id) : [];
    const whyAnswers = Array.from({ length: WHYS }, (_, i) => whys.find((w) => w.position === i + 1)?.answer ?? '');
    return {
      ...e, isClosure, whys, whyAnswers, kindClass: KIND_CLASS[e.kind] ?? 'queued',
      lastedMs: e.endedAt !== null ? e.endedAt - e.at : null,
      commitList: e.commits ? (JSON.parse(e.commits) as string[]) : [],
    };
  });
}
