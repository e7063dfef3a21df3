/**
 * Running git on the runner: one `git` process per call, arguments as an array (no shell), in an
 * environment without the caller's GIT_* variables (a runner started from a hook or a checkout
 * must not point git at another repository, and the runner's token stays out). A failure becomes the caller's own error class with
 * git's first words of complaint (stderr, at most MAX_GIT_ERROR characters, URLs masked).
 *
 * Time limits: every call is killed (SIGKILL) past its limit — GIT_LOCAL_TIMEOUT_MS for work on
 * this host (clone --shared, checkout, config), GIT_FETCH_TIMEOUT_MS for a fetch over the network —
 * and fails saying so, so one hung git cannot hold a slot or a repository's fetches for good.
 */
import { execFile } from 'node:child_process';
import { maskUrls } from '../server/protocol.js';

export const MAX_GIT_OUTPUT = 16 * 1024 * 1024; // 16 MiB of stdout per call
export const MAX_GIT_ERROR = 400; // characters of stderr kept in an error
export const GIT_LOCAL_TIMEOUT_MS = 300_000; // 5 minutes: one local command (a checkout of a large tree)
export const GIT_FETCH_TIMEOUT_MS = 900_000; // 15 minutes: one fetch of a repository over the network

/** Runs git in `cwd`; on failure (or past `timeoutMs`, then killed) rejects with `toError(git's complaint)`. */
export function runGit(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv, toError: (complaint: string) => Error,
  timeoutMs = GIT_LOCAL_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, encoding: 'utf8', maxBuffer: MAX_GIT_OUTPUT, env, timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const killed = (err as { killed?: boolean }).killed === true && err.signal === 'SIGKILL';
      reject(toError(killed ? `killed after its time limit of ${timeoutMs / 1000} s` : maskUrls((stderr || err.message).trim()).slice(0, MAX_GIT_ERROR)));
    });
  });
}

/**
 * This process's environment without GIT_* variables (except those named in `keep`) and without
 * any GREENGATE_* variable: the runner token never reaches a git process or what git runs.
 */
export function gitEnv(keep: readonly string[] = []): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if ((k.startsWith('GIT_') && !keep.includes(k)) || /^GREENGATE_/i.test(k)) delete env[k];
  }
  return env;
}

/**
 * Settings put before every git command in a workspace or mirror: no hook runs (a unit could have
 * planted one), no fsmonitor command, whatever the repository's own config says.
 */
export const SAFE_GIT = ['-c', 'core.hooksPath=/dev/null', '-c', 'core.fsmonitor=false'] as const;
