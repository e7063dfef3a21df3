/**
 * Request bodies are refused before they are read. body-parser answers a body over its limit
 * only after reading the whole of it (to keep the connection), so a client could make the
 * server read a gibibyte for one 413. Here instead:
 * - `refuseLargeBodies` (first in the chain, every route): a Content-Length over MAX_BODY_BYTES
 *   is answered 413 at once, before authentication and before any byte of the body is read;
 * - `limitBody` wraps each route's parser: a Content-Length over the route's limit is answered
 *   413 at once, and a body without one (chunked) is cut off as soon as it grows past it.
 * Every such answer is GG_BODY_TOO_LARGE with `Connection: close`: the server stops reading and
 * closes the connection once the answer is sent. The git route streams its body to git and is
 * not parsed here (it needs the runner token first).
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { GgError } from '../errors.js';
import { MAX_GATE_BODY_BYTES } from '../gate/request.js';

/** The largest body any route takes (the pre-receive hook's, with room for its framing). */
export const MAX_BODY_BYTES = MAX_GATE_BODY_BYTES + 64 * 1024; // 4 MiB + 64 KiB

/** `16kb`, `1mb`, or a number of bytes, as body-parser reads its `limit`. */
export function bytesOf(limit: string | number): number {
  if (typeof limit === 'number') return limit;
  const m = /^(\d+)\s*(b|kb|mb)?$/i.exec(limit.trim());
  if (!m) throw new RangeError(`body limit "${limit}" is not a size such as 16kb or 1mb`);
  const unit = (m[2] ?? 'b').toLowerCase();
  return Number(m[1]) * (unit === 'mb' ? 1024 * 1024 : unit === 'kb' ? 1024 : 1);
}

function tooLarge(req: Request, res: Response, limitBytes: number): GgError {
  res.set('connection', 'close');
  return new GgError('GG_BODY_TOO_LARGE', `the body of ${req.method} ${req.path.slice(0, 200)} is over ${limitBytes} bytes: ` +
    'it was not read; send a smaller body (see the route in the README)');
}

/** The declared body length, or null for a body without Content-Length (chunked) or none. */
function declaredLength(req: Request): number | null {
  const header = req.headers['content-length'];
  return header === undefined || !/^\d+$/.test(header) ? null : Number(header);
}

/** First middleware: a declared body over maxBytes is refused before anything reads it. `except` paths (a prefix or a pattern) are left alone. */
export function refuseLargeBodies(maxBytes = MAX_BODY_BYTES, except: readonly (string | RegExp)[] = []): RequestHandler {
  return (req, res, next) => {
    const length = declaredLength(req);
    if (length === null || length <= maxBytes || except.some((p) => (typeof p === 'string' ? req.path.startsWith(p) : p.test(req.path)))) return next();
    next(tooLarge(req, res, maxBytes));
  };
}

/** `parser` (an express body parser) with its limit enforced while the body arrives, not after. */
export function limitBody(parser: RequestHandler, limit: string | number): RequestHandler {
  const limitBytes = bytesOf(limit);
  return (req: Request, res: Response, next: NextFunction) => {
    const length = declaredLength(req);
    if (length !== null && length > limitBytes) return next(tooLarge(req, res, limitBytes));
    let seen = 0;
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return; // body-parser calls back again once the connection is closed
      done = true;
      req.off('data', count);
      next(err);
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limitBytes) {
        finish(tooLarge(req, res, limitBytes));
        req.pause();
      }
    };
    req.on('data', count);
    parser(req, res, finish);
  };
}

export const jsonBody = (limit: string | number) => limitBody(express.json({ limit }), limit);
export const textBody = (type: string[], limit: string | number) => limitBody(express.text({ type, limit }), limit);
export const formBody = (limit: string | number) => limitBody(express.urlencoded({ extended: false, limit }), limit);
export const rawBody = (limit: string | number) => limitBody(express.raw({ type: () => true, limit }), limit);
