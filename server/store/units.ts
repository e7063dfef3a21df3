/**
 * Units of work. A unit row is one attempt: a lost unit or a flaky retry becomes a new row
 * (retry_of = the earlier one), so every attempt keeps its own log and result.
 */
import type { DB } from './db.js';
import { RowCache } from './rowCache.js';

export type UnitState = 'queued' | 'running' | 'done';
export type UnitResult = 'passed' | 'failed' | 'exception' | 'cancelled';
export interface UnitRow {
  id: number; buildId: number; seq: number; files: string; attempt: number; retryOf: number | null;
  state: UnitState; result: UnitResult | null; priority: number; expectedMs: number;
  runnerId: number | null; runner: string | null; avoidRunnerId: number | null; lostCount: number;
  exitCode: number | null; signal: string | null; error: string | null; logBytes: number; cancelRequested: number;
  queuedAt: number; assignedAt: number | null; startedAt: number | null; finishedAt: number | null;
  /** Checkout, clean and setup before the run started; cacheHit 1 kept, 0 rebuilt, null neither (migration 006). */
  setupMs: number | null; cacheHit: 0 | 1 | null;
  /** Mean number of units running on its runner while it ran, itself included; null until it finished (migration 017). */
  concurrency: number | null;
  /** The step (label) it belongs to; null: its builder's one step (a builder without `steps:`, migration 023). */
  step: string | null;
}
export interface NewUnit {
  buildId: number; seq: number; files: readonly string[]; attempt: number; retryOf: number | null;
  priority: number; expectedMs: number; avoidRunnerId: number | null; lostCount: number; at: number;
  /** Absent: null (a builder without `steps:`). */
  step?: string | null;
}
export interface UnitOutcome {
  result: UnitResult; exitCode: number | null; signal: string | null; error: string | null; at: number;
}

const COLUMNS = `u.id, u.build_id AS buildId, u.seq, u.files, u.attempt, u.retry_of AS retryOf, u.state, u.result,
  u.priority, u.expected_ms AS expectedMs, u.runner_id AS runnerId, rn.name AS runner, u.avoid_runner_id AS avoidRunnerId,
  u.lost_count AS lostCount, u.exit_code AS exitCode, u.signal, u.error, u.log_bytes AS logBytes, u.cancel_requested AS cancelRequested,
  u.queued_at AS queuedAt, u.assigned_at AS assignedAt, u.started_at AS startedAt, u.finished_at AS finishedAt,
  u.setup_ms AS setupMs, u.cache_hit AS cacheHit, u.concurrency, u.step`;
const FROM = 'FROM units u LEFT JOIN runners rn ON rn.id = u.runner_id';
export const QUEUE_PEEK = 32;
const MAX_RUNNER_NAMES = 10_000; // runner names kept for the rows of assigned units
export const INSERT_CHUNK = 100; // rows per INSERT of createMany (11 values each, far below SQLite's limit)

export class UnitStore {
  private readonly q;
  /** The rows read in the current transaction (Store.tx turns it on and clears it). */
  readonly cache = new RowCache<UnitRow>();
  private readonly read = (id: number) => {
    const row = this.q.get.get(id) as UnitRow | undefined;
    if (row?.runnerId != null && row.runner !== null && this.runnerNames.size < MAX_RUNNER_NAMES) this.runnerNames.set(row.runnerId, row.runner);
    return row;
  };
  /** Runner id → name as rows showed it (a runner's name never changes: runners are registered by name, never deleted). */
  private readonly runnerNames = new Map<number, string>();
  private readonly multi = new Map<number, { run(...args: unknown[]): unknown }>(); // rows per INSERT → its statement
  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO units (build_id, seq, files, attempt, retry_of, state, priority, expected_ms,
        avoid_runner_id, lost_count, queued_at, step) VALUES (@buildId, @seq, @files, @attempt, @retryOf, 'queued', @priority,
        @expectedMs, @avoidRunnerId, @lostCount, @at, @step)`),
      get: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE u.id = ?`),
      byBuild: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE u.build_id = ? ORDER BY u.seq, u.id`),
      deleteQueued: db.prepare(`DELETE FROM units WHERE build_id = ? AND state = 'queued'`),
      peek: db.prepare(`SELECT u.id FROM units u WHERE u.state = 'queued'
        ORDER BY u.priority DESC, u.build_id, u.expected_ms DESC, u.id LIMIT ${QUEUE_PEEK}`).pluck(),
      assign: db.prepare(`UPDATE units SET state = 'running', runner_id = ?, assigned_at = ? WHERE id = ? AND state = 'queued'`),
      start: db.prepare('UPDATE units SET started_at = ? WHERE id = ? AND started_at IS NULL'),
      finish: db.prepare(`UPDATE units SET state = 'done', result = @result, exit_code = @exitCode, signal = @signal,
        error = @error, finished_at = @at WHERE id = @id AND state != 'done'`),
      recordSetup: db.prepare(`UPDATE units SET setup_ms = ?, cache_hit = ? WHERE id = ? AND state != 'done'`),
      running: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE u.state = 'running' ORDER BY u.id`),
      runningOn: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE u.state = 'running' AND u.runner_id = ?`),
      addLogBytes: db.prepare('UPDATE units SET log_bytes = log_bytes + ? WHERE id = ?'),
      maxSeq: db.prepare('SELECT coalesce(max(seq), 0) AS n FROM units WHERE build_id = ?'),
      cancelQueued: db.prepare(`UPDATE units SET state = 'done', result = 'cancelled', finished_at = ? WHERE build_id = ? AND state = 'queued'`),
      queuedCount: db.prepare(`SELECT count(*) AS n FROM units WHERE state = 'queued'`),
      queuedSummary: db.prepare(`SELECT count(*) AS n, coalesce(sum(expected_ms), 0) AS ms FROM units WHERE build_id = ? AND state = 'queued'`),
      requestCancel: db.prepare(`UPDATE units SET cancel_requested = 1 WHERE id = ? AND state = 'running'`),
      cancelRequested: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE u.state = 'running' AND u.cancel_requested = 1 AND u.build_id = ?`),
    };
  }

  /**
   * A new build's units at once (a build's 2,000 units are 2,000 statements otherwise): one
   * prepared INSERT of up to INSERT_CHUNK rows per run, in the caller's transaction, in order.
   */
  createMany(units: readonly NewUnit[]): void {
    for (let i = 0; i < units.length; i += INSERT_CHUNK) {
      const chunk = units.slice(i, i + INSERT_CHUNK);
      const args: unknown[] = [];
      for (const u of chunk) {
        args.push(u.buildId, u.seq, JSON.stringify(u.files), u.attempt, u.retryOf, u.priority, u.expectedMs,
          u.avoidRunnerId, u.lostCount, u.at, u.step ?? null);
      }
      this.insertRows(chunk.length).run(...args);
    }
  }
  private insertRows(n: number): { run(...args: unknown[]): unknown } {
    let stmt = this.multi.get(n);
    if (!stmt) {
      stmt = this.db.prepare(`INSERT INTO units (build_id, seq, files, attempt, retry_of, state, priority, expected_ms,
        avoid_runner_id, lost_count, queued_at, step) VALUES ${Array(n).fill("(?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)").join(', ')}`);
      if (this.multi.size < 8) this.multi.set(n, stmt);
    }
    return stmt;
  }

  create(u: NewUnit): number {
    return Number(this.q.insert.run({ ...u, files: JSON.stringify(u.files), step: u.step ?? null }).lastInsertRowid);
  }
  get(id: number): UnitRow | undefined { return this.cache.get(id, this.read); }
  byBuild(buildId: number): UnitRow[] { return this.q.byBuild.all(buildId) as UnitRow[]; }
  deleteQueued(buildId: number): number { this.cache.clear(); return this.q.deleteQueued.run(buildId).changes; }
  /**
   * The ids at the head of the queue: highest priority, oldest build, longest first (the index
   * units_queue alone; a dispatch reads the rows it looks at with get, usually one or two of them).
   */
  peek(): number[] { return this.q.peek.all() as number[]; }
  assign(id: number, runnerId: number, at: number): boolean {
    if (this.q.assign.run(runnerId, at, id).changes === 0) return false;
    const runner = this.runnerNames.get(runnerId);
    if (runner === undefined) this.cache.forget(id);
    else this.cache.patch(id, (u) => Object.assign(u, { state: 'running', runnerId, runner, assignedAt: at }));
    return true;
  }
  markStarted(id: number, at: number): void {
    if (this.q.start.run(at, id).changes > 0) this.cache.patch(id, (u) => { u.startedAt = at; });
  }
  finish(id: number, o: UnitOutcome): boolean {
    if (this.q.finish.run({ ...o, id }).changes === 0) return false;
    this.cache.patch(id, (u) => Object.assign(u, { state: 'done', result: o.result, exitCode: o.exitCode, signal: o.signal, error: o.error, finishedAt: o.at }));
    return true;
  }
  /** What the runner reported of the unit's workspace (setup time, cache hit); kept once the unit is done. */
  recordSetup(id: number, setupMs: number | null, cacheHit: boolean | null): void {
    const ms = setupMs === null ? null : Math.round(setupMs);
    const hit = cacheHit === null ? null : (Number(cacheHit) as 0 | 1);
    if (this.q.recordSetup.run(ms, hit, id).changes > 0) this.cache.patch(id, (u) => { u.setupMs = ms; u.cacheHit = hit; });
  }
  running(): UnitRow[] { return this.q.running.all() as UnitRow[]; }
  runningOn(runnerId: number): UnitRow[] { return this.q.runningOn.all(runnerId) as UnitRow[]; }
  addLogBytes(id: number, n: number): void {
    if (this.q.addLogBytes.run(n, id).changes > 0) this.cache.patch(id, (u) => { u.logBytes += n; });
  }
  nextSeq(buildId: number): number { return (this.q.maxSeq.get(buildId) as { n: number }).n + 1; }
  cancelQueued(buildId: number, at: number): number { this.cache.clear(); return this.q.cancelQueued.run(at, buildId).changes; }
  queuedCount(): number { return (this.q.queuedCount.get() as { n: number }).n; }
  /** How many of a build's units are queued, and their expected milliseconds. */
  queuedSummary(buildId: number): { n: number; ms: number } { return this.q.queuedSummary.get(buildId) as { n: number; ms: number }; }
  /** Stores the intent to cancel a running unit; its result is `cancelled` whenever it ends. */
  requestCancel(id: number): boolean {
    if (this.q.requestCancel.run(id).changes === 0) return false;
    this.cache.patch(id, (u) => { u.cancelRequested = 1; });
    return true;
  }
}

export function unitFiles(u: Pick<UnitRow, 'files'>): string[] {
  return JSON.parse(u.files) as string[];
}

/** The ids of a build's units replaced by a later attempt (a flaky retry, a requeue after a lost runner). */
export function supersededUnits(units: readonly Pick<UnitRow, 'retryOf'>[]): Set<number> {
  return new Set(units.map((u) => u.retryOf).filter((id): id is number => id !== null));
}

/** A build's current attempts: the units no later attempt replaced. Its result and counters stand on these. */
export function currentUnits<T extends Pick<UnitRow, 'id' | 'retryOf'>>(units: readonly T[]): T[] {
  const superseded = supersededUnits(units);
  return units.filter((u) => !superseded.has(u.id));
}
