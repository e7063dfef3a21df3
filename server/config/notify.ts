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
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Found } from './problems.js';
import { fail } from '../errors.js';

/** Every kind of notification; the generic ones are enqueued by other modules (auto revert, deploys). */
export const NOTIFICATION_KINDS = [
  'tree.closed', 'tree.reopened', 'build.failed', 'build.fixed', 'runner.lost', 'unit.waiting',
  'revert.made', 'revert.refused', 'deploy.rolledBack', 'deploy.failed', 'deploy.held', 'culprit.found', 'culprit.notFound',
] as const;
export type NotificationKind = typeof NOTIFICATION_KINDS[number];

export type NotifySecret = { env: string } | { file: string } | { value: string };
export interface WebhookConfig { url: string; secret?: NotifySecret; events?: NotificationKind[] }
export interface SmtpConfig { host: string; port: number; tls: 'implicit' | 'starttls' | 'none'; user?: NotifySecret; password?: NotifySecret }
export interface EmailConfig { from: string; to: string[]; blamelist: boolean; events?: NotificationKind[]; smtp: SmtpConfig }
export interface NotifyConfig { unitWaitSeconds?: number; webhooks?: WebhookConfig[]; email?: EmailConfig }

export const MIN_WEBHOOK_SECRET_LENGTH = 16;
const EMAIL_RE = /^[^\s@<>",;]+@[^\s@<>",;]+$/;
const isHttpUrl = (s: string) => URL.canParse(s) && /^https?:$/.test(new URL(s).protocol);

const secretSchema = z.union([
  z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name') }),
  z.strictObject({ file: z.string().min(1, 'must not be empty — give the path of the file holding the secret') }),
  z.strictObject({ value: z.string().min(1, 'must not be empty') }),
], { error: 'must be { env: NAME } (the server\'s environment) or { file: /path/to/file } — { value: "…" } only if it must be in this file' });

const eventsSchema = z.array(z.enum(NOTIFICATION_KINDS, `must be one of ${NOTIFICATION_KINDS.join(', ')}`))
  .min(1, 'must list at least one event — or remove events: to take every event').optional();

export const webhookShape = {
  url: z.string().refine(isHttpUrl, 'must be an http:// or https:// URL, e.g. https://hooks.example.com/ci'),
  secret: secretSchema.optional(), // absent: the body is sent unsigned
  events: eventsSchema,
};
export const smtpShape = {
  host: z.string().min(1, 'must not be empty — give the SMTP server, e.g. smtp.example.com'),
  port: z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
    z.number().int('must be a whole number from 1 to 65535').min(1, 'must be a whole number from 1 to 65535')
      .max(65535, 'must be a whole number from 1 to 65535')).default(587),
  tls: z.enum(['implicit', 'starttls', 'none'], 'must be implicit (TLS from the start, port 465), starttls (upgrade, required) or none (plain text: loopback only)')
    .default('starttls'),
  user: secretSchema.optional(),
  password: secretSchema.optional(),
};
export const emailShape = {
  from: z.string().regex(EMAIL_RE, 'must be an e-mail address, e.g. greengate@example.com'),
  to: z.array(z.string().regex(EMAIL_RE, 'must be an e-mail address, e.g. oncall@example.com')).default([]),
  blamelist: z.boolean('must be true or false').default(true),
  events: eventsSchema,
  smtp: z.strictObject(smtpShape).superRefine((s, ctx) => {
    if (!!s.user !== !!s.password) ctx.addIssue({ code: 'custom', path: [s.user ? 'password' : 'user'], message: 'user and password go together — give both or neither' });
  }),
};
export const notifyShape = {
  unitWaitSeconds: z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
    z.number().int('must be a whole number of seconds from 10 to 604800').min(10, 'must be a whole number of seconds from 10 to 604800')
      .max(604800, 'must be a whole number of seconds from 10 to 604800')).optional(), // absent: never told
  webhooks: z.array(z.strictObject(webhookShape)).max(20, 'at most 20 webhooks').optional(),
  email: z.strictObject(emailShape).optional(),
};
export const notifySchema = z.strictObject(notifyShape).optional();

/** Keys for "did you mean" under each path (config.ts merges them into its table). */
export const NOTIFY_KEYS: Record<string, string[]> = {
  notify: Object.keys(notifyShape), 'notify.webhooks': Object.keys(webhookShape), 'notify.email': Object.keys(emailShape),
  'notify.email.smtp': Object.keys(smtpShape), 'repositories.notify': Object.keys(notifyShape),
  'repositories.notify.webhooks': Object.keys(webhookShape), 'repositories.notify.email': Object.keys(emailShape),
  'repositories.notify.email.smtp': Object.keys(smtpShape),
};

/** A repository's settings: each key it gives replaces the top-level default's. */
export function notifyFor(top: NotifyConfig | undefined, repo: NotifyConfig | undefined): NotifyConfig {
  return { ...(top ?? {}), ...(repo ?? {}) };
}

/** Reads a secret now; throws GG_SECRET_UNAVAILABLE naming what is missing and the fix. */
export function readNotifySecret(what: string, source: NotifySecret, env: NodeJS.ProcessEnv = process.env): string {
  if ('value' in source) return source.value;
  if ('env' in source) {
    const v = env[source.env];
    if (v === undefined || v === '') fail('GG_SECRET_UNAVAILABLE', `${what}: environment variable ${source.env} is not set on the server — export it before starting greengate`);
    return v;
  }
  try {
    return fs.readFileSync(source.file, 'utf8').trim();
  } catch (err) {
    fail('GG_SECRET_UNAVAILABLE', `${what}: cannot read ${source.file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}) — ` +
      'create it, or make it readable by the user running greengate');
  }
}

/** Resolves secret files against the config's folder (in place) and checks every secret can be read now. */
export function checkNotifySecrets(cfg: { notify?: NotifyConfig; repositories: { notify?: NotifyConfig }[] }, baseDir: string, env: NodeJS.ProcessEnv): Found[] {
  const found: Found[] = [];
  const check = (n: NotifyConfig | undefined, at: PropertyKey[]) => {
    if (!n) return;
    const one = (holder: Record<string, unknown>, key: string, where: PropertyKey[], minLength = 1) => {
      const s = holder[key] as NotifySecret | undefined;
      if (!s) return;
      if ('file' in s) holder[key] = { file: path.resolve(baseDir, s.file) };
      try {
        const v = readNotifySecret(where.join('.'), holder[key] as NotifySecret, env);
        if (v.length < minLength) found.push({ path: [...where, Object.keys(s)[0]], message: `is shorter than ${minLength} characters — use a long random secret` });
      } catch (err) {
        found.push({ path: [...where, Object.keys(s)[0]], message: (err as Error).message.replace(/^[^:]*: /, '') });
      }
    };
    n.webhooks?.forEach((w, i) => one(w as unknown as Record<string, unknown>, 'secret', [...at, 'webhooks', i, 'secret'], MIN_WEBHOOK_SECRET_LENGTH));
    if (n.email) {
      one(n.email.smtp as unknown as Record<string, unknown>, 'user', [...at, 'email', 'smtp', 'user']);
      one(n.email.smtp as unknown as Record<string, unknown>, 'password', [...at, 'email', 'smtp', 'password']);
    }
  };
  check(cfg.notify, ['notify']);
  cfg.repositories.forEach((r, i) => check(r.notify, ['repositories', i, 'notify']));
  return found;
}
