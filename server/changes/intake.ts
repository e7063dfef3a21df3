/**
 * Change intake. Three paths report ref updates and must agree: the post-receive hook's notice
 * (POST /api/changes), a watcher on each bare repository's refs (loose refs and packed-refs),
 * and a scan at start-up. All three go through `notice`, serialized per repository; the last
 * head seen per ref (ref_heads) makes a second report of the same update a no-op.
 *
 * A new head on refs/heads/B creates one build per builder, or joins that builder's build of B
 * while it is still queued (its blamelist grows). refs/try/N builds on every builder and never
 * joins. Deletions and tags build nothing.
 *
 * Units: the builder's `tests` glob is matched at the commit (git ls-tree, no checkout) and the
 * files are split into units by splitter.ts; a queued build is split again when a push joins
 * it, and when runners come or go before any of its units has been handed out.
 */
import chokidar, { type FSWatcher } from 'chokidar';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, RepositoryConfig, BuilderConfig } from '../config/config.js';
import { isValidBranchName } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { RepoRow } from '../store/repos.js';
import type { Scheduler } from '../dispatch/scheduler.js';
import type { Events } from '../events.js';
import { isSha, listFiles, listRefs, readBlamelist, ZERO_SHA } from '../git.js';
import { Splitter } from '../planning/splitter.js';

export type ChangeSource = 'hook' | 'watch' | 'scan' | 'api';
export interface RefUpdate { old: string; new: string; ref: string }
export interface NoticeResult { ref: string; builds: number[]; skipped?: string }
export const WATCH_DEBOUNCE_MS = 20;
/** With no runner connected at push time, the units are planned for the runners seen this recently. */

export class IntakeError extends Error {
  constructor(readonly code: string, message: string, readonly status = 400) { super(message); }
}

/** Splits a ref into its kind and name, or null for refs we do not build. */
export function classifyRef(ref: string): { kind: 'branch' | 'try'; branch: string } | null {
  const m = /^refs\/(heads|try)\/(.+)$/.exec(ref);
  if (!m || !isValidBranchName(m[2])) return null;
  return { kind: m[1] === 'heads' ? 'branch' : 'try', branch: m[2] };
}

export class Intake {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly watchers: FSWatcher[] = [];
  private readonly rows = new Map<string, RepoRow>();
  private readonly splitter: Splitter;
  private readonly refSeenListeners: ((repo: string, ref: string, sha: string) => void)[] = [];

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly scheduler: Scheduler,
    private readonly events: Events,
    private readonly log: Logger,
  ) {
    for (const [name, row] of store.repos.sync(config.repositories)) this.rows.set(name, row);
    this.splitter = new Splitter(store, config, scheduler, events, log);
    events.on('runners', () => {
      try {
        this.splitter.replanQueued();
      } catch (err) {
        log.warn({ err }, 'could not split queued builds again for the runners there are now');
      }
    });
  }

  repository(name: string): RepositoryConfig | undefined {
    return this.config.repositories.find((r) => r.name === name);
  }

  /** Records ref updates and creates or joins builds. Validates every update first. */
  notice(repoName: string, updates: readonly RefUpdate[], source: ChangeSource, pusher: string | null): Promise<NoticeResult[]> {
    const repo = this.repository(repoName);
    if (!repo) throw new IntakeError('GG_UNKNOWN_REPO', `unknown repository "${repoName}": it is not in greengate.yml`, 404);
    for (const u of updates) {
      if (!isSha(u.old) || !isSha(u.new)) throw new IntakeError('GG_BAD_SHA', `update of ${u.ref}: old and new must be 40-character hex commit ids`);
      if (!/^refs\/[^\0\n]{1,1000}$/.test(u.ref)) throw new IntakeError('GG_BAD_REF', `"${u.ref.slice(0, 100)}" is not a full ref name (refs/heads/…)`);
    }
    return this.serialized(repo.name, async () => {
      const out: NoticeResult[] = [];
      for (const u of updates) out.push(await this.applyUpdate(repo, u, source, pusher));
      return out;
    });
  }

  /** Compares the repository's refs with the heads last seen and takes in any difference. */
  scan(repoName: string, source: ChangeSource = 'scan'): Promise<NoticeResult[]> {
    const repo = this.repository(repoName);
    if (!repo) return Promise.resolve([]);
    return this.serialized(repo.name, async () => {
      const row = this.rows.get(repo.name)!;
      const refs = await listRefs(repo.path);
      const seen = this.store.repos.refHeads(row.id);
      const firstSight = source === 'scan' && seen.size === 0 && this.store.builds.list({ repoId: row.id, limit: 1 }).length === 0;
      const out: NoticeResult[] = [];
      for (const [ref, sha] of refs) {
        const before = seen.get(ref);
        if (before === sha) continue;
        const c = classifyRef(ref);
        if (firstSight && !(c && c.kind === 'branch' && repo.gate.includes(c.branch))) {
          // A repository seen for the first time: only its gated branches are built now.
          this.store.repos.setRefHead(row.id, ref, sha, Date.now());
          continue;
        }
        out.push(await this.applyUpdate(repo, { old: before ?? ZERO_SHA, new: sha, ref }, source, null));
      }
      for (const ref of seen.keys()) if (!refs.has(ref)) this.store.repos.setRefHead(row.id, ref, null, Date.now());
      return out;
    });
  }

  /** Watches every repository's refs; a change triggers a scan of that repository. */
  watch(): void {
    for (const repo of this.config.repositories) {
      let timer: NodeJS.Timeout | null = null;
      const trigger = () => {
        if (timer) return;
        timer = setTimeout(() => {
          timer = null;
          this.scan(repo.name, 'watch').catch((err) => this.log.warn({ err, repo: repo.name }, 'ref scan failed'));
        }, WATCH_DEBOUNCE_MS);
      };
      const watcher = chokidar.watch([join(repo.path, 'refs', 'heads'), join(repo.path, 'refs', 'try'), join(repo.path, 'packed-refs')], {
        ignoreInitial: true,
        ignored: (p: string) => p.endsWith('.lock'),
      });
      watcher.on('all', trigger);
      watcher.on('error', (err) => this.log.warn({ err, repo: repo.name }, 'ref watcher error'));
      this.watchers.push(watcher);
    }
  }

  /** Calls fn (synchronously; it must not throw) whenever a branch or try ref is recorded at a new head, by any path. */
  onRefSeen(fn: (repo: string, ref: string, sha: string) => void): void {
    this.refSeenListeners.push(fn);
  }

  /** A new build of the same commit on the same builder (an admin's rebuild). */
  async rebuild(build: { repo: string; builder: string; ref: string; branch: string; kind: 'branch' | 'try'; sha: string }): Promise<number> {
    const repo = this.repository(build.repo);
    const builder = repo?.builders.find((b) => b.name === build.builder);
    if (!repo || !builder) throw new IntakeError('GG_UNKNOWN_BUILDER', `${build.repo}/${build.builder} is no longer configured`, 409);
    const row = this.rows.get(repo.name)!;
    const units = await this.splitter.planFor(repo, row, builder, build.sha);
    const now = Date.now();
    const id = this.store.tx(() => {
      const buildId = this.store.builds.create({ repoId: row.id, builder: builder.name, ref: build.ref, branch: build.branch,
        kind: build.kind, sha: build.sha, baseSha: build.sha, changeId: null, pushedAt: now, at: now, blamelist: [] });
      this.splitter.insertUnits(buildId, units, now);
      return buildId;
    });
    this.scheduler.checkBuild(id);
    this.scheduler.dispatch();
    return id;
  }

  async close(): Promise<void> {
    await Promise.all(this.watchers.map((w) => w.close()));
    await Promise.allSettled([...this.locks.values()]);
  }

  private serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    tail.then(() => { if (this.locks.get(key) === tail) this.locks.delete(key); });
    return next;
  }

  private async applyUpdate(repo: RepositoryConfig, u: RefUpdate, source: ChangeSource, pusher: string | null): Promise<NoticeResult> {
    const row = this.rows.get(repo.name)!;
    const now = Date.now();
    const c = classifyRef(u.ref);
    if (this.store.repos.refHead(row.id, u.ref) === (u.new === ZERO_SHA ? null : u.new)) return { ref: u.ref, builds: [], skipped: 'already seen' };
    if (u.new === ZERO_SHA) {
      this.store.repos.setRefHead(row.id, u.ref, null, now);
      return { ref: u.ref, builds: [], skipped: 'deleted' };
    }
    if (!c) {
      this.store.repos.setRefHead(row.id, u.ref, u.new, now);
      return { ref: u.ref, builds: [], skipped: 'not a branch or try ref' };
    }
    const changeId = this.store.tx(() => {
      this.store.repos.setRefHead(row.id, u.ref, u.new, now);
      return this.store.repos.recordChange({ repoId: row.id, ref: u.ref, branch: c.branch, kind: c.kind,
        oldSha: u.old === ZERO_SHA ? null : u.old, newSha: u.new, source, pusher, at: now });
    });
    for (const fn of this.refSeenListeners) fn(repo.name, u.ref, u.new);
    const ids = await Promise.all(repo.builders.map((builder) => this.buildFor(repo, row, builder, u, c, changeId, now)));
    const builds = ids.filter((id): id is number => id !== null);
    this.log.info({ repo: repo.name, ref: u.ref, sha: u.new, source, builds }, 'change');
    this.scheduler.dispatch();
    return { ref: u.ref, builds };
  }

  /** Creates a build, or joins the queued one; retries if a runner took the queued build meanwhile. */
  private async buildFor(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, u: RefUpdate,
    c: { kind: 'branch' | 'try'; branch: string }, changeId: number, pushedAt: number): Promise<number | null> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const queued = c.kind === 'branch' ? this.store.builds.queuedFor(row.id, builder.name, u.ref) : undefined;
      const latest = this.store.builds.latestFor(row.id, builder.name, u.ref);
      if (latest && latest.sha === u.new && c.kind === 'branch') return null;
      const base = queued ? queued.sha : latest?.sha ?? (u.old !== ZERO_SHA ? u.old : null);
      if (!queued && !builder.tests) return this.createThenBlame(repo, row, builder, u, c, changeId, pushedAt, base);
      const [commits, units] = await Promise.all([readBlamelist(repo.path, u.new, base, u.ref), this.splitter.planFor(repo, row, builder, u.new)]);
      const id = this.store.tx(() => {
        this.store.repos.saveCommits(row.id, commits);
        const shas = commits.map((x) => x.sha);
        if (queued) {
          if (!this.store.builds.join(queued.id, u.new, shas)) return null;
          this.store.units.deleteQueued(queued.id);
          this.splitter.insertUnits(queued.id, units, pushedAt);
          return queued.id;
        }
        if (this.store.builds.latestFor(row.id, builder.name, u.ref)?.id !== latest?.id) return null;
        const buildId = this.store.builds.create({ repoId: row.id, builder: builder.name, ref: u.ref, branch: c.branch,
          kind: c.kind, sha: u.new, baseSha: base, changeId, pushedAt, at: Date.now(), blamelist: shas });
        this.splitter.insertUnits(buildId, units, pushedAt);
        return buildId;
      });
      if (id !== null) {
        const build = this.scheduler.checkBuild(id);
        if (build) this.events.emit('build', build);
        return id;
      }
    }
    throw new IntakeError('GG_BUSY', `could not queue ${u.ref} on ${builder.name}: builds kept changing underneath`, 503);
  }

  /**
   * A builder without test discovery needs no git to queue its unit: the build is created and
   * dispatched first, and its blamelist is read right after (off the push → start path).
   */
  private async createThenBlame(repo: RepositoryConfig, row: RepoRow, builder: BuilderConfig, u: RefUpdate,
    c: { kind: 'branch' | 'try'; branch: string }, changeId: number, pushedAt: number, base: string | null): Promise<number> {
    const units = await this.splitter.planFor(repo, row, builder, u.new);
    const id = this.store.tx(() => {
      const buildId = this.store.builds.create({ repoId: row.id, builder: builder.name, ref: u.ref, branch: c.branch,
        kind: c.kind, sha: u.new, baseSha: base, changeId, pushedAt, at: Date.now(), blamelist: [] });
      this.splitter.insertUnits(buildId, units, pushedAt);
      return buildId;
    });
    this.scheduler.dispatch();
    const commits = await readBlamelist(repo.path, u.new, base, u.ref).catch((err) => {
      this.log.warn({ err: err.message, build: id }, 'could not read the blamelist');
      return [];
    });
    this.store.tx(() => {
      this.store.repos.saveCommits(row.id, commits);
      this.store.builds.addBlamelist(id, commits.map((x) => x.sha));
    });
    const build = this.scheduler.checkBuild(id);
    if (build) this.events.emit('build', build);
    return id;
  }
}
