/**
 * `POST /api/alertmanager`: Alertmanager's webhook (webhook_configs, version 4). Its alerts are
 * recorded in the AlertBook (server/immune/alerts.ts, kept in SQLite), where a deploy's watch finds
 * the ones that started firing for its service while it watched. Answers 202 `{ recorded, ignored }`:
 * an alert already known by fingerprint and startsAt (a replayed or repeated message) is ignored.
 *
 * Who may call: Alertmanager, with `Authorization: Bearer <alertmanagerToken>` from greengate.yml
 * (its http_config: authorization: { credentials: … }). No or a wrong token, or no token
 * configured: 401 GG_ALERTMANAGER_TOKEN; the body is not read. Wrong tokens count towards the
 * per-address guess limit (429). A body that is not a webhook message: 400 GG_BAD_REQUEST naming
 * the field (every alert needs a startsAt: Alertmanager always sends one). Body cap
 * MAX_ALERTMANAGER_BODY; at most MAX_ALERTS_PER_CALL alerts per call.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { jsonBody } from './bodyLimit.js';
import { z } from 'zod';
import type { Logger } from 'pino';
import { GgError } from '../errors.js';
import { tokensEqual } from '../tokens.js';
import type { AlertBook } from '../immune/alerts.js';
import { guessLimiter, retryMinutes } from './guesses.js';
import { parseOrThrow } from './api.js';

export const MAX_ALERTMANAGER_BODY = '1mb';
export const MAX_ALERTS_PER_CALL = 1000;

export interface AlertmanagerApiDeps {
  /** The token in force now (a reload may change it); null: the route refuses every call. */
  token(): string | null | undefined;
  alerts: Pick<AlertBook, 'record'>;
  log: Logger;
}

const labels = z.record(z.string().max(200), z.string().max(2000));
const WebhookBody = z.object({
  alerts: z.array(z.object({
    status: z.enum(['firing', 'resolved']),
    labels,
    annotations: labels.optional(),
    startsAt: z.string().max(64).refine((v) => Number.isFinite(Date.parse(v)), 'must be a time, e.g. 2026-01-02T03:04:05Z'),
    endsAt: z.string().max(64).optional(),
    fingerprint: z.string().max(200).optional(),
  })).max(MAX_ALERTS_PER_CALL),
});

export function alertmanagerRouter(deps: AlertmanagerApiDeps): Router {
  const r = express.Router();
  const counted = guessLimiter((req, _res, next) => {
    next(new GgError('GG_TOO_MANY_GUESSES', `too many wrong Alertmanager tokens from ${req.ip}: try again in ${retryMinutes(req)} minute(s)`));
  });
  const authorize = (req: Request, res: Response, next: NextFunction) => {
    void counted(req, res, (err?: unknown) => {
      if (err) return next(err);
      const expected = deps.token();
      const header = req.get('authorization') ?? '';
      const given = header.startsWith('Bearer ') ? header.slice(7) : '';
      if (expected && given && tokensEqual(given, expected)) return next();
      deps.log.warn({ ip: req.ip }, 'Alertmanager webhook call without the right token refused');
      next(new GgError('GG_ALERTMANAGER_TOKEN', expected
        ? 'Alertmanager token missing or wrong: set http_config.authorization.credentials in the webhook receiver to alertmanagerToken'
        : 'the Alertmanager webhook is off: set alertmanagerToken in greengate.yml and the same credentials in Alertmanager'));
    });
  };
  r.post('/alertmanager', authorize, jsonBody(MAX_ALERTMANAGER_BODY), (req, res) => {
    const body = parseOrThrow(WebhookBody, req.body, 'Alertmanager webhook message');
    const recorded = body.alerts.filter((alert) => deps.alerts.record(alert)).length;
    deps.log.info({ alerts: body.alerts.length, recorded, firing: body.alerts.filter((a) => a.status === 'firing').length }, 'Alertmanager alerts recorded');
    res.status(202).json({ recorded, ignored: body.alerts.length - recorded });
  });
  return r;
}
