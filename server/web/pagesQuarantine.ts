/**
 * The build page's quarantine form: `POST /builds/:id/quarantine` (form fields `test`, `reason`,
 * `_csrf`). Who may call it: an admin with a page session and that session's CSRF token
 * (AdminSessions.requireAdminForm); anyone else gets 403 and nothing changes. It adds the test
 * (its key, "classname name" or the bare name, as the page wrote it) to the quarantine list of
 * the build's builder, as `POST /api/quarantine/:repo/:builder` does, and goes back to the
 * build page. A test key that no result of the build has is refused (404): the form only
 * quarantines what the page showed.
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { PageContext } from './pages.js';
import { getBuild, parseOrThrow } from './api.js';
import { findBuilder, MAX_TEST_KEY } from './quarantineApi.js';
import { testKey } from '../results/failure.js';
import { fail } from '../errors.js';
import { webActor } from './admin.js';

export interface QuarantinePagesDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'builds' | 'tests' | 'repos'>;
  log: Logger;
}

const QuarantineForm = z.object({
  test: z.string().trim().min(1, 'the form names no test — reload the page and try again').max(MAX_TEST_KEY),
  reason: z.string().max(4000).default(''),
  _csrf: z.string().optional(),
});

export function quarantinePagesRouter(ctx: PageContext, form: RequestHandler, deps: QuarantinePagesDeps): Router {
  const r = express.Router();
  r.post('/builds/:id/quarantine', form, ctx.sessions.requireAdminForm(), (req, res) => {
    const build = getBuild(deps.store, req.params.id);
    const f = parseOrThrow(QuarantineForm, req.body, 'quarantine form');
    const shown = deps.store.tests.byBuild(build.id).some((t) => testKey(t) === f.test);
    if (!shown) fail('GG_NOT_FOUND', `build ${build.id} has no test "${f.test}" — quarantine it from the build that ran it`);
    const { repoId, builder } = findBuilder(deps, build.repo, build.builder);
    deps.store.tests.quarantineAdd({ repoId, builder: builder.name, test: f.test, reason: f.reason.trim() || null,
      addedBy: webActor(res), at: Date.now() });
    deps.log.info({ repo: build.repo, builder: builder.name, test: f.test, build: build.id }, 'test quarantined from the build page');
    res.redirect(303, `/builds/${build.id}#failures`);
  });
  return r;
}
