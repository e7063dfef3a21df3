/**
 * `greengate flag kill KEY --repo R [--message TEXT]` and `greengate flag restore KEY --repo R`:
 * the kill switch of a feature flag (flags/kills.ts), for an admin.
 *
 * HTTP: POST /api/flags/:repo/:key/kill|restore ← { message? } with Authorization: Bearer <admin
 * token> (from --admin-token-file or GREENGATE_ADMIN_TOKEN). Exit codes as `greengate tree`: 0 done,
 * 1 refused or unreachable, 2 a usage error (found before any request). Never throws.
 */
import { GgError } from '../errors.js';
import { checkServer, request } from './tree.js';

export type FlagAction = 'kill' | 'restore';

export interface FlagCommandOptions {
  server: string | undefined;
  repo?: string;
  message?: string;
  adminToken?: string;
  out?: (line: string) => void;
  err?: (line: string) => void;
  timeoutMs?: number;
}

export async function runFlagCommand(action: FlagAction, key: string | undefined, opts: FlagCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    if (action !== 'kill' && action !== 'restore') throw new GgError('GG_USAGE', `unknown action "${action}": use kill or restore`);
    if (!key) throw new GgError('GG_USAGE', `name the flag: greengate flag ${action} KEY --repo NAME`);
    if (!opts.repo) throw new GgError('GG_USAGE', `name the repository: greengate flag ${action} ${key} --repo NAME`);
    const server = checkServer(opts.server);
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (opts.adminToken) headers.Authorization = `Bearer ${opts.adminToken}`;
    const message = opts.message?.trim();
    await request(`${server}/api/flags/${encodeURIComponent(opts.repo)}/${encodeURIComponent(key)}/${action}`,
      { method: 'POST', headers, body: JSON.stringify(message ? { message } : {}) }, opts.timeoutMs ?? 10_000);
    out(action === 'kill'
      ? `${opts.repo}: flag ${key} KILLED: every evaluation now gets its defaultVariant (or the SDK's default)${message ? `: ${message}` : ''}`
      : `${opts.repo}: flag ${key} restored: evaluated by its rules again`);
    return 0;
  } catch (e) {
    err(`greengate flag: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}
