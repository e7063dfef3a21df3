/**
 * Builds started by hand (issue 23 items 6 and 7), for admins only (`requireAdmin`: an admin's
 * bearer token; without one 401 GG_ADMIN_TOKEN and nothing is created):
 *
 *   POST /api/repos/:repo/builds          ← { branch?, builder?, params?: { NAME: value } }
 *        → 202 { builds: [id, …] }          the branch head (absent: the first gated branch) on that
 *                                            builder (absent: every builder), with those params
 *   POST /api/builds/:id/rerun-failed     → 202 { build: id }  a rebuild running only its failed units
 *
 * The admin's name is recorded with the build (build_causes.started_by) and logged. Refusals:
 * GG_BAD_REQUEST (body), GG_UNKNOWN_REPO, GG_NO_BUILDER, GG_BAD_BRANCH, GG_NOT_FOUND (no such branch
 * or build), GG_BAD_PARAM (an undeclared param or a value not allowed), GG_NOTHING_FAILED.
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { StartRequest } from '../changes/manual.js';
import { jsonBody } from './bodyLimit.js';
import { getBuild, parseOrThrow } from './api.js';
import { actorOf } from './admin.js';
import { MAX_PARAMS, MAX_PARAM_VALUE, paramDefaults } from '../config/params.js';
import { builderNamed } from '../config/repositories.js';
import type { Config } from '../config/config.js';

/** `GET /api/builds/:id`'s `cause` (null for a push's build) and `params` (every declared param's value for this build). */
export function causeJson(store: Pick<Store, 'buildCauses'>, config: Pick<Config, 'repositories'>, build: BuildRow) {
  const cause = store.buildCauses.of(build.id);
  const builder = builderNamed(config, build);
  return {
    cause: cause ? { kind: cause.cause, startedBy: cause.startedBy, rebuildOf: cause.rebuildOf } : null,
    params: { ...paramDefaults(builder?.params), ...cause?.params },
  };
}

export interface ManualBuildsDeps {
  store: Pick<Store, 'builds'>;
  requireAdmin: RequestHandler;
  log: Pick<Logger, 'info'>;
  start(r: StartRequest): Promise<number[]>;
  rerunFailed(build: BuildRow, by: string): Promise<number>;
}

/** A request's params: NAME → value, bounded before config/params.ts checks them against the builders. */
export const ParamsInput = z.record(z.string().max(128), z.string().max(MAX_PARAM_VALUE, `at most ${MAX_PARAM_VALUE} characters`))
  .refine((p) => Object.keys(p).length <= MAX_PARAMS, `at most ${MAX_PARAMS} params`);
const StartBody = z.strictObject({
  branch: z.string().min(1).max(255).optional(),
  builder: z.string().min(1).max(100).optional(),
  params: ParamsInput.optional(),
});

export function manualBuildsRouter(deps: ManualBuildsDeps): Router {
  const r = express.Router();
  r.post('/repos/:repo/builds', deps.requireAdmin, jsonBody('16kb'), async (req, res) => {
    const body = parseOrThrow(StartBody, req.body ?? {}, 'build request');
    const by = actorOf(res);
    const builds = await deps.start({ repo: String(req.params.repo), ...body, cause: 'manual', by });
    deps.log.info({ repo: req.params.repo, branch: body.branch, builds, by }, 'build started by hand');
    res.status(202).json({ builds });
  });
  r.post('/builds/:id/rerun-failed', deps.requireAdmin, async (req, res) => {
    const build = getBuild(deps.store, req.params.id);
    const by = actorOf(res);
    const id = await deps.rerunFailed(build, by);
    deps.log.info({ build: build.id, rerun: id, by }, 'failed units re-run');
    res.status(202).json({ build: id });
  });
  return r;
}
