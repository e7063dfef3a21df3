/**
 * Read queries for the web pages. Every query is bounded: by LIMIT on an index, by one build's
 * rows, or by a fixed window of the newest rows, so page time does not grow with the database.
 */
import type { DB } from './db.js';
import type { BuildResult, BuildState } from './builds.js';
import type { TestStatus } from './tests.js';
import { FAILING_SQL } from './tests.js';

export interface WaterfallBuild {
  id: number; repoId: number; repo: string; builder: string; branch: string; kind: 'branch' | 'try' | 'bisect'; sha: string;
  state: BuildState; result: BuildResult | null; reason: string | null; unitsTotal: number; unitsDone: number;
  pushedAt: number; startedAt: number | null; finishedAt: number | null;
  /** The push it builds (a rebuild keeps its original's): the waterfall orders rows by it. 0 without one. */
  changeId: number;
  author: string | null; subject: string | null; pusher: string | null; commits: number;
  /** Why it was built when no push made it (migration 026): 'schedule', 'manual', 'rerun', 'rebuild'; null for a push's. */
  cause?: 'schedule' | 'manual' | 'rerun' | 'rebuild' | null;
}
/** The waterfall's filters: a branch name, and a commit author (name or e-mail, any case). */
export interface WaterfallFilter { branch?: string; author?: string }
/** What the badge reads about a branch: per builder, its newest finished build by push order (cancelled ones skipped). */
export interface BranchStatus { finished: { builder: string; result: BuildResult; id: number }[]; unfinished: boolean }
export interface FileProgress { buildId: number; filesTotal: number; filesDone: number }
export interface RunningUnit {
  id: number; buildId: number; runnerId: number; seq: number; files: number; attempt: number; startedAt: number | null;
  assignedAt: number | null; repo: string; builder: string; branch: string; sha: string;
}
export interface TestStat {
  repo: string; builder: string; classname: string; name: string; runs: number; avgMs: number; maxMs: number;
  failed: number; flaky: number; lastBuild: number;
  /** The test's file ('' when its results name none): same-named tests of different files are different tests. */
  file: string;
}
/** A test's newest RECENT_RUNS runs (inside the newest RECENT_TESTS_WINDOW results): the /tests verdict. */
export interface RecentTestStat {
  repo: string; builder: string; classname: string; name: string; file: string;
  /** Runs in the window (at most RECENT_RUNS; each attempt is a run), how many failed (failed/error), failed but passed on retry (flaky), passed. */
  runs: number; failed: number; flaky: number; passed: number;
  lastStatus: TestStatus; lastBuild: number;
  /** `flaky`: it failed and also passed in the window (a retry that passed counts); `failing`: it never passed there. */
  verdict: 'flaky' | 'failing';
}
export interface TestRun { id: number; buildId: number; attempt: number; durationMs: number; status: TestStatus; message: string | null; at: number; sha: string }
export interface TreeHistoryRow {
  id: number; repo: string; branch: string; kind: string; state: string; automatic: number; actor: string | null;
  reason: string | null; message: string | null; buildId: number | null; commits: string | null; at: number;
  endedAt: number | null; prevState: string | null;
}
export interface LogPiece { seq: number; offset: number; data: string; at: number }

export const RECENT_TESTS_WINDOW = 20_000; // test results the slowest/flakiest tables look at
export const RECENT_RUNS = 12; // a test's newest runs the flaky/failing verdict of /tests looks at
const NEWLINE_CACHE_MAX = 1000;

const BUILD_COLUMNS = `b.id, b.repo_id AS repoId, r.name AS repo, b.builder, b.branch,
  CASE WHEN b.purpose = 'bisect' THEN 'bisect' ELSE b.kind END AS kind, b.sha, b.state, b.result, b.reason,
  b.units_total AS unitsTotal, b.units_done AS unitsDone, b.pushed_at AS pushedAt, b.started_at AS startedAt,
  b.finished_at AS finishedAt, coalesce(b.change_id, 0) AS changeId, c.author, c.subject, ch.pusher,
  (SELECT count(*) FROM build_commits bc WHERE bc.build_id = b.id) AS commits,
  (SELECT bk.cause FROM build_causes bk WHERE bk.build_id = b.id) AS cause`;
const BUILD_FROM = `FROM builds b JOIN repositories r ON r.id = b.repo_id
  LEFT JOIN commits c ON c.repo_id = b.repo_id AND c.sha = b.sha LEFT JOIN changes ch ON ch.id = b.change_id`;
const NO_CURSOR = Number.MAX_SAFE_INTEGER;
/**
 * One statement per filter combination. A branch reads newest first along builds_by_kind_branch; an
 * author goes from the commits' author and e-mail indexes to their builds (builds_by_commit) and keeps
 * the newest ids, so only `limit` rows are joined and counted (migration 015). CROSS JOIN fixes that
 * order and INDEXED BY the way in: without ANALYZE statistics SQLite would walk every build of the kind.
 */
const AUTHOR_BUILDS = (extra: string) => `b.id IN (SELECT id FROM (
    SELECT x.id FROM commits a CROSS JOIN builds x INDEXED BY builds_by_commit ON x.repo_id = a.repo_id AND x.sha = a.sha
      WHERE a.author = @author COLLATE NOCASE AND x.kind = @kind AND x.purpose = 'normal' AND x.id < @before ${extra}
    UNION SELECT x.id FROM commits a CROSS JOIN builds x INDEXED BY builds_by_commit ON x.repo_id = a.repo_id AND x.sha = a.sha
      WHERE a.email = @author COLLATE NOCASE AND x.kind = @kind AND x.purpose = 'normal' AND x.id < @before ${extra})
    ORDER BY id DESC LIMIT @limit)`;
const FILTERED: Record<'branch' | 'author' | 'both', string> = {
  branch: `SELECT ${BUILD_COLUMNS} ${BUILD_FROM} WHERE b.kind = @kind AND b.purpose = 'normal' AND b.branch = @branch AND b.id < @before
    ORDER BY b.id DESC LIMIT @limit`,
  author: `SELECT ${BUILD_COLUMNS} ${BUILD_FROM} WHERE ${AUTHOR_BUILDS('')} ORDER BY b.id DESC`,
  both: `SELECT ${BUILD_COLUMNS} ${BUILD_FROM} WHERE ${AUTHOR_BUILDS('AND x.branch = @branch')} ORDER BY b.id DESC`,
};
const TEST_STATS = `SELECT r.name AS repo, t.builder, t.classname, t.name, coalesce(t.file, '') AS file, count(*) AS runs, avg(t.duration_ms) AS avgMs,
  max(t.duration_ms) AS maxMs, sum(t.status IN ${FAILING_SQL}) AS failed, sum(t.status = 'flaky') AS flaky,
  max(t.build_id) AS lastBuild
  FROM (SELECT * FROM test_results ORDER BY id DESC LIMIT ${RECENT_TESTS_WINDOW}) t JOIN repositories r ON r.id = t.repo_id
  GROUP BY t.repo_id, t.builder, t.classname, t.name, coalesce(t.file, '')`;
/** Per test, its newest RECENT_RUNS results with a failure (failed, error or flaky) among them. */
const RECENT_RUN_STATS = `SELECT r.name AS repo, t.builder, t.classname, t.name, t.f AS file, count(*) AS runs,
  sum(t.status IN ${FAILING_SQL}) AS failed, sum(t.status = 'flaky') AS flaky, sum(t.status = 'passed') AS passed,
  max(CASE WHEN t.rn = 1 THEN t.status END) AS lastStatus, max(t.build_id) AS lastBuild
  FROM (SELECT w.*, coalesce(w.file, '') AS f, row_number() OVER (PARTITION BY w.repo_id, w.builder, w.classname, w.name,
      coalesce(w.file, '') ORDER BY w.id DESC) AS rn
    FROM (SELECT * FROM test_results ORDER BY id DESC LIMIT ${RECENT_TESTS_WINDOW}) w) t
  JOIN repositories r ON r.id = t.repo_id
  WHERE t.rn <= ${RECENT_RUNS}
  GROUP BY t.repo_id, t.builder, t.classname, t.name, t.f
  HAVING sum(t.status IN ${FAILING_SQL}) + sum(t.status = 'flaky') > 0`;

export class PageStore {
  private readonly q;
  private readonly newlines = new Map<string, number>();
  constructor(db: DB) {
    this.q = {
      landedQueue: db.prepare(`SELECT c.id FROM queue_changes c JOIN repositories r ON r.id = c.repo_id
        WHERE r.name = ? AND c.branch = ? AND c.landed_sha = ? AND c.state = 'landed' ORDER BY c.id DESC LIMIT 1`),
      newest: db.prepare(`SELECT ${BUILD_COLUMNS} ${BUILD_FROM} WHERE b.kind = ? AND b.purpose = ? ORDER BY b.id DESC LIMIT ?`),
      older: db.prepare(`SELECT ${BUILD_COLUMNS} ${BUILD_FROM} WHERE b.kind = ? AND b.purpose = ? AND b.id < ? ORDER BY b.id DESC LIMIT ?`),
      filtered: {
        branch: db.prepare(FILTERED.branch), author: db.prepare(FILTERED.author), both: db.prepare(FILTERED.both),
      },
      // Push order, as the tree rule (BuildStore.deciding): a rebuild keeps its original's change, so it never outranks a newer push.
      newestFinished: db.prepare(`SELECT id, result FROM builds WHERE repo_id = ? AND branch = ? AND builder = ? AND kind = 'branch'
        AND state = 'done' AND result != 'cancelled' ORDER BY coalesce(change_id, 0) DESC, id DESC LIMIT 1`),
      anyUnfinished: db.prepare(`SELECT 1 FROM builds WHERE state != 'done' AND repo_id = ? AND branch = ? AND kind = 'branch' LIMIT 1`),
      fileProgress: db.prepare(`SELECT coalesce(sum(json_array_length(u.files)), 0) AS filesTotal,
        coalesce(sum(CASE WHEN u.state = 'done' THEN json_array_length(u.files) ELSE 0 END), 0) AS filesDone
        FROM units u WHERE u.build_id = ? AND NOT EXISTS (SELECT 1 FROM units x WHERE x.build_id = u.build_id AND x.retry_of = u.id)`),
      buildSteps: db.prepare(`SELECT name, result, started_at AS startedAt, finished_at AS finishedAt FROM build_steps WHERE build_id = ? ORDER BY seq`),
      running: db.prepare(`SELECT u.id, u.build_id AS buildId, u.runner_id AS runnerId, u.seq, json_array_length(u.files) AS files,
        u.attempt, u.started_at AS startedAt, u.assigned_at AS assignedAt, r.name AS repo, b.builder, b.branch, b.sha
        FROM units u JOIN builds b ON b.id = u.build_id JOIN repositories r ON r.id = b.repo_id
        WHERE u.state = 'running' AND u.runner_id IS NOT NULL`), // uses the partial index units_running; sorted by the caller
      testStats: db.prepare(TEST_STATS),
      recentRunStats: db.prepare(RECENT_RUN_STATS),
      testRuns: db.prepare(`SELECT t.id, t.build_id AS buildId, t.attempt, t.duration_ms AS durationMs, t.status, t.message, t.at, b.sha
        FROM test_results t JOIN builds b ON b.id = t.build_id
        WHERE t.repo_id = @repoId AND t.builder = @builder AND t.classname = @classname AND t.name = @name
          AND (@file IS NULL OR coalesce(t.file, '') = @file) ORDER BY t.id DESC LIMIT @limit`),
      treeHistory: db.prepare(`SELECT e.id, r.name AS repo, e.branch, e.kind, e.state, e.automatic, e.actor, e.reason, e.message,
        e.build_id AS buildId, e.commits, e.at,
        (SELECT n.at FROM tree_events n WHERE n.repo_id = e.repo_id AND n.branch = e.branch AND n.id > e.id
          AND n.kind IN ('open', 'close', 'maintenance') AND n.state != e.state ORDER BY n.id LIMIT 1) AS endedAt,
        (SELECT p.state FROM tree_events p WHERE p.repo_id = e.repo_id AND p.branch = e.branch AND p.id < e.id
          AND p.kind IN ('open', 'close', 'maintenance') ORDER BY p.id DESC LIMIT 1) AS prevState
        FROM tree_events e JOIN repositories r ON r.id = e.repo_id
        WHERE (@before IS NULL OR e.id < @before) ORDER BY e.id DESC LIMIT @limit`),
      chunkAt: db.prepare(`SELECT seq, offset FROM log_chunks WHERE unit_id = ? AND offset <= ? ORDER BY offset DESC LIMIT 1`),
      lastChunk: db.prepare(`SELECT seq, offset, length(CAST(data AS BLOB)) AS bytes FROM log_chunks WHERE unit_id = ?
        ORDER BY seq DESC LIMIT 1`),
      chunksFrom: db.prepare('SELECT seq, offset, data, at FROM log_chunks WHERE unit_id = ? AND seq >= ? ORDER BY seq'),
      newlinesBefore: db.prepare(`SELECT coalesce(sum(length(data) - length(replace(data, char(10), ''))), 0) AS n
        FROM log_chunks WHERE unit_id = ? AND seq < ?`),
    };
  }
  /** The land queue change that landed `sha` on the branch (the waterfall marks it), or null. */
  landedThroughQueue(repo: string, branch: string, sha: string): number | null {
    return (this.q.landedQueue.get(repo, branch, sha) as { id: number } | undefined)?.id ?? null;
  }


  /** The newest builds of a kind, newest first; `beforeId` pages back; `filter` keeps a branch's or an author's. A bisect build is stored as 'try' with purpose 'bisect'. Deploy steps (purpose 'deploy'/'rollback') are left out: their lane is the deploys'. */
  builds(kind: 'branch' | 'try' | 'bisect', limit: number, beforeId?: number, filter: WaterfallFilter = {}): WaterfallBuild[] {
    const [stored, purpose] = kind === 'bisect' ? ['try', 'bisect'] : [kind, 'normal'];
    const which = filter.branch && filter.author ? 'both' : filter.branch ? 'branch' : filter.author ? 'author' : null;
    if (which && kind !== 'bisect') {
      return this.q.filtered[which].all({ kind, limit, before: beforeId ?? NO_CURSOR,
        branch: filter.branch ?? null, author: filter.author ?? null }) as WaterfallBuild[];
    }
    return (beforeId === undefined ? this.q.newest.all(stored, purpose, limit) : this.q.older.all(stored, purpose, beforeId, limit)) as WaterfallBuild[];
  }

  /** A branch's badge facts: each builder's newest finished build by push order (cancelled skipped), and whether one is under way. */
  branchStatus(repoId: number, branch: string, builders: readonly string[]): BranchStatus {
    const finished = builders.flatMap((builder) => {
      const row = this.q.newestFinished.get(repoId, branch, builder) as { id: number; result: BuildResult } | undefined;
      return row ? [{ builder, ...row }] : [];
    });
    return { finished, unfinished: this.q.anyUnfinished.get(repoId, branch) !== undefined };
  }

  /** Test files of a build's current units (a retried unit counts once), and how many have finished. */
  fileProgress(buildId: number): FileProgress {
    return { buildId, ...(this.q.fileProgress.get(buildId) as { filesTotal: number; filesDone: number }) };
  }

  /** A build's steps (migration 023) in order, for its waterfall cell; [] for a build of a builder without steps. */
  buildSteps(buildId: number): { name: string; result: string; startedAt: number | null; finishedAt: number | null }[] {
    return this.q.buildSteps.all(buildId) as { name: string; result: string; startedAt: number | null; finishedAt: number | null }[];
  }

  runningUnits(): RunningUnit[] { return (this.q.running.all() as RunningUnit[]).sort((a, b) => a.id - b.id); }
  /**
   * Per-test figures over the newest RECENT_TESTS_WINDOW results: the slowest (all their runs), and
   * the flakiest: each test with a failure among its newest RECENT_RUNS runs, `flaky` when it also
   * passed in them, `failing` when it never did — whatever its newest run says — most failures first.
   */
  testRankings(limit: number): { slowest: TestStat[]; flakiest: RecentTestStat[] } {
    const all = this.q.testStats.all() as TestStat[];
    const recent = (this.q.recentRunStats.all() as Omit<RecentTestStat, 'verdict'>[])
      .map((t): RecentTestStat => ({ ...t, verdict: t.passed + t.flaky > 0 ? 'flaky' : 'failing' }));
    return {
      slowest: [...all].sort((a, b) => b.avgMs - a.avgMs).slice(0, limit),
      flakiest: recent.sort((a, b) => (b.failed + b.flaky) / b.runs - (a.failed + a.flaky) / a.runs || b.runs - a.runs).slice(0, limit),
    };
  }
  /** A test's runs, newest first; `file` ('' for none) keeps apart same-named tests of other files, null takes all. */
  testRuns(repoId: number, builder: string, classname: string, name: string, limit: number, file: string | null = null): TestRun[] {
    return this.q.testRuns.all({ repoId, builder, classname, name, limit, file }) as TestRun[];
  }

  /** Tree events newest first, each with when its state ended and the state before it. */
  treeHistory(before: number | undefined, limit: number): TreeHistoryRow[] {
    return this.q.treeHistory.all({ before: before ?? null, limit }) as TreeHistoryRow[];
  }

  /** The chunk holding byte `offset` of a unit's log (the last one that starts at or before it). */
  chunkAt(unitId: number, offset: number): { seq: number; offset: number } | undefined {
    return this.q.chunkAt.get(unitId, offset) as { seq: number; offset: number } | undefined;
  }

  /** Bytes stored for a unit's log (the end of its last chunk). */
  logSize(unitId: number): number {
    const last = this.q.lastChunk.get(unitId) as { offset: number; bytes: number } | undefined;
    return last ? last.offset + last.bytes : 0;
  }

  /** Chunks from `seq` on, in order, until `stop` says enough (iterated, never all loaded). */
  readChunks(unitId: number, seq: number, stop: (piece: LogPiece, bytesSoFar: number) => boolean): LogPiece[] {
    const out: LogPiece[] = [];
    let bytes = 0;
    for (const piece of this.q.chunksFrom.iterate(unitId, seq) as IterableIterator<LogPiece>) {
      if (stop(piece, bytes)) break;
      out.push(piece);
      bytes += Buffer.byteLength(piece.data);
    }
    return out;
  }

  /** Newlines in the chunks before `seq`. Stored chunks never change, so answers are cached. */
  newlinesBefore(unitId: number, seq: number): number {
    if (seq <= 0) return 0;
    const key = `${unitId}:${seq}`;
    const hit = this.newlines.get(key);
    if (hit !== undefined) return hit;
    const n = (this.q.newlinesBefore.get(unitId, seq) as { n: number }).n;
    if (this.newlines.size >= NEWLINE_CACHE_MAX) this.newlines.delete(this.newlines.keys().next().value!);
    this.newlines.set(key, n);
    return n;
  }
}
