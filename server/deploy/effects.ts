/**
 * What a deploy's end makes happen outside greengate:
 * - the revert of a rolled back deploy's commits (hooks.revert; `revert_state` pending → done |
 *   failed), made once after the commit and recorded, so a restart makes what was recorded but not
 *   made. Called by the orchestrator outside any transaction.
 * - its alert, `deployAlert`: deploy.rolledBack, deploy.failed, or deploy.held for a deploy held by
 *   an inconclusive watch — built from the deploy's row and enqueued into the outbox (hooks.notify)
 *   by the orchestrator inside the transaction that rolls the deploy back or holds it, so the
 *   alert exists exactly when that change committed (the outbox retries its deliveries).
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { DeployRow } from '../store/deploys.js';
import type { DeployHooks } from './hooks.js';
import type { DeployEndedPayload, DeployHeldPayload } from '../notify/kinds.js';

export interface EffectsDeps { store: Store; hooks: DeployHooks; log: Logger; baseUrl: () => string }

export type DeployAlert =
  | { kind: 'deploy.held'; payload: DeployHeldPayload }
  | { kind: 'deploy.rolledBack' | 'deploy.failed'; payload: DeployEndedPayload };

export async function makeEffects(d: EffectsDeps, deploy: DeployRow): Promise<void> {
  const { store, hooks, log } = d;
  const shas = JSON.parse(deploy.commits) as string[];
  if (deploy.revertState === 'pending') {
    try {
      await hooks.revert(deploy.repo, deploy.branch, shas, `deploy ${deploy.id} rolled back: ${deploy.reason ?? ''}`, deploy.id);
      store.deploys.setRevert(deploy.id, 'done', null);
    } catch (err) {
      log.error({ err, deploy: deploy.id }, 'the revert of a rolled back deploy failed');
      store.deploys.setRevert(deploy.id, 'failed', (err as Error).message);
    }
  }
}

/** The alert a deploy's row calls for now: held (it is held), or its rollback's outcome. */
export function deployAlert(store: Store, deploy: DeployRow, baseUrl: string): DeployAlert {
  const url = `${baseUrl}/deploys/${deploy.id}`;
  if (deploy.heldAt !== null) {
    return { kind: 'deploy.held', payload: {
      text: `${deploy.repo}/${deploy.branch}: deploy ${deploy.id} of ${deploy.sha.slice(0, 10)} is held: ${deploy.holdReason ?? ''} — ` +
        `greengate deploy resume watches it again, greengate deploy pause rolls it back\n${url}`,
      deploy: deploy.id, repo: deploy.repo, branch: deploy.branch, sha: deploy.sha, reason: deploy.holdReason, url,
    } };
  }
  const what = deploy.outcome === 'failed' ? 'failed and was rolled back' : 'regressed and was rolled back';
  return { kind: deploy.outcome === 'failed' ? 'deploy.failed' : 'deploy.rolledBack', payload: {
    text: `${deploy.repo}/${deploy.branch}: deploy ${deploy.id} of ${deploy.sha.slice(0, 10)} ${what}: ${deploy.reason ?? ''}\n${url}`,
    deploy: deploy.id, repo: deploy.repo, branch: deploy.branch, sha: deploy.sha, commits: JSON.parse(deploy.commits) as string[],
    reason: deploy.reason, url,
    stages: store.deploys.stages(deploy.id).map((s) => ({ name: s.name, state: s.state, verdict: s.verdict ? JSON.parse(s.verdict) as unknown : null })),
  } };
}
