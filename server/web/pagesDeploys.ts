/**
 * Deploy pages: `/deploys` (the newest deploys, cursor paging with ?before=) and `/deploys/:id`
 * (its stages, each step's build and log link, and per watched stage the verdict with each
 * metric's before/after chart as server-rendered SVG, deploy/evidence.ts). Also the model of the
 * waterfall's deploys lane. Who may call: everyone reads; nothing here changes anything.
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Store } from '../store/index.js';
import type { PageContext } from './pages.js';
import { deployJson, type DeployJson } from './deploysApi.js';
import { describeVerdict, evidenceSvg } from '../deploy/evidence.js';
import { fail } from '../errors.js';
import { parseOrThrow } from './api.js';
import { send } from './pagesView.js';

export const DEPLOYS_PAGE_ROWS = 50;
export const DEPLOY_LANE_ROWS = 5;

export interface DeployPagesDeps {
  store: Pick<Store, 'deploys'>;
  pausedBecause(repo: string, branch: string): string | null;
}

/** The waterfall's deploys lane: the newest few deploys. */
export function deployLane(store: Pick<Store, 'deploys'>): DeployJson[] {
  return store.deploys.list(DEPLOY_LANE_ROWS).map((d) => deployJson(store, d, ''));
}

export function deployPagesRouter(ctx: PageContext, deps: DeployPagesDeps): Router {
  const r = express.Router();
  r.get('/deploys', (req, res) => {
    const t0 = performance.now();
    const q = parseOrThrow(z.object({ before: z.coerce.number().int().positive().optional() }), req.query, 'query');
    const rows = deps.store.deploys.list(DEPLOYS_PAGE_ROWS, q.before);
    send(res, ctx.env, 'deploys.njk', ctx.locals(req, {
      nav: 'deploys', deploys: rows.map((d) => deployJson(deps.store, d, '')),
      next: rows.length === DEPLOYS_PAGE_ROWS ? rows[rows.length - 1].id : null,
    }), t0);
  });
  r.get('/deploys/:id', (req, res) => {
    const t0 = performance.now();
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'deploy id');
    const row = deps.store.deploys.get(id) ?? fail('GG_NOT_FOUND', `no deploy ${id}: see /deploys for the deploys there are`);
    const d = deployJson(deps.store, row, '');
    const stages = d.stages.map((s) => ({ ...s,
      verdictText: s.verdict ? describeVerdict(s.verdict, true) : null, // numbers for people: `p < 0.001`
      charts: (s.verdict?.evidence ?? []).map((e) => ({ e, svg: evidenceSvg(e) })) }));
    send(res, ctx.env, 'deploy.njk', ctx.locals(req, { nav: 'deploys', d, stages, paused: deps.pausedBecause(row.repo, row.branch) }), t0);
  });
  return r;
}
