/**
 * `greengate tree [status|close|open|maintenance] --server URL [--message TEXT] [--repo NAME]
 * [--branch B] [--admin-token-file FILE] [--json]`: the sheriff's client for the tree state.
 *
 * HTTP (the server implements these):
 *   GET  /api/repos                 → [{ name, gate: [branch, …] }]   (only when --repo or --branch is omitted)
 *   GET  /api/tree/:repo/:branch    → { state, reason, message, since, build, blamelist: [{ sha, author, subject }] }
 *   POST /api/tree/:repo/:branch    ← { state: 'closed'|'open'|'maintenance', message }  Authorization: Bearer <admin token>
 * --repo may be omitted when the server has exactly one repository; --branch defaults to the
 * repository's first gated branch. The admin token comes from --admin-token-file or
 * GREENGATE_ADMIN_TOKEN. Exit codes: 0 done, 1 the server refused or could not be reached,
 * 2 a usage error (found before any request). Never throws: every failure is a GgError whose
 * message is printed as one line (a refusal by the server carries the server's code and message).
 */
import { ERRORS, GgError, type ErrorCode } from '../errors.js';

export type TreeAction = 'status' | 'close' | 'open' | 'maintenance';

export interface TreeCommandOptions {
  server: string;
  message?: string;
  repo?: string;
  branch?: string;
  adminToken?: string;
  json?: boolean;
  env?: NodeJS.ProcessEnv; // default process.env
  out?: (line: string) => void; // default: stdout
  err?: (line: string) => void; // default: stderr
  timeoutMs?: number; // per request; default 10 seconds
}

const DEFAULT_TIMEOUT_MS = 10_000; // 10 seconds per request
const TARGET_STATE = { close: 'closed', open: 'open', maintenance: 'maintenance' } as const;
const DESCRIBE_STATE = { closed: 'CLOSED', open: 'open', maintenance: 'in MAINTENANCE' } as const;

/** A command line `tree` cannot run (exit status 2). */
function usage(message: string): GgError {
  return new GgError('GG_USAGE', message);
}

export async function runTreeCommand(action: TreeAction, opts: TreeCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    const server = checkServer(opts.server);
    if (!(action in TARGET_STATE) && action !== 'status') throw usage(`unknown action "${action}": use status, close, open or maintenance`);
    const message = opts.message?.trim() ?? '';
    if (action === 'close' && message === '') {
      throw usage('closing the tree needs a reason: --message "what is wrong and who is on it"');
    }
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const { repo, branch } = await resolveTarget(server, opts, timeoutMs);
    const path = `${server}/api/tree/${encodeURIComponent(repo)}/${encodeURIComponent(branch)}`;
    if (action === 'status') {
      const tree = await request(path, { method: 'GET' }, timeoutMs);
      if (opts.json) out(JSON.stringify(tree));
      else formatTree(repo, branch, tree as TreeJson).forEach((line) => out(line));
      return 0;
    }
    const token = opts.adminToken ?? (opts.env ?? process.env).GREENGATE_ADMIN_TOKEN ?? '';
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const body = JSON.stringify(message ? { state: TARGET_STATE[action], message } : { state: TARGET_STATE[action] });
    const tree = await request(path, { method: 'POST', headers, body }, timeoutMs);
    if (opts.json) out(JSON.stringify(tree));
    else out(`${repo}/${branch}: tree ${DESCRIBE_STATE[TARGET_STATE[action]]}${message ? `: ${message}` : ''}`);
    return 0;
  } catch (e) {
    err(`greengate tree: ${e instanceof Error ? e.message : String(e)}`);
    return e instanceof GgError && e.code === 'GG_USAGE' ? 2 : 1;
  }
}

interface TreeJson {
  state?: string;
  reason?: string | null;
  message?: string | null;
  since?: number | string | null;
  build?: unknown;
  blamelist?: { sha?: string; author?: string; subject?: string }[];
}

export function formatTree(repo: string, branch: string, tree: TreeJson): string[] {
  const state = String(tree.state ?? 'unknown');
  const since = tree.since === null || tree.since === undefined ? '' : ` since ${formatTime(tree.since)}`;
  const lines = [`${repo}/${branch}: ${state === 'open' ? 'open' : state.toUpperCase()}${since}`];
  if (tree.reason) lines.push(`  reason:  ${tree.reason}`);
  if (tree.message) lines.push(`  message: ${tree.message}`);
  const build = formatBuild(tree.build);
  if (build) lines.push(`  build:   ${build}`);
  const blamelist = Array.isArray(tree.blamelist) ? tree.blamelist : [];
  if (blamelist.length > 0) {
    lines.push('  blamelist:');
    for (const c of blamelist) lines.push(`    ${String(c.sha ?? '').slice(0, 7)}  ${c.author ?? ''}  ${c.subject ?? ''}`.trimEnd());
  }
  return lines;
}

function formatBuild(build: unknown): string | null {
  if (build === null || build === undefined) return null;
  if (typeof build === 'number' || typeof build === 'string') return `#${build}`;
  if (typeof build === 'object') {
    const b = build as { id?: unknown; url?: unknown; result?: unknown; builder?: unknown };
    return [b.id !== undefined ? `#${b.id}` : '', b.builder ?? '', b.result ?? '', b.url ?? '']
      .map(String).filter(Boolean).join(' ');
  }
  return String(build);
}

function formatTime(since: number | string): string {
  const ms = typeof since === 'number' && since < 1e11 ? since * 1000 : since;
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(since) : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export async function resolveTarget(server: string, opts: TreeCommandOptions, timeoutMs: number): Promise<{ repo: string; branch: string }> {
  if (opts.repo && opts.branch) return { repo: opts.repo, branch: opts.branch };
  const repos = (await request(`${server}/api/repos`, { method: 'GET' }, timeoutMs)) as { name: string; gate?: string[] }[];
  if (!Array.isArray(repos)) throw new GgError('GG_SERVER_ANSWER', 'GET /api/repos did not return a list: is --server a greengate server?');
  let repo = opts.repo ? repos.find((r) => r.name === opts.repo) : undefined;
  if (opts.repo && !repo) {
    throw new GgError('GG_UNKNOWN_REPO', `the server has no repository "${opts.repo}"; it has: ${repos.map((r) => r.name).join(', ') || '(none)'}`);
  }
  if (!repo) {
    if (repos.length !== 1) {
      const names = repos.map((r) => r.name).join(', ') || '(none)';
      throw usage(`pass --repo NAME: the server has ${repos.length} repositories (${names})`);
    }
    repo = repos[0];
  }
  const branch = opts.branch ?? repo.gate?.[0];
  if (!branch) throw usage(`repository ${repo.name} has no gated branch: pass --branch B`);
  return { repo: repo.name, branch };
}

export async function request(url: string, init: RequestInit, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const origin = new URL(url).origin;
    if ((e as Error).name === 'TimeoutError') throw new GgError('GG_SERVER_UNREACHABLE', `no answer from ${origin} within ${timeoutMs / 1000} s`);
    const cause = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const why = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message;
    throw new GgError('GG_SERVER_UNREACHABLE', `cannot reach ${origin} (${why}): is the server running, and is --server right?`);
  }
  const text = await response.text();
  const what = `${init.method} ${new URL(url).pathname}`;
  if (!response.ok) throw refusal(what, response.status, text);
  try {
    return JSON.parse(text);
  } catch {
    throw new GgError('GG_SERVER_ANSWER', `${what}: the answer is not JSON: is --server a greengate server?`);
  }
}

/** The server's error answer `{ error: { code, message } }` as a GgError with a one-line message. */
export function refusal(what: string, status: number, text: string): GgError {
  const { code, message } = readErrorBody(text);
  let detail = message || text.trim().split('\n')[0].slice(0, 300) || 'no details';
  if ((status === 401 || status === 403) && !/--admin-token|GREENGATE_ADMIN_TOKEN/.test(detail)) {
    detail += ': pass --admin-token-file FILE (a 0600 file holding it) or set GREENGATE_ADMIN_TOKEN';
  }
  const known = code !== null && code in ERRORS ? code as ErrorCode : 'GG_SERVER_ANSWER';
  return new GgError(known, `${what}: HTTP ${status}${code ? ` ${code}` : ''}: ${detail}`);
}

function readErrorBody(text: string): { code: string | null; message: string | null } {
  try {
    const json = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof json.error?.code === 'string' ? json.error.code : null;
    const message = typeof json.error?.message === 'string' ? json.error.message : null;
    return { code, message };
  } catch {
    return { code: null, message: null };
  }
}

export function checkServer(server: string | undefined): string {
  if (!server) throw usage('--server http://HOST:PORT is required (or set GREENGATE_SERVER)');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw usage(`--server "${server}" is not a URL: give http://HOST:PORT`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usage(`--server must be http(s)://HOST:PORT`);
  return url.href.replace(/\/+$/, '');
}
