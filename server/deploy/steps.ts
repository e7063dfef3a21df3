/**
 * Deploy steps on runners: a stage's `run` or `rollback` is a build of one unit, so it goes
 * through the unit path as tests do — a runner chosen by the stage's `runsOn` labels, a checkout
 * of the deployed commit, the GREENGATE_* variables, a streamed and acknowledged log, a retry on
 * another runner when it fails, reclaim or requeue when a runner or the server goes away.
 *
 * Such a build has purpose 'deploy' or 'rollback' (migrations/022: the one marker; stored as kind
 * 'try', so it never touches the tree), ref `refs/deploy/<branch>/<stage>` (the step sees it as
 * GREENGATE_REF) and builder `deploy:<stage>` or `rollback:<stage>` (the stage's name); its
 * builder configuration is made here from the stage (builderOf), never from `builders:`.
 * `createStep` runs inside the caller's transaction, through the lifecycle (every build is made there).
 */
import type { BuilderConfig, Config } from '../config/config.js';
import type { StageConfig } from '../config/deploy.js';
import type { BuildPurpose } from '../store/builds.js';
import type { BuildLifecycle } from '../results/lifecycle.js';

export const DEPLOY_REF_PREFIX = 'refs/deploy/';
export type StepKind = 'deploy' | 'rollback';

export function isDeployStep(build: { purpose?: BuildPurpose }): boolean {
  return build.purpose === 'deploy' || build.purpose === 'rollback';
}

export function stepRef(branch: string, stage: string): string { return `${DEPLOY_REF_PREFIX}${branch}/${stage}`; }

/** The stage of a repository's branch deploy, or undefined when greengate.yml no longer has it. */
export function findStage(config: Readonly<Config>, repo: string, branch: string, stage: string): StageConfig | undefined {
  return config.repositories.find((r) => r.name === repo)?.deploy?.[branch]?.stages.find((s) => s.name === stage);
}

/** The builder a deploy step runs as (lifecycle.builderOf's answer for a step build). */
export function stepBuilder(config: Readonly<Config>, build: { repo: string; branch?: string; builder: string; purpose?: BuildPurpose }): BuilderConfig | undefined {
  if (!isDeployStep(build) || build.branch === undefined) return undefined;
  const kind = build.purpose as StepKind;
  const stageName = stageOf(build.builder, kind);
  const stage = stageName === null ? undefined : findStage(config, build.repo, build.branch, stageName);
  if (!stage) return undefined;
  return {
    name: build.builder, setup: null, tests: null, run: kind === 'deploy' ? stage.run : stage.rollback, junit: null,
    timeout: stage.timeout, quarantine: [], unitTargetSeconds: 2, cache: [],
    ...(stage.runsOn ? { runsOn: stage.runsOn } : {}),
    ...(stage.sandbox ? { sandbox: stage.sandbox } : {}),
  };
}

/** The stage a step's builder name (`deploy:<stage>`, `rollback:<stage>`) names. */
function stageOf(builder: string, kind: StepKind): string | null {
  return builder.startsWith(`${kind}:`) ? builder.slice(kind.length + 1) : null;
}

/** Creates the one-unit build of a step (in the caller's transaction); returns its id. */
export function createStep(lifecycle: BuildLifecycle, d: { repoId: number; branch: string; sha: string },
  stage: string, kind: StepKind, at: number): number {
  return lifecycle.create({ repoId: d.repoId, builder: `${kind}:${stage}`, ref: stepRef(d.branch, stage), branch: d.branch,
    kind: 'try', purpose: kind, sha: d.sha, baseSha: null, changeId: null, pushedAt: at, at, blamelist: [] }, [{ files: [], expectedMs: 0 }]);
}
