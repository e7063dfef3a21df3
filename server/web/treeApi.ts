/**
 * The tree and gate over HTTP: `GET /api/tree/:repo/:branch` (what the hook and sheriffs read),
 * `POST /api/tree/:repo/:branch` (admin: open, close, maintenance), the tree's history, and
 * `POST /api/gate/:repo` (the pre-receive hook's verdict; text in, text out, see gate.ts).
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import type { App } from '../main.js';
import { answerGate } from '../gate/rules.js';
import { MAX_GATE_BODY_BYTES } from '../gate/request.js';
import { isValidBranchName } from '../config/config.js';
import { HttpError, parseOrThrow, requireAdmin } from './api.js';

const SetTree = z.strictObject({
  state: z.enum(['open', 'closed', 'maintenance']),
  message: z.string().max(4000).optional(),
  actor: z.string().max(200).optional(),
});
const History = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

function branchParam(raw: string | string[]): string {
  const branch = Array.isArray(raw) ? raw.join('/') : raw;
  if (!isValidBranchName(branch)) throw new HttpError(400, 'GG_BAD_BRANCH', `"${branch.slice(0, 100)}" is not a valid branch name`);
  return branch;
}

export function treeRouter(app: App): Router {
  const r = express.Router();

  r.post('/gate/:repo', express.raw({ type: () => true, limit: MAX_GATE_BODY_BYTES + 64 * 1024 }), (req, res) => {
    const lookup = app.tree.lookup(String(req.params.repo));
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = answerGate(body, lookup);
    if (answer.verdict?.accept && answer.verdict.passes.length) {
      app.tree.recordPasses(String(req.params.repo), answer.verdict.passes, answer.request?.pusher ?? null);
    }
    res.status(answer.status).type('text/plain; charset=utf-8').send(answer.text);
  });

  r.get('/tree/:repo/*branch', (req, res) => {
    const branch = branchParam(req.params.branch);
    res.json(app.tree.status(String(req.params.repo), branch));
  });

  r.get('/tree-history/:repo', (req, res) => {
    const q = parseOrThrow(History, req.query, 'query');
    const repoId = app.store.repos.byName(String(req.params.repo))?.id;
    if (repoId === undefined) throw new HttpError(404, 'GG_UNKNOWN_REPO', `unknown repository "${req.params.repo}"`);
    const branch = typeof req.query.branch === 'string' ? branchParam(req.query.branch) : undefined;
    res.json({ events: app.store.tree.events({ repoId, branch, before: q.before, limit: q.limit })
      .map((e) => ({ ...e, automatic: !!e.automatic, commits: e.commits ? JSON.parse(e.commits) : null })) });
  });

  r.post('/tree/:repo/*branch', requireAdmin(app), express.json({ limit: '16kb' }), (req, res) => {
    const body = parseOrThrow(SetTree, req.body, 'tree change');
    const branch = branchParam(req.params.branch);
    res.json(app.tree.set(String(req.params.repo), branch, body.state, body.message ?? null, body.actor ?? 'admin'));
  });

  return r;
}
