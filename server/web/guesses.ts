/**
 * Guessing the admin token: each client address may send ADMIN_GUESSES wrong tokens in
 * GUESS_WINDOW_MS (to the API's admin actions, and separately to the login form); after that,
 * every admin attempt from it is answered 429, saying when to try again, until the window ends.
 * Right tokens are not counted. Addresses are as Express sees them (`trust proxy` is loopback:
 * behind a proxy on the same host, the client's X-Forwarded-For address).
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit } from 'express-rate-limit';

export const ADMIN_GUESSES = 10;
export const GUESS_WINDOW_MS = 15 * 60_000; // 15 minutes

/** Whole minutes (at least 1) until this client may try again. */
export function retryMinutes(req: Request): number {
  const reset = (req as Request & { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
  const ms = reset ? reset.getTime() - Date.now() : GUESS_WINDOW_MS;
  return Math.max(1, Math.ceil(ms / 60_000));
}

/**
 * A limiter of wrong admin tokens; `refuse` answers a client that has used up its guesses.
 * `rightToken` (optional): a request whose token it knows to be right skips the limiter whole
 * (not counted, no rate headers) — the hot path of token-carrying reads such as OFREP evaluations.
 */
export function guessLimiter(refuse: (req: Request, res: Response, next: NextFunction) => void,
  rightToken?: (req: Request, res: Response) => boolean): RequestHandler {
  return rateLimit({
    ...(rightToken ? { skip: rightToken } : {}),
    windowMs: GUESS_WINDOW_MS,
    limit: ADMIN_GUESSES,
    skipSuccessfulRequests: true, // only wrong tokens count
    requestWasSuccessful: (_req, res) => res.statusCode !== 401 && res.statusCode !== 403,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (req, res, next) => refuse(req, res, next),
  });
}
