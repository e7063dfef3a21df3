/**
 * Reverts pushed by greengate itself (the culprit finder's automatic revert, culprit/revert.ts, and
 * the deploy's revert, deploy/revert.ts): git run as greengate, with none of the caller's GIT_*
 * settings, so the pusher the hooks see is greengate.
 *
 * `pushRevert`: a private clone (`--shared`) of the bare repository under DATA/reverts/<name>,
 * `git revert --no-commit` of the given commits in the order given on top of the branch head, one
 * commit authored and committed by greengate with the given message, pushed to the bare repository
 * like any push: through its hooks, so the gate decides (no bypass exists for the server either).
 * A push that lost a race with another push is made again on the new head (MAX_PUSH_ATTEMPTS).
 * Each commit is handed to `record` before it is pushed: greengate's own reverts are known by the
 * sha it recorded (store/ownReverts.ts), never by a trailer or a pusher name anyone could write.
 * The clone is removed afterwards. Never throws for a refusal: it answers `refused` with the reason.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GgError } from './errors.js';

export const REVERT_AUTHOR = { name: 'greengate', email: 'greengate@localhost' };
export const MAX_PUSH_ATTEMPTS = 3;
export const GIT_TIMEOUT_MS = 120_000; // 2 minutes per git command
const MAX_GIT_OUTPUT = 16 * 1024 * 1024; // 16 MiB of stdout per command

export type RevertOutcome = { kind: 'pushed'; sha: string } | { kind: 'refused'; reason: string };

export interface RevertPush {
  /** DATA: the clone goes to DATA/reverts/<workName>. */
  data: string;
  workName: string;
  bare: string;
  branch: string;
  /** Reverted in this order (newest first for a range). */
  shas: readonly string[];
  message: string;
  /** Told when a push lost a race and is made again on the new head. */
  onRace?: (attempt: number) => void;
  /** Records the revert commit as greengate's, before it is pushed (synchronous: SQLite). */
  record(sha: string): void;
}

export async function pushRevert(p: RevertPush): Promise<RevertOutcome> {
  for (let n = 1; n <= MAX_PUSH_ATTEMPTS; n++) {
    const out = await revertOnce(p);
    if (out.kind !== 'raced') return out;
    p.onRace?.(n);
  }
  return { kind: 'refused', reason: `the branch kept moving: ${MAX_PUSH_ATTEMPTS} pushes lost the race` };
}

async function revertOnce(p: RevertPush): Promise<RevertOutcome | { kind: 'raced' }> {
  const dir = join(p.data, 'reverts', p.workName);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(p.data, 'reverts'), { recursive: true, mode: 0o700 });
  try {
    await gitRun(['clone', '--quiet', '--shared', '--no-tags', '--branch', p.branch, p.bare, dir]);
    const applied = await gitAttempt(['-C', dir, 'revert', '--no-edit', '--no-commit', ...p.shas]);
    if (!applied.ok) {
      const what = p.shas.length === 1 ? short(p.shas[0]) : `${p.shas.length} commits (${p.shas.map(short).join(' ')})`;
      return { kind: 'refused', reason: `git revert of ${what} does not apply cleanly: ${firstLine(applied.output)}` };
    }
    const file = join(dir, '.git', 'GREENGATE_REVERT_MSG');
    writeFileSync(file, p.message);
    const committed = await gitAttempt(['-C', dir, 'commit', '--quiet', '--no-verify', '-F', file]);
    if (!committed.ok) return { kind: 'refused', reason: `the revert commit could not be made: ${firstLine(committed.output)}` };
    const sha = (await gitRun(['-C', dir, 'rev-parse', 'HEAD'])).trim();
    p.record(sha);
    const pushed = await gitAttempt(['-C', dir, 'push', '--porcelain', 'origin', `HEAD:refs/heads/${p.branch}`]);
    if (pushed.ok) return { kind: 'pushed', sha };
    if (/non-fast-forward|fetch first|\[rejected\]/.test(pushed.output) && !/pre-receive hook declined/.test(pushed.output)) return { kind: 'raced' };
    return { kind: 'refused', reason: `the push was refused: ${pushed.output.split('\n').filter((l) => /greengate|error|rejected/i.test(l)).slice(0, 4).join(' | ').slice(0, 500)}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether `sha` is a merge commit (more than one parent). */
export async function isMerge(bare: string, sha: string): Promise<boolean> {
  return (await gitRun(['--git-dir', bare, 'rev-list', '--parents', '-n', '1', sha])).trim().split(/\s+/).length > 2;
}

/** Which of `shas` (greengate's recorded reverts) is on `head`; null when none is. */
export async function recordedOn(bare: string, head: string, shas: readonly string[]): Promise<string | null> {
  for (const sha of shas) {
    if (await gitSucceeds(['--git-dir', bare, 'merge-base', '--is-ancestor', sha, head])) return sha;
  }
  return null;
}

export function short(sha: string): string { return sha.slice(0, 10); }
export function firstLine(text: string): string { return text.trim().split('\n').slice(0, 2).join(' ').slice(0, 300); }

function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const foreign = ['GREENGATE_PUSHER', 'GL_USER', 'GL_USERNAME', 'REMOTE_USER'];
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_') && !foreign.includes(k)) env[k] = v;
  return { ...env, GIT_AUTHOR_NAME: REVERT_AUTHOR.name, GIT_AUTHOR_EMAIL: REVERT_AUTHOR.email, GIT_COMMITTER_NAME: REVERT_AUTHOR.name,
    GIT_COMMITTER_EMAIL: REVERT_AUTHOR.email, GIT_TERMINAL_PROMPT: '0' };
}

/**
 * git as greengate; never rejects: ok, stdout, and stdout+stderr for messages. A command over
 * GIT_TIMEOUT_MS is killed (SIGKILL) and answers not ok, `timedOut`, its output saying so.
 */
export function gitAttempt(args: readonly string[]): Promise<{ ok: boolean; stdout: string; output: string; timedOut?: boolean }> {
  return new Promise((resolve) => {
    execFile('git', args, { env: gitEnv(), encoding: 'utf8', maxBuffer: MAX_GIT_OUTPUT, timeout: GIT_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const timedOut = !!err && (err as { killed?: boolean }).killed === true && err.signal === 'SIGKILL';
        const output = timedOut ? `killed after its time limit of ${GIT_TIMEOUT_MS / 1000} s` : `${stdout ?? ''}${stderr ?? ''}`;
        resolve({ ok: !err, stdout: stdout ?? '', output, ...(timedOut ? { timedOut } : {}) });
      });
  });
}

/** git as greengate; rejects (GG_GIT_FAILED, GG_GIT_TIMEOUT) with the repository, the command and git's first lines when it fails. */
export async function gitRun(args: readonly string[]): Promise<string> {
  const r = await gitAttempt(args);
  if (!r.ok) {
    const dir = args[0] === '--git-dir' || args[0] === '-C' ? ` in ${args[1]}` : '';
    const command = args.filter((a, i) => !a.startsWith('/') && !(i === 0 && (a === '--git-dir' || a === '-C'))).slice(0, 3).join(' ');
    throw new GgError(r.timedOut ? 'GG_GIT_TIMEOUT' : 'GG_GIT_FAILED', `git ${command}${dir} failed: ${firstLine(r.output)}`);
  }
  return r.stdout;
}

export async function gitSucceeds(args: readonly string[]): Promise<boolean> { return (await gitAttempt(args)).ok; }
