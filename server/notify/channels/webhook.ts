/**
 * The webhook channel: `notify.webhooks: [{ url, secret?, events? }]` (at most 20). Each URL whose
 * `events:` take a kind gets one delivery: a signed JSON POST (notify/webhook.ts). Targets are the
 * URLs; shown masked to their origin (a Slack-style URL path is a credential), and the URL and its
 * secret are redacted from what units report.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { postWebhook, slackEscape } from '../webhook.js';
import { eventsSchema, permanentFailure, takes, type Channel } from './channel.js';
import { readNotifySecret, secretSchema, type NotifySecret } from './secret.js';
import type { NotificationKind } from '../kinds.js';

export interface WebhookConfig { url: string; secret?: NotifySecret; events?: NotificationKind[] }

export const MIN_WEBHOOK_SECRET_LENGTH = 16;
export const MAX_WEBHOOKS = 20;
const isHttpUrl = (s: string) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol);

export const webhookShape = {
  url: z.string().refine(isHttpUrl, 'must be an http:// or https:// URL, e.g. https://hooks.example.com/ci'),
  secret: secretSchema.optional(), // absent: the body is sent unsigned
  events: eventsSchema,
};

export const webhookChannel: Channel<WebhookConfig[]> = {
  name: 'webhook',
  key: 'webhooks',
  schema: z.array(z.strictObject(webhookShape)).max(MAX_WEBHOOKS, `at most ${MAX_WEBHOOKS} webhooks`),
  keys: { '': Object.keys(webhookShape) },
  maxInFlight: 8,
  targets(hooks, kind) {
    const targets: string[] = [];
    for (const w of hooks) if (takes(w.events, kind) && !targets.includes(w.url)) targets.push(w.url);
    return { targets, refused: [] };
  },
  connect(_log: Logger) {
    return {
      async send(d) {
        const hook = d.settings?.find((w) => w.url === d.target);
        if (!hook) throw permanentFailure('this webhook is no longer in the notify: settings');
        const secret = hook.secret ? readNotifySecret('webhook secret', hook.secret) : null;
        await postWebhook({ url: hook.url, secret, kind: d.kind, deliveryKey: d.deliveryKey,
          body: { ...d.payload, text: slackEscape(d.payload.text), event: d.kind, delivery: d.deliveryKey, repo: d.repo, branch: d.branch, at: d.createdAt } });
      },
      close() {},
    };
  },
  mask(target) {
    try { return `${new URL(target).origin}/…`; } catch { return '…'; }
  },
  credentials: (hooks) => hooks.flatMap((w) => [w.url, w.secret]),
  secrets: (hooks) => hooks.map((w, i) => ({ holder: w as unknown as Record<string, unknown>, key: 'secret', path: [i, 'secret'], minLength: MIN_WEBHOOK_SECRET_LENGTH })),
};
