/**
 * The delivery log over HTTP: `GET /api/notifications?repo=&limit=&before=` → `{ deliveries, next }`,
 * newest first; `next` is the cursor for `before`. Each delivery: `{ id, notification, kind, repo,
 * branch, summary, channel, target, state: pending|sent|failed, attempts, lastError, createdAt,
 * sentAt, nextAt }`.
 * Who may call: everyone (it is public like the tree's history), so it shows no secrets and no
 * bodies: `summary` is the text's first line (what the tree page shows anyway), and `target` is
 * masked by its channel (notify/channels/<name>.ts `mask`) — a webhook's scheme and host only (a
 * Slack-style URL path is a secret), an address with its local part cut (`a…@example.com`). The full payload stays in SQLite.
 */
import express, { type Router } from 'express';
import { z } from 'zod';
import type { Config } from '../config/config.js';
import type { Store } from '../store/index.js';
import type { DeliveryLogRow } from '../store/notifications.js';
import { findRepository } from '../config/repositories.js';
import { parseOrThrow } from './api.js';
import { maskUrls } from '../urlMask.js';
import { channelNamed } from '../notify/channels/index.js';

export const MAX_LOG_LIMIT = 200;

export interface NotificationsApiDeps {
  config: Pick<Config, 'repositories'>;
  store: Pick<Store, 'repos' | 'notifications'>;
}

const LogQuery = z.strictObject({
  repo: z.string().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LOG_LIMIT, `must be at most ${MAX_LOG_LIMIT}`).default(50),
  before: z.coerce.number().int().positive().optional(),
});

/** What anyone may see of a delivery's target: its channel's mask (notify/channels/); nothing of an unknown channel's. */
export function maskTarget(channel: string, target: string): string {
  return channelNamed(channel)?.mask(target) ?? '…';
}

export function publicDelivery(d: DeliveryLogRow) {
  return {
    id: d.id, notification: d.notificationId, kind: d.kind, repo: d.repo, branch: d.branch, summary: d.summary, channel: d.channel,
    target: maskTarget(d.channel, d.target), state: d.state, attempts: d.attempts,
    lastError: d.lastError === null ? null : maskUrls(d.lastError.split(d.target).join(maskTarget(d.channel, d.target))),
    createdAt: d.createdAt, sentAt: d.sentAt, nextAt: d.state === 'pending' ? d.nextAt : null,
  };
}

export function notificationsRouter(deps: NotificationsApiDeps): Router {
  const r = express.Router();
  r.get('/notifications', (req, res) => {
    const q = parseOrThrow(LogQuery, req.query, 'query');
    const repoId = q.repo === undefined ? undefined : (deps.store.repos.byName(findRepository(deps.config, q.repo).name)?.id ?? -1);
    const rows = deps.store.notifications.log({ repoId, before: q.before, limit: q.limit });
    res.json({ deliveries: rows.map(publicDelivery), next: rows.length === q.limit ? rows[rows.length - 1].id : null });
  });
  return r;
}
