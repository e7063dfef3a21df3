/**
 * The tree and gate over HTTP: `GET /api/tree/:repo/:branch` (what the hook and sheriffs read),
 * `POST /api/tree/:repo/:branch` (admin: open, close, maintenance), the tree's history, and
 * `POST /api/gate/:repo` (the pre-receive hook's verdict; text in, text out, see rules.ts; only with
 * the repository's hook secret, see hookAuth.ts), and `GET /api/gate-passes/:repo` (passes through
 * a closed tree: pending until the push lands, then landed, or dropped; public like the history).
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { App } from '../main.js';
import { answerGate } from '../gate/rules.js';
import { MAX_GATE_BODY_BYTES } from '../gate/request.js';
import { isValidBranchName } from '../config/config.js';
import { HttpError, parseOrThrow, requireAdmin } from './api.js';
import { authorizeHook } from './hookAuth.js';
import { GatePasses } from '../gate/passes.js';

/**
 * On every verdict: the repository's gated branches, space-separated, "-" for none (git branch
 * names hold no spaces and never are "-"; UTF-8 bytes sent as they are). The pre-receive hook keeps them in greengate.gated to
 * know, when the server is unreachable, which refs it may still let through.
 */
export const GATED_HEADER = 'X-Greengate-Gated';
export function gatedHeaderValue(gate: readonly string[]): string {
  return Buffer.from(gate.length ? gate.join(' ') : '-', 'utf8').toString('latin1');
}
const PassesQuery = z.object({
  state: z.enum(['pending', 'landed', 'dropped']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

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

  // Passes through a closed tree wait in gate_passes until RefChanges sees their ref at the pushed commit.
  const passes = new GatePasses(app.store, app.tree, app.log);
  app.changes.onRefSeen((repo, ref, sha) => passes.refSeen(repo, ref, sha));

  // The hook's secret is checked before the body is read.
  const hookOnly: RequestHandler = (req, _res, next) => {
    authorizeHook(app, String(req.params.repo), req, 'gate');
    next();
  };
  r.post('/gate/:repo', hookOnly, express.raw({ type: () => true, limit: MAX_GATE_BODY_BYTES + 64 * 1024 }), (req, res) => {
    const repo = String(req.params.repo);
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = answerGate(body, app.tree.lookup(repo));
    if (answer.request && answer.verdict?.accept) passes.recordPending(repo, answer.request, answer.verdict);
    const gate = app.config.repositories.find((x) => x.name === repo)?.gate ?? [];
    res.set(GATED_HEADER, gatedHeaderValue(gate));
    res.status(answer.status).type('text/plain; charset=utf-8').send(answer.text);
  });

  r.get('/gate-passes/:repo', (req, res) => {
    const q = parseOrThrow(PassesQuery, req.query, 'query');
    const repoId = app.store.repos.byName(String(req.params.repo))?.id;
    if (repoId === undefined) throw new HttpError(404, 'GG_UNKNOWN_REPO', `unknown repository "${req.params.repo}"`);
    res.json({ passes: app.store.gatePasses.list({ repoId, state: q.state, before: q.before, limit: q.limit })
      .map(({ repoId: _r, ...p }) => ({ ...p, commits: JSON.parse(p.commits) })) });
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
