/**
 * Mirrors: one bare copy of each repository in the runner's work dir (`mirrors/<name>.git`),
 * from which the slot workspaces are cloned with `--shared`. A unit's commit is fetched into
 * the mirror once; every later unit of it, on any slot, finds it there without the network.
 *
 * Where from: the assign's `repo.url` — a path on the greengate server (`/git/<name>.git`,
 * resolved against the runner's --server URL and fetched with the runner token in an
 * `Authorization` header given to git through GIT_CONFIG_* environment variables, never in a URL
 * or on a command line; the unit's own credential, assign.unitToken, instead when the server sent
 * one), or a repository's own `cloneUrl` (fetched without the token: it goes
 * only to the greengate server).
 *
 * On the server's host: when the assign names the server's repository (`repo.path`) and this
 * runner can read it, the mirror borrows its objects (objects/info/alternates), so a commit
 * pushed a moment ago is there without a fetch or even a look (the server built it from there);
 * should the checkout not find it, the caller says so (`unborrow`) and it is fetched.
 * GREENGATE_RUNNER_FETCH=always turns that off (such a runner fetches like a remote one).
 *
 * Fetching from the greengate server, once the mirror exists: one protocol-v2 request for the
 * commit with the mirror's newest tips as haves (packFetch.ts), the pack fed to `git
 * unpack-objects` (or `index-pack` when large), the build's ref written — one git process on the
 * runner. Anything unusual there falls back to git's own fetch, as does the first fetch and any
 * cloneUrl:
 * by commit id into the build's ref (`+<sha>:<ref>`), so git negotiates with what the
 * mirror already has and only new objects travel (a commit the mirror has costs git no request); when the far side will not serve an object by
 * id, all branches, try refs and tags are fetched instead. Fetches of one repository are
 * serialized, and the commits asked for during a fetch are fetched together by the next one (a
 * burst of pushes costs a few requests, not one each); different repositories fetch in parallel. The mirror never runs gc (gc.auto 0):
 * workspaces borrow its objects.
 *
 * Failures: every git call has a time limit (runner/git.ts: GIT_FETCH_TIMEOUT_MS for a fetch and
 * for feeding a fetched pack to git, GIT_LOCAL_TIMEOUT_MS for the rest). A one-request fetch that
 * fails (an answer this runner cannot read, a timeout, a git that fails on the pack) is logged
 * with the mirror, the URL (credentials masked) and the reason, and git's own fetch is tried
 * instead; a mirror that cannot borrow the server's objects is logged and fetches instead. A
 * failure of git's fetch itself fails the unit's checkout with the command and git's complaint.
 */
import { spawn } from 'node:child_process';
import { GIT_FETCH_TIMEOUT_MS, SAFE_GIT, gitEnv, runGit } from './git.js';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MAX_HAVES, fetchPack, packObjectCount } from './packFetch.js';
import { maskUrls, type ErrorCode } from '../server/protocol.js';

export class MirrorError extends Error {
  readonly code: ErrorCode = 'GG_MIRROR';
}

const REF_RE = /^refs\/(heads|try|tags)\/[A-Za-z0-9._/@+-]{1,900}$/;

interface Wanted { url: string; ref: string; credential: string; waiters: { resolve(): void; reject(err: unknown): void }[] }
interface MirrorState {
  dir: string; url: string | null; known: Set<string>; tips: string[] | null;
  /** Commits asked for and not fetched yet: taken together by the next fetch. */
  pending: Map<string, Wanted>; fetching: boolean;
  /** The server's repository whose objects the mirror borrows, once set up. */
  borrowed: string | null;
  /** Commits taken to be in the borrowed repository without looking. */
  unverified: Set<string>;
  creating: Promise<void> | null;
}
const UNPACK_LIMIT = 100; // objects: smaller packs are unpacked into loose objects (git's fetch.unpackLimit)

export class Mirrors {
  private readonly mirrors = new Map<string, MirrorState>();

  constructor(private readonly workDir: string, private readonly server: string, private readonly token: string,
    /** Where a failure that is worked around goes (the runner's log). */
    private readonly log: (line: string) => void = () => undefined) {}

  /** The URL git fetches `url` from: a server path resolved against the server URL. */
  resolveUrl(url: string): string {
    return url.startsWith('/') ? this.server.replace(/\/+$/, '') + url : url;
  }

  /**
   * The mirror's directory once it holds `sha` (fetched when it does not). `credential`: the unit's
   * own token (assign.unitToken), sent to the server instead of the runner token when given.
   */
  async ensure(repo: { name: string; url: string; path?: string }, sha: string, ref: string, credential?: string): Promise<string> {
    const m = this.stateOf(repo.name);
    if (m.known.has(sha)) return m.dir;
    if (repo.path && process.env.GREENGATE_RUNNER_FETCH !== 'always' && (await this.borrow(m, repo.path, this.resolveUrl(repo.url)))) {
      m.unverified.add(sha);
      return m.dir;
    }
    await new Promise<void>((resolve, reject) => {
      let wanted = m.pending.get(sha);
      if (!wanted) m.pending.set(sha, wanted = { url: this.resolveUrl(repo.url), ref, credential: credential ?? this.token, waiters: [] });
      wanted.waiters.push({ resolve, reject });
      if (!m.fetching) void this.drain(m);
    });
    return m.dir;
  }

  /**
   * After a checkout of a borrowed commit failed: true when `sha` was only assumed to be in the
   * server's repository; the caller then asks again without the path, which fetches it.
   */
  unborrow(name: string, sha: string): boolean {
    return this.stateOf(name).unverified.delete(sha);
  }

  /** Whether the server's repository at `path` is readable from here (the mirror then borrows its objects). */
  private async borrow(m: MirrorState, path: string, url: string): Promise<boolean> {
    const objects = join(path, 'objects');
    if (m.borrowed !== path) {
      if (!path.startsWith('/') || (!existsSync(join(objects, 'info')) && !existsSync(join(objects, 'pack')))) return false;
      try {
        await this.create(m, url);
        writeFileSync(join(m.dir, 'objects', 'info', 'alternates'), `${objects}\n`);
        m.borrowed = path;
      } catch (err) {
        this.log(`mirror ${m.dir}: cannot borrow the objects of ${path} (${maskUrls((err as Error).message)}); fetching instead`);
        return false;
      }
    }
    return true;
  }

  /** Creates the mirror (a bare repository whose origin is `url`) when it is not there yet; once, however many units ask at once. */
  private create(m: MirrorState, url: string): Promise<void> {
    if (existsSync(join(m.dir, 'HEAD')) && !m.creating) return Promise.resolve();
    m.creating ??= (async () => {
      mkdirSync(m.dir, { recursive: true });
      await this.git(m.dir, null, ['init', '--quiet', '--bare']);
      await this.git(m.dir, null, ['config', 'gc.auto', '0']);
      await this.git(m.dir, null, ['config', 'remote.origin.url', url]);
      await this.git(m.dir, null, ['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
      m.url = url;
    })().finally(() => { m.creating = null; });
    return m.creating;
  }

  /** Fetches what is pending, one fetch at a time per repository; what is asked for meanwhile goes in the next one, together. */
  private async drain(m: MirrorState): Promise<void> {
    m.fetching = true;
    try {
      while (m.pending.size > 0) {
        const batch = [...m.pending.entries()];
        m.pending.clear();
        const url = batch[0][1].url;
        const together = batch.every(([, w]) => w.url === url) && existsSync(join(m.dir, 'HEAD')) && sameOrigin(url, this.server)
          && await this.fetchMany(m, url, batch[0][1].credential, batch.map(([sha, w]) => ({ sha, ref: refFor(w.ref) })));
        for (const [sha, w] of batch) {
          try {
            if (!together) await this.fetchInto(m, w.url, sha, w.ref, w.credential);
            for (const x of w.waiters) x.resolve();
          } catch (err) {
            for (const x of w.waiters) x.reject(err);
          }
        }
      }
    } finally {
      m.fetching = false;
    }
  }

  private stateOf(name: string): MirrorState {
    let m = this.mirrors.get(name);
    if (!m) {
      m = { dir: join(this.workDir, 'mirrors', `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.git`), url: null, known: new Set(), tips: null, pending: new Map(), fetching: false, borrowed: null, unverified: new Set(), creating: null };
      this.mirrors.set(name, m);
    }
    return m;
  }

  private async fetchInto(m: MirrorState, url: string, sha: string, ref: string, credential = this.token): Promise<void> {
    if (m.known.has(sha)) return;
    const target = refFor(ref);
    await this.create(m, url);
    if (m.url !== url) {
      await this.git(m.dir, null, ['remote', 'set-url', 'origin', url]);
      m.url = url;
    }
    let byId: Error | null = null;
    try {
      await this.git(m.dir, url, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', 'origin', `+${sha}:${target}`], credential);
    } catch (err) {
      byId = err as Error;
    }
    // A fetch by id that succeeded brought the commit (git fails it otherwise): no need to look.
    if (byId) {
      await this.git(m.dir, url, ['fetch', '--quiet', '--no-write-fetch-head', 'origin',
        '+refs/heads/*:refs/heads/*', '+refs/try/*:refs/try/*', '+refs/tags/*:refs/tags/*'], credential);
      if (!(await this.hasCommit(m.dir, sha))) {
        throw new MirrorError(`commit ${sha} is not in ${maskUrls(url)}${byId ? ` (${byId.message})` : ''}`);
      }
    }
    m.known.add(sha);
    m.tips = null; // read again from the refs git wrote
  }

  /** The one-request fetch of every wanted commit (see above); false when git's fetch should do it instead. */
  private async fetchMany(m: MirrorState, url: string, credential: string, wanted: readonly { sha: string; ref: string }[]): Promise<boolean> {
    let tips: string[];
    try {
      tips = m.tips ??= (await this.git(m.dir, null, ['for-each-ref', '--sort=-committerdate', '--count=' + MAX_HAVES, '--format=%(objectname)']))
        .split('\n').filter((l) => /^[0-9a-f]{40}$/.test(l)).reverse();
      const pack = await fetchPack(url, credential, wanted.map((w) => w.sha), [...tips].reverse());
      await this.feed(m.dir, packObjectCount(pack) < UNPACK_LIMIT ? ['unpack-objects', '-q'] : ['index-pack', '--stdin', '--fix-thin'], pack);
    } catch (err) {
      this.log(`mirror ${m.dir}: the one-request fetch of ${wanted.length} commit(s) from ${maskUrls(url)} failed ` +
        `(${maskUrls((err as Error).message)}); fetching with git instead`);
      return false;
    }
    for (const { sha, ref } of wanted) {
      try {
        mkdirSync(dirname(join(m.dir, ref)), { recursive: true });
        writeFileSync(join(m.dir, ref), `${sha}\n`);
      } catch {
        // The objects are in; a ref that cannot be written (a folder of that name) only costs negotiation.
      }
      tips = [...tips.filter((t) => t !== sha), sha];
      m.known.add(sha);
    }
    m.tips = tips.slice(-MAX_HAVES);
    return true;
  }

  /** Runs git in `dir` with `input` on its stdin; killed past GIT_FETCH_TIMEOUT_MS. */
  private feed(dir: string, args: readonly string[], input: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('git', [...SAFE_GIT, ...args], { cwd: dir, env: this.env(null), stdio: ['pipe', 'ignore', 'pipe'],
        timeout: GIT_FETCH_TIMEOUT_MS, killSignal: 'SIGKILL' });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { if (stderr.length < 2000) stderr += d.toString('utf8'); });
      child.on('error', reject);
      child.on('close', (code, signal) => {
        if (code === 0) return resolve();
        const why = signal ? `killed (${signal}) after its time limit of ${GIT_FETCH_TIMEOUT_MS / 1000} s` : stderr.trim().slice(0, 400);
        reject(new MirrorError(`git ${args[0]} in ${dir} failed: ${why}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }

  private async hasCommit(dir: string, sha: string): Promise<boolean> {
    return this.git(dir, null, ['cat-file', '-e', `${sha}^{commit}`]).then(() => true, () => false);
  }

  /** Runs git in `dir`; with `url` set, the credential (the unit's, else the runner token) goes along when that URL is the server's. */
  private env(url: string | null, credential = this.token): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...gitEnv(['GIT_SSH_COMMAND']), GIT_TERMINAL_PROMPT: '0' };
    if (url && sameOrigin(url, this.server)) {
      Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Bearer ${credential}` });
    }
    return env;
  }

  private git(dir: string, url: string | null, args: readonly string[], credential?: string): Promise<string> {
    return runGit(dir, [...SAFE_GIT, ...args], this.env(url, credential), (why) => new MirrorError(`git ${args[0]} in ${dir} failed: ${why}`),
      args[0] === 'fetch' ? GIT_FETCH_TIMEOUT_MS : undefined);
  }
}

/** The mirror ref a build's commit is kept under: the build's own ref when it is a plain one. */
function refFor(ref: string): string {
  return REF_RE.test(ref) && !ref.includes('..') && !ref.endsWith('.lock') ? ref : 'refs/greengate/fetched';
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
