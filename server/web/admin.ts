/**
 * Who is admin on the API: a request with `Authorization: Bearer <token>` of a named admin
 * (`admins:` in greengate.yml, config/admins.ts) or the unnamed one (`adminToken`). `adminGuard`
 * is the middleware of every admin route; it leaves the admin's name in `res.locals`, and
 * `actorOf(res)` is the actor every admin route records (a named admin's name whatever the body
 * says; the unnamed admin keeps today's optional `actor` field, else "admin").
 * A missing or wrong token is GG_ADMIN_TOKEN (401);
 * wrong tokens are counted per client address (guesses.ts), and after too many every admin
 * call from it is GG_TOO_MANY_GUESSES (429) until the window ends. One guard per server, so
 * every admin route shares the count. Refusals go to the error handler (errorHandler.ts).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { GgError } from '../errors.js';
import { tokensEqual } from '../tokens.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import { UNNAMED_ADMIN, type Admin } from '../config/admins.js';

/** The admins in force now (a SIGHUP reload may change them); empty when admin actions are off. */
export type Admins = () => readonly Admin[];

/** The admin whose token `token` is, or null (every admin's token is compared, in constant time each). */
export function adminWithToken(admins: readonly Admin[], token: string): Admin | null {
  let found: Admin | null = null;
  for (const a of admins) if (token && tokensEqual(token, a.token) && !found) found = a;
  return found;
}

/** The admin whose bearer token the request carries; null without one (or when no admin is configured). */
export function bearerAdmin(admins: Admins): (req: Request) => Admin | null {
  return (req) => {
    const header = req.get('authorization') ?? '';
    return adminWithToken(admins(), header.startsWith('Bearer ') ? header.slice(7) : '');
  };
}

/** The actor an admin route records: the guard's admin; the unnamed one may still name someone (`claimed`). */
export function actorOf(res: Response, claimed?: string | null): string {
  const admin = res.locals.admin as Admin | undefined;
  if (admin?.named) return admin.name;
  return claimed?.trim() || UNNAMED_ADMIN;
}

/** The actor a page form records: the session's named admin; the unnamed one may name someone (`claimed`), else "admin (web)". */
export function webActor(res: Response, claimed?: string | null): string {
  const admin = res.locals.admin as Admin | undefined;
  if (admin?.named) return admin.name;
  return claimed?.trim() || `${UNNAMED_ADMIN} (web)`;
}

export function adminGuard(deps: { admins: Admins; adminOf(req: Request): Admin | null; log: Logger }): RequestHandler {
  const counted = guessLimiter((req, _res, next) => {
    deps.log.warn({ ip: req.ip }, 'admin token guesses refused');
    next(new GgError('GG_TOO_MANY_GUESSES', `too many wrong admin tokens from ${req.ip}: ` +
      `try again in ${retryMinutes(req)} minute(s) with the right token (Authorization: Bearer <adminToken>)`));
  });
  return (req: Request, res: Response, next: NextFunction) => {
    void counted(req, res, (err?: unknown) => {
      if (err) return next(err);
      const admin = deps.adminOf(req);
      if (admin) {
        res.locals.admin = admin;
        return next();
      }
      next(new GgError('GG_ADMIN_TOKEN', deps.admins().length > 0
        ? 'admin token missing or wrong: pass --admin-token-file FILE (a 0600 file holding it) or set GREENGATE_ADMIN_TOKEN'
        : 'admin actions are disabled: set adminToken or admins: in greengate.yml'));
    });
  };
}
