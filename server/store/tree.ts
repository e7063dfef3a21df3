/** Tree state per (repository, gated branch) and its history: every change and every pass-through. */
import type { DB } from './db.js';

export type TreeStateName = 'open' | 'closed' | 'maintenance';
/** Who closed a tree (migrations/022): the tree rule for a red build, a person, or the immune system; null while open. */
export type TreeCloser = 'build' | 'person' | 'immune';
export interface TreeStateRow {
  state: TreeStateName; automatic: number; reason: string | null; message: string | null; actor: string | null;
  buildId: number | null; since: number; closedBy: TreeCloser | null;
}
export interface TreeEventRow {
  id: number; repo: string; branch: string; kind: string; state: TreeStateName; automatic: number; actor: string | null;
  reason: string | null; message: string | null; buildId: number | null; commits: string | null; at: number; closedBy: TreeCloser | null;
}
export interface NewTreeEvent {
  repoId: number; branch: string; kind: string; state: TreeStateName; automatic: boolean; actor: string | null;
  reason: string | null; message: string | null; buildId: number | null; commits: readonly string[] | null; at: number;
  /** Who closed (a change to closed or maintenance: required there, migrations/022); null otherwise. */
  closedBy: TreeCloser | null;
}
export interface WhyRow { eventId: number; position: number; answer: string; author: string | null; at: number }

const EVENT_COLUMNS = `e.id, r.name AS repo, e.branch, e.kind, e.state, e.automatic, e.actor, e.reason, e.message,
  e.build_id AS buildId, e.commits, e.at, e.closed_by AS closedBy`;

export class TreeStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      get: db.prepare(`SELECT state, automatic, reason, message, actor, build_id AS buildId, since, closed_by AS closedBy FROM tree_state
        WHERE repo_id = ? AND branch = ?`),
      set: db.prepare(`INSERT INTO tree_state (repo_id, branch, state, automatic, reason, message, actor, build_id, since, closed_by)
        VALUES (@repoId, @branch, @state, @automatic, @reason, @message, @actor, @buildId, @at, @closedBy)
        ON CONFLICT (repo_id, branch) DO UPDATE SET state = excluded.state, automatic = excluded.automatic,
          reason = excluded.reason, message = excluded.message, actor = excluded.actor, build_id = excluded.build_id,
          closed_by = excluded.closed_by,
          since = CASE WHEN tree_state.state = excluded.state THEN tree_state.since ELSE excluded.since END`),
      addEvent: db.prepare(`INSERT INTO tree_events (repo_id, branch, kind, state, automatic, actor, reason, message, build_id, commits, at, closed_by)
        VALUES (@repoId, @branch, @kind, @state, @automatic, @actor, @reason, @message, @buildId, @commits, @at, @closedBy)`),
      events: db.prepare(`SELECT ${EVENT_COLUMNS} FROM tree_events e JOIN repositories r ON r.id = e.repo_id
        WHERE (@repoId IS NULL OR e.repo_id = @repoId) AND (@branch IS NULL OR e.branch = @branch)
        AND (@before IS NULL OR e.id < @before) ORDER BY e.id DESC LIMIT @limit`),
      event: db.prepare(`SELECT ${EVENT_COLUMNS} FROM tree_events e JOIN repositories r ON r.id = e.repo_id WHERE e.id = ?`),
      lastChange: db.prepare(`SELECT commits FROM tree_events WHERE repo_id = ? AND branch = ? AND kind IN ('open', 'close', 'maintenance')
        ORDER BY id DESC LIMIT 1`),
      whys: db.prepare('SELECT event_id AS eventId, position, answer, author, at FROM tree_whys WHERE event_id = ? ORDER BY position'),
      setWhy: db.prepare(`INSERT INTO tree_whys (event_id, position, answer, author, at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (event_id, position) DO UPDATE SET answer = excluded.answer, author = excluded.author, at = excluded.at`),
    };
  }

  get(repoId: number, branch: string): TreeStateRow | undefined {
    return this.q.get.get(repoId, branch) as TreeStateRow | undefined;
  }

  /** Sets the state and records the event, in one transaction; returns the event id. */
  change(e: NewTreeEvent): number {
    return this.db.transaction(() => {
      this.q.set.run({ repoId: e.repoId, branch: e.branch, state: e.state, automatic: e.automatic ? 1 : 0, reason: e.reason,
        message: e.message, actor: e.actor, buildId: e.buildId, at: e.at, closedBy: e.state === 'open' ? null : e.closedBy });
      return this.record(e);
    })();
  }

  /** Records an event that leaves the state as it is (a push let through a closed tree). */
  record(e: NewTreeEvent): number {
    return Number(this.q.addEvent.run({ repoId: e.repoId, branch: e.branch, kind: e.kind, state: e.state, automatic: e.automatic ? 1 : 0,
      actor: e.actor, reason: e.reason, message: e.message, buildId: e.buildId, commits: e.commits ? JSON.stringify(e.commits) : null, at: e.at,
      closedBy: e.closedBy ?? null }).lastInsertRowid);
  }

  events(q: { repoId?: number; branch?: string; before?: number; limit: number }): TreeEventRow[] {
    return this.q.events.all({ repoId: q.repoId ?? null, branch: q.branch ?? null, before: q.before ?? null, limit: q.limit }) as TreeEventRow[];
  }
  /** The commits named by the change that set the branch's current state (a closure for a rolled-back deploy names its commits). */
  stateCommits(repoId: number, branch: string): string[] {
    const row = this.q.lastChange.get(repoId, branch) as { commits: string | null } | undefined;
    return row?.commits ? JSON.parse(row.commits) as string[] : [];
  }
  event(id: number): TreeEventRow | undefined { return this.q.event.get(id) as TreeEventRow | undefined; }
  whys(eventId: number): WhyRow[] { return this.q.whys.all(eventId) as WhyRow[]; }
  saveWhys(eventId: number, answers: readonly string[], author: string | null, at: number): void {
    this.db.transaction(() => answers.forEach((a, i) => this.q.setWhy.run(eventId, i + 1, a, author, at)))();
  }
}
