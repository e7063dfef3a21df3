/**
 * The tree and gate over HTTP: `GET /api/tree/:repo/:branch` (what the hook and sheriffs read),
 * `POST /api/tree/:repo/:branch` (admin: open, close, maintenance), the tree's history, and
 * `POST /api/gate/:repo` (the pre-receive hook's verdict; text in, text out, see gate/rules.ts).
 * Who may call: everyone reads and asks the gate; changing the tree needs `requireAdmin`.
 * Refusals are catalogued GgErrors (unknown repository, bad branch, not gated, no message).
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { TreeStateName } from '../store/tree.js';
import type { TreeJson } from '../gate/tree.js';
import { answerGate, type BranchGate, type GatePass } from '../gate/rules.js';
import { MAX_GATE_BODY_BYTES } from '../gate/request.js';
import { isValidBranchName } from '../config/config.js';
import { findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import { parseOrThrow } from './api.js';

export interface TreeApiDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'repos' | 'tree'>;
  requireAdmin: RequestHandler;
  treeStatus(repo: string, branch: string): TreeJson;
  setTree(repo: string, branch: string, state: TreeStateName, message: string | null, actor: string): TreeJson;
  /** What the gate needs to know about each branch of a repository (GG_UNKNOWN_REPO if none). */
  gateLookup(repo: string): (branch: string) => BranchGate;
  recordPasses(repo: string, passes: readonly GatePass[], pusher: string | null): void;
}

const SetTree = z.strictObject({
  state: z.enum(['open', 'closed', 'maintenance']),
  message: z.string().max(4000).nullable().optional(),
  actor: z.string().max(200).optional(),
});
const History = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

function branchParam(raw: string | string[]): string {
  const branch = Array.isArray(raw) ? raw.join('/') : raw;
  if (!isValidBranchName(branch)) fail('GG_BAD_BRANCH', `"${branch.slice(0, 100)}" is not a valid branch name (git check-ref-format --branch)`);
  return branch;
}

export function treeRouter(deps: TreeApiDeps): Router {
  const r = express.Router();

  r.post('/gate/:repo', express.raw({ type: () => true, limit: MAX_GATE_BODY_BYTES + 64 * 1024 }), (req, res) => {
    const lookup = deps.gateLookup(String(req.params.repo));
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = answerGate(body, lookup);
    if (answer.verdict?.accept && answer.verdict.passes.length) {
      deps.recordPasses(String(req.params.repo), answer.verdict.passes, answer.request?.pusher ?? null);
    }
    res.status(answer.status).type('text/plain; charset=utf-8').send(answer.text);
  });

  r.get('/tree/:repo/*branch', (req, res) => {
    const branch = branchParam(req.params.branch);
    res.json(deps.treeStatus(String(req.params.repo), branch));
  });

  r.get('/tree-history/:repo', (req, res) => {
    const q = parseOrThrow(History, req.query, 'query');
    const repo = findRepository(deps.config, String(req.params.repo));
    const repoId = deps.store.repos.byName(repo.name)!.id;
    const branch = typeof req.query.branch === 'string' ? branchParam(req.query.branch) : undefined;
    res.json({ events: deps.store.tree.events({ repoId, branch, before: q.before, limit: q.limit })
      .map((e) => ({ ...e, automatic: !!e.automatic, commits: e.commits ? JSON.parse(e.commits) : null })) });
  });

  r.post('/tree/:repo/*branch', deps.requireAdmin, express.json({ limit: '16kb' }), (req, res) => {
    const body = parseOrThrow(SetTree, req.body, 'tree change');
    const branch = branchParam(req.params.branch);
    res.json(deps.setTree(String(req.params.repo), branch, body.state, body.message ?? null, body.actor ?? 'admin'));
  });

  return r;
}
