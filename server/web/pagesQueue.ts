/**
 * The land queue page: `/queue/:repo/:branch` (the branch may hold "/") lists the branch's queued changes in order (position,
 * state, candidate build, pusher, expected landing time: an estimate) and then the newest that landed, were ejected (with the failing
 * tests), conflicted (with the files) or were removed. Who may call: everyone reads, like `/tree`
 * (commit ids, pushers' names, reasons; never a token). Nothing changes here: an admin removes a
 * change with `greengate queue remove` or DELETE /api/queue/:repo/changes/:id.
 */
import express, { type Router } from 'express';
import type { Config } from '../config/config.js';
import { findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import type { QueueChangeRow } from '../store/landQueue.js';
import type { PageContext } from './pages.js';
import { send } from './pagesView.js';
import { queueRows } from './queueApi.js';
import { wildcardParam } from './api.js';

export interface QueuePagesDeps {
  config: Pick<Config, 'repositories'>;
  status(repo: string, branch: string): { window: number; batch?: number; changes: QueueChangeRow[]; buildMs?: number | null };
  baseUrl(): string;
}

export function queuePagesRouter(ctx: PageContext, deps: QueuePagesDeps): Router {
  const r = express.Router();
  r.get('/queue/:repo/*branch', (req, res) => { // branch names may hold "/"
    const t0 = performance.now();
    const repo = findRepository(deps.config, String(req.params.repo));
    const branch = wildcardParam(req.params.branch);
    const mode = repo.land?.[branch] ?? fail('GG_QUEUE_NOT_FOUND', `branch "${branch.slice(0, 200)}" of ${repo.name} has no land queue (land: in greengate.yml)`);
    const status = deps.status(repo.name, branch);
    const rows = queueRows(status, '', Date.now());
    send(res, ctx.env, 'queue.njk', ctx.locals(req, { nav: 'tree', repo: repo.name, branch, mode, window: status.window, candidateMs: status.buildMs ?? null,
      active: rows.filter((c) => c.position !== null),
      finished: rows.filter((c) => c.position === null) }), t0);
  });
  return r;
}
