/**
 * Feature flag pages: `/flags/:repo` lists the flags served (state, variants, default, killed) and
 * from which commit; `/flags/:repo/:key` shows the definition as written, its kills and restores,
 * its guarded rollout if greengate.yml has one (state, step, reason, an SVG chart: web/rolloutChart.ts),
 * and a form (GET: nothing changes) where a context typed in (targetingKey + JSON attributes) is
 * evaluated and the page says which rule matched and why (flags/explain.ts). An admin (page session
 * + CSRF token, AdminSessions.requireAdminForm) gets the kill and restore buttons; both POST, are
 * recorded with the admin's name (webActor), then redirect back (303).
 * `/flags/:repo/:key/experiment[?phase=ID]` is the A/B test of a flag (flags/experiments.ts): per
 * phase, exposures per variant, the sample-ratio check, each metric per variant with lift, CI and
 * p-value (masked below the minimum data) and the decision line with its rule.
 * Each kill in the history (the immune system's kill of a guarded rollout above all) has a Five Whys
 * record (store/flags.ts, flag_whys), read by everyone; an admin writes it with the form under the
 * kill (POST /flags/:repo/:key/whys/:eventId, as /tree's Five Whys), then is redirected back (303).
 * Who may call: everyone reads (as `/tree`: keys, variants, rules; never a token); the buttons need
 * an admin session (the Five Whys form too).
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import { flagsRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import type { FlagKills } from '../flags/kills.js';
import type { FlagLibrary } from '../flags/library.js';
import { explain } from '../flags/explain.js';
import type { PageContext } from './pages.js';
import { send } from './pagesView.js';
import { parseOrThrow } from './api.js';
import { webActor } from './admin.js';
import { flagList } from './flagsApi.js';
import type { FlagRollouts } from '../flags/rollouts.js';
import type { FlagExperiments } from '../flags/experiments.js';
import { rolloutSvg } from './rolloutChart.js';

export interface FlagPagesDeps {
  /** Where a kill's Five Whys are kept (without it the page shows none and takes none). */
  store?: Pick<Store, 'flags'>;
  config: Pick<Config, 'repositories'>;
  library: Pick<FlagLibrary, 'of'> & Partial<Pick<FlagLibrary, 'fileDefinition'>>;
  kills: Pick<FlagKills, 'kill' | 'restore' | 'history' | 'lookup'>;
  rollouts?: Pick<FlagRollouts, 'view'>;
  experiments?: Pick<FlagExperiments, 'results'>;
}
const ExperimentQuery = z.object({ phase: z.string().regex(/^[0-9a-f]{16}$/, 'must be a phase id (16 hex digits) from the list of phases').optional() });

const TryQuery = z.object({
  targetingKey: z.string().max(500).optional(),
  attributes: z.string().max(16_000).optional(),
});
export const FLAG_WHYS = 5;
const WhysForm = z.object({
  why1: z.string().max(2000).default(''), why2: z.string().max(2000).default(''), why3: z.string().max(2000).default(''),
  why4: z.string().max(2000).default(''), why5: z.string().max(2000).default(''), author: z.string().max(200).default(''),
});
const ChangeForm = z.object({ message: z.string().max(4000).default(''), actor: z.string().max(200).default('') });

export function flagPagesRouter(ctx: PageContext, form: RequestHandler, deps: FlagPagesDeps): Router {
  const r = express.Router();
  const flagsRepo = (name: string) => flagsRepository(deps.config, name);

  r.get('/flags/:repo', (req, res) => {
    const t0 = performance.now();
    const repo = flagsRepo(String(req.params.repo));
    send(res, ctx.env, 'flags.njk', ctx.locals(req, { nav: 'flags', list: flagList(deps, repo.name), file: repo.flags!.file }), t0);
  });

  r.get('/flags/:repo/:key', (req, res) => {
    const t0 = performance.now();
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    const set = deps.library.of(repo.name).set;
    const def = set?.definition.flags[key] ?? fail('GG_FLAG_NOT_FOUND', `repository ${repo.name} serves no flag "${key.slice(0, 100)}": see /flags/${repo.name}`);
    const q = parseOrThrow(TryQuery, req.query, 'query');
    let tried: { context: string; lines: string[]; branches: unknown[]; matched: number | null; answer: string } | null = null;
    let error: string | null = null;
    if (q.targetingKey !== undefined || q.attributes !== undefined) {
      let attributes: unknown = {};
      try {
        attributes = q.attributes?.trim() ? JSON.parse(q.attributes) : {};
      } catch (err) {
        error = `The attributes are not JSON (${(err as Error).message}): write an object, e.g. {"email": "eve@qa.example.com"}`;
      }
      if (!error && (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes))) error = 'The attributes must be a JSON object, e.g. {"email": "eve@qa.example.com"}';
      if (!error) {
        const context = { ...(attributes as Record<string, string>), ...(q.targetingKey ? { targetingKey: q.targetingKey } : {}) };
        const x = explain(set!, key, context, deps.kills.lookup(repo.name));
        tried = { context: JSON.stringify(context), lines: x.lines, branches: x.branches, matched: x.matched, answer: JSON.stringify(x.evaluation.body, null, 2) };
      }
    }
    const rollout = deps.rollouts?.view(repo.name, key) ?? null;
    const written = deps.library.fileDefinition?.(repo.name)?.flags[key] ?? def;
    send(res, ctx.env, 'flag.njk', ctx.locals(req, {
      nav: 'flags', repo: repo.name, key, definition: JSON.stringify(written, null, 2),
      rollout, rolloutChart: rollout ? rolloutSvg(rollout) : null, served: rollout ? JSON.stringify(def.targeting ?? null) : null, killed: deps.kills.lookup(repo.name)(key),
      sha: deps.library.of(repo.name).sha, history: historyModel(deps, repo.name, key), query: q, tried, error,
    }), t0, error ? 400 : 200);
  });

  r.get('/flags/:repo/:key/experiment', (req, res) => {
    const t0 = performance.now();
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    if (!deps.library.of(repo.name).set?.definition.flags[key]) fail('GG_FLAG_NOT_FOUND', `repository ${repo.name} serves no flag "${key.slice(0, 100)}": see /flags/${repo.name}`);
    const q = parseOrThrow(ExperimentQuery, req.query, 'query');
    const x = deps.experiments?.results(repo.name, key, q.phase) ?? { phases: [], phase: null, result: null };
    send(res, ctx.env, 'experiment.njk', ctx.locals(req, { nav: 'flags', repo: repo.name, key, ...x }), t0);
  });

  r.post('/flags/:repo/:key/whys/:id', form, ctx.sessions.requireAdminForm(), (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'kill event id');
    const event = deps.store?.flags.event(id);
    if (!event || event.action !== 'kill' || event.repo !== repo.name || event.key !== key) {
      fail('GG_NOT_FOUND', `no kill ${id} of flag ${repo.name}/${key.slice(0, 100)}: use a kill listed in the flag's history`);
    }
    const f = parseOrThrow(WhysForm, req.body, 'Five Whys form');
    const answers = [f.why1, f.why2, f.why3, f.why4, f.why5].map((a) => a.trim());
    if (answers.every((a) => !a)) fail('GG_BAD_REQUEST', 'Five Whys form: write at least the first why (why1)');
    deps.store!.flags.saveWhys(id, answers, webActor(res, f.author), Date.now());
    res.redirect(303, `/flags/${encodeURIComponent(repo.name)}/${encodeURIComponent(key)}#kill-${id}`);
  });

  r.post('/flags/:repo/:key/:action', form, ctx.sessions.requireAdminForm(), (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    const action = String(req.params.action);
    const f = parseOrThrow(ChangeForm, req.body, 'flag form');
    if (action === 'kill') deps.kills.kill(repo.name, key, webActor(res, f.actor), f.message.trim() || null);
    else if (action === 'restore') deps.kills.restore(repo.name, key, webActor(res, f.actor), f.message.trim() || null);
    else fail('GG_NOT_FOUND', `no flag action "${action.slice(0, 40)}": kill or restore`);
    res.redirect(303, `/flags/${encodeURIComponent(repo.name)}/${encodeURIComponent(key)}`);
  });

  return r;
}

/** The flag's kills and restores, newest first; each kill with its Five Whys (answers by position 1..5). */
function historyModel(deps: FlagPagesDeps, repo: string, key: string) {
  return deps.kills.history(repo, key).map((e) => {
    const whys = e.action === 'kill' && deps.store ? deps.store.flags.whys(e.id) : [];
    const whyAnswers = Array.from({ length: FLAG_WHYS }, (_, i) => whys.find((w) => w.position === i + 1)?.answer ?? '');
    return { ...e, whys, whyAnswers };
  });
}
