/**
 * Alertmanager's alerts (migrations/018_immune_records.sql), one row per (fingerprint, startsAt):
 * the key that makes a replayed or re-sent message a no-op. The rules (what a message changes,
 * which alerts a watch counts) are server/immune/alerts.ts's; this module only stores and reads.
 */
import type { DB } from './db.js';

export interface AlertRow {
  fingerprint: string; startsAt: number; name: string; labels: string; summary: string | null; endsAt: number | null; receivedAt: number;
}
const COLUMNS = 'fingerprint, starts_at AS startsAt, name, labels, summary, ends_at AS endsAt, received_at AS receivedAt';

export class AlertStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO alerts (fingerprint, starts_at, name, labels, summary, ends_at, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (fingerprint, starts_at) DO NOTHING`),
      resolve: db.prepare('UPDATE alerts SET ends_at = ? WHERE fingerprint = ? AND starts_at = ? AND ends_at IS NULL'),
      startedSince: db.prepare(`SELECT ${COLUMNS} FROM alerts WHERE starts_at >= ? ORDER BY starts_at`),
      count: db.prepare('SELECT count(*) AS n FROM alerts'),
      pruneEnded: db.prepare('DELETE FROM alerts WHERE coalesce(ends_at, received_at) < ?'),
      pruneOldest: db.prepare(`DELETE FROM alerts WHERE (fingerprint, starts_at) IN
        (SELECT fingerprint, starts_at FROM alerts ORDER BY received_at LIMIT ?)`),
    };
  }

  /** A new (fingerprint, startsAt): true; one already stored: false and nothing changes. */
  insert(a: Omit<AlertRow, 'receivedAt'>, at: number): boolean {
    return this.q.insert.run(a.fingerprint, a.startsAt, a.name, a.labels, a.summary, a.endsAt, at).changes > 0;
  }
  /** Marks a firing alert resolved; false when it was not firing (unknown or resolved already). */
  resolve(fingerprint: string, startsAt: number, endsAt: number): boolean {
    return this.q.resolve.run(endsAt, fingerprint, startsAt).changes > 0;
  }
  startedSince(since: number): AlertRow[] { return this.q.startedSince.all(since) as AlertRow[]; }
  count(): number { return (this.q.count.get() as { n: number }).n; }
  /** Forgets alerts that ended (or, still firing, were last heard of) before `before`, then the oldest over `max`. */
  prune(before: number, max: number): void {
    this.q.pruneEnded.run(before);
    const over = this.count() - max;
    if (over > 0) this.q.pruneOldest.run(over);
  }
}
