/**
 * The e-mail channel: `notify.email: { from, to, blamelist, events?, smtp }`. A kind its `events:`
 * take is mailed to every configured address in `to`, and, when `blamelist` is on, to the people
 * the event concerns (a closure's blamelist authors, a culprit's author — addresses written by
 * whoever made the commit). One address rule (`mailAddressProblem`) is applied to both: the
 * configured ones at config load (a config error names the key, e.g. `notify.email.to[0]`), so
 * a configured address is never dropped later; a person's address that fails it is refused by
 * `targets` with the reason (the outbox logs it). One mail per person per push: a build's
 * build.failed / build.fixed is not mailed to an address its tree.closed / tree.reopened was (outbox `with`). Targets are shown as `a…@example.com`; the SMTP
 * password is redacted from what units report.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { Mailer } from '../mail.js';
import { eventsSchema, permanentFailure, takes, type Channel, type Targets } from './channel.js';
import { secretSchema, type NotifySecret } from './secret.js';
import type { NotificationKind } from '../kinds.js';

export interface SmtpConfig { host: string; port: number; tls: 'implicit' | 'starttls' | 'none'; user?: NotifySecret; password?: NotifySecret }
export interface EmailConfig { from: string; to: string[]; blamelist: boolean; events?: NotificationKind[]; smtp: SmtpConfig }

export const MAX_MAIL_RECIPIENTS = 50;
export const SMTP_IN_FLIGHT = 4; // mails at once (the mailer keeps as many connections per SMTP server)

/**
 * Why `address` is not one greengate mails, or null when it is: `local@domain`, no spaces or
 * `<>",;` anywhere, a domain without empty labels. A domain without a dot (`ops@localhost`, a
 * local mail system's) is an address: the SMTP server decides where it goes.
 */
export function mailAddressProblem(address: string): string | null {
  const at = address.lastIndexOf('@');
  if (at <= 0 || at === address.length - 1) return 'has no @ with something before and after it';
  if (/[\s<>",;@]/.test(address.slice(0, at))) return 'has a space or one of <>",;@ before its @';
  const domain = address.slice(at + 1);
  if (/[\s<>",;:()[\]\\]/.test(domain)) return 'has a space or one of <>",;:()[]\\ in its domain';
  if (domain.split('.').some((label) => label === '')) return 'has an empty part in its domain (a leading, trailing or double dot)';
  return null;
}
const address = (example: string) => z.string().superRefine((a, ctx) => {
  const problem = mailAddressProblem(a);
  if (problem) ctx.addIssue({ code: 'custom', message: `must be an e-mail address, e.g. ${example} — ${JSON.stringify(a)} ${problem}` });
});

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
  from: address('greengate@example.com'),
  to: z.array(address('oncall@example.com')).default([]),
  blamelist: z.boolean('must be true or false').default(true),
  events: eventsSchema,
  smtp: z.strictObject(smtpShape).superRefine((s, ctx) => {
    if (!!s.user !== !!s.password) ctx.addIssue({ code: 'custom', path: [s.user ? 'password' : 'user'], message: 'user and password go together — give both or neither' });
  }),
};

export const emailChannel: Channel<EmailConfig> = {
  name: 'email',
  key: 'email',
  schema: z.strictObject(emailShape),
  keys: { '': Object.keys(emailShape), smtp: Object.keys(smtpShape) },
  maxInFlight: SMTP_IN_FLIGHT,
  oncePerRecipient: true, // a build's build.failed/fixed is not mailed to whom its tree.closed/reopened was
  targets(email, kind, people): Targets {
    const out: Targets = { targets: [], refused: [] };
    if (!takes(email.events, kind)) return out;
    const seen = new Set<string>();
    const add = (a: string | null | undefined) => {
      const t = a?.trim();
      if (!t || seen.has(t.toLowerCase())) return;
      seen.add(t.toLowerCase());
      const problem = mailAddressProblem(t);
      if (problem) out.refused.push({ target: t, reason: `not an e-mail address: it ${problem}` });
      else if (out.targets.length >= MAX_MAIL_RECIPIENTS) out.refused.push({ target: t, reason: `more than ${MAX_MAIL_RECIPIENTS} recipients for one notification` });
      else out.targets.push(t);
    };
    email.to.forEach(add);
    if (email.blamelist) people.forEach(add);
    return out;
  },
  connect(log: Logger) {
    const mailer = new Mailer((err) => log.warn({ err: err.message }, 'an SMTP connection failed between mails'));
    return {
      async send(d) {
        if (!d.settings) throw permanentFailure('e-mail is no longer in the notify: settings');
        await mailer.send({ email: d.settings, to: d.target, subject: `[greengate] ${d.payload.text.split('\n')[0]}`,
          text: d.payload.text, kind: d.kind, deliveryKey: d.deliveryKey });
      },
      close: () => mailer.close(),
    };
  },
  mask(target) {
    const at = target.lastIndexOf('@');
    return at > 0 ? `${target[0]}…${target.slice(at)}` : '…';
  },
  credentials: (email) => [email.smtp.password],
  secrets: (email) => [
    { holder: email.smtp as unknown as Record<string, unknown>, key: 'user', path: ['smtp', 'user'] },
    { holder: email.smtp as unknown as Record<string, unknown>, key: 'password', path: ['smtp', 'password'] },
  ],
};
