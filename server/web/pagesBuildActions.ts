/**
 * The build page's admin buttons: `POST /builds/:id/cancel` and `POST /builds/:id/rebuild` (form
 * field `_csrf`). Who may call them: an admin with a page session and that session's CSRF token
 * (AdminSessions.requireAdminForm); anyone else gets 403 and nothing changes. They call what the
 * admin API's `POST /api/builds/:id/cancel|rebuild` call (deps wired in main.ts), then go back to
 * the build page (303): cancel to the same build, rebuild to the new one. Cancelling a finished
 * build is GG_BUILD_DONE (409); rebuilding a builder gone from greengate.yml is GG_UNKNOWN_BUILDER.
 */
import express, { type RequestHandler, type Router } from 'express';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { PageContext } from './pages.js';
import { getBuild } from './api.js';
import { fail } from '../errors.js';
import { webActor } from './admin.js';

export interface BuildActionsDeps {
  store: Pick<Store, 'builds'>;
  log: Logger;
  /** False when the build has already finished. */
  cancelBuild(id: number): boolean;
  /** Queues a new build of the same commit on the same builder; resolves to its id. */
  rebuild(build: BuildRow, by?: string): Promise<number>;
}

export function buildActionsRouter(ctx: PageContext, form: RequestHandler, deps: BuildActionsDeps): Router {
  const r = express.Router();
  r.post('/builds/:id/cancel', form, ctx.sessions.requireAdminForm(), (req, res) => {
    const build = getBuild(deps.store, req.params.id);
    if (!deps.cancelBuild(build.id)) fail('GG_BUILD_DONE', `build ${build.id} has already finished: there is nothing to cancel`);
    deps.log.info({ build: build.id, by: webActor(res) }, 'build cancelled from the build page');
    res.redirect(303, `/builds/${build.id}`);
  });
  r.post('/builds/:id/rebuild', form, ctx.sessions.requireAdminForm(), async (req, res) => {
    const build = getBuild(deps.store, req.params.id);
    const id = await deps.rebuild(build, webActor(res));
    deps.log.info({ build: build.id, rebuild: id, by: webActor(res) }, 'build rebuilt from the build page');
    res.redirect(303, `/builds/${id}`);
  });
  return r;
}
