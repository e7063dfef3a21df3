/**
 * `greengate autorevert [status|off|on] --server URL`: the kill switch of automatic reverts.
 *
 * HTTP: GET /api/autorevert → { state }; POST /api/autorevert ← { state: 'on'|'off' } with
 * Authorization: Bearer <admin token> (from --admin-token-file or GREENGATE_ADMIN_TOKEN). Exit
 * codes as `greengate tree`: 0 done, 1 refused or unreachable, 2 a usage error. Never throws.
 */
import { GgError } from '../errors.js';
import { checkServer, request } from './tree.js';

export type AutoRevertAction = 'status' | 'on' | 'off';

export interface AutoRevertCommandOptions {
  server: string | undefined;
  adminToken?: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
  timeoutMs?: number;
}

export async function runAutoRevertCommand(action: AutoRevertAction, opts: AutoRevertCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    if (!['status', 'on', 'off'].includes(action)) throw new GgError('GG_USAGE', `unknown action "${action}": use status, off or on`);
    const server = checkServer(opts.server);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (opts.adminToken) headers.Authorization = `Bearer ${opts.adminToken}`;
    const answer = (action === 'status'
      ? await request(`${server}/api/autorevert`, { method: 'GET' }, timeoutMs)
      : await request(`${server}/api/autorevert`, { method: 'POST', headers, body: JSON.stringify({ state: action }) }, timeoutMs)) as { state?: string };
    out(`automatic reverts: ${answer.state === 'off' ? 'OFF (confirmed culprits are named, not reverted)' : 'on'}`);
    return 0;
  } catch (e) {
    err(`greengate autorevert: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}
