/**
 * Feature flag kills and restores (migrations/030): a flag is killed while its newest event is a kill.
 * A kill's Five Whys (migrations/035, flag_whys): up to five answers attached to the kill event.
 */
import type { DB } from './db.js';

export type FlagAction = 'kill' | 'restore';
export interface FlagEventRow { id: number; repo: string; key: string; action: FlagAction; actor: string; message: string | null; at: number }
export interface FlagWhyRow { eventId: number; position: number; answer: string; author: string | null; at: number }
export interface NewFlagEvent { repoId: number; key: string; action: FlagAction; actor: string; message: string | null; at: number }

const COLUMNS = 'e.id, r.name AS repo, e.key, e.action, e.actor, e.message, e.at';

export class FlagStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      add: db.prepare(`INSERT INTO flag_events (repo_id, key, action, actor, message, at) VALUES (@repoId, @key, @action, @actor, @message, @at)`),
      killed: db.prepare(`SELECT ${COLUMNS} FROM flag_events e JOIN repositories r ON r.id = e.repo_id
        WHERE e.id IN (SELECT MAX(id) FROM flag_events GROUP BY repo_id, key) AND e.action = 'kill' ORDER BY e.id`),
      history: db.prepare(`SELECT ${COLUMNS} FROM flag_events e JOIN repositories r ON r.id = e.repo_id
        WHERE e.repo_id = ? AND e.key = ? ORDER BY e.id DESC LIMIT ?`),
      event: db.prepare(`SELECT ${COLUMNS} FROM flag_events e JOIN repositories r ON r.id = e.repo_id WHERE e.id = ?`),
      whys: db.prepare('SELECT event_id AS eventId, position, answer, author, at FROM flag_whys WHERE event_id = ? ORDER BY position'),
      setWhy: db.prepare(`INSERT INTO flag_whys (event_id, position, answer, author, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (event_id, position) DO UPDATE SET answer = excluded.answer, author = excluded.author, at = excluded.at`),
    };
  }

  add(e: NewFlagEvent): number {
    return Number(this.q.add.run(e).lastInsertRowid);
  }

  /** Every flag killed now (its newest event is a kill), across repositories. */
  killed(): FlagEventRow[] {
    return this.q.killed.all() as FlagEventRow[];
  }

  /** A flag's kills and restores, newest first. */
  history(repoId: number, key: string, limit = 100): FlagEventRow[] {
    return this.q.history.all(repoId, key, limit) as FlagEventRow[];
  }

  event(id: number): FlagEventRow | undefined {
    return this.q.event.get(id) as FlagEventRow | undefined;
  }

  /** The Five Whys written for a kill event, by position. */
  whys(eventId: number): FlagWhyRow[] {
    return this.q.whys.all(eventId) as FlagWhyRow[];
  }

  saveWhys(eventId: number, answers: readonly string[], author: string | null, at: number): void {
    this.db.transaction(() => answers.forEach((a, i) => this.q.setWhy.run(eventId, i + 1, a, author, at)))();
  }
}
