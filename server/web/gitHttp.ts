/**
 * Code over HTTP: each configured repository is served read-only over git's smart HTTP protocol
 * at GIT_PATH/<name>.git, so a runner on any host gets the code with nothing but the server's
 * URL and the runner token.
 *
 * Who may call: runners, and people and tools holding a read-only clone token (`cloneToken` or
 * `readTokens` in greengate.yml: every repository, fetch only; the runner socket refuses it, so
 * it never registers a runner nor receives builder secrets). Every request needs the runner
 * token, a clone token or a unit credential (the
 * `unitToken` of an assign, valid only for that unit's repository while the unit runs), as
 * `Authorization: Bearer <token>` (what runners send, through git's http.extraHeader) or HTTP
 * Basic with the token as password (any user name; what a person's credential helper sends).
 * Without either: 401 with a Basic challenge; a unit credential for another repository or of a
 * unit that has ended: 401 too. Wrong tokens count toward the address's runner-token guesses
 * (429 once used up). Only fetching is served: `GET …/info/refs?service=git-upload-pack` and
 * `POST …/git-upload-pack`; receive-pack (push) is refused with 403, anything else is 404 (no
 * dumb-protocol file access).
 *
 * Each request runs `git http-backend` as a CGI child process, streamed both ways (request body
 * → stdin, stdout → response after its CGI headers), with the repository named by the server
 * (never by the URL: the name is looked up in the config). At most MAX_GIT_BACKENDS run at once;
 * more answer 503. A client that goes away kills its child. The child may serve any object of
 * the repository by id (uploadpack.allowAnySHA1InWant), so a runner can fetch a build's commit
 * after its branch has moved on.
 *
 * The protocol-v2 advertisement (`Git-Protocol: version=2`) lists capabilities, not refs, so the
 * first one per repository is kept and later ones are answered without a child process (it
 * changes only with git's version or the repository's uploadpack.* settings: restart the server
 * after changing those).
 */
import { spawn } from 'node:child_process';
import { basename, dirname } from 'node:path';
import type { Request, Response, Router, NextFunction } from 'express';
import express from 'express';
import type { Logger } from 'pino';
import { readTokensOf, type Config } from '../config/config.js';

export interface GitHttpDeps {
  config: Pick<Config, 'repositories' | 'runnerToken' | 'cloneToken' | 'readTokens'>; log: Logger;
  /** Wrong runner tokens per address, counted with the runner socket's (dispatch/tokenGuesses.ts); absent: not limited. */
  guesses?: Pick<TokenGuesses, 'blocked' | 'wrong' | 'retryMinutes'>;
  /** Unit credentials (dispatch/unitTokens.ts): each lets its unit fetch its own repository while it runs. */
  unitTokens?: { allows(token: string, repo: string): boolean };
}
import type { TokenGuesses } from '../dispatch/tokenGuesses.js';
import type { RepositoryConfig } from '../config/config.js';
import { tokensEqual } from '../tokens.js';
import { repositoryNamed, unknownRepository } from '../config/repositories.js';
import { GgError, errorBody } from '../errors.js';

/** Where the code is served, and the URL an assign names (protocol.ts, shared with the runner). */
export { GIT_PATH, cloneUrlOf } from '../protocol.js';
import { GIT_PATH } from '../protocol.js';
export const MAX_GIT_BACKENDS = 32; // concurrent `git http-backend` children
export const GIT_BACKEND_TIMEOUT_MS = 600_000; // 10 minutes: one fetch served, however large; a hung backend is killed and its slot freed
export const MAX_CGI_HEADER_BYTES = 64 * 1024; // 64 KiB of CGI headers before the body
const MAX_ADVERTISEMENT_BYTES = 16 * 1024; // a v2 capability advertisement kept per repository

interface Kept { status: number; headers: [string, string][]; body: Buffer }

/** The runner token from `Authorization: Bearer T` or `Basic base64(user:T)`; '' when neither. */
export function tokenFrom(header: string | undefined): string {
  if (!header) return '';
  if (header.startsWith('Bearer ')) return header.slice(7).trim();
  if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : '';
  }
  return '';
}

const ROUTE_RE = /^\/([A-Za-z0-9][A-Za-z0-9._-]{0,62})\.git(\/info\/refs|\/git-upload-pack|\/git-receive-pack|\/.*)?$/;

export function gitHttpRouter(app: GitHttpDeps): Router {
  const r = express.Router();
  let running = 0;
  const advertisements = new Map<string, Kept>();
  const refuse = (res: Response, err: GgError, headers: Record<string, string> = {}) => {
    res.status(err.status).set(headers).json(errorBody(err));
  };

  r.use((req: Request, res: Response, next: NextFunction) => {
    const path = req.path;
    const m = ROUTE_RE.exec(path);
    const repo = m && repositoryNamed(app.config, m[1]);
    const token = tokenFrom(req.get('authorization'));
    const address = req.socket.remoteAddress ?? 'unknown';
    if (app.guesses?.blocked(address)) {
      return refuse(res, new GgError('GG_RUNNER_TOKEN_GUESSES', `too many wrong runner tokens from ${address}: ` +
        `try again in ${app.guesses.retryMinutes(address)} minute(s) with the right token`));
    }
    const allowed = token !== '' && (tokensEqual(token, app.config.runnerToken) || readTokensOf(app.config).some((t) => tokensEqual(token, t))
      || (repo ? app.unitTokens?.allows(token, repo.name) === true : false));
    if (!allowed) {
      if (token) app.guesses?.wrong(address);
      return refuse(res, new GgError('GG_GIT_UNAUTHORIZED', 'fetching code needs a clone token (cloneToken/readTokens), the runner token or the unit\'s own credential ' +
        '(valid for its repository while the unit runs): send "Authorization: Bearer <token>" (git -c http.extraHeader=…) or HTTP Basic with the token as password'),
      { 'WWW-Authenticate': 'Basic realm="greengate", charset="UTF-8"' });
    }
    if (!m) {
      return refuse(res, new GgError('GG_UNKNOWN_REPO', `no repository is served at ${GIT_PATH}${path} — ` +
        `use ${GIT_PATH}/<name>.git with a name from greengate.yml (GET /api/repos lists them)`));
    }
    if (!repo) return refuse(res, unknownRepository(app.config, m[1]));
    const service = String(req.query.service ?? '');
    if (m[2] === '/git-receive-pack' || service === 'git-receive-pack') {
      return refuse(res, new GgError('GG_GIT_READ_ONLY', `${repo.name} is served read-only: push to the repository itself, not to greengate`));
    }
    const ok = (m[2] === '/info/refs' && req.method === 'GET' && service === 'git-upload-pack')
      || (m[2] === '/git-upload-pack' && req.method === 'POST');
    if (!ok) {
      return refuse(res, new GgError('GG_NOT_FOUND', 'only the smart protocol is served: ' +
        'GET info/refs?service=git-upload-pack and POST git-upload-pack (use git ≥ 2.0)'));
    }
    const v2Advert = m[2] === '/info/refs' && /(^|:)version=2(:|$)/.test(req.get('git-protocol') ?? '');
    const kept = v2Advert ? advertisements.get(repo.name) : undefined;
    if (kept) {
      res.status(kept.status);
      for (const [name, value] of kept.headers) res.setHeader(name, value);
      return res.end(kept.body);
    }
    if (running >= MAX_GIT_BACKENDS) {
      return refuse(res, new GgError('GG_GIT_BUSY', `${MAX_GIT_BACKENDS} fetches are being served; try again in a moment`), { 'Retry-After': '1' });
    }
    running++;
    let released = false;
    const release = () => { if (!released) { released = true; running--; } };
    try {
      runBackend(app, repo, m[2], req, res, release, v2Advert ? (k) => advertisements.set(repo.name, k) : undefined);
    } catch (err) {
      release();
      next(err);
    }
  });
  return r;
}

function runBackend(app: GitHttpDeps, repo: RepositoryConfig, pathInfo: string, req: Request, res: Response, release: () => void,
  keep?: (answer: Kept) => void): void {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
  Object.assign(env, {
    GIT_PROJECT_ROOT: dirname(repo.path),
    PATH_INFO: `/${basename(repo.path)}${pathInfo}`,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method,
    QUERY_STRING: new URL(req.originalUrl, 'http://x').search.slice(1),
    CONTENT_TYPE: req.get('content-type') ?? '',
    REMOTE_USER: 'runner',
    REMOTE_ADDR: req.socket.remoteAddress ?? '',
    // git's own settings for this child only: read repositories of any owner, serve any object by id.
    GIT_CONFIG_COUNT: '2',
    GIT_CONFIG_KEY_0: 'safe.directory', GIT_CONFIG_VALUE_0: '*',
    GIT_CONFIG_KEY_1: 'uploadpack.allowAnySHA1InWant', GIT_CONFIG_VALUE_1: 'true',
  });
  const length = req.get('content-length');
  if (length) env.CONTENT_LENGTH = length;
  const protocol = req.get('git-protocol');
  if (protocol) env.GIT_PROTOCOL = protocol;
  const encoding = req.get('content-encoding');
  if (encoding) env.HTTP_CONTENT_ENCODING = encoding;

  const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let head: Buffer | null = Buffer.alloc(0);
  let failed = false;
  const answer: Kept = { status: 200, headers: [], body: Buffer.alloc(0) };
  const record = (chunk: Buffer) => {
    if (keep && answer.body.length <= MAX_ADVERTISEMENT_BYTES) answer.body = Buffer.concat([answer.body, chunk]);
  };
  const fail = (why: string) => {
    if (failed) return;
    failed = true;
    app.log.warn({ repo: repo.name, why, stderr: stderr.slice(0, 500) }, 'git http-backend failed');
    if (!res.headersSent) res.status(500).json(errorBody(new GgError('GG_GIT_FAILED', `serving ${repo.name} failed: ${why}`)));
    else res.destroy();
  };
  child.stderr.on('data', (d: Buffer) => { if (stderr.length < 4096) stderr += d.toString('utf8'); });
  child.on('error', (err) => { release(); fail(`cannot start git http-backend: ${err.message}`); });
  child.on('close', (code) => {
    release();
    if (head !== null) return fail(`git http-backend exited ${code} before its headers`);
    if (keep && code === 0 && answer.status === 200 && answer.body.length <= MAX_ADVERTISEMENT_BYTES) {
      keep({ ...answer, headers: answer.headers.filter(([n]) => n.toLowerCase() !== 'content-length') });
    }
    res.end();
  });
  const limit = setTimeout(() => {
    fail(`git http-backend ran over its time limit of ${GIT_BACKEND_TIMEOUT_MS / 1000} s and was killed`);
    child.kill('SIGKILL');
  }, GIT_BACKEND_TIMEOUT_MS);
  limit.unref();
  child.on('close', () => clearTimeout(limit));
  res.on('close', () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  child.stdin.on('error', () => undefined); // a child that stops reading early ends through 'close'
  req.pipe(child.stdin);

  child.stdout.on('data', (chunk: Buffer) => {
    if (head === null) {
      record(chunk);
      if (!res.write(chunk)) { child.stdout.pause(); res.once('drain', () => child.stdout.resume()); }
      return;
    }
    head = Buffer.concat([head, chunk]);
    const end = findHeaderEnd(head);
    if (end === null) {
      if (head.length > MAX_CGI_HEADER_BYTES) { child.kill('SIGKILL'); head = null; fail('CGI headers too long'); }
      return;
    }
    const text = head.subarray(0, end.at).toString('latin1');
    const body = head.subarray(end.at + end.length);
    head = null;
    let status = 200;
    for (const line of text.split(/\r?\n/)) {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim();
      const value = line.slice(colon + 1).trim();
      if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
      else { res.setHeader(name, value); answer.headers.push([name, value]); }
    }
    res.status(status);
    answer.status = status;
    record(body);
    if (body.length) res.write(body);
  });
}

function findHeaderEnd(buf: Buffer): { at: number; length: number } | null {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return null;
}
