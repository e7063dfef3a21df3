/**
 * The server's copy of each repository's hook secret over HTTP: `PUT /api/repos/:repo/hook-secret`
 * `{ secret: "<64 hex digits>" }` — admin only (`requireAdmin`: 401 GG_ADMIN_TOKEN without the
 * token). `greengate hook install --admin-token-file FILE` calls it after writing the hook's copy,
 * so the server (its own Unix user) never reads files inside the repositories to authenticate a
 * hook (gate/hookSecret.ts, docs/operations.md "Users, groups and modes"). 404 for a repository
 * not in greengate.yml, 400 for a malformed body; answers 204. The secret is never logged.
 */
import express, { type RequestHandler, type Router } from 'express';
import { z } from 'zod';
import type { Logger } from 'pino';
import type { RepositoryConfig } from '../config/config.js';
import { findRepository } from '../config/repositories.js';
import { hookSecrets, storeServerSecret, SECRET } from '../gate/hookSecret.js';
import { jsonBody } from './bodyLimit.js';
import { parseOrThrow } from './api.js';

export interface HookSecretApiDeps {
  config: { repositories: RepositoryConfig[]; data: string };
  requireAdmin: RequestHandler;
  log: Logger;
}

const Body = z.strictObject({ secret: z.string().regex(SECRET, 'must be the 64 lowercase hex digits of the repository\'s greengate-hook-secret') });

export function hookSecretRouter(deps: HookSecretApiDeps): Router {
  const r = express.Router();
  r.put('/repos/:repo/hook-secret', deps.requireAdmin, jsonBody(4096), (req, res) => {
    const repo = findRepository(deps.config, String(req.params.repo));
    const body = parseOrThrow(Body, req.body ?? {}, 'hook secret');
    storeServerSecret(deps.config.data, repo.name, body.secret);
    hookSecrets.forget(repo.name);
    deps.log.info({ repo: repo.name }, 'hook secret registered');
    res.status(204).end();
  });
  return r;
}
