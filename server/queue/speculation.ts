/**
 * Speculative testing of a branch's land queue (issue 26): which changes are being tested and the
 * window of candidates (start WINDOW_START, +1 after each landing, halved after a failure, never
 * below WINDOW_FLOOR). This module owns the queue's state machine over store/landQueue.ts; `kick`
 * is called whenever a branch's queue changed (a change queued or removed).
 *
 * Not built yet (see the report of issue 26's first part): making candidate commits, their builds
 * and the landing; changes wait in state queued.
 */
import type { Store } from '../store/index.js';
import type { QueueChangeRow } from '../store/landQueue.js';

export const WINDOW_START = 3;
export const WINDOW_FLOOR = 3;
export const FINISHED_SHOWN = 50; // finished changes the status lists after the active ones

/** The next window: +1 after a landing, halved (floor WINDOW_FLOOR) after a failure. */
export function nextWindow(window: number, outcome: 'landed' | 'failed'): number {
  return outcome === 'landed' ? window + 1 : Math.max(WINDOW_FLOOR, Math.floor(window / 2));
}

export class Speculation {
  private readonly windows = new Map<string, number>();
  constructor(private readonly store: Pick<Store, 'landQueue'>, private readonly now: () => number = Date.now) {}

  window(repo: string, branch: string): number {
    return this.windows.get(`${repo}\0${branch}`) ?? WINDOW_START;
  }

  /** Something changed in the branch's queue. */
  kick(_repo: string, _branch: string): void {
    // candidates: not built yet
  }

  /** The active changes in queue order, then the newest finished ones. */
  status(repo: string, branch: string): { window: number; changes: QueueChangeRow[] } {
    const active = this.store.landQueue.active(repo, branch);
    const finished = this.store.landQueue.recent(repo, branch, FINISHED_SHOWN + active.length).filter((c) => c.state !== 'queued' && c.state !== 'testing');
    return { window: this.window(repo, branch), changes: [...active, ...finished.slice(0, FINISHED_SHOWN)] };
  }

  /** An admin takes a change out of the queue. */
  remove(repo: string, id: number, actor: string): boolean {
    const c = this.store.landQueue.byId(id);
    if (!c || c.repo !== repo) return false;
    if (!this.store.landQueue.end(id, 'removed', `removed by ${actor}`, this.now())) return false;
    this.kick(c.repo, c.branch);
    return true;
  }
}
