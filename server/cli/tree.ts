/**
 * `greengate tree [status|close|open|maintenance] --server URL [--message TEXT] [--repo NAME]
 * [--branch B] [--admin-token T] [--json]`: the sheriff's client for the tree state.
 *
 * HTTP (the server implements these):
 *   GET  /api/repos                 → [{ name, gate: [branch, …] }]   (only when --repo or --branch is omitted)
 *   GET  /api/tree/:repo/:branch    → { state, reason, message, since, build, blamelist: [{ sha, author, subject }] }
 *   POST /api/tree/:repo/:branch    ← { state: 'closed'|'open'|'maintenance', message }  Authorization: Bearer <admin token>
 * --repo may be omitted when the server has exactly one repository; --branch defaults to the
 * repository's first gated branch. The admin token comes from --admin-token or
 * GREENGATE_ADMIN_TOKEN. Exit codes: 0 done, 1 the server refused or could not be reached,
 * 2 a usage error (found before any request). Never throws.
 */
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

class TreeCliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2) {
    super(message);
  }
}

export async function runTreeCommand(action: TreeAction, opts: TreeCommandOptions): Promise<number> {
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = opts.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  try {
    const server = checkServer(opts.server);
    if (!(action in TARGET_STATE) && action !== 'status') throw new TreeCliError(`unknown action "${action}": use status, close, open or maintenance`, 2);
    const message = opts.message?.trim() ?? '';
    if (action === 'close' && message === '') {
      throw new TreeCliError('closing the tree needs a reason: --message "what is wrong and who is on it"', 2);
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
    const body = JSON.stringify({ state: TARGET_STATE[action], message: message || null });
    const tree = await request(path, { method: 'POST', headers, body }, timeoutMs);
    if (opts.json) out(JSON.stringify(tree));
    else out(`${repo}/${branch}: tree ${DESCRIBE_STATE[TARGET_STATE[action]]}${message ? `: ${message}` : ''}`);
    return 0;
  } catch (e) {
    if (e instanceof TreeCliError) {
      err(`greengate tree: ${e.message}`);
      return e.exitCode;
    }
    err(`greengate tree: ${(e as Error).message}`);
    return 1;
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

async function resolveTarget(server: string, opts: TreeCommandOptions, timeoutMs: number): Promise<{ repo: string; branch: string }> {
  if (opts.repo && opts.branch) return { repo: opts.repo, branch: opts.branch };
  const repos = (await request(`${server}/api/repos`, { method: 'GET' }, timeoutMs)) as { name: string; gate?: string[] }[];
  if (!Array.isArray(repos)) throw new TreeCliError('GET /api/repos did not return a list', 1);
  let repo = opts.repo ? repos.find((r) => r.name === opts.repo) : undefined;
  if (opts.repo && !repo) {
    throw new TreeCliError(`the server has no repository "${opts.repo}"; it has: ${repos.map((r) => r.name).join(', ') || '(none)'}`, 1);
  }
  if (!repo) {
    if (repos.length !== 1) {
      const names = repos.map((r) => r.name).join(', ') || '(none)';
      throw new TreeCliError(`pass --repo NAME: the server has ${repos.length} repositories (${names})`, 2);
    }
    repo = repos[0];
  }
  const branch = opts.branch ?? repo.gate?.[0];
  if (!branch) throw new TreeCliError(`repository ${repo.name} has no gated branch: pass --branch B`, 2);
  return { repo: repo.name, branch };
}

async function request(url: string, init: RequestInit, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    const origin = new URL(url).origin;
    if ((e as Error).name === 'TimeoutError') throw new TreeCliError(`no answer from ${origin} within ${timeoutMs / 1000} s`, 1);
    const cause = (e as { cause?: { code?: string; message?: string; errors?: { code?: string }[] } }).cause;
    const why = cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message;
    throw new TreeCliError(`cannot reach ${origin} (${why})`, 1);
  }
  const text = await response.text();
  if (!response.ok) {
    throw new TreeCliError(`${init.method} ${new URL(url).pathname}: HTTP ${response.status}: ${describeError(response.status, text)}`, 1);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new TreeCliError(`${init.method} ${new URL(url).pathname}: the answer is not JSON`, 1);
  }
}

function describeError(status: number, text: string): string {
  let detail = text.trim();
  try {
    const json = JSON.parse(detail) as { error?: unknown; message?: unknown };
    detail = String(json.message ?? json.error ?? detail);
  } catch {
    /* plain text */
  }
  if (status === 401 || status === 403) {
    if (/--admin-token|GREENGATE_ADMIN_TOKEN/.test(detail)) return detail;
    return `${detail || 'admin token missing or wrong'}: pass --admin-token or set GREENGATE_ADMIN_TOKEN`;
  }
  return detail || 'no details';
}

function checkServer(server: string | undefined): string {
  if (!server) throw new TreeCliError('--server http://HOST:PORT is required (or set GREENGATE_SERVER)', 2);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new TreeCliError(`--server "${server}" is not a URL: give http://HOST:PORT`, 2);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TreeCliError(`--server must be http(s)://HOST:PORT`, 2);
  return url.href.replace(/\/+$/, '');
}
