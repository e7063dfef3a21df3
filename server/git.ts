/**
 * Read-only git queries the server makes against bare repositories on this host. Every call is
 * one `git` process with arguments as an array (no shell); shas and refs are validated first.
 *
 * Time limit: a call that runs over GIT_QUERY_TIMEOUT_MS is killed (SIGKILL) and rejects with
 * GG_GIT_TIMEOUT naming the repository and the command, so one hung git (a stale lock, a
 * stuck filesystem) fails that change instead of stopping the repository's intake for good (its
 * changes are serialized, changes/refs.ts); the caller logs it. Any other failure rejects with
 * GG_GIT_FAILED, also naming the repository and the command. A repository here is a path, never
 * a URL, so no credential can appear in either.
 */
import { execFile } from 'node:child_process';
import picomatch from 'picomatch';
import type { CommitInfo } from './store/repos.js';
import { GgError } from './errors.js';

export const ZERO_SHA = '0000000000000000000000000000000000000000';
export const MAX_BLAMELIST = 200;
const MAX_GIT_OUTPUT = 64 * 1024 * 1024; // 64 MiB of stdout per call
/** One query's time limit, in milliseconds. Tests lower `queryMs`; nothing else changes it. */
export const GIT_TIME_LIMITS = { queryMs: 60_000 }; // 1 minute: a 200-commit log or the ls-tree of a large tree takes well under a second


export function isSha(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

/**
 * Runs `git --git-dir repo args…`; its stdout, or GG_GIT_TIMEOUT / GG_GIT_FAILED naming the repository and command.
 * `quarantine`: a push's quarantine directory (checked by the caller, exactRevert.ts checkedQuarantine) read besides the repository's objects.
 */
export function git(repo: string, args: readonly string[], quarantine: string | null = null): Promise<string> {
  const timeoutMs = GIT_TIME_LIMITS.queryMs;
  return new Promise((resolve, reject) => {
    const env = quarantine ? { ...gitEnv(), GIT_OBJECT_DIRECTORY: quarantine, GIT_ALTERNATE_OBJECT_DIRECTORIES: `${repo}/objects` } : gitEnv();
    execFile('git', ['--git-dir', repo, ...args], { maxBuffer: MAX_GIT_OUTPUT, encoding: 'utf8', env, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const command = `git ${args.slice(0, 2).join(' ')}`.slice(0, 200);
        if ((err as { killed?: boolean }).killed && err.signal === 'SIGKILL') {
          return reject(new GgError('GG_GIT_TIMEOUT', `${command} in ${repo} ran over its time limit of ${timeoutMs / 1000} s and was killed — ` +
            'check the repository for a stale lock or a hung filesystem'));
        }
        reject(new GgError('GG_GIT_FAILED', `${command} in ${repo} failed: ${(stderr || err.message).trim().slice(0, 500)}`));
      });
  });
}

function gitEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  // A server started from inside a git hook must not inherit the hook's repository settings.
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  return env;
}

const LOG_FORMAT = '--format=%H%x00%an%x00%ae%x00%ct%x00%s%x1e';

function parseLog(out: string): CommitInfo[] {
  return out.split('\x1e').map((r) => r.replace(/^\n/, '')).filter(Boolean).map((r) => {
    const [sha, author, email, ct, subject] = r.split('\x00');
    return { sha, author, email, subject: subject ?? '', committedAt: Number(ct) * 1000 };
  });
}

/**
 * Commits new at `head`, newest first: since `base` when given, else those not on any other ref
 * (a new branch), else just the head commit.
 */
export async function readBlamelist(repo: string, head: string, base: string | null, ref: string): Promise<CommitInfo[]> {
  if (!isSha(head)) throw new GgError('GG_BAD_SHA', `not a commit id: ${head.slice(0, 100)}`);
  if (base && isSha(base) && base !== ZERO_SHA && base !== head) {
    try {
      const out = await git(repo, ['log', LOG_FORMAT, `--max-count=${MAX_BLAMELIST}`, head, `^${base}`, '--']);
      const commits = parseLog(out);
      if (commits.length) return commits;
    } catch {
      // the base may be gone (a force-push that was collected): fall through
    }
  }
  const out = await git(repo, ['log', LOG_FORMAT, `--max-count=${MAX_BLAMELIST}`, head, '--not', `--exclude=${ref}`, '--all', '--']);
  const commits = parseLog(out);
  if (commits.length) return commits;
  return parseLog(await git(repo, ['log', LOG_FORMAT, '--max-count=1', head, '--']));
}

/**
 * Files at the commit (no checkout) that match any of the globs and none of `exclude`
 * (picomatch; dot files and folders match only globs that name them), sorted.
 */
export async function listFiles(repo: string, sha: string, globs: string | readonly string[],
  exclude: readonly string[] = []): Promise<string[]> {
  checkCommit(sha);
  const out = await git(repo, ['ls-tree', '-r', '-z', '--name-only', sha]);
  return matching(out.split('\0'), globs, exclude);
}

/**
 * The files listFiles gives with their bytes, from ONE `git ls-tree -r -l` (a cold plan needs both:
 * one git process instead of two on the push → first assign path). Sizes of blobs only.
 */
export async function listFilesWithSizes(repo: string, sha: string, globs: string | readonly string[],
  exclude: readonly string[] = []): Promise<{ files: string[]; sizes: Map<string, number> }> {
  checkCommit(sha);
  const all = new Map<string, number>();
  for (const rec of (await git(repo, ['ls-tree', '-r', '-l', '-z', sha])).split('\0')) {
    const tab = rec.indexOf('\t');
    if (tab >= 0) all.set(rec.slice(tab + 1), Number(rec.slice(0, tab).trim().split(/\s+/)[3]));
  }
  const files = matching([...all.keys()], globs, exclude);
  const sizes = new Map<string, number>();
  for (const f of files) if (Number.isFinite(all.get(f))) sizes.set(f, all.get(f)!);
  return { files, sizes };
}

/** Bytes of each of `files` at the commit (`git ls-tree -r -l`; files not there are left out). */
export async function fileSizes(repo: string, sha: string, files: readonly string[]): Promise<Map<string, number>> {
  checkCommit(sha);
  const wanted = new Set(files);
  const sizes = new Map<string, number>();
  for (const rec of (await git(repo, ['ls-tree', '-r', '-l', '-z', sha])).split('\0')) {
    const tab = rec.indexOf('\t');
    if (tab < 0 || !wanted.has(rec.slice(tab + 1))) continue;
    const bytes = Number(rec.slice(0, tab).trim().split(/\s+/)[3]);
    if (Number.isFinite(bytes)) sizes.set(rec.slice(tab + 1), bytes);
  }
  return sizes;
}

function checkCommit(sha: string): void {
  if (sha.startsWith('-') || !/^[\w./-]+$/.test(sha)) throw new GgError('GG_BAD_SHA', `not a commit: ${sha}`);
}

/** The paths that match any of the globs and none of `exclude`, sorted. */
function matching(paths: readonly string[], globs: string | readonly string[], exclude: readonly string[]): string[] {
  const patterns = typeof globs === 'string' ? [globs] : [...globs];
  if (patterns.length === 0) return [];
  const match = picomatch(patterns, { dot: false });
  const excluded = exclude.length ? picomatch([...exclude], { dot: true }) : () => false;
  return paths.filter((f) => f && match(f) && !excluded(f)).sort();
}

/** Branch and try refs with their heads. */
export async function listRefs(repo: string): Promise<Map<string, string>> {
  const out = await git(repo, ['for-each-ref', '--format=%(objectname) %(refname)', 'refs/heads/', 'refs/try/']);
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const i = line.indexOf(' ');
    if (i === 40) refs.set(line.slice(41), line.slice(0, 40));
  }
  return refs;
}

export async function isBareRepository(path: string): Promise<boolean> {
  try {
    return (await git(path, ['rev-parse', '--is-bare-repository'])).trim() === 'true';
  } catch {
    return false;
  }
}
