/**
 * The OFREP fast path (issue 25): an evaluation with a right flags token is answered on node's
 * http server before Express — `POST /ofrep/v1/evaluate/flags/{key}` and the bulk
 * `POST /ofrep/v1/evaluate/flags` — with the same answers as ofrepApi.ts's routes (both are
 * ofrepAnswers.ts's), without Express's router, request/response decoration and body parser.
 *
 * `ofrepFastPath(answers, app)` returns the server's request handler. It takes a request only when
 * all of these hold, and hands everything else to `app` (Express) untouched, before reading a byte:
 *   - POST to exactly one of the two paths (a query string is ignored, as Express does; the key is
 *     one path segment, percent-decoded; a trailing slash, another case or a bad escape → Express);
 *   - a right flags token (Authorization: Bearer or X-API-Key): no token, a wrong one, and so the
 *     guess counter (guesses.ts), the 401/403 and 429 answers, stay Express's alone;
 *   - a Content-Length of at most MAX_OFREP_BODY_BYTES and no Transfer-Encoding (a chunked or larger
 *     body → Express, whose bodyLimit.ts answers 413), no Content-Encoding other than identity, and
 *     a charset, if any, of utf-8 (others are body-parser's to decode or refuse).
 * Who may call: a holder of a repository's flags token, for that repository's flags only (the
 * token picks the repository). The repository's rate (token bucket) is taken before the body is read.
 * Nothing is logged; a failure while answering is a 500 with OFREP's `errorCode: GENERAL`.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { json, MAX_OFREP_BODY_BYTES, type Answer, type OfrepAnswers } from './ofrepAnswers.js';

const BULK = '/ofrep/v1/evaluate/flags';
const SINGLE = `${BULK}/`;

export function ofrepFastPath(answers: OfrepAnswers, app: RequestListener): RequestListener {
  return (req, res) => {
    if (req.method !== 'POST' || !req.url?.startsWith(BULK)) return void app(req, res);
    const q = req.url.indexOf('?');
    const path = q === -1 ? req.url : req.url.slice(0, q);
    let key: string | null = null;
    if (path !== BULK) {
      if (!path.startsWith(SINGLE)) return void app(req, res);
      key = keyOf(path.slice(SINGLE.length));
      if (key === null) return void app(req, res);
    }
    const length = plainLength(req);
    if (length === null) return void app(req, res);
    const repo = answers.repoOf(req.headers);
    if (repo === null) return void app(req, res);

    const over = answers.take(repo);
    if (over) return answers.write(res, over);
    readBody(req, length, (text) => {
      let a: Answer;
      try {
        a = key === null ? answers.bulk(repo, text, header(req.headers['if-none-match'])) : answers.single(repo, key, text);
      } catch (err) {
        a = json(500, { ...(key === null ? {} : { key }), errorCode: 'GENERAL', errorDetails: `the evaluation failed: ${(err as Error).message}` });
      }
      answers.write(res, a);
    });
  };
}

/** The key of /ofrep/v1/evaluate/flags/{key}: one non-empty segment, percent-decoded; null otherwise. */
function keyOf(segment: string): string | null {
  if (segment === '' || segment.includes('/')) return null;
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return null;
  }
}

/** The body's length when the fast path may read it itself (see the contract above), else null. */
function plainLength(req: IncomingMessage): number | null {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined) return null;
  const encoding = h['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return null;
  const type = h['content-type'];
  if (type !== undefined && /charset/i.test(type) && !/charset\s*=\s*"?utf-?8"?\s*(;|$)/i.test(type)) return null;
  const declared = h['content-length'];
  if (declared === undefined) return 0;
  if (!/^\d+$/.test(declared)) return null;
  const n = Number(declared);
  return n <= MAX_OFREP_BODY_BYTES ? n : null;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The whole body as UTF-8 (at most `length` bytes, which node enforces for a Content-Length). */
function readBody(req: IncomingMessage, length: number, done: (text: string) => void): void {
  if (length === 0) {
    req.resume();
    return done('');
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => done(chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')));
}
