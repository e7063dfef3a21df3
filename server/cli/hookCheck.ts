/**
 * Before `hook install` writes anything: does the server know the repository? Asks
 * GET /api/repos (public, read-only) within CHECK_TIMEOUT_MS. When the server answers and does
 * not know it (or is not a greengate server), refuses with GG_HOOK_INSTALL (exit 1) saying what to
 * do: add the repository to greengate.yml or pass --repo, or fix --server. When the server cannot
 * be reached at all (connection refused, a wrong host, no answer in time) it refuses too: a mistyped
 * --server would otherwise be written into greengate.server. A script that installs hooks before it
 * starts the server passes --skip-server-check (cli.ts), the one explicit way past this check.
 * Nothing is written before this check passes.
 */
import { GgError } from '../errors.js';

export const CHECK_TIMEOUT_MS = 5_000; // 5 seconds

const refuse = (message: string) => new GgError('GG_HOOK_INSTALL', message);

/** Resolves when the server at `server` answers as greengate and knows `repo`; else throws GG_HOOK_INSTALL. */
export async function checkServerKnows(server: string, repo: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<void> {
  const url = `${server.replace(/\/+$/, '')}/api/repos`;
  const skip = 'or pass --skip-server-check to install anyway';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause?.code ?? cause?.message ?? (err as Error).message;
    throw refuse(`cannot reach the greengate server at ${server} (${why}) to check that it knows repository "${repo}": ` +
      `nothing installed — fix --server (http://HOST:PORT of the running server), start the server, ${skip}`);
  }
  let repos: unknown;
  try {
    repos = res.ok ? await res.json() : null;
  } catch {
    repos = null;
  }
  if (!Array.isArray(repos)) {
    throw refuse(`GET ${url} answered HTTP ${res.status} without a repository list: is ${server} a greengate server? nothing installed — fix --server, ${skip}`);
  }
  const names = repos.map((r) => String((r as { name?: unknown }).name));
  if (!names.includes(repo)) {
    throw refuse(`the server at ${server} has no repository "${repo}" (it has: ${names.join(', ') || 'none'}) — ` +
      `add it to greengate.yml's repositories and restart the server, or pass --repo NAME with the name it has; nothing installed`);
  }
}
