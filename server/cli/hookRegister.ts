/**
 * `hook install`'s last step: gives the server its own copy of the repository's hook secret
 * (PUT /api/repos/:repo/hook-secret, admin token), so a server running as its own Unix user never
 * reads the repository's file (gate/hookSecret.ts). Without the token it registers nothing and
 * says what that means: only a server running as the repository's owner can check the hooks.
 * A refusal by the server (wrong token, unknown repository) is GG_HOOK_INSTALL with its answer.
 */
import { GgError } from '../errors.js';
import { readHookSecret } from '../gate/hookSecret.js';

export const REGISTER_TIMEOUT_MS = 5_000; // 5 seconds

/** Resolves to a line for people saying what was done; throws GG_HOOK_INSTALL when the server refused. */
export async function registerHookSecret(server: string, repo: string, bareRepo: string, adminToken: string | undefined,
  timeoutMs = REGISTER_TIMEOUT_MS): Promise<string> {
  if (!adminToken) {
    return 'note: the server was not given its own copy of the hook secret (no --admin-token-file): that works only when the ' +
      'server runs as the repository\'s owner; otherwise run the install again with --admin-token-file FILE (docs/operations.md, "Users, groups and modes")';
  }
  const secret = readHookSecret(bareRepo);
  if (!secret) throw new GgError('GG_HOOK_INSTALL', `cannot read the hook secret just written in ${bareRepo}: run the install as the repository's owner`);
  const url = `${server.replace(/\/+$/, '')}/api/repos/${encodeURIComponent(repo)}/hook-secret`;
  let res: Response;
  try {
    res = await fetch(url, { method: 'PUT', signal: AbortSignal.timeout(timeoutMs),
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ secret }) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw new GgError('GG_HOOK_INSTALL', `could not give the hook secret to the server at ${server} (${cause?.code ?? (err as Error).message}): ` +
      'start the server and run the install again');
  }
  if (res.status !== 204) {
    const why = (await res.text().catch(() => '')).slice(0, 300);
    throw new GgError('GG_HOOK_INSTALL', `the server refused the hook secret of "${repo}" (HTTP ${res.status}: ${why}): check --admin-token-file and --repo`);
  }
  return `the server now keeps its own copy of the hook secret of "${repo}"`;
}
