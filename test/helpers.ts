/**
 * Test fixtures: temporary homes, real git repositories, the real server and real runner
 * processes on port 0, and waiting with deadlines.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist', 'server', 'cli.js');
/** The flags the `greengate` bin's shebang gives node. */
export const NODE_FLAGS = process.env.GG_NODE_FLAGS ? process.env.GG_NODE_FLAGS.split(' ') : ['--max-semi-space-size=1'];
export const RUNNER_TOKEN = 'test-runner-token-123';
export const ADMIN_TOKEN = 'test-admin-token-456';

export function tempHome(prefix = 'gg-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Retried: a git child of a server killed with SIGKILL may still be writing in it for a moment (ENOTEMPTY).
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 }) };
}

/** Waits until fn returns a truthy value, checking every `every` ms, failing after `timeoutMs`. */
export async function pollUntil<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000, every = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, encoding: 'utf8', env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

export function gitEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_AUTHOR_NAME: 'Ada Tester', GIT_AUTHOR_EMAIL: 'ada@example.com',
    GIT_COMMITTER_NAME: 'Ada Tester', GIT_COMMITTER_EMAIL: 'ada@example.com', GL_USERNAME: 'ada', ...extra };
  for (const k of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_INDEX_FILE']) delete env[k];
  return env;
}

/** A bare repository and a clone of it to commit and push from. */
export class Repo {
  readonly bare: string;
  readonly work: string;
  constructor(home: string, readonly name = 'shop') {
    this.bare = join(home, 'git', `${name}.git`);
    this.work = join(home, 'work', name);
    mkdirSync(this.bare, { recursive: true });
    git(this.bare, 'init', '--quiet', '--bare', '--initial-branch=main');
    git(join(home), 'clone', '--quiet', this.bare, this.work);
    git(this.work, 'checkout', '--quiet', '-B', 'main');
  }

  /** Writes files and commits them; returns the new sha. */
  commit(files: Record<string, string>, message: string): string {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(this.work, path)), { recursive: true });
      writeFileSync(join(this.work, path), content, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
    }
    git(this.work, 'add', '-A');
    git(this.work, 'commit', '--quiet', '--allow-empty', '-m', message);
    return git(this.work, 'rev-parse', 'HEAD');
  }

  /** git push; returns { ok, output } rather than throwing, so rejections can be asserted. */
  push(refspec = 'HEAD:refs/heads/main', ...extra: string[]): { ok: boolean; output: string } {
    const r = spawnSync('git', ['push', '--porcelain', ...extra, 'origin', refspec], {
      cwd: this.work, encoding: 'utf8', env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
  }
}

export interface BuilderSpec {
  name: string; run: string; tests?: string; setup?: string; junit?: string; timeout?: number; quarantine?: string[]; unitTargetSeconds?: number;
  env?: string[]; secrets?: Record<string, { env: string } | { file: string }>; maxLogBytes?: number;
  cache?: { paths: string[]; key: string[] }[]; setupOnHit?: string;
  sandbox?: { network?: boolean; readOnly?: string[]; writable?: string[] };
}

/** HOME/greengate.yml for these repositories (gated on main unless told); `top` adds top-level keys (e.g. notify). */
export function writeConfig(home: string, repos: { name: string; path: string; gate?: string[]; autoRevert?: boolean; builders: BuilderSpec[] }[],
  top: Record<string, unknown> = {}): string {
  const file = join(home, 'greengate.yml');
  writeFileSync(file, stringify({
    port: 0, data: join(home, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN, ...top,
    repositories: repos.map((r) => ({ gate: ['main'], ...r })),
  }));
  return file;
}

/** A real `greengate serve` process; resolves once it prints its URL. */
export class ServerProcess {
  child!: ChildProcess;
  url = '';
  output = '';
  /** Extra environment for the next start (e.g. a GG_FAULT injection point). */
  env: Record<string, string> = {};
  /** Extra `greengate serve` flags for the next start (e.g. --host 127.0.0.1). */
  args: string[] = [];
  /** A command that runs the server as another user (e.g. setpriv --reuid …); none: this process's user. */
  wrap: string[] = [];
  constructor(readonly configFile: string, readonly port = 0) {}

  /** Starts the server; a restart keeps the port the first start got, so runners find it again. */
  async start(): Promise<this> {
    this.output = '';
    const port = this.url ? new URL(this.url).port : String(this.port);
    const argv = [process.execPath, ...NODE_FLAGS, CLI, 'serve', '--config', this.configFile, '--port', port, ...this.args];
    this.child = spawn([...this.wrap, ...argv][0], [...this.wrap, ...argv].slice(1), {
      env: { ...process.env, GREENGATE_LOG_LEVEL: process.env.GREENGATE_LOG_LEVEL ?? 'warn', PORT: '', ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d) => { this.output += d; });
    this.child.stderr!.on('data', (d) => { this.output += d; });
    const m = await pollUntil(() => /serving (http:\/\/\S+)/.exec(this.output) ?? (this.child.exitCode !== null ? Promise.reject(new Error(`server exited: ${this.output}`)) : null),
      'the server to start', 15_000);
    this.url = m[1].replace('localhost', '127.0.0.1');
    return this;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    return stopChild(this.child, signal);
  }

  async api<T = any>(path: string, init?: RequestInit): Promise<T> {
    const res = await fetch(this.url + path, init);
    const body = await res.text();
    if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${path}: ${res.status} ${body}`);
    return (res.headers.get('content-type')?.includes('json') ? JSON.parse(body) : body) as T;
  }

  build(id: number): Promise<any> { return this.api(`/api/builds/${id}`); }

  /** Waits for a build to finish and returns it. */
  waitForBuild(id: number, timeoutMs = 30_000): Promise<any> {
    return pollUntil(async () => { const b = await this.build(id); return b.state === 'done' ? b : null; }, `build ${id} to finish`, timeoutMs);
  }

  async builds(query = ''): Promise<any[]> { return (await this.api<{ builds: any[] }>(`/api/builds?${query}`)).builds; }
}

/** A `greengate serve` process for one repository "shop" (a new Repo in HOME) with one builder `unit` running `true`. */
export function startShopProcess(home: string): Promise<ServerProcess> {
  const repo = new Repo(home);
  return new ServerProcess(writeConfig(home, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
}

/** A real runner process; its token is passed in the environment (GREENGATE_RUNNER_TOKEN), not argv. */
export function startRunner(server: string, name: string, home: string,
  opts: { slots?: number; token?: string; env?: Record<string, string>; work?: string; wrap?: string[]; args?: string[] } = {}): ChildProcess & { output: string } {
  const argv = [...(opts.wrap ?? []), process.execPath, CLI, 'runner', '--server', server,
    '--name', name, '--slots', String(opts.slots ?? 1), '--work', opts.work ?? join(home, 'runners', name), ...(opts.args ?? [])];
  const child = spawn(argv[0], argv.slice(1), {
    env: gitEnv({ GREENGATE_RUNNER_TOKEN: opts.token ?? RUNNER_TOKEN, ...opts.env }), stdio: ['ignore', 'pipe', 'pipe'],
  }) as ChildProcess & { output: string };
  child.output = '';
  child.stdout!.on('data', (d) => { child.output += d; });
  child.stderr!.on('data', (d) => { child.output += d; });
  return child;
}

/** Starts a runner (startRunner) and waits until the server counts `connected` runners. */
export async function connectRunner(server: ServerProcess, name: string, home: string,
  opts: Parameters<typeof startRunner>[3] = {}, connected = 1): Promise<ChildProcess & { output: string }> {
  const runner = startRunner(server.url, name, home, opts);
  await pollUntil(async () => (await server.api('/healthz')).runners === connected, `${connected} runner(s) to connect`);
  return runner;
}

export async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** mulberry32: a small seeded generator, so a synthetic suite is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A `git` that hangs while `hang` is on: a script put first on PATH in front of the real git, for
 * testing time limits. While on, every git call whose arguments contain `when` (all calls when
 * empty) sleeps instead (or, with `fails`, exits 1 saying "fake git failure"); otherwise it runs
 * the real git. `restore()` puts PATH back.
 */
export function hangingGit(dir: string, when = '', fails = false): { hang(on: boolean): void; restore(): void } {
  const act = fails ? 'echo "fake git failure" >&2; exit 1' : 'exec sleep 120';
  const real = execFileSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).trim();
  const bin = join(dir, 'hanging-git-bin');
  const flag = join(dir, 'hanging-git.on');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'git'), `#!/bin/sh\nif [ -e '${flag}' ]; then case " $* " in *'${when}'*) ${act};; esac; fi\nexec '${real}' "$@"\n`, { mode: 0o755 });
  const path = process.env.PATH;
  process.env.PATH = `${bin}:${path}`;
  return {
    hang(on) { if (on) writeFileSync(flag, ''); else rmSync(flag, { force: true }); },
    restore() { process.env.PATH = path; rmSync(flag, { force: true }); },
  };
}
