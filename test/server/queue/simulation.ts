/**
 * A land queue over the real queue code (queue/speculation.ts, candidate.ts, landing.ts, entry.ts),
 * a real SQLite store and a real bare git repository, with the other end faked: builds are rows that
 * end after `buildMs` with an outcome decided from the candidate's tree (a file broken-* fails it;
 * `flakyRate` of builds fail once and pass their retry: result flaky). Used by
 * test/server/queue/speculation.test.ts and the benchmark test/bench/queue.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openDatabase } from '../../../server/store/db.js';
import { Store } from '../../../server/store/index.js';
import { Speculation } from '../../../server/queue/speculation.js';
import { enqueue } from '../../../server/queue/entry.js';
import type { RepositoryConfig } from '../../../server/config/config.js';
import { checkPushedFlags } from '../../../server/flags/pushCheck.js';
import type { GateRequest } from '../../../server/gate/request.js';
import type { BranchGate } from '../../../server/gate/rules.js';
import { git, gitEnv, pollUntil, seededRandom, tempHome } from '../../helpers.js';

export interface SimulationOptions {
  buildMs: number; flakyRate?: number; seed?: number; treeOpen?: () => boolean;
  /** The repository's feature flags file (the candidates' flags files are checked as the gate checks a push). */
  flagsFile?: string;
  /** The gate's view of the branch (a closed tree's red build): changes it would let through jump the queue (queue/jump.ts). */
  gate?: (branch: string) => BranchGate;
  /** The runners are the limit (candidate builds wait for one): the queue may test changes in batches (queue/batch.ts). */
  saturated?: () => boolean;
}

export class Simulation {
  readonly home = tempHome('gg-queue-');
  readonly bare = join(this.home.dir, 'shop.git');
  readonly work = join(this.home.dir, 'work');
  readonly store: Store;
  readonly repo: RepositoryConfig;
  readonly queue: Speculation;
  readonly builds: { id: number; sha: string; ref: string; result: string; at: number }[] = [];
  readonly landings: { old: string; new: string; at: number }[] = [];
  readonly ended: { id: number; state: string; reason: string }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly random: () => number;
  base = '';

  constructor(private readonly o: SimulationOptions) {
    this.random = seededRandom(o.seed ?? 26);
    git(this.home.dir, 'init', '--quiet', '--bare', '--initial-branch=main', this.bare);
    git(this.home.dir, 'clone', '--quiet', this.bare, this.work);
    git(this.work, 'checkout', '--quiet', '-B', 'main');
    git(this.work, 'commit', '--quiet', '--allow-empty', '-m', 'start');
    git(this.work, 'push', '--quiet', 'origin', 'HEAD:refs/heads/main');
    this.base = git(this.work, 'rev-parse', 'HEAD');
    this.repo = { name: 'shop', path: this.bare, gate: ['main'], builders: [], land: { main: 'queue' },
      ...(o.flagsFile ? { flags: { file: o.flagsFile, token: 'flags-token-0123456789' } } : {}) } as RepositoryConfig;
    this.store = new Store(openDatabase(join(this.home.dir, 'greengate.db')));
    this.store.repos.sync([{ name: 'shop', path: this.bare }]);
    const repoId = this.store.repos.byName('shop')!.id;
    const silent = { info() {}, warn() {}, error() {} };
    this.queue = new Speculation({ store: this.store, config: { repositories: [this.repo] }, log: silent, now: Date.now,
      treeOpen: () => o.treeOpen?.() ?? true,
      saturated: () => o.saturated?.() ?? false,
      closedFor: (_repo, branch) => { const g = o.gate?.(branch); return g?.state === 'closed' ? g.build?.id ?? null : null; },
      startBuilds: async (_repo, u) => {
        const id = this.store.builds.create({ repoId, builder: 'unit', ref: u.ref, branch: u.ref.slice('refs/try/'.length), kind: 'try', sha: u.new,
          baseSha: null, changeId: null, pushedAt: Date.now(), at: Date.now(), blamelist: [] });
        const broken = execFileSync('git', ['--git-dir', this.bare, 'ls-tree', '--name-only', u.new], { encoding: 'utf8' })
          .split('\n').filter((f) => f.startsWith('broken-'));
        // A flaky failure is retried once by the build (the flaky rule): it passes as flaky, or fails again (rate²).
        const flaky = this.random() < (o.flakyRate ?? 0);
        const twice = flaky && this.random() < (o.flakyRate ?? 0);
        const result = broken.length || twice ? 'failed' : flaky ? 'flaky' : 'passed';
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          if (!this.store.builds.finish(id, result, broken.length ? `${broken.join(', ')} fail` : null, Date.now())) return;
          this.builds.push({ id, sha: u.new, ref: u.ref, result, at: performance.now() });
          this.queue.buildFinished({ id, repo: 'shop', ref: u.ref });
        }, o.buildMs);
        this.timers.add(timer);
      },
      refusal: (repo, branch, sha) => checkPushedFlags(repo, { updates: [{ ref: `refs/heads/${branch}`, new: sha }] } as unknown as GateRequest, null),
      cancelBuild: (id) => this.store.builds.finish(id, 'cancelled', 'cancelled', Date.now()),
      recordPush: async (_repo, u) => { this.landings.push({ old: u.old, new: u.new, at: performance.now() }); },
      ended: (c, state, reason) => { this.ended.push({ id: c.id, state, reason }); },
    });
  }

  /** Commits `files` on top of the first commit (each change independent of the others) and queues it; its id. */
  async push(files: Record<string, string>, message: string): Promise<number> {
    return (await this.queueCommit(this.commit(files, message))).id;
  }

  /** Queues a commit (as POST /api/queue does); its id and how long the entry took (ms). */
  async queueCommit(sha: string): Promise<{ id: number; ms: number }> {
    const t0 = performance.now();
    const [answer] = await enqueue({ store: this.store, baseUrl: () => 'http://ci', now: Date.now, queued: (r, b) => void this.queue.kick(r, b),
      ...(this.o.gate ? { gate: () => this.o.gate! } : {}) },
      this.repo, [{ old: '0'.repeat(40), new: sha, ref: 'refs/for/main' }], 'ada');
    return { id: answer.id, ms: performance.now() - t0 };
  }

  /** A commit of `files` on top of the first commit, in the bare repository (not queued); its sha. */
  commit(files: Record<string, string>, message: string): string {
    const env = gitEnv();
    git(this.work, 'checkout', '--quiet', '-B', 'change', this.base);
    for (const [path, text] of Object.entries(files)) execFileSync('sh', ['-c', 'printf %s "$2" > "$1"', 'sh', join(this.work, path), text]);
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '--quiet', '-m', message);
    const sha = git(this.work, 'rev-parse', 'HEAD');
    execFileSync('git', ['push', '--quiet', 'origin', `HEAD:refs/heads/pushed-${message.replace(/\W+/g, '-')}`], { cwd: this.work, env, stdio: 'ignore' });
    return sha;
  }

  head(): string {
    return git(this.bare, 'rev-parse', 'refs/heads/main');
  }

  /** Resolves once no change is queued or testing (or rejects after `timeoutMs`). */
  async settle(timeoutMs: number): Promise<void> {
    await pollUntil(() => this.store.landQueue.active('shop', 'main').length === 0, 'the queue to settle', timeoutMs, 10);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await this.queue.stop();
    this.store.close();
    this.home.cleanup();
  }
}
