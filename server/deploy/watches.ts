/**
 * The watches of deployed stages and what their verdicts decide (the immune response and the
 * hold of deploy/orchestrator.ts's contract): one running watch per deploy, its verdict applied in
 * ONE transaction — promoted, held (inconclusive: fails closed), rolled back as `failed` (the
 * watcher failed) or `regressed` (rollback queued, tree closed with the evidence, alert
 * enqueued). The orchestrator owns the stage machine; this module calls back into it
 * (StageMachine) and never awaits inside a transaction. close() drops every watch and every
 * verdict that arrives after it.
 */
import type { DeployRow } from '../store/deploys.js';
import type { Verdict } from './hooks.js';
import { describeVerdict } from './evidence.js';
import { findStage } from './steps.js';
import { storedBook } from '../immune/samples.js';
import type { OrchestratorDeps } from './orchestrator.js';

/** What a verdict does to the deploy, in the orchestrator (each inside the caller's transaction but kick). */
export interface StageMachine {
  promote(deploy: DeployRow, position: number, verdict: Verdict | null, now: number): void;
  rollbackStage(deploy: DeployRow, position: number, now: number): void;
  alert(deployId: number): void;
  kick(): Promise<void>;
}

export class DeployWatches {
  private readonly watches = new Map<number, AbortController>(); // deploy id → its running watch
  private closed = false;

  constructor(private readonly d: OrchestratorDeps, private readonly machine: StageMachine) {}

  /** Whether the deploy's stage is being watched now. */
  has(deployId: number): boolean { return this.watches.has(deployId); }

  close(): void {
    this.closed = true;
    for (const c of this.watches.values()) c.abort();
    this.watches.clear();
  }

  /** Watches the deploy's current stage (hooks.watch); its verdict moves the deploy. */
  watch(deploy: DeployRow): void {
    const stage = this.d.store.deploys.stages(deploy.id)[deploy.stage];
    const config = findStage(this.d.config, deploy.repo, deploy.branch, stage.name);
    const controller = new AbortController();
    this.watches.set(deploy.id, controller);
    const spec = config?.watch;
    if (!spec) { // greengate.yml no longer watches this stage (reloaded): nothing to compare
      this.verdict(deploy.id, deploy.stage, { regression: false, evidence: [] }, null);
      this.watches.delete(deploy.id);
      return;
    }
    this.d.log.info({ deploy: deploy.id, stage: stage.name, seconds: spec.seconds }, 'watching a deployed stage');
    this.d.hooks.watch(spec, { signal: controller.signal, startedAt: stage.watchStartedAt ?? undefined,
      samples: storedBook(this.d.store.watchSamples, deploy.id, deploy.stage),
      firstDeploy: !this.d.store.deploys.lastDeployed(deploy.repoId, deploy.branch), stageStartedAt: stage.startedAt ?? undefined }).then(
      (verdict) => this.verdict(deploy.id, deploy.stage, verdict, null),
      (err: Error) => this.verdict(deploy.id, deploy.stage, null, err),
    ).finally(() => { if (this.watches.get(deploy.id) === controller) this.watches.delete(deploy.id); });
  }

  private verdict(deployId: number, position: number, verdict: Verdict | null, err: Error | null): void {
    if (this.closed || this.watches.get(deployId)?.signal.aborted) return;
    const { store } = this.d;
    const now = Date.now();
    store.tx(() => {
      const deploy = store.deploys.get(deployId);
      if (!deploy || deploy.state !== 'watching' || deploy.stage !== position || deploy.heldAt !== null) return;
      const stage = store.deploys.stages(deployId)[position];
      if (verdict && !verdict.regression && verdict.inconclusive) { // fails closed: held until a person decides
        store.deploys.stageVerdict(deployId, position, verdict);
        if (store.deploys.hold(deployId, `stage ${stage.name}: inconclusive: ${verdict.inconclusive}`, now)) this.machine.alert(deployId);
        this.d.log.warn({ deploy: deployId, stage: stage.name, reason: verdict.inconclusive },
          'deploy held: its watch had no data for a window (greengate deploy resume watches again, pause rolls it back)');
        return; // its deploy.held alert is in the outbox with this transaction
      }
      if (verdict && !verdict.regression) return this.machine.promote(deploy, position, verdict, now);
      if (!verdict) {
        store.deploys.stageEnded(deployId, position, 'failed', null, now);
        store.deploys.beginRollback(deployId, position, 'failed', `stage ${stage.name}: the watch failed: ${err?.message ?? 'unknown error'}`, false);
        this.machine.alert(deployId);
        return this.machine.rollbackStage(deploy, position, now);
      }
      const text = describeVerdict(verdict);
      const url = `${this.d.baseUrl()}/deploys/${deployId}`;
      store.deploys.stageEnded(deployId, position, 'regressed', verdict, now);
      store.deploys.beginRollback(deployId, position, 'rolled_back', `stage ${stage.name}: regression: ${text}`, true);
      this.machine.alert(deployId);
      this.machine.rollbackStage(deploy, position, now);
      this.d.tree.closeForRollback(deploy.repo, deploy.branch,
        `deploy ${deployId} of ${deploy.sha.slice(0, 10)} rolled back at stage ${stage.name}: ${text} — ${url}`,
        `deploy ${deployId} regressed at stage ${stage.name}`, JSON.parse(deploy.commits) as string[]);
    });
    this.d.log.info({ deploy: deployId, position, regression: verdict?.regression ?? null, err: err?.message }, 'watch ended');
    void this.machine.kick();
  }

  /** Every configured stage's watch source is read from start-up on (its baseline before a deploy). */
  followAll(): void {
    for (const repo of this.d.config.repositories) {
      for (const deploy of Object.values(repo.deploy ?? {})) {
        for (const stage of deploy.stages) {
          if (!stage.watch) continue;
          try {
            this.d.hooks.follow(stage.watch);
          } catch (err) {
            this.d.log.warn({ err, repo: repo.name, stage: stage.name }, 'cannot follow a stage\'s watch source');
          }
        }
      }
    }
  }
}
