/**
 * Before `hook install` writes anything: does the server know the repository? Asks
 * GET /api/repos (public, read-only) within CHECK_TIMEOUT_MS. Refuses with a
 * HookCheckError (code GG_HOOK_INSTALL, exit 1) that says what to do: start the server or fix --server, add the
 * repository to greengate.yml or pass --repo, or --skip-server-check when the server is down on
 * purpose.
 */
export const CHECK_TIMEOUT_MS = 5_000; // 5 seconds

export class HookCheckError extends Error {
  readonly code = 'GG_HOOK_INSTALL';
}

export async function checkServerKnows(server: string, repo: string, timeoutMs = CHECK_TIMEOUT_MS): Promise<void> {
  const url = `${server.replace(/\/+$/, '')}/api/repos`;
  const skip = 'or pass --skip-server-check to install anyway';
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${timeoutMs / 1000} s` : cause?.code ?? cause?.message ?? (err as Error).message;
    throw new HookCheckError(`cannot reach the greengate server at ${server} (${why}) to check that it knows repository "${repo}" — ` +
      `start the server or fix --server, ${skip}`);
  }
  let repos: unknown;
  try {
    repos = res.ok ? await res.json() : null;
  } catch {
    repos = null;
  }
  if (!Array.isArray(repos)) {
    throw new HookCheckError(`GET ${url} answered HTTP ${res.status} without a repository list: is ${server} a greengate server? Fix --server, ${skip}`);
  }
  const names = repos.map((r) => String((r as { name?: unknown }).name));
  if (!names.includes(repo)) {
    throw new HookCheckError(`the server at ${server} has no repository "${repo}" (it has: ${names.join(', ') || 'none'}) — ` +
      `add it to greengate.yml's repositories and restart the server, or pass --repo NAME with the name it has`);
  }
}
