/**
 * Builds nobody pushed (issue 23 items 6 and 7): a branch head built by hand (an admin's "Build
 * now", `POST /api/repos/:repo/builds`, `greengate build`) or by its builder's `schedule:`, and a
 * re-run of only what failed in a finished build.
 *
 * - `start`: the head of refs/heads/BRANCH as git has it now, on the named builder or every builder
 *   of the repository, with the params asked for (config/params.ts; the declared defaults fill in
 *   the rest). Kind 'branch', purpose 'normal', an empty blamelist and the change of the ref's last
 *   pushed build when that built the same commit (else none): it counts for the tree as a rebuild
 *   of that commit does. Its cause ('manual' with the admin's name, or 'schedule') is stored with it.
 * - `rerunFailed`: a new build of the same commit, ref and builder running only the failed units'
 *   files (`rerunUnits` takes the set of failed units and their files: steps add theirs there),
 *   recorded as a rebuild of the original (cause 'rerun', `rebuild_of`), with the original's change
 *   (push order) and params, so its result counts for the tree exactly as a rebuild's does.
 *
 * Every refusal is a catalogued GgError naming what is wrong; nothing is created then.
 */
import type { Config, BuilderConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { BuildRow } from '../store/builds.js';
import type { BuildCause } from '../store/buildCauses.js';
import type { Splitter } from '../planning/splitter.js';
import type { PlannedUnit } from '../planning/planner.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import { unitFiles, type UnitRow } from '../store/units.js';
import { isValidBranchName } from '../config/config.js';
import { findBuilder, findRepository } from '../config/repositories.js';
import { checkRequestedParams } from '../config/params.js';
import { fail } from '../errors.js';
import { git } from '../git.js';
import { hasSteps, stepsOf, stepsWithNeeds } from '../config/steps.js';
import type { PlannedStep } from '../store/steps.js';
import type { Pipelines } from './pipelines.js';
import { specOf } from './intake.js';

export interface StartRequest {
  repo: string;
  /** Absent: the repository's first gated branch. */
  branch?: string;
  /** Absent: every builder of the repository. */
  builder?: string;
  params?: Readonly<Record<string, string>>;
  cause: Extract<BuildCause, 'manual' | 'schedule'>;
  /** The admin who asked; null for a schedule. */
  by: string | null;
  /** Called inside the transaction that creates the builds; false: create none (a schedule someone else ran). */
  claim?: () => boolean;
}

/** A failed unit of a build: what a re-run runs again. */
/** A failed unit: its files and its step's label (null: the builder's one step). */
export interface FailedUnit { files: readonly string[]; step?: string | null }

export class ManualBuilds {
  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly splitter: Splitter,
    private readonly lifecycle: BuildLifecycle,
    private readonly queued: () => void,
    private readonly pipelines: Pick<Pipelines, 'buildersAt'>,
  ) {}

  /** Builds the branch head; the new builds' ids ([] when `claim` said no). */
  async start(r: StartRequest): Promise<number[]> {
    const repo = findRepository(this.config, r.repo);
    const branch = r.branch ?? repo.gate[0];
    if (branch === undefined) fail('GG_BAD_REQUEST', `repository ${repo.name} has no gate: branch to build by default — name the branch (--branch B, or "branch" in the body)`);
    if (!isValidBranchName(branch)) fail('GG_BAD_BRANCH', `"${branch.slice(0, 100)}" is not a valid git branch name — give a branch such as main`);
    const ref = `refs/heads/${branch}`;
    const sha = await git(repo.path, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).then((s) => s.trim(), () => '');
    if (!/^[0-9a-f]{40}$/.test(sha)) fail('GG_NOT_FOUND', `repository ${repo.name} has no branch ${branch} — push it first, or name another branch`);
    // A repository with `pipeline:` builds the builders of the file at the head (GG_PIPELINE_INVALID when it is not valid there).
    const atHead = await this.pipelines.buildersAt(repo, sha);
    const builders = r.builder === undefined ? [...atHead] : [findBuilder({ ...repo, builders: [...atHead] }, r.builder)];
    const params = checkRequestedParams(builders, r.params ?? {});
    const row = this.store.repos.byName(repo.name)!;
    const planned = await Promise.all(builders.map(async (b) => ({ b, units: await this.splitter.planFor(repo, row, b, sha) })));
    const ids = this.store.tx(() => {
      if (r.claim && !r.claim()) return [];
      const at = Date.now();
      return planned.map(({ b, units }) => {
        const pushed = this.store.builds.lastPushedFor(row.id, b.name, ref);
        const changeId = pushed && pushed.sha === sha ? this.store.builds.changeOf(pushed.id) : null;
        const id = this.lifecycle.create({ repoId: row.id, builder: b.name, ref, branch, kind: 'branch', sha, baseSha: sha, changeId,
          pushedAt: at, at, blamelist: [], builderSpec: specOf(repo, b) }, units);
        this.store.buildCauses.record(id, { cause: r.cause, startedBy: r.by, rebuildOf: null, params: params.get(b.name) ?? {} });
        return id;
      });
    });
    this.announce(ids);
    return ids;
  }

  /** Re-runs the failed units of a finished build; the new build's id. */
  async rerunFailed(build: BuildRow, by: string): Promise<number> {
    if (build.state !== 'done') fail('GG_NOTHING_FAILED', `build ${build.id} has not finished: wait for it to end, or cancel it, then re-run what failed`);
    const failed = failedUnits(this.store.units.byBuild(build.id));
    if (failed.length === 0) fail('GG_NOTHING_FAILED', `build ${build.id} has no failed unit to run again — use rebuild to build the whole commit again`);
    return this.rerunUnits(build, failed, by, await this.failedSteps(build, failed));
  }

  /** A rebuild of `build` running only these units' files (every file of a builder without `tests`). */
  rerunUnits(build: BuildRow, failed: readonly FailedUnit[], by: string, steps?: readonly PlannedStep[]): number {
    if (build.kind === 'bisect' || build.purpose !== 'normal') {
      fail('GG_BAD_REQUEST', `build ${build.id} is a ${build.purpose} build: the server makes those itself — re-run the build it came from instead`);
    }
    const builder = this.lifecycle.builderOf(build);
    if (!builder) fail('GG_UNKNOWN_BUILDER', `${build.repo}/${build.builder} is no longer configured in greengate.yml`);
    const row = this.store.repos.byName(build.repo)!;
    const at = Date.now();
    const units = this.plan(row, builder, failed, at);
    const id = this.store.tx(() => {
      const newId = this.lifecycle.create({ repoId: row.id, builder: builder.name, ref: build.ref, branch: build.branch,
        kind: build.kind === 'try' ? 'try' : 'branch', sha: build.sha, baseSha: build.sha, changeId: this.store.builds.changeOf(build.id),
        pushedAt: at, at, blamelist: [], builderSpec: build.builderSpec ?? null }, units, steps);
      this.store.buildCauses.record(newId, { cause: 'rerun', startedBy: by, rebuildOf: build.id,
        params: this.store.buildCauses.of(build.id)?.params ?? {} });
      return newId;
    });
    this.announce([id]);
    return id;
  }

  /**
   * A stepped build's re-run: its failed and skipped steps and the steps they need (stepsWithNeeds), each planned
   * in full except a failed sharded step, which runs only its failed units' files. undefined without steps.
   */
  private async failedSteps(build: BuildRow, failed: readonly FailedUnit[]): Promise<PlannedStep[] | undefined> {
    const builder = this.lifecycle.builderOf(build);
    if (!builder || !hasSteps(builder)) return undefined;
    const repo = findRepository(this.config, build.repo);
    const row = this.store.repos.byName(build.repo)!;
    // Failed steps and those they left skipped (as GitHub's "re-run failed jobs" runs their dependents too); stepsWithNeeds adds what they need.
    const names = this.store.steps.byBuild(build.id).filter((st) => st.result === 'failed' || st.result === 'exception' || st.result === 'skipped')
      .map((st) => st.stepName);
    const at = Date.now();
    return Promise.all(stepsWithNeeds(stepsOf(builder), names).map(async (st) => {
      const mine = failed.filter((u) => u.step === st.step);
      const plan = mine.length > 0 ? this.plan(row, st, mine, at) : await this.splitter.planFor(repo, row, st, build.sha);
      return { name: st.step, stepName: st.stepName, needs: st.needs, matrix: st.matrix, plan };
    }));
  }

  private plan(row: { id: number }, builder: BuilderConfig, failed: readonly FailedUnit[], at: number): PlannedUnit[] {
    const files = [...new Set(failed.flatMap((u) => u.files))];
    if (!builder.tests || files.length === 0 || failed.some((u) => u.files.length === 0)) {
      return [{ files: [], expectedMs: this.store.tests.fileDurationsOf(row.id, builder.name, ['']).get('') ?? 0 }];
    }
    return this.splitter.split(row as Parameters<Splitter['split']>[0], builder, files, this.splitter.runnerSlots(at));
  }

  private announce(ids: readonly number[]): void {
    for (const id of ids) this.lifecycle.announce(id);
    if (ids.length) this.queued();
  }
}

/** The units whose last attempt failed or ended in an exception (a retried unit counts by its last attempt). */
export function failedUnits(units: readonly UnitRow[]): FailedUnit[] {
  const last = new Map<number, UnitRow>();
  for (const u of units) {
    const seen = last.get(u.seq);
    if (!seen || u.attempt > seen.attempt || (u.attempt === seen.attempt && u.id > seen.id)) last.set(u.seq, u);
  }
  return [...last.values()].filter((u) => u.result === 'failed' || u.result === 'exception').map((u) => ({ files: unitFiles(u), step: u.step ?? null }));
}
