/**
 * The one error handler of the HTTP server, last in the chain. Every error becomes a catalogued
 * GgError (server/errors.ts): a GgError as it is, a body-parser refusal by its `type`
 * (too large → GG_BODY_TOO_LARGE, anything else → GG_BAD_BODY), anything else GG_INTERNAL.
 * The status is the catalogue's, never read from the error.
 *
 * Answers: JSON `{ error: { code, message } }` for /api/*, /ofrep/* (its events) and for what the pages' script fetches
 * (/units/:id/log, /fragments/*); an HTML error page otherwise. 5xx are logged at error (with the
 * original error), 4xx at info. `notFound` is mounted after the routes: an unknown /api/* route
 * is GG_NOT_FOUND as JSON, an unknown page GG_NOT_FOUND as a page.
 */
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { asGgError, errorBody, GgError } from '../errors.js';

export interface ErrorHandlerDeps {
  log: Logger;
  /** Renders the HTML error page (views/error.njk). */
  renderErrorPage(req: Request, res: Response, status: number, message: string): void;
  /** A storage fault (disk full, I/O error) or a busy database as its catalogued 503, or undefined for any other error. */
  storageError?: (err: unknown, where: string) => GgError | null | undefined;
}

/** body-parser's `type` values for a body over its limit. */
const TOO_LARGE = new Set(['entity.too.large', 'parameters.too.many']);

/** Any thrown value as a catalogued error. */
export function toGgError(err: unknown): GgError {
  if (err instanceof GgError) return err;
  const type = err instanceof Error ? (err as { type?: unknown }).type : undefined;
  if (typeof type === 'string' && /^[a-z]+(\.[a-z]+)+$/.test(type)) { // body-parser (express.json/text/raw/urlencoded)
    return new GgError(TOO_LARGE.has(type) ? 'GG_BODY_TOO_LARGE' : 'GG_BAD_BODY',
      `request body refused: ${(err as Error).message}`, { cause: err });
  }
  return asGgError(err);
}

/** Paths answered with JSON errors: the API and what app.js fetches. */
export function answersJson(path: string): boolean {
  return path.startsWith('/api/') || path === '/api' || path.startsWith('/units/') || path.startsWith('/fragments/') || path.startsWith('/ofrep/');
}

export function notFound(): RequestHandler {
  return (req, _res, next) => {
    const path = pathOf(req);
    const what = answersJson(path) ? 'API route' : 'page';
    next(new GgError('GG_NOT_FOUND', `no ${what} ${req.method} ${path.slice(0, 200)}: see the README's HTTP API and Pages sections`));
  };
}

export function errorHandler(deps: ErrorHandlerDeps): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const e = deps.storageError?.(err, `${req.method} ${req.path}`) ?? toGgError(err);
    if (isStorageFault(e)) deps.log.warn({ url: req.originalUrl, status: e.status, code: e.code }, 'request refused: storage fault');
    else if (e.status >= 500) deps.log.error({ err: e.cause ?? e, code: e.code, url: req.originalUrl }, 'request failed');
    else deps.log.info({ url: req.originalUrl, status: e.status, code: e.code, message: e.message }, 'request refused');
    if (res.headersSent) return void res.end();
    if (isStorageFault(e)) res.set('retry-after', e.code === 'GG_STORAGE_BUSY' ? '1' : '10');
    if (answersJson(pathOf(req))) return void res.status(e.status).json(errorBody(e));
    try {
      deps.renderErrorPage(req, res, e.status, e.message);
    } catch (pageErr) {
      deps.log.error({ err: pageErr }, 'the error page failed');
      res.status(e.status).type('text/plain; charset=utf-8').send(`${e.message}\n`);
    }
  };
}

const isStorageFault = (e: GgError) => e.code === 'GG_STORAGE_FULL' || e.code === 'GG_STORAGE_IO' || e.code === 'GG_STORAGE_BUSY';

/** The request's path as the client sent it (a mounted router's req.path is relative). */
function pathOf(req: Request): string {
  return req.originalUrl.split('?')[0];
}
