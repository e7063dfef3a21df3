/**
 * The channel registry: every way greengate tells people, in the order their deliveries are
 * stored. The outbox (who gets what), the sender (how it is sent), the config (`notify:` keys) and
 * the notifications API and pages (masking) iterate over this list; nothing else names a channel.
 * Adding a channel: write notify/channels/<name>.ts exporting a `Channel` (channel.ts) and its
 * test, and add it here (docs/architecture.md, "where to add a notifier").
 */
import type { NotifyConfig } from '../../config/notify.js';
import type { Channel } from './channel.js';
import { emailChannel } from './email.js';
import { webhookChannel } from './webhook.js';

export type { Channel } from './channel.js';

export const CHANNELS: readonly Channel[] = [webhookChannel, emailChannel];

/** The channel a delivery was stored for, or undefined (a channel removed since). */
export function channelNamed(name: string, channels: readonly Channel[] = CHANNELS): Channel | undefined {
  return channels.find((c) => c.name === name);
}

/** A channel's settings in a `notify:` object (absent: the channel is not configured there). */
export function settingsOf<C>(channel: Channel<C>, notify: object): C | undefined {
  return (notify as Record<string, unknown>)[channel.key] as C | undefined;
}

/** A repository's settings: each key it gives replaces the top-level default's. */
export function notifyFor(top: NotifyConfig | undefined, repo: NotifyConfig | undefined): NotifyConfig {
  return { ...(top ?? {}), ...(repo ?? {}) };
}
