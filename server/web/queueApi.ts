/**
 * The land queue over HTTP (server/queue/):
 *   POST   /api/queue/:repo              ← { updates: [{ old, new, ref }], pusher? }  the repository's proc-receive hook,
 *                                          proven by its hook secret (hookAuth.ts): queues each refs/for/<branch> update
 *                                          → { queued: [{ id, ref, branch, position, url }] }
 *   GET    /api/queue/:repo/:branch      (the branch may hold "/", as is or %2F) → { repo, branch, mode, window, batch, candidateMs, changes: [...] }  public, like every read
 *                                          (each active change's expectedLandingAt: an estimate, queue/estimate.ts)
 *   DELETE /api/queue/:repo/changes/:id  admin (requireAdmin): takes a queued change out (state removed)
 * The pusher named in a hook's request is who the git server authenticated (same rule as the gate's
 * hook, gate/hooks/settings.sh); the commit is checked against git (queue/entry.ts). Refusals are
 * catalogued GgErrors: GG_HOOK_SECRET, GG_UNKNOWN_REPO, GG_QUEUE_REFUSED, GG_QUEUE_NOT_FOUND, GG_BAD_REQUEST.
 */
import express, { type Request, type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config, RepositoryConfig } from '../config/config.js';
import { findRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import type { QueueChangeRow } from '../store/landQueue.js';
import { actorOf } from './admin.js';
import { jsonBody } from './bodyLimit.js';
import { parseOrThrow, wildcardParam } from './api.js';
import type { QueuedAnswer } from '../queue/entry.js';
import { expectedLandings } from '../queue/estimate.js';

export interface QueueApiDeps {
  config: Pick<Config, 'repositories'>;
  requireAdmin: RequestHandler;
  authorizeHook(repo: string, req: Request, route: 'gate' | 'changes'): RepositoryConfig;
  enqueue(repo: RepositoryConfig, updates: { old: string; new: string; ref: string }[], pusher: string | null): Promise<QueuedAnswer[]>;
  /** The branch's changes (active first in queue order, then the newest finished ones) and its current window. */
  status(repo: string, branch: string): { window: number; batch?: number; changes: QueueChangeRow[]; buildMs?: number | null };
  /** Takes a change out; false when it is not active (landed, ejected…) or not in that repository. */
  remove(repo: string, id: number, actor: string): boolean;
  baseUrl(): string;
}

const sha = z.string().regex(/^[0-9a-f]{40}$/, 'must be a 40-hex commit id');
const Entry = z.strictObject({
  updates: z.array(z.strictObject({ old: sha, new: sha, ref: z.string().min(1).max(1000) })).min(1, 'name at least one update').max(100),
  pusher: z.string().max(200).optional(),
});

/** One change as the API and the page show it. */
export function changeJson(c: QueueChangeRow, position: number | null, baseUrl: string, expectedLandingAt: number | null = null) {
  return {
    id: c.id, position, state: c.state, commit: c.commitSha, base: c.baseSha, pusher: c.pusher, reason: c.reason,
    // Jumped the queue (queue/jump.ts): a revert proven by git, or a fix that is only the pusher's claim.
    jump: c.jump ? { kind: c.jump, reason: c.jumpReason, build: c.jumpBuild, claim: c.jump === 'fix' } : null,
    candidate: c.candidateSha ? { sha: c.candidateSha, build: c.candidateBuildId, url: c.candidateBuildId ? `${baseUrl}/builds/${c.candidateBuildId}` : null } : null,
    landed: c.landedSha, queuedAt: c.queuedAt, updatedAt: c.updatedAt,
    expectedLandingAt, // an estimate (queue/estimate.ts); null once it left the queue or before any candidate was measured
  };
}

/** The branch's changes as the API and the page show them: positions and expected landing times for the active ones. */
export function queueRows(status: { window: number; batch?: number; changes: QueueChangeRow[]; buildMs?: number | null }, baseUrl: string, now: number) {
  const active = status.changes.filter((c) => c.state === 'queued' || c.state === 'testing');
  // A round tests `window` candidates, each holding a batch (queue/batch.ts) of changes.
  const expected = expectedLandings(active, status.window * (status.batch ?? 1), status.buildMs ?? null, now);
  return status.changes.map((c) => {
    const i = active.indexOf(c);
    return i >= 0 ? changeJson(c, i + 1, baseUrl, expected[i]) : changeJson(c, null, baseUrl);
  });
}

export function queueRouter(deps: QueueApiDeps): Router {
  const r = express.Router();

  r.post('/queue/:repo', jsonBody('64kb'), async (req, res) => {
    const repo = deps.authorizeHook(String(req.params.repo), req, 'changes');
    const body = parseOrThrow(Entry, req.body ?? {}, 'queue entry');
    const pusher = body.pusher?.replace(/[\p{Cc}]/gu, '').trim() || null;
    res.json({ queued: await deps.enqueue(repo, body.updates, pusher) });
  });

  r.get('/queue/:repo/*branch', (req, res) => { // branch names may hold "/"
    const repo = findRepository(deps.config, String(req.params.repo));
    const branch = wildcardParam(req.params.branch);
    const mode = repo.land?.[branch];
    if (!mode) fail('GG_QUEUE_NOT_FOUND', `branch "${branch.slice(0, 200)}" of ${repo.name} has no land queue (land: in greengate.yml)`);
    const status = deps.status(repo.name, branch);
    res.json({ repo: repo.name, branch, mode, window: status.window, batch: status.batch ?? 1, candidateMs: status.buildMs ?? null, changes: queueRows(status, deps.baseUrl(), Date.now()) });
  });

  r.delete('/queue/:repo/changes/:id', deps.requireAdmin, (req, res) => {
    const repo = findRepository(deps.config, String(req.params.repo));
    const id = Number(req.params.id);
    if (!Number.isSafeInteger(id) || id <= 0) fail('GG_BAD_REQUEST', `change id "${String(req.params.id).slice(0, 40)}" is not a positive whole number`);
    if (!deps.remove(repo.name, id, actorOf(res))) fail('GG_QUEUE_NOT_FOUND', `change ${id} of ${repo.name} is not in the land queue (never queued, or already landed, ejected or removed)`);
    res.json({ id, state: 'removed' });
  });

  return r;
}
