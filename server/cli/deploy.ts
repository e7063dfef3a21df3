/**
 * `greengate deploy [status|pause|resume] --server URL [--repo NAME] [--branch B] [--message TEXT]`:
 * pause a branch's deploys (a paused branch starts none until resumed; a running deploy goes on,
 * a HELD one — its watch had no data for a window — is rolled back), resume them (a held deploy is
 * watched again), or show whether they wait and the newest deploys (held ones say so).
 *
 * HTTP: GET /api/deploys/:repo/:branch/pause, POST …/pause { reason } and POST …/resume (admin:
 * Authorization: Bearer <admin token>), GET /api/deploys?repo=. --repo and --branch default as for
 * `greengate tree`. Exit codes: 0 done, 1 refused or unreachable, 2 a usage error.
 */
import { GgError } from '../errors.js';
import { checkServer, request, resolveTarget } from './tree.js';

export type DeployAction = 'status' | 'pause' | 'resume';
export interface DeployCommandOptions {
  server: string; repo?: string; branch?: string; message?: string; adminToken?: string; json?: boolean;
  out?: (line: string) => void; err?: (line: string) => void; timeoutMs?: number;
}
const DEFAULT_TIMEOUT_MS = 10_000; // 10 seconds per request

export async function runDeployCommand(action: DeployAction, opts: DeployCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    const server = checkServer(opts.server);
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { repo, branch } = await resolveTarget(server, opts, timeoutMs);
    const path = `${server}/api/deploys/${encodeURIComponent(repo)}/${encodeURIComponent(branch)}/pause`;
    if (action === 'status') {
      const state = await request(path, { method: 'GET' }, timeoutMs) as { paused: string | null };
      const list = await request(`${server}/api/deploys?repo=${encodeURIComponent(repo)}&limit=5`, { method: 'GET' }, timeoutMs) as
        { deploys: { id: number; branch: string; sha: string; state: string; reason: string | null; holdReason?: string | null }[] };
      if (opts.json) { out(JSON.stringify({ ...state, deploys: list.deploys })); return 0; }
      out(`${repo}/${branch}: deploys ${state.paused ? `wait (${state.paused})` : 'run'}`);
      for (const d of list.deploys.filter((x) => x.branch === branch)) {
        out(`  #${d.id} ${d.sha.slice(0, 10)} ${d.holdReason ? `HELD: ${d.holdReason} (resume: watch again; pause: roll back)` : d.state}${d.reason ? `: ${d.reason}` : ''}`);
      }
      return 0;
    }
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (opts.adminToken) headers.Authorization = `Bearer ${opts.adminToken}`;
    const url = action === 'pause' ? path : path.replace(/\/pause$/, '/resume');
    const body = action === 'pause' ? JSON.stringify(opts.message ? { reason: opts.message } : {}) : undefined;
    const answer = await request(url, { method: 'POST', headers, body }, timeoutMs) as { paused: string | null };
    if (opts.json) out(JSON.stringify(answer));
    else out(`${repo}/${branch}: deploys ${answer.paused ? `paused (${answer.paused})` : 'resumed'}`);
    return 0;
  } catch (e) {
    err(`greengate deploy: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}
