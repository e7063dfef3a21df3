/**
 * Ref changes. Three paths report ref updates and must agree: the post-receive hook's notice
 * (POST /api/changes), a watcher on each bare repository's refs (loose refs and packed-refs),
 * and a scan at start-up. All three go through `notice`, serialized per repository; the last
 * head seen per ref (ref_heads) makes a second report of the same update a no-op. Each new
 * head of a branch or try ref is recorded as a change and handed to intake.ts, which makes its
 * builds. Deletions and tags build nothing.
 */
import chokidar, { type FSWatcher } from 'chokidar';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config, RepositoryConfig } from '../config/config.js';
import { isValidBranchName } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { RepoRow } from '../store/repos.js';
import { GgError } from '../errors.js';
import { retryWhileBusy } from '../store/health.js';
import { findRepository, repositoryNamed } from '../config/repositories.js';
import { isSha, listRefs, ZERO_SHA } from '../git.js';
import type { Intake } from './intake.js';

export type ChangeSource = 'hook' | 'watch' | 'scan' | 'api';
export interface RefUpdate { old: string; new: string; ref: string }
export interface NoticeResult { ref: string; builds: number[]; skipped?: string; change?: number }
export const BUSY_RESCAN_DEADLINE_MS = 600_000; // a scan refused by a busy database is tried again for up to 10 minutes
export const WATCH_DEBOUNCE_MS = 20;

/** Splits a ref into its kind and name, or null for refs we do not build. */
export function classifyRef(ref: string): { kind: 'branch' | 'try'; branch: string } | null {
  const m = /^refs\/(heads|try)\/(.+)$/.exec(ref);
  if (!m || !isValidBranchName(m[2])) return null;
  return { kind: m[1] === 'heads' ? 'branch' : 'try', branch: m[2] };
}

export class RefChanges {
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly watchers: FSWatcher[] = [];
  private readonly rows = new Map<string, RepoRow>();

  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly intake: Intake,
    private readonly log: Logger,
    /** Told (synchronously; it must not throw) each branch or try ref recorded at a new head, by any path, after its change committed (server/pipeline.ts: pending gate passes land). */
    private readonly refSeen: (repo: string, ref: string, sha: string) => void = () => undefined,
  ) {
    for (const [name, row] of store.repos.sync(config.repositories)) this.rows.set(name, row);
  }

  repository(name: string): RepositoryConfig | undefined {
    return repositoryNamed(this.config, name);
  }

  /** Records ref updates and creates or joins builds. Validates every update first. */
  notice(repoName: string, updates: readonly RefUpdate[], source: ChangeSource, pusher: string | null,
    opts: { answerWhenRecorded?: boolean; waitForBuildsMs?: number } = {}): Promise<NoticeResult[]> {
    const repo = findRepository(this.config, repoName);
    for (const u of updates) {
      if (!isSha(u.old) || !isSha(u.new)) throw new GgError('GG_BAD_SHA', `update of ${u.ref}: old and new must be 40-character hex commit ids`);
      if (!/^refs\/[^\0\n]{1,1000}$/.test(u.ref)) throw new GgError('GG_BAD_REF', `"${u.ref.slice(0, 100)}" is not a full ref name (refs/heads/…)`);
    }
    // With answerWhenRecorded (the hook's notice), the answer comes once every update is recorded
    // as a change; its builds are planned and created after, still in this repository's order.
    let answer: ((r: NoticeResult[]) => void) | null = null;
    const early = opts.answerWhenRecorded ? new Promise<NoticeResult[]>((resolve) => { answer = resolve; }) : null;
    const done = this.serialized(repo.name, async () => {
      const recorded = updates.map((u) => this.recordUpdate(repo, u, source, pusher));
      const out = recorded.map((r) => r.result);
      if (answer) answer(out.map((r) => ({ ...r })));
      for (const r of recorded) if (r.build) r.result.builds = await r.build();
      return out;
    });
    if (!early) return done;
    done.catch((err) => this.log.error({ err, repo: repo.name }, 'builds for a recorded change could not be created'));
    const recordedAnswer = Promise.race([early, done]);
    if (!opts.waitForBuildsMs) return recordedAnswer;
    // The hook prints its builds' links: wait a little for them, never longer (a push made by the
    // server itself, e.g. a revert, may be waiting in this repository's queue).
    return recordedAnswer.then(async (first) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => { timer = setTimeout(() => resolve(null), opts.waitForBuildsMs); });
      const built = await Promise.race([done.catch(() => null), late]);
      clearTimeout(timer);
      return built ?? first;
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
          // A database busy with another process's lock: scanned again off the event loop until it lets go.
          retryWhileBusy(() => this.scan(repo.name, 'watch'), { deadlineMs: BUSY_RESCAN_DEADLINE_MS })
            .catch((err) => this.log.warn({ err, repo: repo.name }, 'ref scan failed'));
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

  /** Records one update (the ref head and, for a branch or try ref, a change); returns how to build it. */
  private recordUpdate(repo: RepositoryConfig, u: RefUpdate, source: ChangeSource, pusher: string | null):
    { result: NoticeResult; build?: () => Promise<number[]> } {
    const row = this.rows.get(repo.name)!;
    const now = Date.now();
    const c = classifyRef(u.ref);
    if (this.store.repos.refHead(row.id, u.ref) === (u.new === ZERO_SHA ? null : u.new)) return { result: { ref: u.ref, builds: [], skipped: 'already seen' } };
    if (u.new === ZERO_SHA) {
      this.store.repos.setRefHead(row.id, u.ref, null, now);
      return { result: { ref: u.ref, builds: [], skipped: 'deleted' } };
    }
    if (!c) {
      this.store.repos.setRefHead(row.id, u.ref, u.new, now);
      return { result: { ref: u.ref, builds: [], skipped: 'not a branch or try ref' } };
    }
    // The blamelist runs from the head recorded before this push (push order), whatever `old` the reporter said.
    const previous = this.store.repos.refHead(row.id, u.ref);
    if (previous) u = { ...u, old: previous };
    const changeId = this.store.tx(() => {
      this.store.repos.setRefHead(row.id, u.ref, u.new, now);
      return this.store.repos.recordChange({ repoId: row.id, ref: u.ref, branch: c.branch, kind: c.kind,
        oldSha: u.old === ZERO_SHA ? null : u.old, newSha: u.new, source, pusher, at: now });
    });
    this.refSeen(repo.name, u.ref, u.new);
    return {
      result: { ref: u.ref, builds: [], change: changeId },
      build: async () => {
        const builds = await this.intake.buildsFor(repo, row, u, c, changeId, now);
        this.log.info({ repo: repo.name, ref: u.ref, sha: u.new, source, builds }, 'change');
        return builds;
      },
    };
  }

  private async applyUpdate(repo: RepositoryConfig, u: RefUpdate, source: ChangeSource, pusher: string | null): Promise<NoticeResult> {
    const r = this.recordUpdate(repo, u, source, pusher);
    if (r.build) r.result.builds = await r.build();
    return r.result;
  }


}
