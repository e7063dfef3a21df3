/** Admin page sessions (migration 020): hashes only; the cookie's id never reaches the database. */
import type { DB } from './db.js';

export interface SessionRow { idHash: string; tokenTag: string; createdAt: number; expiresAt: number }

export class SessionStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare('INSERT INTO admin_sessions (id_hash, token_tag, created_at, expires_at) VALUES (?, ?, ?, ?)'),
      get: db.prepare('SELECT id_hash AS idHash, token_tag AS tokenTag, created_at AS createdAt, expires_at AS expiresAt FROM admin_sessions WHERE id_hash = ?'),
      remove: db.prepare('DELETE FROM admin_sessions WHERE id_hash = ?'),
      removeExpired: db.prepare('DELETE FROM admin_sessions WHERE expires_at < ?'),
      removeAll: db.prepare('DELETE FROM admin_sessions'),
      count: db.prepare('SELECT COUNT(*) AS n FROM admin_sessions'),
    };
  }
  add(s: SessionRow): void { this.q.insert.run(s.idHash, s.tokenTag, s.createdAt, s.expiresAt); }
  get(idHash: string): SessionRow | undefined { return this.q.get.get(idHash) as SessionRow | undefined; }
  remove(idHash: string): void { this.q.remove.run(idHash); }
  removeExpired(now: number): number { return this.q.removeExpired.run(now).changes; }
  removeAll(): number { return this.q.removeAll.run().changes; }
  count(): number { return (this.q.count.get() as { n: number }).n; }
}
