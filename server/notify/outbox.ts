/**
 * The outbox: the one way anything in the server tells people about an event. `enqueue` stores a
 * notification and one delivery per channel and recipient in SQLite, synchronously, inside the
 * caller's transaction when there is one (server/pipeline.ts's writer lists), so a
 * notification exists exactly when its event committed. It never sends: the sender
 * (sender.ts) delivers pending rows after the commit, also after a restart.
 *
 * Who gets it is decided here, from the live configuration: the repository's `notify:` (each key
 * replacing the top level's), or the top level's for server events (repo null), by each channel
 * of the registry (notify/channels/): its `targets` for the kind — the configured ones whose
 * `events:` take it, and the people named in `recipients.emails` (a closure's blamelist authors, a
 * culprit's author) when the e-mail channel's `blamelist` is on. One message per person per event: with
 * `opts.with` (the key of the notification this one goes with, e.g. a build's tree.closed for its
 * build.failed), a channel marked `oncePerRecipient` (e-mail) leaves out the targets that one already has.
 * A recipient a channel refuses (a
 * person's malformed address) is logged with the reason, masked — never dropped silently. One event is stored once: `key` names it (a second enqueue with the same
 * key does nothing and returns null). Without any channel for it, nothing is stored.
 *
 * Public for other modules (culprit finding, auto revert, deploys): `enqueue(kind, payload, recipients)`,
 * `payload` typed per kind (notify/kinds.ts: the one vocabulary).
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { NotifyConfig } from '../config/notify.js';
import type { Store } from '../store/index.js';
import type { NewDelivery } from '../store/notifications.js';
import { CHANNELS, notifyFor, settingsOf, type Channel } from './channels/index.js';
import type { BasePayload, NotificationKind, NotificationPayloads } from './kinds.js';

export type { NotificationKind, NotificationPayloads } from './kinds.js';
export { MAX_MAIL_RECIPIENTS } from './channels/email.js';

/** What a notification says. `text` is Slack-compatible (the webhook body's `text`, the mail's body); its first line is the summary. */
export type NotificationPayload = BasePayload;
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
  /**
   * The event key of a notification this one goes with (a build's tree.closed for its build.failed): on a
   * channel that tells each person once (`oncePerRecipient`: e-mail), a target that one has is left out.
   */
  with?: string | null;
}

export const MAX_TEXT_CHARS = 8000;

export class Outbox {
  constructor(
    private readonly store: Store,
    private readonly config: Readonly<Config>,
    private readonly log: Logger,
    /** Told after an enqueue stored something, once the caller's transaction committed (store.afterCommit): the sender wakes up. */
    private readonly onEnqueued: () => void = () => undefined,
    /** The channels (notify/channels/index.ts; a test may add its own). */
    readonly channels: readonly Channel[] = CHANNELS,
  ) {}

  /** Stores a notification for its channels; returns its id, or null when nobody takes it or the key was stored before. */
  enqueue<K extends NotificationKind>(kind: K, payload: NotificationPayloads[K], recipients: Recipients = {}, opts: EnqueueOptions = {}): number | null {
    const repoName = recipients.repo ?? null;
    const repoRow = repoName ? this.store.repos.byName(repoName) : undefined;
    const settings = this.settingsFor(repoName);
    const deliveries = this.deliveriesFor(kind, settings, recipients.emails ?? [], opts.with ?? null);
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

  private deliveriesFor(kind: NotificationKind, n: NotifyConfig, people: readonly (string | null | undefined)[], withKey: string | null): NewDelivery[] {
    const out: NewDelivery[] = [];
    for (const c of this.channels) {
      const settings = settingsOf(c, n);
      if (settings === undefined) continue;
      const { targets, refused } = c.targets(settings, kind, people);
      const told = new Set(c.oncePerRecipient && withKey ? this.store.notifications.targetsOf(withKey, c.name).map((t) => t.toLowerCase()) : []);
      for (const target of targets) if (!told.has(target.toLowerCase())) out.push({ channel: c.name, target, deliveryKey: randomUUID() });
      for (const r of refused) this.log.warn({ kind, channel: c.name, target: c.mask(r.target), reason: r.reason }, 'a recipient was not notified');
    }
    return out;
  }
}
