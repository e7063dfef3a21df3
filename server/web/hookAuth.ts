/**
 * Who may call the hook routes (`POST /api/gate/:repo`, `POST /api/changes`): the repository's
 * own hooks, proven by its hook secret (server/gate/hookSecret.ts) in the
 * X-Greengate-Hook-Secret header. Anything else answers 404 (unknown repository) or 401
 * GG_HOOK_SECRET, is logged at warn and counted in /metrics.
 */
import type { Request } from 'express';
import type { App } from '../main.js';
import type { RepositoryConfig } from '../config/config.js';
import { GgError } from '../errors.js';
import { HOOK_SECRET_HEADER, hookSecrets } from '../gate/hookSecret.js';
import { hookMetricsOf } from '../metrics.js';

export function authorizeHook(app: App, repoName: string, req: Request, route: 'gate' | 'changes'): RepositoryConfig {
  const repo = app.config.repositories.find((r) => r.name === repoName);
  if (!repo) throw new GgError('GG_UNKNOWN_REPO', `unknown repository "${repoName.slice(0, 100)}": it is not in greengate.yml`);
  try {
    hookSecrets.check(repo.name, repo.path, req.get(HOOK_SECRET_HEADER));
  } catch (err) {
    const metrics = hookMetricsOf(app.metrics);
    if (route === 'gate') metrics.gateUnauthenticated.inc();
    else metrics.changesRejected.inc({ reason: 'unauthenticated' });
    app.log.warn({ ip: req.ip, repo: repo.name, route, why: (err as Error).message }, 'hook call without a valid hook secret refused');
    throw err;
  }
  return repo;
}
