/**
 * The tree and gate over HTTP: `GET /api/tree/:repo/:branch` (what the hook and sheriffs read),
 * `POST /api/tree/:repo/:branch` (admin: open, close, maintenance), the tree's history, and
 * `POST /api/gate/:repo` (the pre-receive hook's verdict; text in, text out, see gate/rules.ts; only with
 * the repository's hook secret, see hookAuth.ts), and `GET /api/gate-passes/:repo` (passes through
 * a closed tree: pending until the push lands, then landed, or dropped; public like the history).
 * A gated branch's push whose new head has a missing or invalid pipeline file (`pipeline:`) is refused, naming FILE:LINE.
 * Who may call: everyone reads; the gate needs the hook secret; changing the tree needs `requireAdmin`.
 * Refusals are catalogued GgErrors (unknown repository, bad branch, not gated, no message).
 */
import express, { type Request, type RequestHandler, type Router } from 'express';
import { jsonBody, rawBody } from './bodyLimit.js';
import { z } from 'zod';
import type { Config, RepositoryConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { TreeStateName } from '../store/tree.js';
import type { TreeJson } from '../gate/tree.js';
import { answerGate, formatGateAnswer, refuseInvalidPipelines, type BranchGate, type PipelineProblem } from '../gate/rules.js';
import { isZero, type GateRequest } from '../gate/request.js';
import type { Pipelines } from '../changes/pipelines.js';
import { checkedQuarantine, proveReverts } from '../exactRevert.js';
import type { GatePasses } from '../gate/passes.js';
import { MAX_GATE_BODY_BYTES } from '../gate/request.js';
import { isValidBranchName } from '../config/config.js';
import { findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import { parseOrThrow, wildcardParam } from './api.js';
import { actorOf } from './admin.js';
import { refuseQueueOnly } from '../queue/entry.js';

export interface TreeApiDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'repos' | 'tree' | 'gatePasses'>;
  requireAdmin: RequestHandler;
  treeStatus(repo: string, branch: string): TreeJson;
  setTree(repo: string, branch: string, state: TreeStateName, message: string | null, actor: string): TreeJson;
  /** What the gate needs to know about each branch of a repository (GG_UNKNOWN_REPO if none). */
  gateLookup(repo: string): (branch: string) => BranchGate;
  /** The repository's hook, proven by its hook secret (hookAuth.ts); throws GG_HOOK_SECRET otherwise. */
  authorizeHook(repo: string, req: Request, route: 'gate' | 'changes'): RepositoryConfig;
  /** Passes through a closed tree, pending until their push lands (gate/passes.ts). */
  passes: Pick<GatePasses, 'recordPending'>;
  /** Reads a pushed head's pipeline file (changes/pipelines.ts): a gated branch refuses a head whose file is missing or invalid. */
  pipelines?: Pick<Pipelines, 'problemAt'>;
  /** A repository's pushed flags files, checked (flags/pushCheck.ts): refusal lines, or none. Absent: not checked. */
  checkFlags?(repo: RepositoryConfig, request: GateRequest, quarantine: string | null): Promise<string[]>;
}

/** Each gated branch's new head whose pipeline file is missing or invalid (read from the push's quarantine), with the problem. */
async function pipelineProblems(repo: RepositoryConfig, request: GateRequest, pipelines: Pick<Pipelines, 'problemAt'> | undefined): Promise<PipelineProblem[]> {
  if (!repo.pipeline || !pipelines) return [];
  const quarantine = checkedQuarantine(repo.path, request.quarantine);
  const problems: PipelineProblem[] = [];
  for (const u of request.updates) {
    if (!u.ref.startsWith('refs/heads/') || isZero(u.new) || !repo.gate.includes(u.ref.slice('refs/heads/'.length))) continue;
    const message = await pipelines.problemAt(repo, u.new, quarantine)
      .catch((err: Error) => `could not read ${repo.pipeline} at ${u.new.slice(0, 7)}: ${err.message}`); // unread is unproven: refused
    if (message !== null) problems.push({ ref: u.ref, sha: u.new, message });
  }
  return problems;
}

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
  message: z.string().max(4000).nullable().optional(),
  actor: z.string().max(200).optional(),
});
const History = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().positive().optional(),
});

function branchParam(raw: string | string[]): string {
  const branch = wildcardParam(raw);
  if (!isValidBranchName(branch)) fail('GG_BAD_BRANCH', `"${branch.slice(0, 100)}" is not a valid branch name (git check-ref-format --branch)`);
  return branch;
}

export function treeRouter(deps: TreeApiDeps): Router {
  const r = express.Router();

  // The hook's secret is checked before the body is read.
  const hookOnly: RequestHandler = (req, _res, next) => {
    deps.authorizeHook(String(req.params.repo), req, 'gate');
    next();
  };
  r.post('/gate/:repo', hookOnly, rawBody(MAX_GATE_BODY_BYTES + 64 * 1024), async (req, res) => {
    const repo = findRepository(deps.config, String(req.params.repo));
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    // A revert passes a closed tree only when git proves its tree is the revert (exactRevert.ts).
    let answer = await answerGate(body, deps.gateLookup(repo.name), (update, allowed, request) =>
      proveReverts({ bare: repo.path, quarantine: checkedQuarantine(repo.path, request.quarantine) }, update.commits, allowed));
    if (answer.request && answer.verdict?.accept) {
      let verdict = refuseInvalidPipelines(answer.verdict, await pipelineProblems(repo, answer.request, deps.pipelines));
      // A push the tree lets through is still refused when it breaks the repository's flags file (whatever the bypass).
      const flagLines = verdict.accept && deps.checkFlags
        ? await deps.checkFlags(repo, answer.request, checkedQuarantine(repo.path, answer.request.quarantine)) : [];
      if (flagLines.length) verdict = { accept: false, lines: [...flagLines, 'greengate: push refused (a push lands whole or not at all)'], passes: [] };
      verdict = refuseQueueOnly(verdict, repo, answer.request.updates); // land: queue-only (server/queue/entry.ts)
      answer = { ...answer, verdict, text: formatGateAnswer(verdict) };
    }
    if (answer.request && answer.verdict?.accept) deps.passes.recordPending(repo.name, answer.request, answer.verdict);
    res.set(GATED_HEADER, gatedHeaderValue(repo.gate));
    res.status(answer.status).type('text/plain; charset=utf-8').send(answer.text);
  });

  r.get('/gate-passes/:repo', (req, res) => {
    const q = parseOrThrow(PassesQuery, req.query, 'query');
    const repo = findRepository(deps.config, String(req.params.repo));
    const repoId = deps.store.repos.byName(repo.name)!.id;
    res.json({ passes: deps.store.gatePasses.list({ repoId, state: q.state, before: q.before, limit: q.limit })
      // A revert was proven by git; a fix (Fixes-build) or bypass is only what the pusher claims.
      .map(({ repoId: _r, ...p }) => ({ ...p, commits: JSON.parse(p.commits), claim: p.kind !== 'revert' })) });
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

  r.post('/tree/:repo/*branch', deps.requireAdmin, jsonBody('16kb'), (req, res) => {
    const body = parseOrThrow(SetTree, req.body, 'tree change');
    const branch = branchParam(req.params.branch);
    res.json(deps.setTree(String(req.params.repo), branch, body.state, body.message ?? null, actorOf(res, body.actor)));
  });

  return r;
}
