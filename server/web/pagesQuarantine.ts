/**
 * The quarantine pages. `GET /quarantine` (anyone, as every page): every quarantined test per
 * repository and builder — from greengate.yml or added by an admin (who, when, why, as SQLite
 * has them) — with a "lift" button per added test for a logged-in admin.
 * `POST /quarantine/lift` (form fields `repo`, `builder`, `test`, `_csrf`): who may call it: an
 * admin with a page session and its CSRF token (AdminSessions.requireAdminForm), else 403 and
 * nothing changes. It removes the test from the builder's list, as `DELETE /api/quarantine/…`
 * does (404 when not on the list, 409 when greengate.yml quarantines it), logs the admin's name,
 * and goes back to /quarantine.
 *
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
import { send } from './pagesView.js';
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

const LiftForm = z.object({
  repo: z.string().min(1, 'the form names no repository — reload the page and try again').max(100),
  builder: z.string().min(1, 'the form names no builder — reload the page and try again').max(100),
  test: z.string().min(1, 'the form names no test — reload the page and try again').max(MAX_TEST_KEY),
  _csrf: z.string().optional(),
});

/** Every builder of every repository with its quarantined tests (greengate.yml's first, then the added ones). */
function quarantineModel(deps: QuarantinePagesDeps) {
  return deps.config.repositories.flatMap((repo) => repo.builders.map((builder) => {
    const repoId = deps.store.repos.byName(repo.name)?.id;
    const added = repoId === undefined ? [] : deps.store.tests.quarantineList(repoId, builder.name)
      .filter((q) => !builder.quarantine.includes(q.test));
    return {
      repo: repo.name, builder: builder.name,
      tests: [...builder.quarantine.map((test) => ({ test, reason: null, addedBy: null, addedAt: null, source: 'config' })),
        ...added.map((q) => ({ ...q, source: 'api' }))],
    };
  }));
}

export function quarantinePagesRouter(ctx: PageContext, form: RequestHandler, deps: QuarantinePagesDeps): Router {
  const r = express.Router();
  r.get('/quarantine', (req, res) => {
    const t0 = performance.now();
    const builders = quarantineModel(deps);
    const count = builders.reduce((n, b) => n + b.tests.length, 0);
    send(res, ctx.env, 'quarantine.njk', ctx.locals(req, { nav: 'quarantine', builders, count }), t0);
  });
  r.post('/quarantine/lift', form, ctx.sessions.requireAdminForm(), (req, res) => {
    const f = parseOrThrow(LiftForm, req.body, 'lift form');
    const { repoId, builder } = findBuilder(deps, f.repo, f.builder);
    if (deps.store.tests.quarantineRemove(repoId, builder.name, f.test)) {
      deps.log.info({ repo: f.repo, builder: builder.name, test: f.test, by: webActor(res) }, 'test released from quarantine on the quarantine page');
      return res.redirect(303, '/quarantine');
    }
    if (builder.quarantine.includes(f.test)) {
      fail('GG_QUARANTINE_IN_CONFIG', `"${f.test}" is quarantined by greengate.yml: remove it from the quarantine list of builder ${builder.name} there`);
    }
    fail('GG_NOT_QUARANTINED', `"${f.test}" is not on the quarantine list of ${f.repo}/${builder.name} (any more) — reload /quarantine`);
  });
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
