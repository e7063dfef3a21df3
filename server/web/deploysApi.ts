/**
 * Deploys over HTTP. Everyone reads: `GET /api/deploys?repo=&limit=&before=` (newest first, `next`
 * is the cursor) and `GET /api/deploys/:id` (its stages with their steps' builds and verdicts).
 * Admin only (`requireAdmin`, 401 without the token): `POST /api/deploys/:repo/:branch/pause`
 * `{ reason? }` and `POST /api/deploys/:repo/:branch/resume`; the branch must have `deploy:`.
 * `GET /api/deploys/:repo/:branch/pause` says whether (and why) its deploys wait. A branch may hold
 * "/" (release/1.2), written as is or as %2F.
 * A deploy held by an inconclusive watch has `heldAt` (ms) and `holdReason` (else null): pause rolls
 * it back, resume watches it again (server/deploy/orchestrator.ts).
 */
import express, { type RequestHandler, type Router } from 'express';
import { jsonBody } from './bodyLimit.js';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { DeployRow, StageRow } from '../store/deploys.js';
import type { Verdict } from '../deploy/hooks.js';
import { findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import { parseOrThrow, wildcardParam } from './api.js';
import { actorOf } from './admin.js';

export interface DeploysApiDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'deploys' | 'repos' | 'builds'>;
  requireAdmin: RequestHandler;
  baseUrl: () => string;
  pause(repo: string, branch: string, actor: string | null, reason: string | null): void;
  resume(repo: string, branch: string): void;
  pausedBecause(repo: string, branch: string): string | null;
}

export interface StageJson {
  position: number; name: string; state: string; runBuild: number | null; rollbackBuild: number | null;
  watchStartedAt: number | null; watchEndsAt: number | null; verdict: Verdict | null; startedAt: number | null; finishedAt: number | null;
}
export type DeployJson = Omit<DeployRow, 'commits' | 'repoId'> & { url: string; commits: string[]; stages: StageJson[] };

const List = z.object({
  repo: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.coerce.number().int().positive().optional(),
});
const Pause = z.strictObject({ reason: z.string().max(1000).optional(), actor: z.string().max(200).optional() });

export function stageJson(s: StageRow): StageJson {
  return { position: s.position, name: s.name, state: s.state, runBuild: s.runBuildId, rollbackBuild: s.rollbackBuildId,
    watchStartedAt: s.watchStartedAt, watchEndsAt: s.watchEndsAt, verdict: s.verdict ? JSON.parse(s.verdict) as Verdict : null,
    startedAt: s.startedAt, finishedAt: s.finishedAt };
}

export function deployJson(store: Pick<Store, 'deploys'>, d: DeployRow, baseUrl: string): DeployJson {
  const { repoId: _repoId, commits, ...rest } = d;
  return { ...rest, url: `${baseUrl}/deploys/${d.id}`, commits: JSON.parse(commits) as string[],
    stages: store.deploys.stages(d.id).map(stageJson) };
}

export function deploysRouter(deps: DeploysApiDeps): Router {
  const r = express.Router();
  const deployed = (repoName: string, branch: string) => {
    const repo = findRepository(deps.config, repoName);
    if (!repo.deploy?.[branch]) {
      fail('GG_NOT_FOUND', `${repo.name}/${branch.slice(0, 100)} has no deploy: in greengate.yml (deployed branches: ${Object.keys(repo.deploy ?? {}).join(', ') || 'none'})`);
    }
    return repo;
  };

  r.get('/deploys', (req, res) => {
    const q = parseOrThrow(List, req.query, 'query');
    const repoId = q.repo === undefined ? undefined : deps.store.repos.byName(findRepository(deps.config, q.repo).name)?.id ?? -1;
    const rows = deps.store.deploys.list(q.limit, q.before, repoId);
    res.json({ deploys: rows.map((d) => deployJson(deps.store, d, deps.baseUrl())), next: rows.length === q.limit ? rows[rows.length - 1].id : null });
  });

  r.get('/deploys/:id', (req, res) => {
    const id = parseOrThrow(z.coerce.number().int().positive(), req.params.id, 'deploy id');
    const d = deps.store.deploys.get(id) ?? fail('GG_NOT_FOUND', `no deploy ${id}`);
    res.json({ ...deployJson(deps.store, d, deps.baseUrl()), paused: deps.pausedBecause(d.repo, d.branch) });
  });

  r.get('/deploys/:repo/*branch/pause', (req, res) => {
    const branch = wildcardParam(req.params.branch); // branch names may hold "/"
    const repo = deployed(String(req.params.repo), branch);
    res.json({ repo: repo.name, branch, paused: deps.pausedBecause(repo.name, branch) });
  });

  r.post('/deploys/:repo/*branch/pause', deps.requireAdmin, jsonBody('16kb'), (req, res) => {
    const branch = wildcardParam(req.params.branch); // branch names may hold "/"
    const repo = deployed(String(req.params.repo), branch);
    const body = parseOrThrow(Pause, req.body ?? {}, 'body');
    deps.pause(repo.name, branch, actorOf(res, body.actor), body.reason ?? null);
    res.json({ repo: repo.name, branch, paused: deps.pausedBecause(repo.name, branch) });
  });

  r.post('/deploys/:repo/*branch/resume', deps.requireAdmin, (req, res) => {
    const branch = wildcardParam(req.params.branch); // branch names may hold "/"
    const repo = deployed(String(req.params.repo), branch);
    deps.resume(repo.name, branch);
    res.json({ repo: repo.name, branch, paused: deps.pausedBecause(repo.name, branch) });
  });
  return r;
}
