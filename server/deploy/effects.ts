/**
 * What a deploy's end makes happen outside greengate, each once and recorded when made (so a
 * restart makes what was recorded but not made): the revert of a rolled back deploy's commits
 * (hooks.revert; `revert_state` pending → done | failed) and its alert (hooks.notify;
 * `alert_state` pending → done): deploy.rolledBack, deploy.failed, or deploy.held for a deploy held
 * by an inconclusive watch. A failed alert is logged and not retried. Called by the orchestrator
 * outside any transaction.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { DeployRow } from '../store/deploys.js';
import type { DeployHooks } from './hooks.js';

export interface EffectsDeps { store: Store; hooks: DeployHooks; log: Logger; baseUrl: () => string }

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
  if (deploy.alertState === 'pending' && deploy.heldAt !== null) {
    const url = `${d.baseUrl()}/deploys/${deploy.id}`;
    try {
      await hooks.notify('deploy.held', {
        text: `${deploy.repo}/${deploy.branch}: deploy ${deploy.id} of ${deploy.sha.slice(0, 10)} is held: ${deploy.holdReason ?? ''} — ` +
          `greengate deploy resume watches it again, greengate deploy pause rolls it back\n${url}`,
        deploy: deploy.id, repo: deploy.repo, branch: deploy.branch, sha: deploy.sha, reason: deploy.holdReason, url,
      });
    } catch (err) {
      log.error({ err, deploy: deploy.id }, 'the alert of a held deploy failed');
    }
    store.deploys.markAlerted(deploy.id);
  } else if (deploy.alertState === 'pending') {
    try {
      const what = deploy.outcome === 'failed' ? 'failed and was rolled back' : 'regressed and was rolled back';
      await hooks.notify(deploy.outcome === 'failed' ? 'deploy.failed' : 'deploy.rolledBack', {
        text: `${deploy.repo}/${deploy.branch}: deploy ${deploy.id} of ${deploy.sha.slice(0, 10)} ${what}: ${deploy.reason ?? ''}\n` +
          `${d.baseUrl()}/deploys/${deploy.id}`,
        deploy: deploy.id, repo: deploy.repo, branch: deploy.branch, sha: deploy.sha, commits: shas, reason: deploy.reason,
        url: `${d.baseUrl()}/deploys/${deploy.id}`,
        stages: store.deploys.stages(deploy.id).map((s) => ({ name: s.name, state: s.state, verdict: s.verdict ? JSON.parse(s.verdict) : null })),
      });
    } catch (err) {
      log.error({ err, deploy: deploy.id }, 'the alert of a deploy failed');
    }
    store.deploys.markAlerted(deploy.id);
  }
}
