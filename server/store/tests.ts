/** Per-test results and the per-file durations the queue learns from. */
import type { DB } from './db.js';
import type { TestCase } from '../protocol.js';

export type TestStatus = 'passed' | 'failed' | 'error' | 'skipped' | 'flaky' | 'quarantined';
/** Statuses of a test result that fail its unit (quarantined and flaky failures do not); results/failure.ts says what that means. */
export const FAILING_STATUSES = ['failed', 'error'] as const satisfies readonly TestStatus[];
/** The same list as an SQL list literal, for the store's queries: `('failed', 'error')`. */
export const FAILING_SQL = `(${FAILING_STATUSES.map((s) => `'${s}'`).join(', ')})`;
export interface TestResultRow {
  id: number; buildId: number; unitId: number; name: string; classname: string; file: string | null;
  durationMs: number; status: TestStatus; message: string | null; attempt: number; at: number;
  /** Already failing in the previous build of the branch (or the first build): shown as "failing before". */
  failingBefore: boolean;
}
export interface FinalTestRow extends TestResultRow { attempts: number }
export interface QuarantineRow { test: string; reason: string | null; addedBy: string | null; addedAt: number }
/** One run of a test, with the build it ran in: a test's history. */
export interface TestHistoryRow extends TestResultRow { builder: string; sha: string; branch: string; ref: string }
export const MAX_HISTORY = 500;

/** Failures first, then flaky, quarantined, the rest. */
const FAILURES_FIRST = `CASE WHEN status IN ${FAILING_SQL} THEN 0 WHEN status = 'flaky' THEN 1 WHEN status = 'quarantined' THEN 2 ELSE 3 END`;

const COLUMNS = `id, build_id AS buildId, unit_id AS unitId, name, classname, file, duration_ms AS durationMs,
  status, message, attempt, at, failing_before AS failingBefore`;

/** SQLite has no boolean: failing_before comes back as 0 or 1. */
function toRow<T extends { failingBefore: unknown }>(row: T): T & { failingBefore: boolean } {
  return { ...row, failingBefore: row.failingBefore === 1 || row.failingBefore === true };
}

/**
 * One row per test of a build (its last attempt), failures first; `where` narrows it. A test is its
 * unit's place in the build (seq: a retry keeps it), its file, classname, name and its index among
 * same-named siblings of one attempt (`ord`, in report order), so genuine duplicate titles and one
 * helper's tests run by two files of a unit stay apart instead of passing for attempts of one test.
 */
const finalSql = (where: string) => `SELECT id, buildId, unitId, name, classname, file, durationMs,
          CASE WHEN status = 'passed' AND wasFlaky THEN 'flaky' ELSE status END AS status, message, attempt, at, failingBefore, attempts
        FROM (SELECT *, row_number() OVER w AS rn, count(*) OVER p AS attempts, max(status = 'flaky') OVER p AS wasFlaky
          FROM (SELECT t.id, t.build_id AS buildId, t.unit_id AS unitId, t.name, t.classname, t.file, t.duration_ms AS durationMs,
            t.status, t.message, t.attempt, t.at, t.failing_before AS failingBefore, u.seq,
            row_number() OVER (PARTITION BY t.unit_id, t.classname, t.name, coalesce(t.file, '') ORDER BY t.id) AS ord
            FROM test_results t JOIN units u ON u.id = t.unit_id WHERE t.build_id = ?)
          WINDOW p AS (PARTITION BY seq, classname, name, coalesce(file, ''), ord),
            w AS (PARTITION BY seq, classname, name, coalesce(file, ''), ord ORDER BY attempt DESC, id DESC))
        WHERE rn = 1${where}
        ORDER BY ${FAILURES_FIRST}, id`;

export class TestStore {
  private readonly q;
  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO test_results (build_id, unit_id, repo_id, builder, name, classname, file, duration_ms,
        status, message, attempt, at, failing_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      setFailingBefore: db.prepare('UPDATE test_results SET failing_before = ? WHERE id = ?'),
      byBuild: db.prepare(`SELECT ${COLUMNS} FROM test_results WHERE build_id = ?
        ORDER BY ${FAILURES_FIRST}, id`),
      // A test counts once per build: its last attempt decides; a failure that passed on retry stays 'flaky'.
      final: db.prepare(finalSql('')),
      failing: db.prepare(finalSql(` AND status IN ${FAILING_SQL}`)),
      durationsOf: db.prepare(`SELECT file, ewma_ms AS ms FROM file_durations WHERE repo_id = ? AND builder = ?
        AND file IN (SELECT value FROM json_each(?))`),
      byUnit: db.prepare(`SELECT ${COLUMNS} FROM test_results WHERE unit_id = ? ORDER BY id`),
      setStatus: db.prepare('UPDATE test_results SET status = ? WHERE id = ?'),
      otherDurations: db.prepare(`SELECT file, ewma_ms AS ms FROM file_durations WHERE repo_id = ? AND builder <> ?
        AND file IN (SELECT value FROM json_each(?)) ORDER BY updated_at`),
      durations: db.prepare('SELECT file, ewma_ms AS ms FROM file_durations WHERE repo_id = ? AND builder = ?'),
      anyDuration: db.prepare('SELECT 1 FROM file_durations WHERE repo_id = ? AND builder = ? LIMIT 1').pluck(),
      upsertDuration: db.prepare(`INSERT INTO file_durations (repo_id, builder, file, ewma_ms, samples, updated_at)
        VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (repo_id, builder, file) DO UPDATE SET ewma_ms = excluded.ewma_ms,
        samples = samples + 1, updated_at = excluded.updated_at`),
      quarantine: db.prepare('SELECT test FROM quarantine WHERE repo_id = ? AND builder = ?'),
      quarantineList: db.prepare(`SELECT test, reason, added_by AS addedBy, added_at AS addedAt FROM quarantine
        WHERE repo_id = ? AND builder = ? ORDER BY test`),
      quarantineAdd: db.prepare(`INSERT INTO quarantine (repo_id, builder, test, reason, added_by, added_at)
        VALUES (@repoId, @builder, @test, @reason, @addedBy, @at) ON CONFLICT (repo_id, builder, test)
        DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, added_at = excluded.added_at`),
      quarantineRemove: db.prepare('DELETE FROM quarantine WHERE repo_id = ? AND builder = ? AND test = ?'),
      // A test by its name or its key ("classname name"); newest first.
      history: db.prepare(`SELECT t.id, t.build_id AS buildId, t.unit_id AS unitId, t.name, t.classname, t.file,
        t.duration_ms AS durationMs, t.status, t.message, t.attempt, t.at, t.failing_before AS failingBefore, t.builder, b.sha, b.branch, b.ref
        FROM test_results t JOIN builds b ON b.id = t.build_id
        WHERE t.repo_id = @repoId AND (@builder IS NULL OR t.builder = @builder)
          AND (@classname IS NULL OR t.classname = @classname)
          AND (t.name = @name OR (t.classname != '' AND t.classname || ' ' || t.name = @name))
          AND (@file IS NULL OR coalesce(t.file, '') = @file)
        ORDER BY t.id DESC LIMIT @limit`),
    };
  }

  insert(build: { id: number; repoId: number; builder: string }, unitId: number, attempt: number,
    tests: readonly (Omit<TestCase, 'status'> & { status: TestStatus; failingBefore?: boolean })[], at: number): void {
    for (const t of tests) {
      this.q.insert.run(build.id, unitId, build.repoId, build.builder, t.name, t.classname, t.file,
        Math.round(t.durationMs), t.status, t.message, attempt, at, t.failingBefore ? 1 : 0);
    }
  }
  /** Marks a stored result as already failing before this build (or clears it). */
  setFailingBefore(id: number, failingBefore: boolean): void { this.q.setFailingBefore.run(failingBefore ? 1 : 0, id); }
  /** Every attempt's results (a retried test appears once per attempt). */
  byBuild(buildId: number): TestResultRow[] { return (this.q.byBuild.all(buildId) as TestResultRow[]).map(toRow); }
  /** One row per test: its last attempt, with how many attempts it had; failures first. */
  finalByBuild(buildId: number): FinalTestRow[] { return (this.q.final.all(buildId) as FinalTestRow[]).map(toRow); }
  /** The tests that fail the build (their last attempt failed or errored), as finalByBuild gives them. */
  failingByBuild(buildId: number): FinalTestRow[] { return (this.q.failing.all(buildId) as FinalTestRow[]).map(toRow); }
  byUnit(unitId: number): TestResultRow[] { return (this.q.byUnit.all(unitId) as TestResultRow[]).map(toRow); }
  setStatus(id: number, status: TestStatus): void { this.q.setStatus.run(status, id); }
  fileDurations(repoId: number, builder: string): Map<string, number> {
    return new Map((this.q.durations.all(repoId, builder) as { file: string; ms: number }[]).map((r) => [r.file, r.ms]));
  }
  /** Whether the builder has learned the duration of any file of the repository (else its plans are cold). */
  hasDurations(repoId: number, builder: string): boolean { return this.q.anyDuration.get(repoId, builder) !== undefined; }
  /** The learned durations of just these files. */
  fileDurationsOf(repoId: number, builder: string, files: readonly string[]): Map<string, number> {
    return new Map((this.q.durationsOf.all(repoId, builder, JSON.stringify(files)) as { file: string; ms: number }[]).map((r) => [r.file, r.ms]));
  }
  /** What other builders of the repository learned for these files (the latest one per file); file '' is a whole-suite time. */
  otherBuildersDurationsOf(repoId: number, builder: string, files: readonly string[]): Map<string, number> {
    return new Map((this.q.otherDurations.all(repoId, builder, JSON.stringify(files)) as { file: string; ms: number }[]).map((r) => [r.file, r.ms]));
  }
  saveFileDuration(repoId: number, builder: string, file: string, ms: number, at: number): void {
    this.q.upsertDuration.run(repoId, builder, file, ms, at);
  }
  quarantined(repoId: number, builder: string): Set<string> {
    return new Set((this.q.quarantine.all(repoId, builder) as { test: string }[]).map((r) => r.test));
  }
  quarantineList(repoId: number, builder: string): QuarantineRow[] {
    return this.q.quarantineList.all(repoId, builder) as QuarantineRow[];
  }
  /** Adds a test to the quarantine, or updates its reason. */
  quarantineAdd(q: { repoId: number; builder: string; test: string; reason: string | null; addedBy: string | null; at: number }): void {
    this.q.quarantineAdd.run(q);
  }
  /** Returns false when the test was not quarantined. */
  quarantineRemove(repoId: number, builder: string, test: string): boolean {
    return this.q.quarantineRemove.run(repoId, builder, test).changes > 0;
  }
  /** The recent runs of a test (by name, or by "classname name"), newest first, at most MAX_HISTORY. */
  history(q: { repoId: number; builder: string | null; name: string; classname: string | null; limit: number; file?: string | null }): TestHistoryRow[] {
    return (this.q.history.all({ ...q, file: q.file ?? null, limit: Math.min(q.limit, MAX_HISTORY) }) as TestHistoryRow[]).map(toRow);
  }
  transaction<T>(fn: () => T): T { return this.db.transaction(fn)(); }
}
