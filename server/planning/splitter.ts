/**
 * Splitting a build's test files into units: which files (the builder's `tests` glob matched at
 * the commit with git ls-tree, no checkout), for how many runner slots (the connected runners',
 * else those seen within RECENT_RUNNER_MS, else DEFAULT_SLOTS_FOR_PLANNING), and how (planner.ts's
 * longest-first plan, or the naive equal-count split for `split: static`), with the builder's
 * learned per-unit overhead (costs.ts) and contention over those runners' slots (contention.ts:
 * a runner whose slots only contend counts as fewer useful slots). A builder that has learned
 * nothing for these files yet gets the cold plan (coldPlan.ts: estimates from the files' sizes at
 * the commit, other builders' times and the last whole-suite time; a few units per slot). A queued build none
 * of whose units has been handed out is split again when runners come or go (replanQueued).
 */
import type { Logger } from 'pino';
import type { Config, RepositoryConfig, BuilderConfig } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { RepoRow } from '../store/repos.js';
import { unitFiles } from '../store/units.js';
import type { BuildLifecycle } from '../results/lifecycle.js';
import { fileSizes, listFiles, listFilesWithSizes } from '../git.js';
import { estimateCold, planCold } from './coldPlan.js';
import { DEFAULT_OVERHEAD_MS, estimateDurations, planUnits, type PlannedUnit } from './planner.js';
import { overheadFor } from './costs.js';
import { slowdownFor } from './contention.js';
import { builderOfBuild } from '../config/repositories.js';
import { builderNamed } from '../config/repositories.js';
import { hasSteps, stepsOf } from '../config/steps.js';
import type { PlannedStep } from '../store/steps.js';

export const DEFAULT_SLOTS_FOR_PLANNING = 4;
export const RECENT_RUNNER_MS = 60 * 60 * 1000; // 1 hour
/** Test files' sizes kept for splitting a cold build again (replanQueued): this many commits. */
const KEPT_SIZES = 16;

export class Splitter {
  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly lifecycle: BuildLifecycle,
    /** The slots of the runners connected now: each runner's (or their sum, when that is all there is). */
    private readonly connectedSlots: () => number | readonly number[],
    private readonly log: Logger,
  ) {}

  /** repo id:sha → its test files' sizes, read for a cold plan (the newest KEPT_SIZES). */
  private readonly sizes = new Map<string, ReadonlyMap<string, number>>();

  /** Test discovery at the commit (git ls-tree, no checkout) and the split of its files into units. */
  async planFor(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, sha: string) {
    if (!builder.tests) return [{ files: [] as string[], expectedMs: this.store.tests.fileDurationsOf(row.id, builder.name, ['']).get('') ?? 0 }];
    if (builder.split !== 'static' && !this.store.tests.hasDurations(row.id, builder.name)) {
      // Nothing learned yet: a cold plan, which wants the files' sizes too; one ls-tree gives names and sizes.
      const listed = await listFilesWithSizes(repo.path, sha, builder.tests, builder.exclude).catch(() => undefined);
      if (listed) {
        this.keepSizes(`${row.id}:${sha}`, listed.sizes);
        return this.split(row, builder, listed.files, this.runnerSlots(), sha);
      }
    }
    const files = await listFiles(repo.path, sha, builder.tests, builder.exclude);
    if (builder.split !== 'static' && this.store.tests.fileDurationsOf(row.id, builder.name, files).size === 0) {
      const sizes = await fileSizes(repo.path, sha, files).catch((err: Error) => {
        this.log.warn({ repo: repo.name, sha, err: err.message }, 'cannot read the test files\' sizes; the cold plan treats them as equal');
        return undefined;
      });
      if (sizes) this.keepSizes(`${row.id}:${sha}`, sizes);
    }
    return this.split(row, builder, files, this.runnerSlots(), sha);
  }

  private keepSizes(key: string, sizes: ReadonlyMap<string, number>): void {
    this.sizes.delete(key);
    this.sizes.set(key, sizes);
    if (this.sizes.size > KEPT_SIZES) this.sizes.delete(this.sizes.keys().next().value!);
  }

  /** Each step's units (config/steps.ts), planned as builders are; undefined for a builder without `steps:` (planFor). */
  async planSteps(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, sha: string): Promise<PlannedStep[] | undefined> {
    if (!hasSteps(builder)) return undefined;
    return Promise.all(stepsOf(builder).map(async (s) => ({ name: s.step, stepName: s.stepName, needs: s.needs, matrix: s.matrix,
      plan: await this.planFor(repo, row, s, sha) })));
  }

  /** The plan for these runner slots: each runner's slot count, or a total (planned as one runner). */
  split(row: RepoRow, builder: BuilderConfig, files: string[], runners: number | readonly number[], sha?: string): PlannedUnit[] {
    const perRunner = typeof runners === 'number' ? [runners] : runners;
    const slots = perRunner.reduce((s, n) => s + n, 0);
    const known = this.store.tests.fileDurationsOf(row.id, builder.name, files);
    const durations = estimateDurations(files, known);
    if (builder.split === 'static') return splitEqually(files, durations, slots);
    if (known.size === 0) {
      const otherBuilders = this.store.tests.otherBuildersDurationsOf(row.id, builder.name, [...files, '']);
      const suiteTotalMs = otherBuilders.get('') ?? null;
      otherBuilders.delete('');
      const sizes = sha === undefined ? undefined : this.sizes.get(`${row.id}:${sha}`);
      return planCold(estimateCold(files, { sizes, otherBuilders, suiteTotalMs }), slots, overheadFor(this.store.costs.get(row.id, builder.name)));
    }
    return planUnits(durations, { targetMs: builder.unitTargetSeconds * 1000, slots,
      overheadMs: overheadFor(this.store.costs.get(row.id, builder.name)),
      slowdown: slowdownFor(this.store.contention.get(row.id, builder.name), perRunner) });
  }

  /**
   * Runners came or went: a sharded build none of whose units has been handed out yet is split
   * again for the slots there are now (and the durations known now). main.ts calls it when the
   * runner set changes, before the next dispatch. Returns the builds changed.
   */
  replanQueued(): number[] {
    const slots = this.runnerSlots();
    const changed: number[] = [];
    for (const build of this.store.builds.unfinished()) {
      if (build.state !== 'queued') continue;
      const builder = builderOfBuild(this.config, build);
      const row = builder && this.store.repos.byName(build.repo);
      if (!builder?.tests || !row) continue;
      const units = this.store.units.byBuild(build.id);
      if (units.length === 0 || units.some((u) => u.state !== 'queued' || u.retryOf !== null)) continue;
      const files = units.flatMap((u) => unitFiles(u));
      const plan = this.split(row, builder, files, slots, build.sha);
      const same = plan.length === units.length && plan.every((p, i) => p.files.join('\0') === unitFiles(units[i]).join('\0'));
      if (same) continue;
      const replaced = this.store.tx(() => {
        if (this.store.units.byBuild(build.id).some((u) => u.state !== 'queued')) return false;
        this.lifecycle.dropQueued(build.id);
        this.lifecycle.insertUnits(build.id, plan, units[0].queuedAt);
        return true;
      });
      if (!replaced) continue;
      changed.push(build.id);
      this.log.info({ build: build.id, slots: slots.reduce((s, n) => s + n, 0), units: plan.length, before: units.length }, 'split again for the runner slots there are now');
      this.lifecycle.announce(build.id);
    }
    return changed;
  }

  /** Runner slots to plan for: the connected runners', else those seen within RECENT_RUNNER_MS, else the default. */
  countSlots(now = Date.now()): number {
    return this.runnerSlots(now).reduce((s, n) => s + n, 0);
  }

  /** Each runner's slots, from the same sources as countSlots (the default counts as one runner). */
  runnerSlots(now = Date.now()): number[] {
    const raw = this.connectedSlots();
    const connected = (typeof raw === 'number' ? [raw] : [...raw]).filter((n) => n > 0);
    if (connected.length > 0) return connected;
    const recent = this.store.runners.all().filter((r) => now - r.lastSeen <= RECENT_RUNNER_MS && r.slots > 0).map((r) => r.slots);
    return recent.length > 0 ? recent : [DEFAULT_SLOTS_FOR_PLANNING];
  }
}

/** The naive static split: files in name order, one batch of equal count per slot (sizes differ by one at most). */
export function splitEqually(files: readonly string[], durations: ReadonlyMap<string, number>, slots: number): PlannedUnit[] {
  const n = Math.min(files.length, Math.max(1, Math.floor(slots)));
  const units: PlannedUnit[] = [];
  for (let i = 0, from = 0; i < n; i++) {
    const to = from + Math.floor(files.length / n) + (i < files.length % n ? 1 : 0);
    const batch = files.slice(from, to);
    units.push({ files: batch, expectedMs: batch.reduce((sum, f) => sum + (durations.get(f) ?? 0), 0) + DEFAULT_OVERHEAD_MS });
    from = to;
  }
  return units;
}
