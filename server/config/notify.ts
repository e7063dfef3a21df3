/**
 * `notify:` in greengate.yml — who is told what (server/notify/ does the telling):
 *
 *   notify:                                # top level: the defaults of every repository
 *     unitWaitSeconds: 600                 # a build whose units wait longer for a runner is told (absent: never)
 *     webhooks:
 *       - url: https://hooks.example.com/ci
 *         secret: { env: GG_WEBHOOK_SECRET }   # or { file: /etc/greengate/webhook.secret }; signs the body
 *         events: [tree.closed, tree.reopened] # optional: absent means every event
 *     email:
 *       from: greengate@example.com
 *       to: [oncall@example.com]           # configured addresses, for every event they take
 *       blamelist: true                    # also the authors of a closure's blamelist (default true)
 *       events: [tree.closed, tree.reopened, build.fixed]
 *       smtp: { host: smtp.example.com, port: 587, tls: starttls,
 *               user: { env: SMTP_USER }, password: { env: SMTP_PASSWORD } }
 *   repositories:
 *     - name: shop
 *       notify: { webhooks: [...] }        # per repository: each key given replaces the default's
 *
 * Secrets (webhook secrets, SMTP credentials) come from the server's environment or a file;
 * `{ value: "…" }` writes one in the YAML, for a user who insists. Each is checked readable at
 * start-up (a config error names the key) and read again when a notification is sent.
 * Each channel's part (`webhooks`, `email`) is its plug-in's schema (notify/channels/<name>.ts),
 * so an e-mail address is checked here by the same rule the outbox applies: a configured one that
 * passes is mailed, never dropped later (`ops@localhost` included: the SMTP server decides).
 */
import path from 'node:path';
import { z } from 'zod';
import type { Found } from './problems.js';
import { CHANNELS, settingsOf, type Channel } from '../notify/channels/index.js';
import type { WebhookConfig } from '../notify/channels/webhook.js';
import type { EmailConfig } from '../notify/channels/email.js';
import { readNotifySecret, type NotifySecret } from '../notify/channels/secret.js';

/** Every kind of notification (notify/kinds.ts, the one vocabulary). */
export { NOTIFICATION_KINDS, type NotificationKind } from '../notify/kinds.js';
export { readNotifySecret, type NotifySecret } from '../notify/channels/secret.js';
export { notifyFor } from '../notify/channels/index.js';
export type { WebhookConfig } from '../notify/channels/webhook.js';
export type { EmailConfig, SmtpConfig } from '../notify/channels/email.js';
export { MIN_WEBHOOK_SECRET_LENGTH, webhookShape } from '../notify/channels/webhook.js';
export { emailShape, smtpShape } from '../notify/channels/email.js';

/** `notify:` — `unitWaitSeconds` and one key per channel plug-in (notify/channels/): `webhooks`, `email`, … */
export interface NotifyConfig { unitWaitSeconds?: number; webhooks?: WebhookConfig[]; email?: EmailConfig; [channelKey: string]: unknown }

/** The `notify:` keys for a list of channels (the registry's, or a test's). */
export function notifyShapeOf(channels: readonly Channel[]) {
  return {
    unitWaitSeconds: z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
      z.number().int('must be a whole number of seconds from 10 to 604800').min(10, 'must be a whole number of seconds from 10 to 604800')
        .max(604800, 'must be a whole number of seconds from 10 to 604800')).optional(), // absent: never told
    ...Object.fromEntries(channels.map((c) => [c.key, c.schema.optional()])),
  };
}
export const notifyShape = notifyShapeOf(CHANNELS);
export const notifySchema = z.strictObject(notifyShape).optional();

/** Keys for "did you mean" under each path (config.ts merges them into its table). */
export const NOTIFY_KEYS: Record<string, string[]> = Object.fromEntries(['notify', 'repositories.notify'].flatMap((at) => [
  [at, Object.keys(notifyShape)],
  ...CHANNELS.flatMap((c) => Object.entries(c.keys).map(([sub, keys]) => [[at, c.key, sub].filter(Boolean).join('.'), keys])),
]));

/** Resolves secret files against the config's folder (in place) and checks every secret can be read now. */
export function checkNotifySecrets(cfg: { notify?: NotifyConfig; repositories: { notify?: NotifyConfig }[] }, baseDir: string, env: NodeJS.ProcessEnv): Found[] {
  const found: Found[] = [];
  const check = (n: NotifyConfig | undefined, at: PropertyKey[]) => {
    if (!n) return;
    for (const c of CHANNELS) {
      const settings = settingsOf(c, n);
      if (settings === undefined) continue;
      for (const { holder, key, path: where, minLength = 1 } of c.secrets(settings)) {
        const s = holder[key] as NotifySecret | undefined;
        if (!s) continue;
        if ('file' in s) holder[key] = { file: path.resolve(baseDir, s.file) };
        const full = [...at, c.key, ...where];
        try {
          const v = readNotifySecret(full.join('.'), holder[key] as NotifySecret, env);
          if (v.length < minLength) found.push({ path: [...full, Object.keys(s)[0]], message: `is shorter than ${minLength} characters — use a long random secret` });
        } catch (err) {
          found.push({ path: [...full, Object.keys(s)[0]], message: (err as Error).message.replace(/^[^:]*: /, '') });
        }
      }
    }
  };
  check(cfg.notify, ['notify']);
  cfg.repositories.forEach((r, i) => check(r.notify, ['repositories', i, 'notify']));
  return found;
}
