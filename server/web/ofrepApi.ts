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
 * INVALID_CONTEXT. Bodies over MAX_OFREP_BODY are refused (bodyLimit.ts).
 * The answers themselves are ofrepAnswers.ts's (one implementation); ofrepFastPath.ts answers the
 * evaluations of right tokens before Express, and passes everything else on to these routes. Evaluations are reads:
 * mounted before the storage guard, they keep working while the database cannot be written, and
 * while the tree is closed. Nothing here is logged with the token or the context.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { jsonBody, limitBody } from './bodyLimit.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import { MAX_EVENTS_BODY } from '../flags/experiments.js';
import { ERRORS } from '../errors.js';
import { MAX_OFREP_BODY, OfrepAnswers, type OfrepDeps } from './ofrepAnswers.js';

export const OFREP_PATH = '/ofrep/v1';
export { MAX_OFREP_BODY, type OfrepDeps };

/** The routes; `answers` is shared with the fast path (one rate bucket per repository for both). */
export function ofrepRouter(deps: OfrepDeps, answers = new OfrepAnswers(deps)): Router {
  const r = express.Router();
  const guesses = guessLimiter((req, res) => {
    res.set('Retry-After', String(retryMinutes(req) * 60)).status(ERRORS.GG_TOO_MANY_GUESSES.status)
      .json({ errorDetails: `too many wrong flags tokens from ${req.ip}: try again in ${retryMinutes(req)} minute(s)` });
  }, (req, res) => { // a right token is never counted: skip the limiter's bookkeeping (its repository kept for repoOf)
    res.locals.flagsRepo = answers.repoOf(req.headers);
    return res.locals.flagsRepo !== null;
  });
  const body = limitBody(express.text({ type: () => true, limit: MAX_OFREP_BODY }), MAX_OFREP_BODY);

  /** The repository whose flags token the request carries; answers 401/403 itself otherwise. */
  const repoOf = (req: Request, res: Response): string | null => {
    if (typeof res.locals.flagsRepo === 'string') return res.locals.flagsRepo; // found by the guess limiter's skip
    const token = answers.tokenOf(req.headers);
    if (!token) {
      res.status(ERRORS.GG_FLAGS_TOKEN.status).json({ code: 'GG_FLAGS_TOKEN', errorDetails: 'no flags token: send Authorization: Bearer <token> or X-API-Key: <token> (the repository\'s flags.token in greengate.yml)' });
      return null;
    }
    const found = answers.repoOfToken(token);
    if (!found) res.status(403).json({ code: 'GG_FLAGS_TOKEN', errorDetails: 'this token is no repository\'s flags token: check flags.token in greengate.yml' });
    return found;
  };
  /** Authenticated and within the repository's rate: then the body is read. */
  const admit = (read: typeof body) => (req: Request, res: Response, next: NextFunction) => {
    const repo = repoOf(req, res);
    if (!repo) return;
    const over = answers.take(repo);
    if (over) return answers.write(res, over);
    read(req, res, next);
  };
  const text = (req: Request): string => (typeof req.body === 'string' ? req.body : '');

  r.post('/evaluate/flags/:key', guesses, admit(body), (req: Request, res: Response) => {
    answers.write(res, answers.single(repoOf(req, res)!, String(req.params.key), text(req)));
  });

  r.post('/evaluate/flags', guesses, admit(body), (req: Request, res: Response) => {
    answers.write(res, answers.bulk(repoOf(req, res)!, text(req), req.get('if-none-match')));
  });

  r.post('/events', guesses, admit(jsonBody(MAX_EVENTS_BODY)), (req: Request, res: Response) => {
    const repo = repoOf(req, res)!;
    if (!deps.experiments) return void res.status(404).json({ errorDetails: 'A/B test events are not recorded by this server' });
    res.json(deps.experiments.record(repo, req.body));
  });

  return r;
}
