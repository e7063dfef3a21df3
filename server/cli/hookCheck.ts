/**
 * Before `hook install` writes anything: does the server know the repository? Asks
 * GET /api/repos (public, read-only) within CHECK_TIMEOUT_MS. When the server answers and does
 * not know it (or is not a greengate server), refuses with GG_HOOK_INSTALL (exit 1) saying what to
 * do: add the repository to greengate.yml or pass --repo, or fix --server. When the server cannot
 * be reached at all, the hooks are installed anyway (scripts install hooks before they start the
 * server) and the returned warning says the check could not be made.
 */
import { GgError } from '../errors.js';

export const CHECK_TIMEOUT_MS = 5_000; // 5 seconds

const refuse = (message: string) => new GgError('GG_HOOK_INSTALL', message);

/** Resolves to null when the server knows the repository, or to a warning when it could not be asked. */
export async function checkServerKnows(server: string, repo: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<string | null> {
  const url = `${server.replace(/\/+$/, '')}/api/repos`;
  const skip = 'or pass --skip-server-check to install anyway';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause?.code ?? cause?.message ?? (err as Error).message;
    return `could not reach the greengate server at ${server} (${why}) to check that it knows repository "${repo}": ` +
      'installed anyway — once the server runs, `greengate tree status` checks the setup (fix --server if it is wrong)';
  }
  let repos: unknown;
  try {
    repos = res.ok ? await res.json() : null;
  } catch {
    repos = null;
  }
  if (!Array.isArray(repos)) {
    throw refuse(`GET ${url} answered HTTP ${res.status} without a repository list: is ${server} a greengate server? Fix --server, ${skip}`);
  }
  const names = repos.map((r) => String((r as { name?: unknown }).name));
  if (!names.includes(repo)) {
    throw refuse(`the server at ${server} has no repository "${repo}" (it has: ${names.join(', ') || 'none'}) — ` +
      `add it to greengate.yml's repositories and restart the server, or pass --repo NAME with the name it has`);
  }
  return null;
}
