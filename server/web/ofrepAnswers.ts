/**
 * OFREP's answers, the one implementation both ways in use (ofrepFastPath.ts on the raw node http
 * server, ofrepApi.ts's Express routes for what the fast path passes on):
 *   - `repoOf(headers)`: the repository whose flags token `Authorization: Bearer <token>` or
 *     `X-API-Key: <token>` carries (compared in constant time with every repository's), or null;
 *   - `take(repo)`: one evaluation from the repository's token bucket (flags.ratePerSecond, default
 *     DEFAULT_FLAGS_RATE, bursts of twice that; a bulk counts one); null, or the 429 with Retry-After;
 *   - `single(repo, key, body)` / `bulk(repo, body, ifNoneMatch)`: the evaluation answer (status,
 *     headers, text) for a request body as read (a string; '' for none), exposures counted;
 *   - `write(res, answer)`: one `writeHead` + `end` (works on node's and Express's responses).
 * Answers are OFREP's (evaluator.ts says which): every 200 is application/json; 400/404/500 bodies
 * carry `key` and `errorCode` (bulk: `errorCode`). The bulk's ETag is a hash of its body; an
 * If-None-Match naming it → 304 (Express does not 304 a POST: compared here). Who may call is the
 * caller's business (repoOf first); nothing here logs a token or a context.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import type { EvaluationContext } from '@openfeature/core';
import type { Config } from '../config/config.js';
import { digestsEqual, tokenDigest } from '../tokens.js';
import type { FlagLibrary } from '../flags/library.js';
import type { FlagKills } from '../flags/kills.js';
import type { FlagExperiments } from '../flags/experiments.js';
import { DEFAULT_FLAGS_RATE } from '../config/flags.js';

export const MAX_OFREP_BODY = '64kb';
export const MAX_OFREP_BODY_BYTES = 64 * 1024;
const JSON_TYPE = 'application/json; charset=utf-8';

export interface OfrepDeps {
  config: Pick<Config, 'repositories'>;
  library: Pick<FlagLibrary, 'of'>;
  kills: Pick<FlagKills, 'lookup'>;
  experiments?: Pick<FlagExperiments, 'expose' | 'record'>;
}

export interface Answer { status: number; headers: OutgoingHttpHeaders; text: string }

type Parsed = { ok: true; context: EvaluationContext } | { ok: false; errorCode: 'PARSE_ERROR' | 'INVALID_CONTEXT'; errorDetails: string };

export class OfrepAnswers {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly digests = new Map<string, Buffer>(); // configured flags token → its tokenDigest

  constructor(readonly deps: OfrepDeps) {}

  /** The token a request carries ('' for none). */
  tokenOf(headers: IncomingHttpHeaders): string {
    const header = headers.authorization ?? '';
    if (header.startsWith('Bearer ')) return header.slice(7).trim();
    const apiKey = headers['x-api-key'];
    return (typeof apiKey === 'string' ? apiKey : '').trim();
  }

  /** The repository whose flags token this is (every repository compared, in constant time), or null. */
  repoOfToken(token: string): string | null {
    if (!token) return null;
    const given = tokenDigest(token); // hashed once; each configured token's digest is kept (a SIGHUP's new ones added)
    let found: string | null = null;
    for (const repo of this.deps.config.repositories) {
      const expected = repo.flags?.token;
      if (!expected) continue;
      let digest = this.digests.get(expected);
      if (!digest) this.digests.set(expected, digest = tokenDigest(expected));
      if (digestsEqual(given, digest) && !found) found = repo.name;
    }
    return found;
  }

  repoOf(headers: IncomingHttpHeaders): string | null {
    return this.repoOfToken(this.tokenOf(headers));
  }

  /** Takes one evaluation from the repository's bucket: null, or the 429 to answer when it is empty. */
  take(repo: string): Answer | null {
    let rate = DEFAULT_FLAGS_RATE;
    for (const r of this.deps.config.repositories) if (r.name === repo) { rate = r.flags?.ratePerSecond ?? DEFAULT_FLAGS_RATE; break; }
    const now = Date.now();
    let b = this.buckets.get(repo);
    if (!b) this.buckets.set(repo, b = { tokens: 2 * rate, at: now });
    b.tokens = Math.min(2 * rate, b.tokens + ((now - b.at) / 1000) * rate);
    b.at = now;
    if (b.tokens >= 1) { b.tokens -= 1; return null; }
    return json(429, { errorDetails: `over ${rate} evaluations per second for this repository: retry after the Retry-After seconds, or use the bulk endpoint (and its ETag)` },
      { 'Retry-After': String(Math.max(1, Math.ceil((1 - b.tokens) / rate))) });
  }

  /** POST /ofrep/v1/evaluate/flags/:key for `repo` (authenticated, within its rate). */
  single(repo: string, key: string, body: string): Answer {
    const parsed = parseRequest(body);
    if (!parsed.ok) return json(400, { key, errorCode: parsed.errorCode, errorDetails: parsed.errorDetails });
    const set = this.deps.library.of(repo).set;
    if (!set) return json(404, { key, errorCode: 'FLAG_NOT_FOUND', errorDetails: `repository ${repo} serves no flags yet (its flags file has not been read)` });
    const e = set.evaluate(key, parsed.context, this.deps.kills.lookup(repo));
    // One server-side evaluation = one exposure of its variant (deduplicated per user per day).
    const variant = (e.body as { variant?: unknown }).variant;
    const targetingKey = parsed.context.targetingKey;
    if (this.deps.experiments && e.status === 200 && typeof variant === 'string' && typeof targetingKey === 'string') {
      this.deps.experiments.expose(repo, key, variant, targetingKey);
    }
    return json(e.status, e.body);
  }

  /** POST /ofrep/v1/evaluate/flags (bulk) for `repo`: every flag with a value, with an ETag; a matching If-None-Match → 304. */
  bulk(repo: string, body: string, ifNoneMatch: string | undefined): Answer {
    const parsed = parseRequest(body);
    if (!parsed.ok) return json(400, { errorCode: parsed.errorCode, errorDetails: parsed.errorDetails });
    const loaded = this.deps.library.of(repo);
    const flags = loaded.set ? loaded.set.evaluateAll(parsed.context, this.deps.kills.lookup(repo)) : [];
    const targetingKey = parsed.context.targetingKey;
    if (this.deps.experiments && typeof targetingKey === 'string') for (const f of flags) if (f.variant) this.deps.experiments.expose(repo, f.key, f.variant, targetingKey);
    const text = JSON.stringify({ flags, metadata: {} });
    const etag = `"${createHash('sha256').update(text).digest('base64url')}"`;
    if (matches(ifNoneMatch, etag)) return { status: 304, headers: { ETag: etag }, text: '' };
    return { status: 200, headers: { ETag: etag, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) }, text };
  }

  /** Writes an answer at once: one writeHead, one end. */
  write(res: ServerResponse, a: Answer): void {
    res.writeHead(a.status, a.headers);
    res.end(a.status === 304 ? undefined : a.text);
  }
}

/** A JSON answer (Content-Type and Content-Length set; no ETag: no POST answer uses Express's weak one). */
export function json(status: number, body: unknown, extra?: OutgoingHttpHeaders): Answer {
  const text = JSON.stringify(body);
  return { status, headers: { ...extra, 'Content-Type': JSON_TYPE, 'Content-Length': Buffer.byteLength(text) }, text };
}

export function parseRequest(raw: string): Parsed {
  const text = raw.trim();
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
