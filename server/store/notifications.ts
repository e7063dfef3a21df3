/** The notifications outbox and its deliveries (server/notify/). */
import type { DB } from './db.js';

export type DeliveryState = 'pending' | 'sent' | 'failed';
/** A channel's name (notify/channels/: webhook, email, …). */
export type Channel = string;
export interface NewNotification {
  repoId: number | null; branch: string | null; kind: string; eventKey: string; summary: string; payload: unknown; at: number;
}
export interface NewDelivery { channel: Channel; target: string; deliveryKey: string }
export interface DueDelivery {
  id: number; notificationId: number; channel: Channel; target: string; deliveryKey: string; attempts: number;
  kind: string; repo: string | null; branch: string | null; payload: string; createdAt: number;
}
export interface DeliveryLogRow {
  id: number; notificationId: number; kind: string; repo: string | null; branch: string | null; summary: string;
  channel: Channel; target: string; state: DeliveryState; attempts: number; lastError: string | null;
  createdAt: number; sentAt: number | null; nextAt: number;
}
export interface WaitingBuild { buildId: number; repo: string; branch: string; builder: string; units: number; since: number }

export class NotificationStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO notifications (repo_id, branch, kind, event_key, summary, payload, created_at)
        VALUES (@repoId, @branch, @kind, @eventKey, @summary, @payload, @at) ON CONFLICT (event_key) DO NOTHING`),
      addDelivery: db.prepare(`INSERT INTO notification_deliveries (notification_id, channel, target, delivery_key, state, next_at)
        VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING`),
      due: db.prepare(`SELECT d.id, d.notification_id AS notificationId, d.channel, d.target, d.delivery_key AS deliveryKey,
        d.attempts, n.kind, r.name AS repo, n.branch, n.payload, n.created_at AS createdAt
        FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id LEFT JOIN repositories r ON r.id = n.repo_id
        WHERE d.state = 'pending' AND d.next_at <= ? ORDER BY d.next_at, d.id LIMIT ?`),
      nextDue: db.prepare(`SELECT min(next_at) AS at FROM notification_deliveries WHERE state = 'pending'`),
      sent: db.prepare(`UPDATE notification_deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = NULL
        WHERE id = ? AND state = 'pending'`),
      retry: db.prepare(`UPDATE notification_deliveries SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ? AND state = 'pending'`),
      failed: db.prepare(`UPDATE notification_deliveries SET state = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ? AND state = 'pending'`),
      log: db.prepare(`SELECT d.id, d.notification_id AS notificationId, n.kind, r.name AS repo, n.branch, n.summary, d.channel, d.target,
        d.state, d.attempts, d.last_error AS lastError, n.created_at AS createdAt, d.sent_at AS sentAt, d.next_at AS nextAt
        FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id LEFT JOIN repositories r ON r.id = n.repo_id
        WHERE (@repoId IS NULL OR n.repo_id = @repoId) AND (@before IS NULL OR d.id < @before) ORDER BY d.id DESC LIMIT @limit`),
      waiting: db.prepare(`SELECT b.id AS buildId, r.name AS repo, b.branch, b.builder, count(*) AS units, min(u.queued_at) AS since
        FROM units u JOIN builds b ON b.id = u.build_id JOIN repositories r ON r.id = b.repo_id
        WHERE u.state = 'queued' AND u.queued_at <= ? GROUP BY b.id ORDER BY b.id LIMIT 100`),
      countByState: db.prepare('SELECT count(*) AS n FROM notification_deliveries WHERE state = ?'),
      hasKey: db.prepare('SELECT 1 FROM notifications WHERE event_key = ?'),
      targetsOf: db.prepare(`SELECT d.target FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
        WHERE n.event_key = ? AND d.channel = ?`),
      treeNotice: db.prepare(`SELECT event_key AS key FROM (SELECT event_key, kind, payload FROM notifications WHERE repo_id = ? ORDER BY id DESC LIMIT 20)
        WHERE kind IN ('tree.closed', 'tree.reopened') AND json_extract(payload, '$.build.id') = ? LIMIT 1`),
    };
  }

  /** Stores a notification and its deliveries; null when this event was already stored (its key). */
  add(n: NewNotification, deliveries: readonly NewDelivery[]): number | null {
    return this.db.transaction(() => {
      const r = this.q.insert.run({ ...n, payload: JSON.stringify(n.payload) });
      if (r.changes === 0) return null;
      const id = Number(r.lastInsertRowid);
      for (const d of deliveries) this.q.addDelivery.run(id, d.channel, d.target, d.deliveryKey, n.at);
      return id;
    })();
  }

  count(state: DeliveryState): number { return (this.q.countByState.get(state) as { n: number }).n; }
  has(eventKey: string): boolean { return this.q.hasKey.get(eventKey) !== undefined; }
  /** The targets a stored notification (by its event key) has on a channel. */
  targetsOf(eventKey: string, channel: Channel): string[] {
    return (this.q.targetsOf.all(eventKey, channel) as { target: string }[]).map((r) => r.target);
  }
  /** The event key of the tree.closed / tree.reopened notification a build caused (among its repository's newest), or null. */
  treeNoticeOf(repoId: number, buildId: number): string | null {
    return (this.q.treeNotice.get(repoId, buildId) as { key: string } | undefined)?.key ?? null;
  }
  due(now: number, limit: number): DueDelivery[] { return this.q.due.all(now, limit) as DueDelivery[]; }
  /** When the next pending delivery is due, or null when none is pending. */
  nextDue(): number | null { return (this.q.nextDue.get() as { at: number | null }).at; }
  markSent(id: number, at: number): boolean { return this.q.sent.run(at, id).changes > 0; }
  markRetry(id: number, nextAt: number, error: string): void { this.q.retry.run(nextAt, error.slice(0, 1000), id); }
  markFailed(id: number, error: string): void { this.q.failed.run(error.slice(0, 1000), id); }
  log(q: { repoId?: number; before?: number; limit: number }): DeliveryLogRow[] {
    return this.q.log.all({ repoId: q.repoId ?? null, before: q.before ?? null, limit: q.limit }) as DeliveryLogRow[];
  }
  /** Builds with units queued since `before` or earlier (oldest unit's queue time), oldest build first. */
  waitingSince(before: number): WaitingBuild[] { return this.q.waiting.all(before) as WaitingBuild[]; }
}
