/**
 * A candidate commit of the land queue: the branch head (or the candidate ahead) with a queued change
 * on top, made in the bare repository with git plumbing only (`git merge-tree --write-tree`, git ≥ 2.38,
 * then `git commit-tree`): no work tree, no index, nothing checked out. A change that already sits on
 * its base (the base is its ancestor) is its own candidate, so a queue of one lands exactly the
 * pushed commit. A change that does not apply answers the conflicting files. The candidate is kept
 * reachable under refs/try/queue/<change id>-<attempt> (its builds are that ref's try builds, which never touch
 * the tree, culprit search or deploys).
 */
import { execFile } from 'node:child_process';
import { GgError } from '../errors.js';
import { isSha } from '../git.js';

export const CANDIDATE_REF_PREFIX = 'refs/try/queue/';
export const GIT_TIMEOUT_MS = 60_000; // one merge or commit: 1 minute
export const QUEUE_IDENTITY = { name: 'greengate land queue', email: 'greengate@localhost' };

export type CandidateResult = { sha: string } | { conflict: string[] };

/** The ref a change's candidate is built on: a new one per attempt (`n`), so an attempt never reuses the cancelled builds of the one before. */
export function candidateRef(changeId: number, n: string): string {
  return `${CANDIDATE_REF_PREFIX}${changeId}-${n}`;
}

/** Runs git in the bare repository; its exit code and stdout (a code over 1 or a timeout is GG_GIT_FAILED). */
export function gitRun(repo: string, args: readonly string[], okCodes: readonly number[] = [0], input?: string): Promise<{ code: number; out: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('GIT_')) delete env[k];
  Object.assign(env, { GIT_AUTHOR_NAME: QUEUE_IDENTITY.name, GIT_AUTHOR_EMAIL: QUEUE_IDENTITY.email,
    GIT_COMMITTER_NAME: QUEUE_IDENTITY.name, GIT_COMMITTER_EMAIL: QUEUE_IDENTITY.email });
  return new Promise((resolve, reject) => {
    const child = execFile('git', ['--git-dir', repo, ...args], { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: GIT_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
        if (okCodes.includes(code)) return resolve({ code, out: stdout });
        reject(new GgError('GG_GIT_FAILED', `git ${args.slice(0, 2).join(' ')} in ${repo} failed: ${(stderr || err?.message || '').trim().slice(0, 500)}`));
      });
    child.stdin?.on('error', () => undefined); // git may exit before reading it all: its exit code says what happened
    child.stdin?.end(input ?? '');
  });
}

/** True when `ancestor` is `commit` or one of its ancestors. */
export async function isAncestor(repo: string, ancestor: string, commit: string): Promise<boolean> {
  return (await gitRun(repo, ['merge-base', '--is-ancestor', ancestor, commit], [0, 1])).code === 0;
}

/** `base` with the change's commit on top: its sha, or the files that conflict. */
export async function makeCandidate(repo: string, base: string, change: { id: number; commitSha: string; branch: string }): Promise<CandidateResult> {
  if (!isSha(base) || !isSha(change.commitSha)) throw new GgError('GG_BAD_SHA', 'a candidate needs two commit ids');
  if (await isAncestor(repo, base, change.commitSha)) return { sha: change.commitSha };
  const merged = await gitRun(repo, ['merge-tree', '--write-tree', '--name-only', '--no-messages', base, change.commitSha], [0, 1]);
  const [tree, ...files] = merged.out.split('\n').filter(Boolean);
  if (merged.code === 1) return { conflict: [...new Set(files)] };
  const sha = (await gitRun(repo, ['commit-tree', tree, '-p', base, '-p', change.commitSha,
    '-m', `Land queued change ${change.id} (${change.commitSha.slice(0, 10)}) into ${change.branch}`])).out.trim();
  return { sha };
}
