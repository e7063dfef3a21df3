/** Runners that have registered, by name. */
import type { DB } from './db.js';

export interface RunnerRow {
  id: number; name: string; slots: number; version: string; connected: number; address: string | null;
  firstSeen: number; lastSeen: number; labels: Record<string, string>;
  /** The machine's CPUs as the runner said (null: an older runner; migration 017). */
  cpus: number | null;
}
const COLUMNS = 'id, name, slots, version, connected, address, first_seen AS firstSeen, last_seen AS lastSeen, labels, cpus';

export class RunnerStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      upsert: db.prepare(`INSERT INTO runners (name, slots, version, connected, address, first_seen, last_seen, labels, cpus)
        VALUES (@name, @slots, @version, 1, @address, @at, @at, @labels, @cpus)
        ON CONFLICT (name) DO UPDATE SET slots = excluded.slots, version = excluded.version, connected = 1,
          address = excluded.address, last_seen = excluded.last_seen, labels = excluded.labels, cpus = excluded.cpus RETURNING id`),
      disconnect: db.prepare('UPDATE runners SET connected = 0, last_seen = ? WHERE id = ?'),
      disconnectAll: db.prepare('UPDATE runners SET connected = 0 WHERE connected = 1'),
      touch: db.prepare('UPDATE runners SET last_seen = ? WHERE id = ?'),
      all: db.prepare(`SELECT ${COLUMNS} FROM runners ORDER BY connected DESC, name`),
    };
  }
  register(r: { name: string; slots: number; version: string; address: string | null; at: number; labels?: Readonly<Record<string, string>>;
    cpus?: number | null }): number {
    // all(), not get(): get() resets the statement after its first row and better-sqlite3 ignores an
    // error of that reset, which is when an autocommit write commits: a full disk would lose the
    // row silently and return an id that was never stored.
    return (this.q.upsert.all({ ...r, labels: JSON.stringify(r.labels ?? {}), cpus: r.cpus ?? null })[0] as { id: number }).id;
  }
  markDisconnected(id: number, at: number): void { this.q.disconnect.run(at, id); }
  markAllDisconnected(): void { this.q.disconnectAll.run(); }
  touch(id: number, at: number): void { this.q.touch.run(at, id); }
  all(): RunnerRow[] {
    return (this.q.all.all() as (Omit<RunnerRow, 'labels'> & { labels: string })[]).map((r) => ({ ...r, labels: parseLabels(r.labels) }));
  }
}

function parseLabels(text: string): Record<string, string> {
  try {
    const v: unknown = JSON.parse(text);
    return v && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, string> : {};
  } catch {
    return {};
  }
}
