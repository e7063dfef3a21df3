/**
 * The sender: delivers the outbox's pending deliveries, each on its own (one failing receiver
 * never holds up another), at most its channel's `maxInFlight` at once.
 *
 * - Nothing lost: a delivery stays `pending` in SQLite until it succeeded; at start-up every
 *   pending one is due, so what a crash interrupted is sent again.
 * - Not twice: a success is marked `sent` in SQLite right after it; a delivery is in flight at most
 *   once in this process. Only a crash between a success and its mark resends it — with the same
 *   delivery key (X-Greengate-Delivery, the mail's Message-ID), so the receiver can drop it.
 *   When the mark itself cannot be written (storage fault), it is retried before anything is sent.
 *   At most each channel's `maxInFlight` at once (slow mail never holds up webhooks).
 * - Retries: exponential backoff from BACKOFF_BASE_MS, doubling up to BACKOFF_MAX_MS, with ±10 %
 *   jitter; after MAX_ATTEMPTS the delivery is `failed` (the log shows why).
 * Channel settings (URL secret, SMTP) are read from the live configuration when sending: a
 * delivery whose webhook or e-mail settings were removed meanwhile fails at once. Each channel
 * (notify/channels/) sends its own deliveries; a delivery of a channel no longer in the registry fails.
 */
import type { Logger } from 'pino';
import type { Store } from '../store/index.js';
import type { DueDelivery } from '../store/notifications.js';
import type { Outbox } from './outbox.js';
import { channelNamed, settingsOf, type Channel } from './channels/index.js';
import { permanentFailure, type ChannelSender } from './channels/channel.js';

export const BACKOFF_BASE_MS = 1_000; // 1 second after the first failure
export const BACKOFF_MAX_MS = 10 * 60_000; // 10 minutes at most between attempts
export const MAX_ATTEMPTS = 15; // about 1.5 hours of trying
export const DUE_BATCH = 64; // due deliveries read per look
export const IDLE_POLL_MS = 5_000; // looks again this often even when not woken

/** The wait after the n-th failed attempt (n ≥ 1), before jitter. */
export function backoffMs(failures: number, base = BACKOFF_BASE_MS, max = BACKOFF_MAX_MS): number {
  return Math.min(max, base * 2 ** Math.max(0, failures - 1));
}

export class NotificationSender {
  private readonly inFlight = new Map<number, DueDelivery['channel']>();
  private readonly unmarked = new Map<number, number>(); // delivered, its mark not yet written: id → when
  private timer: NodeJS.Timeout | null = null;
  private stopped = true;
  private readonly senders = new Map<string, ChannelSender<unknown>>();
  /** Every finished attempt, for the benchmark and the tests' diagnostics. */
  onAttempt: (d: DueDelivery, ok: boolean, error: string | null) => void = () => undefined;

  constructor(
    private readonly store: Store,
    private readonly outbox: Outbox,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Looks for due deliveries soon (after the current transaction, which may have stored one). */
  wake(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const deadline = Date.now() + 2_000;
    while (this.inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.senders.values()) s.close();
    this.senders.clear();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => { this.timer = null; this.tick(); }, Math.max(0, ms));
    this.timer.unref();
  }

  private tick(now = Date.now()): void {
    try {
      for (const [id, at] of this.unmarked) {
        this.store.notifications.markSent(id, at);
        this.unmarked.delete(id);
      }
      const busy = new Map<string, number>(this.outbox.channels.map((c) => [c.name, 0]));
      for (const c of this.inFlight.values()) busy.set(c, (busy.get(c) ?? 0) + 1);
      const limit = (name: string) => channelNamed(name, this.outbox.channels)?.maxInFlight ?? 1;
      if ([...busy].some(([name, n]) => n < limit(name))) {
        for (const d of this.store.notifications.due(now, DUE_BATCH)) {
          const n = busy.get(d.channel) ?? 0;
          if (n >= limit(d.channel) || this.inFlight.has(d.id) || this.unmarked.has(d.id)) continue;
          busy.set(d.channel, n + 1);
          this.inFlight.set(d.id, d.channel);
          void this.deliver(d);
        }
      }
      const next = this.store.notifications.nextDue();
      this.schedule(next === null ? IDLE_POLL_MS : Math.min(IDLE_POLL_MS, next - Date.now()));
    } catch (err) {
      this.log.warn({ err }, 'notification sender could not read or mark the outbox; trying again');
      this.schedule(IDLE_POLL_MS);
    }
  }

  private async deliver(d: DueDelivery): Promise<void> {
    let error: string | null = null;
    let permanent = false;
    try {
      await this.send(d);
    } catch (err) {
      error = (err as Error).message;
      permanent = (err as { permanent?: boolean }).permanent === true;
    }
    try {
      const now = Date.now();
      if (error === null) {
        this.unmarked.set(d.id, now);
        this.store.notifications.markSent(d.id, now);
        this.unmarked.delete(d.id);
        this.log.info({ delivery: d.id, kind: d.kind, channel: d.channel, attempt: d.attempts + 1 }, 'notification delivered');
      } else if (permanent || d.attempts + 1 >= MAX_ATTEMPTS) {
        this.store.notifications.markFailed(d.id, error);
        this.log.warn({ delivery: d.id, kind: d.kind, channel: d.channel, attempts: d.attempts + 1, error }, 'notification given up');
      } else {
        const wait = backoffMs(d.attempts + 1) * (0.9 + Math.random() * 0.2);
        this.store.notifications.markRetry(d.id, now + Math.round(wait), error);
        this.log.info({ delivery: d.id, kind: d.kind, channel: d.channel, attempt: d.attempts + 1, retryInMs: Math.round(wait), error },
          'notification failed; will retry');
      }
    } catch (err) {
      this.log.warn({ err, delivery: d.id }, 'could not record a notification attempt');
    } finally {
      this.inFlight.delete(d.id);
      this.onAttempt(d, error === null, error);
      this.schedule(0);
    }
  }

  private async send(d: DueDelivery): Promise<void> {
    const channel = channelNamed(d.channel, this.outbox.channels);
    if (!channel) throw permanentFailure(`greengate has no ${d.channel} channel any more`);
    const settings = settingsOf(channel, this.outbox.settingsFor(d.repo)) ?? null;
    await this.senderOf(channel).send({ settings, target: d.target, kind: d.kind, deliveryKey: d.deliveryKey,
      payload: JSON.parse(d.payload) as { text: string } & Record<string, unknown>, repo: d.repo, branch: d.branch, createdAt: d.createdAt });
  }

  private senderOf(channel: Channel): ChannelSender<unknown> {
    let s = this.senders.get(channel.name);
    if (!s) {
      s = channel.connect(this.log);
      this.senders.set(channel.name, s);
    }
    return s;
  }
}
