/**
 * Who is admin on the API: a request with `Authorization: Bearer <adminToken>`. `adminGuard`
 * is the middleware of every admin route: a missing or wrong token is GG_ADMIN_TOKEN (401);
 * wrong tokens are counted per client address (guesses.ts), and after too many every admin
 * call from it is GG_TOO_MANY_GUESSES (429) until the window ends. One guard per server, so
 * every admin route shares the count. Refusals go to the error handler (errorHandler.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { GgError } from '../errors.js';
import { tokensEqual } from '../tokens.js';
import { guessLimiter, retryMinutes } from './guesses.js';

/** The admin token in force now (a SIGHUP reload may change it); null when admin actions are off. */
export type AdminToken = () => string | null;

/** True when the request carries the admin token; never true when adminToken is not set. */
export function bearerIsAdmin(adminToken: AdminToken): (req: Request) => boolean {
  return (req) => {
    const header = req.get('authorization') ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const expected = adminToken();
    return !!expected && !!token && tokensEqual(token, expected);
  };
}

export function adminGuard(deps: { adminToken: AdminToken; isAdmin(req: Request): boolean; log: Logger }): RequestHandler {
  const counted = guessLimiter((req, _res, next) => {
    deps.log.warn({ ip: req.ip }, 'admin token guesses refused');
    next(new GgError('GG_TOO_MANY_GUESSES', `too many wrong admin tokens from ${req.ip}: ` +
      `try again in ${retryMinutes(req)} minute(s) with the right token (Authorization: Bearer <adminToken>)`));
  });
  return (req: Request, res: Response, next: NextFunction) => {
    void counted(req, res, (err?: unknown) => {
      if (err) return next(err);
      if (deps.isAdmin(req)) return next();
      next(new GgError('GG_ADMIN_TOKEN', deps.adminToken()
        ? 'admin token missing or wrong: pass --admin-token or set GREENGATE_ADMIN_TOKEN'
        : 'admin actions are disabled: set adminToken in greengate.yml'));
    });
  };
}
