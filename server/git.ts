/**
 * Read-only git queries the server makes against bare repositories on this host. Every call is
 * one `git` process with arguments as an array (no shell); shas and refs are validated first.
 */
import { execFile } from 'node:child_process';
import picomatch from 'picomatch';
import type { CommitInfo } from './store/repos.js';
import { GgError } from './errors.js';

export const ZERO_SHA = '0000000000000000000000000000000000000000';
export const MAX_BLAMELIST = 200;
const MAX_GIT_OUTPUT = 64 * 1024 * 1024;


export function isSha(s: string): boolean {
  return /^[0-9a-f]{40}$/.test(s);
}

export function git(repo: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', ['--git-dir', repo, ...args], { maxBuffer: MAX_GIT_OUTPUT, encoding: 'utf8', env: gitEnv() },
      (err, stdout, stderr) => {
        if (err) reject(new GgError('GG_GIT_FAILED', `git ${args[0]} in ${repo} failed: ${(stderr || err.message).trim().slice(0, 500)}`));
        else resolve(stdout);
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
  if (sha.startsWith('-') || !/^[\w./-]+$/.test(sha)) throw new GgError('GG_BAD_SHA', `not a commit: ${sha}`);
  const out = await git(repo, ['ls-tree', '-r', '-z', '--name-only', sha]);
  const patterns = typeof globs === 'string' ? [globs] : [...globs];
  if (patterns.length === 0) return [];
  const match = picomatch(patterns, { dot: false });
  const excluded = exclude.length ? picomatch([...exclude], { dot: true }) : () => false;
  return out.split('\0').filter((f) => f && match(f) && !excluded(f)).sort();
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
