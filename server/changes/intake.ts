/**
 * Build creation. A new head on refs/heads/B creates one build per builder, or joins that
 * builder's build of B while it is still queued (its blamelist grows). refs/try/N builds on every
 * builder and never joins. A blamelist is read from the branch's ref history as recorded at intake
 * (push order): the commits since the ref's previous head (RefUpdate.old, the head recorded before
 * this push, refs.ts), never since whatever build was made last — an admin's rebuild of an old
 * commit neither widens the next blamelist nor is joined by a push. Units: the builder's `tests` glob matched at the commit and split by
 * splitter.ts; a queued build is split again when a push joins it. A builder with `steps:` has
 * every step planned the same way (splitter.planSteps) and stored with the build; the lifecycle
 * queues the units of the steps that can start (results/steps.ts). The lifecycle writes the units
 * and tells observers; the queue dispatches once the build exists.
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig, BuilderConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { RepoRow } from '../store/repos.js';
import type { NewBuild } from '../store/builds.js';
import type { PlannedUnit } from '../planning/planner.js';
import { GgError } from '../errors.js';
import { readBlamelist, ZERO_SHA } from '../git.js';
import type { Splitter } from '../planning/splitter.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import type { RefUpdate } from './refs.js';
import { builderOfBuild, repositoryNamed } from '../config/repositories.js';
import { Pipelines } from './pipelines.js';

import { PIPELINE_BUILDER } from '../config/pipeline.js';

/** What a build stores of its builder: the pipeline file's builder as JSON; null for greengate.yml's own. */
export function specOf(repo: RepositoryConfig, builder: BuilderConfig): string | null {
  return repo.pipeline ? JSON.stringify(builder) : null;
}
import type { BuildKind } from '../store/builds.js';
import type { PlannedStep } from '../store/steps.js';
import { hasSteps, stepsOf, stepsWithNeeds } from '../config/steps.js';

export class Intake {
  /** Called when a build has units to hand out. */
  onQueued: () => void;

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly splitter: Splitter,
    private readonly lifecycle: BuildLifecycle,
    private readonly log: Logger,
    queued: () => void = () => undefined,
    /** Where a commit's builders come from (greengate.yml, or the repository's pipeline file at that commit). */
    readonly pipelines: Pipelines = new Pipelines(),
  ) {
    this.onQueued = queued;
  }

  /**
   * The builds (created or joined) for one new head; their ids. A repository with `pipeline:` builds
   * the builders of that file at the new head; when it is missing or invalid there, one build
   * (builder PIPELINE_BUILDER) ends at once as 'exception' with the problem as its `error`.
   */
  async buildsFor(repo: RepositoryConfig, row: RepoRow, u: RefUpdate, c: { kind: 'branch' | 'try'; branch: string },
    changeId: number, pushedAt: number): Promise<number[]> {
    let builders: readonly BuilderConfig[];
    try {
      builders = await this.pipelines.buildersAt(repo, u.new);
    } catch (err) {
      if (!(err instanceof GgError) || err.code !== 'GG_PIPELINE_INVALID') throw err;
      return [await this.pipelineFailed(repo, row, u, c, changeId, pushedAt, err.message)];
    }
    const ids = await Promise.all(builders.map((builder) => this.buildFor(repo, row, builder, u, c, changeId, pushedAt)));
    this.onQueued();
    return ids.filter((id): id is number => id !== null);
  }

  private async pipelineFailed(repo: RepositoryConfig, row: RepoRow, u: RefUpdate, c: { kind: 'branch' | 'try'; branch: string },
    changeId: number, pushedAt: number, error: string): Promise<number> {
    this.log.info({ repo: repo.name, ref: u.ref, sha: u.new, error }, 'pipeline file missing or invalid: build ends as exception');
    const base = u.old !== ZERO_SHA ? u.old : null;
    const commits = await readBlamelist(repo.path, u.new, base, u.ref).catch(() => []);
    const id = this.store.tx(() => {
      this.store.repos.saveCommits(row.id, commits);
      return this.lifecycle.createFailed({ repoId: row.id, builder: PIPELINE_BUILDER, ref: u.ref, branch: c.branch, kind: c.kind, sha: u.new,
        baseSha: base, changeId, pushedAt, at: Date.now(), blamelist: commits.map((x) => x.sha) }, error);
    });
    this.lifecycle.announce(id);
    return id;
  }

  /** A new build of the same commit on the same builder (an admin's rebuild, `by`), with the original's params (recorded as a rebuild of it). */
  async rebuild(build: { id: number; repo: string; builder: string; ref: string; branch: string; kind: BuildKind; sha: string; builderSpec?: string | null }, by: string | null = null): Promise<number> {
    if (build.kind === 'bisect') {
      throw new GgError('GG_BAD_REQUEST', `build ${build.id} is a culprit search's bisect build: the search makes its own builds — rebuild the red build instead`);
    }
    if (build.builder === PIPELINE_BUILDER) {
      throw new GgError('GG_PIPELINE_INVALID', `build ${build.id} could not run: the pipeline file is missing or invalid at ${build.sha.slice(0, 7)} — ` +
        'fix the file and push again (a rebuild reads the same commit)');
    }
    const kind = build.kind;
    const repo = repositoryNamed(this.config, build.repo);
    const builder = builderOfBuild(this.config, build);
    if (!repo || !builder) throw new GgError('GG_UNKNOWN_BUILDER', `${build.repo}/${build.builder} is no longer configured in greengate.yml`);
    const row = this.store.repos.byName(repo.name)!;
    const [units, steps] = await Promise.all([this.splitter.planFor(repo, row, builder, build.sha), this.splitter.planSteps(repo, row, builder, build.sha)]);
    const now = Date.now();
    const id = this.store.tx(() => {
      const made = this.createBuild({ repoId: row.id, builder: builder.name, ref: build.ref, branch: build.branch,
        kind, sha: build.sha, baseSha: build.sha, changeId: this.store.builds.changeOf(build.id), pushedAt: now, at: now, blamelist: [],
        builderSpec: build.builderSpec ?? null }, units, steps);
      this.store.buildCauses.record(made, { cause: 'rebuild', startedBy: by, rebuildOf: build.id, params: this.store.buildCauses.of(build.id)?.params ?? {} });
      return made;
    });
    this.lifecycle.announce(id);
    this.onQueued();
    return id;
  }

  /**
   * A culprit search's bisect build of `sha`, running only `files` (every file of a builder without
   * a `tests` glob), created inside the caller's transaction. The caller announces it after the
   * commit (`announceQueued`). Synchronous: the files are given, nothing is asked of git.
   */
  createBisect(p: { repo: RepositoryConfig; builder: BuilderConfig; sha: string; files: readonly string[]; ref: string; branch: string; at: number;
    /** The red build searched: a stepped builder's bisect build runs only its failed steps and what they need. */
    redBuildId?: number }): number {
    const row = this.store.repos.byName(p.repo.name)!;
    const planOf = (b: BuilderConfig) => (b.tests && p.files.length > 0
      ? this.splitter.split(row, b, [...p.files], this.splitter.runnerSlots(p.at))
      : [{ files: [] as string[], expectedMs: this.store.tests.fileDurationsOf(row.id, p.builder.name, ['']).get('') ?? 0 }]);
    const units = planOf(p.builder);
    // A stepped builder's bisect build runs the red build's failed steps and what they need (all steps when none is known).
    const failed = p.redBuildId === undefined ? [] : this.store.steps.byBuild(p.redBuildId)
      .filter((s) => s.result === 'failed' || s.result === 'exception').map((s) => s.stepName);
    const steps = hasSteps(p.builder) ? stepsWithNeeds(stepsOf(p.builder), failed).map((s) => ({ name: s.step, stepName: s.stepName, needs: s.needs, matrix: s.matrix, plan: planOf(s) })) : undefined;
    return this.lifecycle.create({ repoId: row.id, builder: p.builder.name, ref: p.ref, branch: p.branch, kind: 'try', purpose: 'bisect',
      sha: p.sha, baseSha: null, changeId: null, pushedAt: p.at, at: p.at, blamelist: [], builderSpec: specOf(p.repo, p.builder) }, units, steps);
  }

  /** After the commit that created bisect builds: observers told, the queue asked to dispatch. */
  announceQueued(ids: readonly number[]): void {
    for (const id of ids) this.lifecycle.announce(id);
    if (ids.length) this.onQueued();
  }

  /** Creates a build, or joins the queued one; retries if a runner took the queued build meanwhile. */
  private async buildFor(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, u: RefUpdate,
    c: { kind: 'branch' | 'try'; branch: string }, changeId: number, pushedAt: number): Promise<number | null> {
    for (let attempt = 0; attempt < 3; attempt++) {
      // Only the queued build of the previous head is joined: a queued rebuild of an older commit never is.
      const waiting = c.kind === 'branch' ? this.store.builds.queuedFor(row.id, builder.name, u.ref) : undefined;
      const queued = waiting && waiting.sha === u.old ? waiting : undefined;
      const pushed = this.store.builds.lastPushedFor(row.id, builder.name, u.ref);
      if (pushed && pushed.sha === u.new && c.kind === 'branch') return null;
      const latest = this.store.builds.latestFor(row.id, builder.name, u.ref);
      const base = queued ? queued.sha : u.old !== ZERO_SHA ? u.old : pushed?.sha ?? null;
      if (!queued && !builder.tests) return this.createThenBlame(repo, row, builder, u, c, changeId, pushedAt, base);
      const [commits, units, steps] = await Promise.all([readBlamelist(repo.path, u.new, base, u.ref),
        this.splitter.planFor(repo, row, builder, u.new), this.splitter.planSteps(repo, row, builder, u.new)]);
      const id = this.store.tx(() => {
        this.store.repos.saveCommits(row.id, commits);
        const shas = commits.map((x) => x.sha);
        if (queued) {
          if (!this.store.builds.join(queued.id, u.new, shas, changeId)) return null;
          this.store.builds.setBuilderSpec(queued.id, specOf(repo, builder));
          this.lifecycle.dropQueued(queued.id);
          if (steps) this.lifecycle.insertSteps(queued.id, steps, pushedAt);
          else this.lifecycle.insertUnits(queued.id, units, pushedAt);
          return queued.id;
        }
        if (this.store.builds.latestFor(row.id, builder.name, u.ref)?.id !== latest?.id) return null;
        return this.createBuild({ repoId: row.id, builder: builder.name, ref: u.ref, branch: c.branch,
          kind: c.kind, sha: u.new, baseSha: base, changeId, pushedAt, at: Date.now(), blamelist: shas, builderSpec: specOf(repo, builder) }, units, steps);
      });
      if (id !== null) {
        this.lifecycle.announce(id);
        return id;
      }
    }
    throw new GgError('GG_BUSY', `could not queue ${u.ref} on ${builder.name}: builds kept changing underneath; push again or POST the change again`);
  }

  /**
   * A builder without test discovery needs no git to queue its unit: the build is created and
   * dispatched first, and its blamelist is read right after (off the push → start path).
   */
  private async createThenBlame(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, u: RefUpdate,
    c: { kind: 'branch' | 'try'; branch: string }, changeId: number, pushedAt: number, base: string | null): Promise<number> {
    const [units, steps] = await Promise.all([this.splitter.planFor(repo, row, builder, u.new), this.splitter.planSteps(repo, row, builder, u.new)]);
    const id = this.store.tx(() => this.createBuild({ repoId: row.id, builder: builder.name, ref: u.ref, branch: c.branch,
      kind: c.kind, sha: u.new, baseSha: base, changeId, pushedAt, at: Date.now(), blamelist: [], builderSpec: specOf(repo, builder) }, units, steps));
    this.lifecycle.announce(id);
    this.onQueued();
    const commits = await readBlamelist(repo.path, u.new, base, u.ref).catch((err) => {
      this.log.warn({ err: err.message, build: id }, 'could not read the blamelist');
      return [];
    });
    this.store.tx(() => {
      this.store.repos.saveCommits(row.id, commits);
      this.store.builds.addBlamelist(id, commits.map((x) => x.sha));
    });
    this.lifecycle.announce(id);
    return id;
  }

  /** A new build and its units (queued at its push time), inside the caller's transaction. */
  private createBuild(build: NewBuild, units: readonly PlannedUnit[], steps?: readonly PlannedStep[]): number {
    return this.lifecycle.create(build, units, steps);
  }
}
