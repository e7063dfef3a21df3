/**
 * The outbox: the one way anything in the server tells people about an event. `enqueue` stores a
 * notification and one delivery per channel and recipient in SQLite, synchronously, inside the
 * caller's transaction when there is one (server/pipeline.ts's writer lists), so a
 * notification exists exactly when its event committed. It never sends: the sender
 * (sender.ts) delivers pending rows after the commit, also after a restart.
 *
 * Who gets it is decided here, from the live configuration: the repository's `notify:` (each key
 * replacing the top level's), or the top level's for server events (repo null). Webhooks and the
 * configured addresses take the kinds their `events:` lists (absent: every kind); the people named
 * in `recipients.emails` (a closure's blamelist authors, a culprit's author) are mailed when
 * `email.blamelist` is on. One event is stored once: `key` names it (a second enqueue with the same
 * key does nothing and returns null). Without any channel for it, nothing is stored.
 *
 * Public for other modules (culprit finding, auto revert, deploys): `enqueue(kind, payload, recipients)`.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { notifyFor, type NotificationKind, type NotifyConfig } from '../config/notify.js';
import type { Store } from '../store/index.js';
import type { NewDelivery } from '../store/notifications.js';

export type { NotificationKind } from '../config/notify.js';

/** What a notification says. `text` is Slack-compatible (the webhook body's `text`, the mail's body); its first line is the summary. */
export interface NotificationPayload { text: string; repo?: string | null; branch?: string | null; [field: string]: unknown }
export interface Recipients {
  /** Whose `notify:` settings apply (absent or null: the top level's). */
  repo?: string | null;
  /** People concerned (e-mail addresses), mailed when `email.blamelist` is on. */
  emails?: readonly (string | null | undefined)[];
}
export interface EnqueueOptions {
  /** Names the event: a second enqueue with the same key is ignored (absent: every call is a new event). */
  key?: string;
  at?: number;
}

export const MAX_MAIL_RECIPIENTS = 50;
export const MAX_TEXT_CHARS = 8000;
const EMAIL_RE = /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/;

export class Outbox {
  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly log: Logger,
    /** Told after an enqueue stored something, once the caller's transaction committed (store.afterCommit): the sender wakes up. */
    private readonly onEnqueued: () => void = () => undefined,
  ) {}

  /** Stores a notification for its channels; returns its id, or null when nobody takes it or the key was stored before. */
  enqueue(kind: NotificationKind, payload: NotificationPayload, recipients: Recipients = {}, opts: EnqueueOptions = {}): number | null {
    const repoName = recipients.repo ?? null;
    const repoRow = repoName ? this.store.repos.byName(repoName) : undefined;
    const settings = this.settingsFor(repoName);
    const deliveries = this.deliveriesFor(kind, settings, recipients.emails ?? []);
    if (deliveries.length === 0) return null;
    const text = payload.text.length > MAX_TEXT_CHARS ? `${payload.text.slice(0, MAX_TEXT_CHARS)}…` : payload.text;
    const at = opts.at ?? Date.now();
    const id = this.store.notifications.add({
      repoId: repoRow?.id ?? null, branch: typeof payload.branch === 'string' ? payload.branch : null, kind,
      eventKey: opts.key ?? `${kind}:${randomUUID()}`, summary: text.split('\n')[0].slice(0, 300),
      payload: { ...payload, text, repo: repoName }, at,
    }, deliveries);
    if (id !== null) {
      this.log.info({ kind, repo: repoName, notification: id, deliveries: deliveries.length }, 'notification stored');
      this.store.afterCommit(() => this.onEnqueued());
    }
    return id;
  }

  /** The settings that apply to a repository's events (null: the top level's). */
  settingsFor(repoName: string | null): NotifyConfig {
    const repo = repoName ? this.config.repositories.find((r) => r.name === repoName) : undefined;
    return notifyFor(this.config.notify, repo?.notify);
  }

  private deliveriesFor(kind: NotificationKind, n: NotifyConfig, people: readonly (string | null | undefined)[]): NewDelivery[] {
    const takes = (events?: readonly string[]) => !events || events.includes(kind);
    const out: NewDelivery[] = [];
    for (const w of n.webhooks ?? []) {
      if (takes(w.events) && !out.some((d) => d.target === w.url)) out.push({ channel: 'webhook', target: w.url, deliveryKey: randomUUID() });
    }
    if (n.email && takes(n.email.events)) {
      const addresses = new Map<string, string>();
      const add = (a: string | null | undefined) => {
        const t = a?.trim();
        if (t && EMAIL_RE.test(t) && !addresses.has(t.toLowerCase())) addresses.set(t.toLowerCase(), t);
      };
      n.email.to.forEach(add);
      if (n.email.blamelist) people.forEach(add);
      for (const a of [...addresses.values()].slice(0, MAX_MAIL_RECIPIENTS)) out.push({ channel: 'email', target: a, deliveryKey: randomUUID() });
    }
    return out;
  }
}
