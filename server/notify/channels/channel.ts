/**
 * What a notification channel is (a plug-in): everything the outbox, the sender, the config and the
 * notifications API/pages need to know about one way of telling people, in one module
 * (notify/channels/<name>.ts), listed once in notify/channels/index.ts.
 *
 * - `name`: stored with each delivery (`notification_deliveries.channel`); never renamed.
 * - `key` and `schema`: its part of `notify:` in greengate.yml (validated at config load, where
 *   every target is checked, so nothing configured is dropped later); `keys`: "did you mean"
 *   tables for its nested objects ('' is the channel's own object).
 * - `targets(settings, kind, people)`: who gets a notification of `kind` (the configured targets
 *   whose `events:` take it, plus `people` when the channel reaches people); what it will not
 *   deliver is returned in `refused` with the reason (the outbox logs it: never dropped silently).
 * - `connect(log)`: a sender for deliveries (keeps connections; `close` ends them). `send` throws
 *   on failure; an Error with `permanent: true` is not retried.
 * - `oncePerRecipient`: people read it — a build's build.failed/fixed is not sent to a target its
 *   tree.closed/reopened already has (webhooks leave it off: a machine subscribes to kinds).
 * - `mask(target)`: what of a target may be shown on public pages and logs.
 * - `credentials(settings)`: the values a unit must never echo (redacted from its report).
 * - `secrets(settings)`: the secrets to check readable at config load (`holder[key]`, so a file's
 *   path can be resolved in place).
 * Contract for a sender: it never puts a target's secret parts in an error message.
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { NOTIFICATION_KINDS, type NotificationKind } from '../kinds.js';
import type { NotifySecret } from './secret.js';

/** One delivery handed to a channel's sender. `settings` is null when the channel left the live configuration. */
export interface ChannelDelivery<C> {
  settings: C | null; target: string; kind: NotificationKind | string; deliveryKey: string;
  payload: { text: string } & Record<string, unknown>; repo: string | null; branch: string | null; createdAt: number;
}
export interface ChannelSender<C> { send(d: ChannelDelivery<C>): Promise<void>; close(): void }
export interface Targets { targets: string[]; refused: { target: string; reason: string }[] }
export interface SecretRef { holder: Record<string, unknown>; key: string; path: (string | number)[]; minLength?: number }

export interface Channel<C = unknown> {
  readonly name: string;
  readonly key: string;
  readonly schema: z.ZodType<C>;
  readonly keys: Record<string, string[]>;
  /** At most this many deliveries of this channel at once (slow mail never holds up webhooks). */
  readonly maxInFlight: number;
  /** Reaches people: a notification that goes with another (outbox `with`) is not sent to a target that one has. */
  readonly oncePerRecipient?: boolean;
  targets(settings: C, kind: NotificationKind, people: readonly (string | null | undefined)[]): Targets;
  connect(log: Logger): ChannelSender<C>;
  mask(target: string): string;
  credentials(settings: C): (string | NotifySecret | undefined)[];
  secrets(settings: C): SecretRef[];
}

/** A failure no retry can mend (the channel left the configuration): the delivery fails at once. */
export function permanentFailure(message: string): Error {
  return Object.assign(new Error(message), { permanent: true });
}

/** An `events:` list (absent: every kind) takes this kind. */
export function takes(events: readonly string[] | undefined, kind: NotificationKind): boolean {
  return !events || events.includes(kind);
}

/** A channel's optional `events:` list: the kinds it takes (absent: every kind). */
export const eventsSchema = z.array(z.enum(NOTIFICATION_KINDS, `must be one of ${NOTIFICATION_KINDS.join(', ')}`))
  .min(1, 'must list at least one event — or remove events: to take every event').optional();
