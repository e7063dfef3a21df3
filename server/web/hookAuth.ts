/**
 * Who may call the hook routes (`POST /api/gate/:repo`, `POST /api/changes`): the repository's
 * own hooks, proven by its hook secret (server/gate/hookSecret.ts: the server's own copy in
 * <data>/hook-secrets/, else a single-user install's repository file) in the
 * X-Greengate-Hook-Secret header. Anything else answers 404 (unknown repository) or 401
 * GG_HOOK_SECRET, is logged at warn and counted in /metrics.
 */
import type { Request } from 'express';
import type { Logger } from 'pino';
import type { RepositoryConfig } from '../config/config.js';
import { HOOK_SECRET_HEADER, hookSecrets } from '../gate/hookSecret.js';
import type { HookMetrics } from '../metrics.js';
import { findRepository } from '../config/repositories.js';

export interface HookAuthDeps { config: { repositories: RepositoryConfig[]; data?: string }; metrics: HookMetrics; log: Logger }

export function authorizeHook(deps: HookAuthDeps, repoName: string, req: Request, route: 'gate' | 'changes'): RepositoryConfig {
  const repo = findRepository(deps.config, repoName);
  try {
    hookSecrets.check(repo.name, repo.path, req.get(HOOK_SECRET_HEADER), deps.config.data);
  } catch (err) {
    const metrics = deps.metrics;
    if (route === 'gate') metrics.gateUnauthenticated.inc();
    else metrics.changesRejected.inc({ reason: 'unauthenticated' });
    deps.log.warn({ ip: req.ip, repo: repo.name, route, why: (err as Error).message }, 'hook call without a valid hook secret refused');
    throw err;
  }
  return repo;
}
