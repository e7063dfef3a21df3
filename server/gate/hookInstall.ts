/**
 * `greengate hook install BARE_REPO --server URL [--repo NAME]`: puts greengate's pre-receive
 * and post-receive hooks (templates in the package's server/gate/hooks/) into a bare repository and
 * keeps their settings in its git config: greengate.server, greengate.repo, greengate.timeout
 * (seconds, default DEFAULT_TIMEOUT_S, kept if set), greengate.onUnreachable (reject|allow,
 * default reject, kept if set), greengate.gated (when the caller knows the gated branches; the
 * hook refreshes it from every verdict) and receive.advertisePushOptions=true (so
 * `git push -o greengate.bypass=…` works). It also gives the repository its hook secret
 * (hookSecret.ts: `<repo>/greengate-hook-secret`, kept if present): owned by the repository's
 * owner, mode 0600, or 0640 with the repository directory's group when the repository is shared
 * with a group (core.sharedRepository), so every pushing user's hook can read it. Run as root, the
 * file is given to the repository's owner. A secret file another user owns is refused before
 * anything changes, naming the file, its owner and mode and the fix (checkSecretFile).
 * Registering the secret with the server (its own copy) is the CLI's step (server/cli.ts).
 *
 * Hooks go where git runs them (`git rev-parse --git-path hooks`, which follows core.hooksPath).
 * A hook file with the marker line "# greengate-hook v…" is ours and is replaced (upgrade,
 * reinstall). A foreign hook is moved to `<name>.local`, which our hook runs after its own
 * check with the same stdin; if `<name>.local` exists as well, install refuses before changing
 * anything. Synchronous (a CLI step); errors are GgError GG_HOOK_INSTALL with
 * a message that says what to fix.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GgError } from '../errors.js';
import { isValidBranchName } from '../config/config.js';
import { ensureHookSecret, hookSecretPath, type SecretAccess } from './hookSecret.js';

export const HOOK_MARKER = '# greengate-hook v';
export const HOOK_NAMES = ['pre-receive', 'post-receive'] as const;
export const REPO_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/**
 * Seconds the pre-receive hook waits for a verdict: 3-4x the verdict's p99 under a burst of 50
 * pushes at once on a loaded 2-core machine (3.4 s and 4.8 s in two runs; README "The gate";
 * `node dist/test/bench/hook.js --burst 50`).
 * An install over the old default of 2 s raises it; any other value is kept.
 */
export const DEFAULT_TIMEOUT_S = '15';
const OLD_DEFAULT_TIMEOUT_S = '2';
const DEFAULT_ON_UNREACHABLE = 'reject';

/** Every refusal of `hook install`: GG_HOOK_INSTALL, with what to fix. */
function installError(message: string): GgError {
  return new GgError('GG_HOOK_INSTALL', message);
}

export interface HookInstallResult {
  repo: string;
  hooks: string[]; // paths of the hooks written
  preserved: string[]; // foreign hooks moved to <name>.local by this install
  secretFile: string; // the hook's copy of the secret
  access: string; // who may read it, for people: "owner uid 1001, mode 600" or "… group gid 1002 (shared), mode 640"
}

export function templateDir(): string {
  return fileURLToPath(new URL('../../../server/gate/hooks/', import.meta.url));
}

/** The repository name the hooks will send: --repo, else the directory's name without .git. */
export function repoNameOf(bareRepo: string, repo?: string): string {
  return repo ?? basename(resolve(bareRepo)).replace(/\.git$/, '');
}

export function installHooks(bareRepo: string, opts: { server: string; repo?: string; gated?: readonly string[] }): HookInstallResult {
  const gitDir = resolve(bareRepo);
  checkBareRepo(gitDir);
  const server = checkServerUrl(opts.server);
  const repo = repoNameOf(gitDir, opts.repo);
  if (!REPO_NAME.test(repo)) {
    const hint = opts.repo === undefined ? ` (taken from the directory name): pass --repo NAME` : '';
    throw installError(
      `repository name "${repo}" is not valid${hint}; use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  const hooksDir = resolve(gitDir, git(gitDir, ['rev-parse', '--git-path', 'hooks']));
  const templates = [...HOOK_NAMES.map((name) => ({ name, text: readTemplate(name), path: join(hooksDir, name) })),
    { name: 'proc-receive', text: procReceiveHook(), path: join(hooksDir, 'proc-receive') }];
  const foreign = templates.filter((t) => existsSync(t.path) && !isOurs(t.path));
  for (const hook of foreign) {
    if (existsSync(`${hook.path}.local`)) {
      throw installError(
        `${hook.path} was not written by greengate and ${hook.path}.local exists too: merge them into ${hook.path}.local, delete ${hook.path}, then run the install again`,
      );
    }
  }

  const access = secretAccess(gitDir);
  checkSecretFile(gitDir, access);

  git(gitDir, ['config', 'greengate.server', server]);
  git(gitDir, ['config', 'greengate.repo', repo]);
  if (opts.gated) rememberGated(gitDir, opts.gated);
  setDefault(gitDir, 'greengate.timeout', DEFAULT_TIMEOUT_S, OLD_DEFAULT_TIMEOUT_S);
  setDefault(gitDir, 'greengate.onUnreachable', DEFAULT_ON_UNREACHABLE);
  git(gitDir, ['config', 'receive.advertisePushOptions', 'true']);
  git(gitDir, ['config', 'receive.procReceiveRefs', 'refs/for']); // pushes to refs/for/<branch> go to the land queue (server/queue/)

  try {
    ensureHookSecret(gitDir, access);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw installError(`cannot give ${hookSecretPath(gitDir)} ${describeAccess(access)} (${code}): run the install as the repository's owner ` +
      `and a member of its group, or as root (docs/operations.md, "Users, groups and modes")`);
  }
  mkdirSync(hooksDir, { recursive: true });
  const preserved: string[] = [];
  for (const hook of foreign) {
    renameSync(hook.path, `${hook.path}.local`);
    preserved.push(`${hook.path}.local`);
  }
  for (const hook of templates) {
    writeFileSync(hook.path, hook.text, { mode: 0o755 });
    chmodSync(hook.path, 0o755);
  }
  return { repo, hooks: templates.map((t) => t.path), preserved, secretFile: hookSecretPath(gitDir), access: describeAccess(access) };
}

const SHARED_WITH_GROUP = new Set(['group', 'true', '1', 'all', 'world', 'everybody', '2']);

/**
 * Who may read the hook's copy of the secret: the repository's group too (0640) when git shares
 * the repository with it (core.sharedRepository group/all or an octal mode with group read),
 * else only the owner (0600). As root, the file is given to the repository directory's owner.
 */
export function secretAccess(gitDir: string): SecretAccess {
  let shared = '';
  try {
    shared = git(gitDir, ['config', '--get', 'core.sharedRepository']).toLowerCase();
  } catch {
    // not set: private
  }
  const st = statSync(gitDir);
  const group = SHARED_WITH_GROUP.has(shared) || (/^0[0-7]{3}$/.test(shared) && (parseInt(shared, 8) & 0o040) !== 0);
  const root = process.getuid?.() === 0;
  return { mode: group ? 0o640 : 0o600, uid: root ? st.uid : undefined, gid: group || root ? st.gid : undefined };
}

function describeAccess(a: SecretAccess): string {
  const owner = a.uid !== undefined ? `owner uid ${a.uid}` : `owner uid ${process.getuid?.()}`;
  return a.mode === 0o640 ? `${owner}, group gid ${a.gid} (the repository's group, core.sharedRepository), mode 640`
    : `${owner}, mode 600 (the repository is not shared with a group)`;
}

/** Refuses, before anything changes, a secret file this install could not set up as the model says. */
function checkSecretFile(gitDir: string, access: SecretAccess): void {
  const path = hookSecretPath(gitDir);
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // created below
  }
  const mode = (st.mode & 0o777).toString(8);
  if (!st.isFile()) {
    throw installError(`${path} is not a regular file (owner uid ${st.uid}, mode ${mode}): remove it and run the install again`);
  }
  const me = process.getuid?.();
  if (me !== undefined && me !== 0 && st.uid !== me) {
    throw installError(`${path} belongs to uid ${st.uid} (mode ${mode}), not to uid ${me} running the install: run the install as uid ${st.uid} ` +
      `(the repository's owner) or as root, or remove the file to make a new secret (docs/operations.md, "Users, groups and modes")`);
  }
}

function checkBareRepo(gitDir: string): void {
  if (!existsSync(gitDir) || !statSync(gitDir).isDirectory()) {
    throw installError(`${gitDir} is not a directory: give the path of a bare git repository`);
  }
  let answer: string[];
  try {
    answer = git(gitDir, ['rev-parse', '--is-bare-repository', '--git-dir']).split('\n');
  } catch (err) {
    const why = String((err as { stderr?: unknown }).stderr ?? '').trim().split('\n')[0];
    throw installError(`${gitDir} is not a git repository (${why}): give the path of a bare repository (git init --bare)`);
  }
  if (answer[0] !== 'true') {
    throw installError(`${gitDir} is not a bare repository: install the hooks in the bare repository that people push to`);
  }
  if (answer[1] !== '.') {
    throw installError(`${gitDir} is inside the bare repository ${resolve(gitDir, answer[1])}: give the repository's own path`);
  }
}

/** The --server URL as the hooks will use it, or GG_HOOK_INSTALL naming what is wrong with it. */
export function checkServerUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw installError(`--server "${server}" is not a URL: give http://HOST:PORT of the greengate server`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw installError(`--server "${server}" must start with http:// or https://`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw installError(`--server "${server}" must be a plain http(s)://HOST:PORT[/path] with no credentials, query or fragment`);
  }
  return url.href.replace(/\/+$/, '');
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The proc-receive hook: runs `greengate hook proc-receive` (cli/procReceive.ts) with this node and
 * this installation's CLI, for pushes to refs/for/<branch> (the land queue; a branch without one is
 * refused by the server with a message saying so, so refs/for/* never becomes a plain ref).
 */
function procReceiveHook(): string {
  const cli = fileURLToPath(new URL('../cli.js', import.meta.url));
  return `#!/bin/sh\n${HOOK_MARKER}1\n#\n# greengate proc-receive hook: a push to refs/for/<branch> is queued in greengate's land queue\n` +
    `# (receive.procReceiveRefs = refs/for). Written by \`greengate hook install\`; do not edit it.\n` +
    `exec ${shellQuote(process.execPath)} ${shellQuote(cli)} hook proc-receive\n`;
}

/** A hook's template with its "# @include FILE" lines replaced by those files (from the same folder). */
function readTemplate(name: string): string {
  return readTemplateFile(`${name}.sh`).replace(/^# @include ([\w.-]+)\n/gm, (_line, file: string) => readTemplateFile(file));
}

function readTemplateFile(file: string): string {
  const path = join(templateDir(), file);
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw installError(`hook template ${path} is missing: the greengate installation is incomplete, reinstall it`);
  }
}

function isOurs(path: string): boolean {
  try {
    return readFileSync(path, 'utf8').split('\n', 5).some((line) => line.startsWith(HOOK_MARKER));
  } catch {
    return false;
  }
}

/** Sets a key unless it already has a value (other than `replaced`, an old default). */
function setDefault(gitDir: string, key: string, value: string, replaced?: string): void {
  let current: string | null = null;
  try {
    current = git(gitDir, ['config', '--get', key]);
  } catch {
    // not set
  }
  if (current === null || current === replaced) git(gitDir, ['config', key, value]);
}

/**
 * Keeps the gated branches in greengate.gated (space-separated, "-" for none): the pre-receive
 * hook lets a push that touches none of them through while the server is unreachable.
 */
export function rememberGated(bareRepo: string, branches: readonly string[]): void {
  const bad = branches.find((b) => !isValidBranchName(b));
  if (bad !== undefined) throw installError(`gated branch "${bad.slice(0, 100)}" is not a valid branch name`);
  git(resolve(bareRepo), ['config', 'greengate.gated', branches.length ? branches.join(' ') : '-']);
}

export const HOOK_GIT_TIMEOUT_MS = 30_000; // 30 seconds: one `git config` or `rev-parse` while installing hooks

function git(gitDir: string, args: string[]): string {
  const env = { ...process.env };
  for (const name of ['GIT_DIR', 'GIT_WORK_TREE', 'GIT_COMMON_DIR', 'GIT_CONFIG']) delete env[name];
  return execFileSync('git', args, { cwd: gitDir, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: HOOK_GIT_TIMEOUT_MS, killSignal: 'SIGKILL' }).trim();
}
