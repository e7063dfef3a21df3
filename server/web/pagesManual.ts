/**
 * The pages' buttons for builds nobody pushed (issue 23 items 6 and 7):
 *   POST /build-now                  (waterfall; fields repo, branch?, builder?, params "K=V K=V", _csrf)
 *   POST /builds/:id/rerun-failed    (build page; field _csrf)
 * Who may call them: an admin with a page session and that session's CSRF token
 * (AdminSessions.requireAdminForm); anyone else gets 403 and nothing is created. They call what the
 * admin API's `POST /api/repos/:repo/builds` and `POST /api/builds/:id/rerun-failed` call (deps wired in
 * main.ts), record the session's admin, then go to the new build's page (303). Refusals are the
 * API's (GG_BAD_PARAM, GG_NOTHING_FAILED, …) shown on the error page.
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { StartRequest } from '../changes/manual.js';
import type { PageContext } from './pages.js';
import { getBuild, parseOrThrow } from './api.js';
import { webActor } from './admin.js';
import { fail } from '../errors.js';

export interface ManualPagesDeps {
  store: Pick<Store, 'builds'>;
  log: Pick<Logger, 'info'>;
  start(r: StartRequest): Promise<number[]>;
  rerunFailed(build: BuildRow, by: string): Promise<number>;
}

const BuildNowForm = z.object({
  repo: z.string().min(1).max(100),
  branch: z.string().max(255).optional(),
  builder: z.string().max(100).optional(),
  params: z.string().max(8000).optional(),
});

/** The form's "K=V K=V" (spaces or new lines between pairs) as an object; GG_BAD_PARAM naming a bad pair. */
export function formParams(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of (text ?? '').split(/\s+/).filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at < 1) fail('GG_BAD_PARAM', `"${pair.slice(0, 100)}" is not NAME=VALUE — write params as TARGET=staging, separated by spaces`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export function manualPagesRouter(ctx: PageContext, form: RequestHandler, deps: ManualPagesDeps): Router {
  const r = express.Router();
  r.post('/build-now', form, ctx.sessions.requireAdminForm(), async (req, res) => {
    const f = parseOrThrow(BuildNowForm, req.body ?? {}, 'build now form');
    const by = webActor(res);
    const ids = await deps.start({ repo: f.repo, branch: f.branch || undefined, builder: f.builder || undefined, params: formParams(f.params),
      cause: 'manual', by });
    deps.log.info({ repo: f.repo, branch: f.branch, builds: ids, by }, 'build started by hand from the waterfall');
    res.redirect(303, ids.length === 1 ? `/builds/${ids[0]}` : '/');
  });
  r.post('/builds/:id/rerun-failed', form, ctx.sessions.requireAdminForm(), async (req, res) => {
    const build = getBuild(deps.store, req.params.id);
    const by = webActor(res);
    const id = await deps.rerunFailed(build, by);
    deps.log.info({ build: build.id, rerun: id, by }, 'failed units re-run from the build page');
    res.redirect(303, `/builds/${id}`);
  });
  return r;
}
