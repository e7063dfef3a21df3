/**
 * The feature flags' kill switch over HTTP (flags/kills.ts):
 *   POST /api/flags/:repo/:key/kill     ← { message? }  admin (requireAdmin): the flag serves its
 *   POST /api/flags/:repo/:key/restore  ← { message? }  defaultVariant to everyone / is restored
 *   GET  /api/flags/:repo                → { repo, sha, problem, flags: [{ key, state, defaultVariant, variants, killed,
 *                                          unreferenced, removable }], undefinedRefs: [{ key, file }], hygieneAt }
 *   GET  /api/flags/:repo/:key/history   → { events: [{ action, actor, message, at }] }  (newest first)
 *   GET  /api/flags/:repo/:key/rollout   → the guarded rollout (flags/rollouts.ts RolloutView); 404 without one
 * Who may call: kill and restore need an admin token (the admin's name is recorded); the reads are
 * public like the tree's history (flag keys, variant names and who killed what; never a token,
 * never a targeting rule). Refusals are catalogued GgErrors: GG_UNKNOWN_REPO, GG_FLAGS_OFF (the
 * repository has no flags:), GG_FLAG_NOT_FOUND (killing a key its flags file does not define).
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import { flagsRepository } from '../config/repositories.js';
import { fail } from '../errors.js';
import type { FlagKills } from '../flags/kills.js';
import type { FlagLibrary } from '../flags/library.js';
import type { FlagRollouts } from '../flags/rollouts.js';
import { actorOf } from './admin.js';
import { jsonBody } from './bodyLimit.js';
import { parseOrThrow } from './api.js';

export interface FlagsApiDeps {
  config: Pick<Config, 'repositories'>;
  requireAdmin: RequestHandler;
  library: Pick<FlagLibrary, 'of'> & Partial<Pick<FlagLibrary, 'hygiene'>>;
  kills: Pick<FlagKills, 'kill' | 'restore' | 'history' | 'lookup'>;
  rollouts?: Pick<FlagRollouts, 'view'>;
}

const Change = z.strictObject({
  message: z.string().max(4000, 'must be at most 4000 characters').nullable().optional(),
  actor: z.string().max(200).optional(),
});

/** Days at 100 % after which a flag is marked for removal (its guarded rollout done that long ago). */
export const REMOVAL_DAYS = 30;

/**
 * The flags listed for a repository (what GET /api/flags/:repo and the flag pages show), with their
 * hygiene: `unreferenced` (no file at the served commit names the key), `removable` (at 100 % for
 * REMOVAL_DAYS: its rollout done that long ago), and the code's references to undefined flags.
 */
export function flagList(deps: Pick<FlagsApiDeps, 'library' | 'kills' | 'rollouts'>, repo: string, now = Date.now()) {
  const loaded = deps.library.of(repo);
  const killed = deps.kills.lookup(repo);
  const hygiene = deps.library.hygiene?.get(repo);
  const flags = Object.entries(loaded.set?.definition.flags ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([key, f]) => {
    const rollout = deps.rollouts?.view(repo, key);
    const removable = rollout?.state === 'done' && rollout.percent === 100 && rollout.points.length > 0
      && now - rollout.points[rollout.points.length - 1].at >= REMOVAL_DAYS * 86_400_000;
    return { key, state: f.state, defaultVariant: f.defaultVariant ?? null, variants: Object.keys(f.variants ?? {}), killed: killed(key),
      unreferenced: hygiene && hygiene.sha === loaded.sha ? hygiene.unreferenced.includes(key) : null, removable };
  });
  return { repo, sha: loaded.sha, problem: loaded.problem, flags, undefinedRefs: hygiene?.undefinedRefs ?? [],
    hygieneAt: hygiene?.sha ?? null, hygieneProblem: hygiene?.problem ?? null };
}

export function flagsRouter(deps: FlagsApiDeps): Router {
  const r = express.Router();
  const flagsRepo = (name: string) => flagsRepository(deps.config, name);

  r.get('/flags/:repo', (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    res.json(flagList(deps, repo.name));
  });

  r.get('/flags/:repo/:key/history', (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    res.json({ events: deps.kills.history(repo.name, String(req.params.key))
      .map((e) => ({ id: e.id, action: e.action, actor: e.actor, message: e.message, at: e.at })) });
  });

  r.get('/flags/:repo/:key/rollout', (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    const view = deps.rollouts?.view(repo.name, key)
      ?? fail('GG_FLAG_NOT_FOUND', `repository ${repo.name} has no rollout of "${key.slice(0, 100)}": rollouts are set in greengate.yml under flags.rollouts`);
    res.json(view);
  });

  r.post('/flags/:repo/:key/:action', deps.requireAdmin, jsonBody('16kb'), (req, res) => {
    const repo = flagsRepo(String(req.params.repo));
    const key = String(req.params.key);
    const action = String(req.params.action);
    if (action !== 'kill' && action !== 'restore') fail('GG_NOT_FOUND', `no flag action "${action.slice(0, 40)}": use POST /api/flags/${repo.name}/${key}/kill or …/restore`);
    const body = parseOrThrow(Change, req.body ?? {}, 'flag change');
    const actor = actorOf(res, body.actor);
    const message = body.message?.trim() || null;
    if (action === 'kill') deps.kills.kill(repo.name, key, actor, message);
    else deps.kills.restore(repo.name, key, actor, message);
    res.json({ repo: repo.name, key, killed: deps.kills.lookup(repo.name)(key) });
  });

  return r;
}
