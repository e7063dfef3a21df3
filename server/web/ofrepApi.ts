/**
 * OFREP, the OpenFeature Remote Evaluation Protocol (open-feature/protocol service/openapi.yaml),
 * so any OpenFeature SDK's stock OFREP provider reads a repository's flags:
 *   POST /ofrep/v1/evaluate/flags/:key   one flag   ← { context: { targetingKey?, …attributes } }
 *   POST /ofrep/v1/evaluate/flags        every flag (bulk), with an ETag; If-None-Match → 304
 *   POST /ofrep/v1/events                A/B test events (not OFREP's: it has none) ← { events: [{ flag,
 *        variant, targetingKey, kind: exposure|conversion, metric?, value?, at? }] } (at most MAX_EVENTS,
 *        MAX_EVENTS_BODY) → { accepted, duplicates }; checked whole, written in one transaction
 *        (flags/experiments.ts); a bad event → 400 GG_FLAG_EVENTS naming it. Same token and rate as evaluations.
 * Every evaluation with a targetingKey that answers a variant counts as an exposure of it (flags/experiments.ts).
 * Who may call: whoever holds a repository's flags token (greengate.yml flags.token), sent as
 * `Authorization: Bearer <token>` or `X-API-Key: <token>`; the token picks the repository, so it
 * only ever reads its own flags. No token → 401, a token that is no repository's → 403 (JSON
 * `{ code: GG_FLAGS_TOKEN, errorDetails }`); wrong tokens are counted per address like admin tokens (guesses.ts) → 429 with
 * Retry-After; a right token is never counted nor refused by that count (apps behind one address keep evaluating
 * while a misconfigured client there guesses), and skips the counter's bookkeeping (the hot path). Each repository's evaluations are rate-limited (a token bucket: flags.ratePerSecond,
 * default DEFAULT_FLAGS_RATE, bursts of twice that; a bulk counts one): over it → 429 with Retry-After
 * in whole seconds, which the stock providers honour. Answers are OFREP's, never greengate's `{ error }` (evaluator.ts says which): every
 * 200 is application/json; 400/404/500 bodies carry `key` and `errorCode` (bulk: `errorCode`),
 * without which the Node provider falls back to defaults silently. A body that is not JSON → 400
 * PARSE_ERROR, a context that is not an object or a targetingKey that is not a string → 400
 * INVALID_CONTEXT. Bodies over MAX_OFREP_BODY are refused (bodyLimit.ts). Evaluations are reads:
 * mounted before the storage guard, they keep working while the database cannot be written, and
 * while the tree is closed. Nothing here is logged with the token or the context.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { createHash } from 'node:crypto';
import type { EvaluationContext } from '@openfeature/core';
import type { Config } from '../config/config.js';
import { tokensEqual } from '../tokens.js';
import { jsonBody, limitBody } from './bodyLimit.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import type { FlagLibrary } from '../flags/library.js';
import type { FlagKills } from '../flags/kills.js';
import { MAX_EVENTS_BODY, type FlagExperiments } from '../flags/experiments.js';
import { ERRORS } from '../errors.js';
import { DEFAULT_FLAGS_RATE } from '../config/flags.js';

export const OFREP_PATH = '/ofrep/v1';
export const MAX_OFREP_BODY = '64kb';

export interface OfrepDeps {
  config: Pick<Config, 'repositories'>;
  library: Pick<FlagLibrary, 'of'>;
  kills: Pick<FlagKills, 'lookup'>;
  experiments?: Pick<FlagExperiments, 'expose' | 'record'>;
}

type Parsed = { ok: true; context: EvaluationContext } | { ok: false; errorCode: 'PARSE_ERROR' | 'INVALID_CONTEXT'; errorDetails: string };

export function ofrepRouter(deps: OfrepDeps): Router {
  const r = express.Router();
  const guesses = guessLimiter((req, res) => {
    res.set('Retry-After', String(retryMinutes(req) * 60)).status(ERRORS.GG_TOO_MANY_GUESSES.status)
      .json({ errorDetails: `too many wrong flags tokens from ${req.ip}: try again in ${retryMinutes(req)} minute(s)` });
  }, (req, res) => { // a right token is never counted: skip the limiter's bookkeeping (its repository kept for repoOf)
    res.locals.flagsRepo = repoOfToken(tokenOf(req));
    return res.locals.flagsRepo !== null;
  });
  const buckets = new Map<string, { tokens: number; at: number }>();
  /** Takes one evaluation from the repository's bucket; false (429 answered) when it is empty. */
  const allowed = (repo: string, res: Response): boolean => {
    const rate = deps.config.repositories.find((x) => x.name === repo)?.flags?.ratePerSecond ?? DEFAULT_FLAGS_RATE;
    const now = Date.now();
    const b = buckets.get(repo) ?? { tokens: 2 * rate, at: now };
    b.tokens = Math.min(2 * rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    buckets.set(repo, b);
    if (b.tokens >= 1) { b.tokens -= 1; return true; }
    res.set('Retry-After', String(Math.max(1, Math.ceil((1 - b.tokens) / rate))))
      .status(429).json({ errorDetails: `over ${rate} evaluations per second for this repository: retry after the Retry-After seconds, or use the bulk endpoint (and its ETag)` });
    return false;
  };
  const body = limitBody(express.text({ type: () => true, limit: MAX_OFREP_BODY }), MAX_OFREP_BODY);

  /** The repository whose flags token the request carries; answers 401/403 itself otherwise. */
  const tokenOf = (req: Request): string => {
    const header = req.get('authorization') ?? '';
    return header.startsWith('Bearer ') ? header.slice(7).trim() : (req.get('x-api-key') ?? '').trim();
  };
  const repoOfToken = (token: string): string | null => {
    let found: string | null = null;
    for (const repo of deps.config.repositories) {
      if (token && repo.flags?.token && tokensEqual(token, repo.flags.token) && !found) found = repo.name;
    }
    return found;
  };
  const repoOf = (req: Request, res: Response): string | null => {
    if (typeof res.locals.flagsRepo === 'string') return res.locals.flagsRepo; // found by the guess limiter's skip
    const token = tokenOf(req);
    if (!token) {
      res.status(ERRORS.GG_FLAGS_TOKEN.status).json({ code: 'GG_FLAGS_TOKEN', errorDetails: 'no flags token: send Authorization: Bearer <token> or X-API-Key: <token> (the repository\'s flags.token in greengate.yml)' });
      return null;
    }
    const found = repoOfToken(token);
    if (!found) res.status(403).json({ code: 'GG_FLAGS_TOKEN', errorDetails: 'this token is no repository\'s flags token: check flags.token in greengate.yml' });
    return found;
  };

  r.post('/evaluate/flags/:key', guesses, (req: Request, res: Response, next: NextFunction) => {
    const repo = repoOf(req, res);
    if (repo && allowed(repo, res)) body(req, res, next);
  }, (req: Request, res: Response) => {
    const key = String(req.params.key);
    const repo = repoOf(req, res)!;
    const parsed = parseRequest(req.body);
    if (!parsed.ok) return void res.status(400).json({ key, errorCode: parsed.errorCode, errorDetails: parsed.errorDetails });
    const set = deps.library.of(repo).set;
    if (!set) return void res.status(404).json({ key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `repository ${repo} serves no flags yet (its flags file has not been read)` });
    const e = set.evaluate(key, parsed.context, deps.kills.lookup(repo));
    // One server-side evaluation = one exposure of its variant (deduplicated per user per day).
    const variant = (e.body as { variant?: unknown }).variant;
    if (deps.experiments && e.status === 200 && typeof variant === 'string' && typeof parsed.context.targetingKey === 'string') {
      deps.experiments.expose(repo, key, variant, parsed.context.targetingKey);
    }
    sendJson(res, e.status, e.body);
  });

  r.post('/evaluate/flags', guesses, (req: Request, res: Response, next: NextFunction) => {
    const repo = repoOf(req, res);
    if (repo && allowed(repo, res)) body(req, res, next);
  }, (req: Request, res: Response) => {
    const repo = repoOf(req, res)!;
    const parsed = parseRequest(req.body);
    if (!parsed.ok) return void res.status(400).json({ errorCode: parsed.errorCode, errorDetails: parsed.errorDetails });
    const loaded = deps.library.of(repo);
    const flags = loaded.set ? loaded.set.evaluateAll(parsed.context, deps.kills.lookup(repo)) : [];
    const targetingKey = parsed.context.targetingKey;
    if (deps.experiments && typeof targetingKey === 'string') for (const f of flags) if (f.variant) deps.experiments.expose(repo, f.key, f.variant, targetingKey);
    const text = JSON.stringify({ flags, metadata: {} });
    const etag = `"${createHash('sha256').update(text).digest('base64url')}"`;
    res.set('ETag', etag);
    // Express answers 304 only to GET/HEAD: compared by hand.
    if (matches(req.get('if-none-match'), etag)) return void res.status(304).end();
    res.status(200).type('application/json; charset=utf-8').end(text);
  });

  const eventsBody = jsonBody(MAX_EVENTS_BODY);
  r.post('/events', guesses, (req: Request, res: Response, next: NextFunction) => {
    const repo = repoOf(req, res);
    if (repo && allowed(repo, res)) eventsBody(req, res, next);
  }, (req: Request, res: Response) => {
    const repo = repoOf(req, res)!;
    if (!deps.experiments) return void res.status(404).json({ errorDetails: 'A/B test events are not recorded by this server' });
    res.json(deps.experiments.record(repo, req.body));
  });

  return r;
}

/** A JSON answer written at once: Express's res.json would also hash it for a weak ETag, which no POST answer uses. */
function sendJson(res: Response, status: number, body: unknown): void {
  res.status(status).type('application/json; charset=utf-8').end(JSON.stringify(body));
}

function parseRequest(raw: unknown): Parsed {
  const text = typeof raw === 'string' ? raw.trim() : '';
  if (text === '') return { ok: true, context: {} };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return { ok: false, errorCode: 'PARSE_ERROR', errorDetails: `the body is not JSON (${(err as Error).message}): send {"context": {"targetingKey": "…"}}` };
  }
  if (!isObject(doc)) return { ok: false, errorCode: 'PARSE_ERROR', errorDetails: 'the body must be a JSON object: {"context": {…}}' };
  const context = doc.context ?? {};
  if (!isObject(context)) return { ok: false, errorCode: 'INVALID_CONTEXT', errorDetails: '"context" must be an object of attributes, e.g. {"targetingKey": "user-1", "email": "a@b.c"}' };
  if (context.targetingKey !== undefined && typeof context.targetingKey !== 'string') {
    return { ok: false, errorCode: 'INVALID_CONTEXT', errorDetails: '"context.targetingKey" must be a string' };
  }
  return { ok: true, context: context as EvaluationContext };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** If-None-Match against one strong ETag: a list of tags (weak ones compared weakly) or "*". */
export function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').map((t) => t.trim().replace(/^W\//, '')).some((t) => t === '*' || t === etag);
}
