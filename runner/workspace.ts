/**
 * Workspaces: one git clone per (repository, slot) under the work dir, so units running at the
 * same time never share a checkout. A clone of a local repository shares its object store
 * (`--shared`), so a commit pushed a moment ago is there without a fetch; otherwise it is
 * fetched. `setup` runs once per workspace per build. Calls for one repository's clones are
 * serialized where they touch shared state (the clone itself).
 *
 * Git here runs with hooks and fsmonitor off (SAFE_GIT) and without the runner's token in its
 * environment; each checkout is verified (verifyCheckout) before a unit may use it.
 *
 * Clean: a slot starting a new build is checked out and cleaned (`git clean -fdx`), sparing the
 * cache entries whose key is unchanged (runner/cache.ts); when every entry was kept the caller
 * may skip setup. A workspace left by an earlier runner process counts as dirty.
 *
 * Shared setup (sharedSetup.ts): a slot missing a cache key another slot of this runner holds, or
 * is setting up now, waits for that setup and copies the entry instead of running setup itself.
 */
import { SAFE_GIT, gitEnv, runGit } from './git.js';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeCache, excludeArgs, forgetCacheKeys, keyCaches, parseTree, readCacheKeys, writeCacheKeys, type CacheSpec, type KeyedCache } from './cache.js';
import type { ErrorCode } from '../server/protocol.js';
import { SharedSetups } from './sharedSetup.js';

export class WorkspaceError extends Error {
  readonly code: ErrorCode = 'GG_WORKSPACE';
}

/** Git in a slot: hooks off (SAFE_GIT), the runner's GREENGATE_* variables out of its environment. */
function git(cwd: string, args: readonly string[]): Promise<string> {
  return runGit(cwd, [...SAFE_GIT, ...args], gitEnv(), (why) => new WorkspaceError(`git ${args.join(' ')} failed: ${why}`));
}

interface SlotState {
  dir: string; build: number | null; setupDone: boolean; clean: boolean; scrubbing: Promise<void> | null;
  caches: KeyedCache[]; // this build's entries, saved as the slot's keys once setup succeeds
}
/** What the builder's setup makes and how the slot may keep it (null: no setup, nothing kept). */
export interface SetupSpec { setup: string | null; cache: readonly CacheSpec[] | null }
/** The slot's cache for this unit: null when no entry applies or the slot was set up earlier in the build. */
export interface CacheOutcome { hit: boolean; message: string }

export class Workspaces {
  private readonly slots = new Map<string, SlotState>();
  private readonly cloning = new Map<string, Promise<void>>();
  /** Per repository: two repositories never share a setup, whatever their keys. */
  private readonly shared = new Map<string, SharedSetups>();

  constructor(private readonly workDir: string) {
    mkdirSync(workDir, { recursive: true });
  }

  /**
   * A checkout of `sha` for this slot. Returns whether `setup` still has to run for this build
   * in it (the caller runs it and then calls markSetupDone).
   */
  async prepare(repo: { name: string; url: string }, slot: number, build: number, sha: string,
    spec: SetupSpec = { setup: null, cache: [] }): Promise<{ dir: string; needsSetup: boolean; cache: CacheOutcome | null }> {
    const key = `${repo.name}/${slot}`;
    const dir = join(this.workDir, safeName(repo.name), `slot-${slot}`);
    let state = this.slots.get(key);
    if (!state) {
      state = { dir, build: null, setupDone: false, clean: !existsSync(join(dir, '.git')), scrubbing: null, caches: [] };
      this.slots.set(key, state);
    }
    if (state.scrubbing) await state.scrubbing;
    if (!existsSync(join(dir, '.git'))) { forgetCacheKeys(cacheFile(dir)); await this.clone(repo.url, dir); }
    if (state.build === build) { state.clean = false; return { dir, needsSetup: !state.setupDone, cache: null }; }
    const dirty = !state.clean;
    state.clean = false;
    await this.sharedOf(repo.name).quiesce(dir);
    try {
      await git(dir, ['checkout', '--quiet', '--force', '--detach', sha]);
    } catch {
      await git(dir, ['fetch', '--quiet', 'origin', '+refs/heads/*:refs/remotes/origin/*', '+refs/try/*:refs/remotes/try/*']);
      if (!(await hasCommit(dir, sha))) throw new WorkspaceError(`commit ${sha} is not in ${repo.url}`);
      await git(dir, ['checkout', '--quiet', '--force', '--detach', sha]);
    }
    await verifyCheckout(dir, sha);
    const cache = await this.cleanSparing(state, sha, spec, dirty);
    const shared = this.sharedOf(repo.name);
    state.build = build;
    state.setupDone = false;
    return { dir, needsSetup: true, cache: cache && await share(shared, state, slot, cache) };
  }

  /** Cleans a dirty checkout but for the cache entries whose key is unchanged; a miss forgets the keys until setup succeeds. */
  private async cleanSparing(state: SlotState, sha: string, spec: SetupSpec, dirty: boolean): Promise<(CacheOutcome & { missed: KeyedCache[] }) | null> {
    const file = cacheFile(state.dir);
    state.caches = spec.setup ? keyCaches(parseTree(await git(state.dir, ['ls-tree', '-r', '-z', sha])), spec.cache, spec.setup) : [];
    const saved = readCacheKeys(file);
    const kept = state.caches.filter((c) => saved[c.id] === c.key);
    const missed = state.caches.filter((c) => saved[c.id] !== c.key);
    if (missed.length || !state.caches.length) forgetCacheKeys(file);
    if (dirty) await git(state.dir, ['clean', '-fdxq', ...excludeArgs(kept)]);
    if (!state.caches.length) return null;
    return { hit: missed.length === 0, message: describeCache(kept, missed), missed };
  }

  private sharedOf(repo: string): SharedSetups {
    let s = this.shared.get(repo);
    if (!s) this.shared.set(repo, s = new SharedSetups());
    return s;
  }

  /**
   * After a unit of a builder without `setup` (nothing to keep between its units): removes what
   * the unit left behind now, off the next unit's critical path.
   */
  scrub(repo: string, slot: number): void {
    const s = this.slots.get(`${repo}/${slot}`);
    if (!s || s.scrubbing) return;
    forgetCacheKeys(cacheFile(s.dir));
    s.scrubbing = this.sharedOf(repo).quiesce(s.dir).then(() => git(s.dir, ['clean', '-fdxq']))
      .then(() => { s.clean = true; s.setupDone = false; s.build = null; }, () => { s.clean = false; })
      .finally(() => { s.scrubbing = null; });
  }

  /** Setup succeeded (or was skipped on a hit): the slot's cache now holds this build's keys. */
  markSetupDone(repo: string, slot: number): void {
    const s = this.slots.get(`${repo}/${slot}`);
    if (!s) return;
    if (!s.setupDone && s.caches.length) writeCacheKeys(cacheFile(s.dir), s.caches);
    if (!s.setupDone) this.sharedOf(repo).hold(s.dir, slot, s.caches);
    s.setupDone = true;
  }

  /** Forgets the slot's build, so the next unit checks out and sets up afresh (after a failed setup). */
  reset(repo: string, slot: number): void {
    const s = this.slots.get(`${repo}/${slot}`);
    if (s) { s.build = null; s.setupDone = false; this.sharedOf(repo).endClaims(s.dir); }
  }

  /** The slot's unit ended: a setup it claimed and never finished is given up, so slots waiting for it go on. */
  endUnit(repo: string, slot: number): void {
    const s = this.slots.get(`${repo}/${slot}`);
    if (s && !s.setupDone) this.sharedOf(repo).endClaims(s.dir);
  }

  private async clone(url: string, dir: string): Promise<void> {
    let p = this.cloning.get(dir);
    if (!p) {
      mkdirSync(join(dir, '..'), { recursive: true });
      const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) && existsSync(url);
      const cloned = git(join(dir, '..'), ['clone', '--quiet', '--no-checkout', ...(local ? ['--shared'] : []), url, dir]).then(() => undefined);
      this.cloning.set(dir, cloned);
      cloned.finally(() => this.cloning.delete(dir)).catch(() => undefined);
      p = cloned;
    }
    return p;
  }
}

/**
 * Whether the checkout really is `sha`: HEAD names it and no tracked file differs from its tree
 * (git status reads every tree and the index; an object it cannot read fails it). A checkout that
 * printed "Could not read …" and left an empty or partial tree is an infrastructure fault
 * (WorkspaceError: the unit ends `exception` and is retried), never a test failure.
 */
export async function verifyCheckout(dir: string, sha: string): Promise<void> {
  // The three reads run at once (one git spawn's latency, not three), then are judged in order.
  const [head, status, tree] = await Promise.all([
    git(dir, ['rev-parse', '--verify', '--quiet', 'HEAD^{commit}']).then((s) => s.trim(), () => ''),
    git(dir, ['status', '--porcelain', '--untracked-files=no', '--ignore-submodules=all']).then((s) => ({ s }), (err: Error) => ({ err })),
    git(dir, ['ls-tree', '-r', '--name-only', '-z', sha]).then(() => null, (err: Error) => err),
  ]);
  if (head !== sha) throw new WorkspaceError(`checkout of ${sha} left HEAD at ${head || 'nothing'}: the workspace is not that commit`);
  if ('err' in status) throw status.err;
  if (status.s.trim() !== '') {
    const sample = status.s.trim().split('\n').slice(0, 5).join('; ');
    throw new WorkspaceError(`checkout of ${sha} is incomplete (objects missing or unreadable?): ${sample}`);
  }
  if (tree) throw tree;
}

async function hasCommit(dir: string, sha: string): Promise<boolean> {
  try {
    await git(dir, ['cat-file', '-e', `${sha}^{commit}`]);
    return true;
  } catch {
    return false;
  }
}

/** A miss another slot of this runner has set up (or is setting up) for the repository is copied from it: a hit, but for setupOnHit. */
async function share(shared: SharedSetups, state: SlotState, slot: number, cache: CacheOutcome & { missed: KeyedCache[] }): Promise<CacheOutcome> {
  const got = await shared.obtain(state.dir, slot, cache.missed);
  return { hit: cache.hit || got.copied, message: cache.message + got.message };
}

/** Beside the slot, not in it, so no clean or checkout touches it. */
function cacheFile(dir: string): string {
  return `${dir}.cache.json`;
}

/** A repository's folder name under the work dir. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}
