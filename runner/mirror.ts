/**
 * Mirrors: one bare copy of each repository in the runner's work dir (`mirrors/<name>.git`),
 * from which the slot workspaces are cloned with `--shared`. A unit's commit is fetched into
 * the mirror once; every later unit of it, on any slot, finds it there without the network.
 *
 * Where from: the assign's `repo.url` — a path on the greengate server (`/git/<name>.git`,
 * resolved against the runner's --server URL and fetched with the runner token in an
 * `Authorization` header given to git through GIT_CONFIG_* environment variables, never in a URL
 * or on a command line), or a repository's own `cloneUrl` (fetched without the token: it goes
 * only to the greengate server).
 *
 * Fetching: by commit id into the build's ref (`+<sha>:<ref>`), so git negotiates with what the
 * mirror already has and only new objects travel (a commit the mirror has costs git no request); when the far side will not serve an object by
 * id, all branches, try refs and tags are fetched instead. Fetches of one repository are
 * serialized; different repositories fetch in parallel. The mirror never runs gc (gc.auto 0):
 * workspaces borrow its objects.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export class MirrorError extends Error {
  readonly code = 'GG_MIRROR';
}

const REF_RE = /^refs\/(heads|try|tags)\/[A-Za-z0-9._/@+-]{1,900}$/;

interface MirrorState { dir: string; url: string | null; known: Set<string>; queue: Promise<unknown> }

export class Mirrors {
  private readonly mirrors = new Map<string, MirrorState>();

  constructor(private readonly workDir: string, private readonly server: string, private readonly token: string) {}

  /** The URL git fetches `url` from: a server path resolved against the server URL. */
  resolveUrl(url: string): string {
    return url.startsWith('/') ? this.server.replace(/\/+$/, '') + url : url;
  }

  /** The mirror's directory once it holds `sha` (fetched when it does not). */
  async ensure(repo: { name: string; url: string }, sha: string, ref: string): Promise<string> {
    const m = this.stateOf(repo.name);
    if (m.known.has(sha)) return m.dir;
    const run = m.queue.then(() => this.fetchInto(m, this.resolveUrl(repo.url), sha, ref));
    m.queue = run.catch(() => undefined);
    await run;
    return m.dir;
  }

  private stateOf(name: string): MirrorState {
    let m = this.mirrors.get(name);
    if (!m) {
      m = { dir: join(this.workDir, 'mirrors', `${name.replace(/[^A-Za-z0-9._-]/g, '_')}.git`), url: null, known: new Set(), queue: Promise.resolve() };
      this.mirrors.set(name, m);
    }
    return m;
  }

  private async fetchInto(m: MirrorState, url: string, sha: string, ref: string): Promise<void> {
    if (m.known.has(sha)) return;
    if (!existsSync(join(m.dir, 'HEAD'))) {
      mkdirSync(m.dir, { recursive: true });
      await this.git(m.dir, null, ['init', '--quiet', '--bare']);
      await this.git(m.dir, null, ['config', 'gc.auto', '0']);
      await this.git(m.dir, null, ['remote', 'add', 'origin', url]);
      m.url = url;
    }
    if (m.url !== url) {
      await this.git(m.dir, null, ['remote', 'set-url', 'origin', url]);
      m.url = url;
    }
    const target = REF_RE.test(ref) && !ref.includes('..') && !ref.endsWith('.lock') ? ref : 'refs/greengate/fetched';
    let byId: Error | null = null;
    try {
      await this.git(m.dir, url, ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', 'origin', `+${sha}:${target}`]);
    } catch (err) {
      byId = err as Error;
    }
    // A fetch by id that succeeded brought the commit (git fails it otherwise): no need to look.
    if (byId) {
      await this.git(m.dir, url, ['fetch', '--quiet', '--no-write-fetch-head', 'origin',
        '+refs/heads/*:refs/heads/*', '+refs/try/*:refs/try/*', '+refs/tags/*:refs/tags/*']);
      if (!(await this.hasCommit(m.dir, sha))) {
        throw new MirrorError(`commit ${sha} is not in ${url}${byId ? ` (${byId.message})` : ''}`);
      }
    }
    m.known.add(sha);
  }

  private async hasCommit(dir: string, sha: string): Promise<boolean> {
    return this.git(dir, null, ['cat-file', '-e', `${sha}^{commit}`]).then(() => true, () => false);
  }

  /** Runs git in `dir`; with `url` set, the runner token goes along when that URL is the server's. */
  private git(dir: string, url: string | null, args: readonly string[]): Promise<string> {
    const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
    for (const k of Object.keys(env)) if (k.startsWith('GIT_') && k !== 'GIT_TERMINAL_PROMPT' && k !== 'GIT_SSH_COMMAND') delete env[k];
    if (url && sameOrigin(url, this.server)) {
      Object.assign(env, { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'http.extraHeader', GIT_CONFIG_VALUE_0: `Authorization: Bearer ${this.token}` });
    }
    return new Promise((resolve, reject) => {
      execFile('git', args, { cwd: dir, env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err) reject(new MirrorError(`git ${args[0]} in ${dir} failed: ${(stderr || err.message).trim().slice(0, 400)}`));
        else resolve(stdout);
      });
    });
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
