/**
 * `greengate queue status --repo R [--branch B] [--json]` and `greengate queue remove ID --repo R`:
 * a branch's land queue (server/queue/), and taking a change out of it (admin).
 *
 * HTTP: GET /api/queue/:repo/:branch (public) and DELETE /api/queue/:repo/changes/:id with
 * Authorization: Bearer <admin token> (--admin-token-file or GREENGATE_ADMIN_TOKEN). Exit codes as
 * `greengate tree`: 0 done, 1 refused or unreachable, 2 a usage error (found before any request). Never throws.
 */
import { GgError } from '../errors.js';
import { checkServer, request } from './tree.js';

export type QueueAction = 'status' | 'remove';

export interface QueueCommandOptions {
  server: string | undefined;
  repo?: string;
  branch?: string;
  adminToken?: string;
  json?: boolean;
  out?: (line: string) => void;
  err?: (line: string) => void;
  timeoutMs?: number;
}

interface QueueJson {
  repo: string; branch: string; mode: string; window: number;
  changes: { id: number; position: number | null; state: string; commit: string; pusher: string | null; reason: string | null;
    candidate: { sha: string; build: number | null; url: string | null } | null; landed: string | null;
    jump?: { kind: string; claim: boolean } | null; expectedLandingAt?: number | null }[];
}

export async function runQueueCommand(action: QueueAction, id: string | undefined, opts: QueueCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    if (!opts.repo) throw new GgError('GG_USAGE', `name the repository: greengate queue ${action} --repo NAME`);
    const server = checkServer(opts.server);
    const repo = encodeURIComponent(opts.repo);
    if (action === 'remove') {
      if (!id || !/^[1-9][0-9]{0,15}$/.test(id)) throw new GgError('GG_USAGE', 'name the change: greengate queue remove ID --repo NAME (ID as `queue status` lists it)');
      const headers: Record<string, string> = {};
      if (opts.adminToken) headers.Authorization = `Bearer ${opts.adminToken}`;
      await request(`${server}/api/queue/${repo}/changes/${id}`, { method: 'DELETE', headers }, opts.timeoutMs ?? 10_000);
      out(`${opts.repo}: change ${id} removed from the land queue`);
      return 0;
    }
    const branch = encodeURIComponent(opts.branch ?? 'main');
    const q = await request(`${server}/api/queue/${repo}/${branch}`, { method: 'GET' }, opts.timeoutMs ?? 10_000) as QueueJson;
    if (opts.json) {
      out(JSON.stringify(q, null, 2));
      return 0;
    }
    const active = q.changes.filter((c) => c.position !== null);
    out(`${q.repo}/${q.branch}: land queue (${q.mode}), ${active.length} waiting, ${q.window} tested at once`);
    for (const c of q.changes) {
      const where = c.position !== null ? `#${c.position}` : '  ';
      const build = c.candidate?.build ? ` build ${c.candidate.build}` : '';
      const landed = c.landed ? ` as ${c.landed.slice(0, 10)}` : '';
      const jump = c.jump ? (c.jump.claim ? ` jumped (${c.jump.kind}: the pusher's claim)` : ` jumped (proven ${c.jump.kind})`) : '';
      const eta = c.expectedLandingAt ? ` expected ~${new Date(c.expectedLandingAt).toISOString().slice(11, 19)}Z` : '';
      out(`${where} ${c.id} ${c.state}${jump}${build}${landed}${eta} ${c.commit.slice(0, 10)}${c.pusher ? ` by ${c.pusher}` : ''}${c.reason ? `: ${c.reason}` : ''}`);
    }
    return 0;
  } catch (e) {
    err(`greengate queue: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}
