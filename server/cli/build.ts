/**
 * `greengate build --server URL [--repo NAME] [--branch B] [--builder NAME] [--param K=V ...]
 * [--admin-token-file FILE] [--json]`: builds a branch's head now (an admin's "Build now").
 *
 * HTTP (the server implements it, server/web/manualBuildsApi.ts):
 *   POST /api/repos/:repo/builds  ← { branch, builder?, params? }  Authorization: Bearer <admin token>
 *                                 → 202 { builds: [id, …] }
 * --repo may be omitted when the server has exactly one repository; --branch defaults to the
 * repository's first gated branch (tree.ts resolveTarget). The admin token comes from
 * --admin-token-file or GREENGATE_ADMIN_TOKEN. Each --param is NAME=VALUE (checked here for shape,
 * by the server against the builder's declared params). Exit codes: 0 queued, 1 the server refused
 * or could not be reached, 2 a usage error (found before any request).
 */
import { GgError } from '../errors.js';
import { checkServer, request, resolveTarget } from './tree.js';

export interface BuildCommandOptions {
  server?: string;
  repo?: string;
  branch?: string;
  builder?: string;
  params?: readonly string[];
  adminToken?: string;
  json?: boolean;
  out?: (line: string) => void; // default: stdout
  err?: (line: string) => void; // default: stderr
  timeoutMs?: number; // per request; default 10 seconds
}

const DEFAULT_TIMEOUT_MS = 10_000; // 10 seconds per request

/** `--param NAME=VALUE` pairs as an object; a GG_USAGE error naming the bad one. */
export function parseParams(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const m = /^([A-Za-z_][A-Za-z0-9_]{0,127})=(.*)$/s.exec(pair);
    if (!m) throw new GgError('GG_USAGE', `--param "${pair.slice(0, 100)}" is not NAME=VALUE (an environment variable name, "=", its value)`);
    if (m[1] in out) throw new GgError('GG_USAGE', `--param ${m[1]} is given twice: give each param once`);
    out[m[1]] = m[2];
  }
  return out;
}

export async function runBuildCommand(opts: BuildCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    const server = checkServer(opts.server);
    const params = parseParams(opts.params ?? []);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { repo, branch } = await resolveTarget(server, { server, repo: opts.repo, branch: opts.branch }, timeoutMs);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (opts.adminToken) headers.Authorization = `Bearer ${opts.adminToken}`;
    const body = JSON.stringify({ branch, ...(opts.builder ? { builder: opts.builder } : {}), ...(Object.keys(params).length ? { params } : {}) });
    const answer = await request(`${server}/api/repos/${encodeURIComponent(repo)}/builds`, { method: 'POST', headers, body }, timeoutMs) as { builds?: number[] };
    const ids = Array.isArray(answer.builds) ? answer.builds : [];
    if (opts.json) out(JSON.stringify(answer));
    else out(`${repo}/${branch}: queued ${ids.map((id) => `build ${id} (${server}/builds/${id})`).join(', ') || 'nothing'}`);
    return 0;
  } catch (e) {
    err(`greengate build: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}
