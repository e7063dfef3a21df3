/** Builds and their blamelists. */
import type { DB } from './db.js';
import { RowCache } from './rowCache.js';

export type BuildState = 'queued' | 'running' | 'done';
export type BuildResult = 'passed' | 'failed' | 'flaky' | 'exception' | 'cancelled';
/** 'bisect': a culprit search's build of one commit (stored as kind 'try' with purpose 'bisect'; never touches the tree). */
export type BuildKind = 'branch' | 'try' | 'bisect';
/**
 * What a build is for, the one marker of special builds (migrations/022): 'normal' (a push's or a
 * rebuild), 'bisect' (a culprit search's probe), 'deploy' and 'rollback' (a deploy stage's steps, kind 'try').
 */
export type BuildPurpose = 'normal' | 'bisect' | 'deploy' | 'rollback';
export interface BuildRow {
  id: number; repoId: number; repo: string; builder: string; ref: string; branch: string; kind: BuildKind; purpose: BuildPurpose;
  sha: string; baseSha: string | null; state: BuildState; result: BuildResult | null; reason: string | null;
  unitsTotal: number; unitsDone: number; expectedMs: number;
  /** A failed build's new failures (failing tests not already failing before, failed units without tests); null otherwise. */
  newFailures: number | null;
  pushedAt: number; createdAt: number; startedAt: number | null; finishedAt: number | null;
  /** The builder from the commit's pipeline file, as JSON (migrations/025); null: greengate.yml's builder of that name. */
  builderSpec?: string | null;
  /** Why the build could not run at all (its pipeline file is missing or invalid at the commit); null otherwise. */
  error?: string | null;
}
export interface BlameEntry { sha: string; author: string | null; email: string | null; subject: string | null }
export interface NewBuild {
  repoId: number; builder: string; ref: string; branch: string; kind: 'branch' | 'try'; sha: string;
  baseSha: string | null; changeId: number | null; pushedAt: number; at: number; blamelist: readonly string[];
  /** Absent: 'normal'. A special build ('bisect', 'deploy', 'rollback') is stored as kind 'try'. */
  purpose?: BuildPurpose;
  /** The builder from the commit's pipeline file, as JSON; absent: greengate.yml's. */
  builderSpec?: string | null;
}
/** deploySteps: also the one-unit builds of deploy steps (purpose 'deploy' or 'rollback', server/deploy/steps.ts); absent: without them. */
export interface BuildQuery { repoId?: number; branch?: string; kind?: BuildKind; beforeId?: number; limit: number; deploySteps?: boolean }

const COLUMNS = `b.id, b.repo_id AS repoId, r.name AS repo, b.builder, b.ref, b.branch, CASE WHEN b.purpose = 'bisect' THEN 'bisect' ELSE b.kind END AS kind, b.purpose, b.sha, b.base_sha AS baseSha,
  b.state, b.result, b.reason, b.units_total AS unitsTotal, b.units_done AS unitsDone, b.expected_ms AS expectedMs, b.new_failures AS newFailures,
  b.pushed_at AS pushedAt, b.created_at AS createdAt, b.started_at AS startedAt, b.finished_at AS finishedAt, b.builder_spec AS builderSpec, b.error`;
const FROM = 'FROM builds b JOIN repositories r ON r.id = b.repo_id';

export class BuildStore {
  private readonly q;
  private readonly listCache = new Map<string, { all: (...args: unknown[]) => unknown[] }>();
  /** The rows read in the current transaction (Store.tx turns it on and clears it). */
  readonly cache = new RowCache<BuildRow>();
  private readonly read = (id: number) => this.q.get.get(id) as BuildRow | undefined;
  constructor(private readonly db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO builds (repo_id, builder, ref, branch, kind, purpose, sha, base_sha, change_id, state, pushed_at, created_at, builder_spec)
        VALUES (@repoId, @builder, @ref, @branch, @kind, @purpose, @sha, @baseSha, @changeId, 'queued', @pushedAt, @at, @builderSpec)`),
      buildersAt: db.prepare(`SELECT DISTINCT builder FROM builds WHERE repo_id = @repoId AND branch = @branch AND kind = 'branch' AND purpose = 'normal'
        AND sha = (SELECT sha FROM builds WHERE repo_id = @repoId AND branch = @branch AND kind = 'branch' AND purpose = 'normal' AND builder != @skip
          ORDER BY coalesce(change_id, 0) DESC, id DESC LIMIT 1) AND builder != @skip ORDER BY builder`),
      recentBuilders: db.prepare(`SELECT DISTINCT builder FROM (SELECT builder FROM builds WHERE repo_id = ? AND purpose = 'normal' ORDER BY id DESC LIMIT 500) ORDER BY builder`),
      setSpec: db.prepare('UPDATE builds SET builder_spec = ? WHERE id = ?'),
      setError: db.prepare('UPDATE builds SET error = ? WHERE id = ?'),
      addCommit: db.prepare('INSERT INTO build_commits (build_id, position, sha) VALUES (?, ?, ?)'),
      shiftCommits: db.prepare('UPDATE build_commits SET position = position + ? WHERE build_id = ?'),
      get: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.id = ?`),
      queuedFor: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.ref = ? AND b.state = 'queued'
        AND b.kind = 'branch' ORDER BY b.id DESC LIMIT 1`),
      latestFor: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.ref = ? ORDER BY b.id DESC LIMIT 1`),
      lastPushedFor: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.ref = ? AND b.purpose = 'normal'
        ORDER BY coalesce(b.change_id, 0) DESC, b.id DESC LIMIT 1`),
      latestFinished: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.ref = ? AND b.state = 'done'
        AND b.result != 'cancelled' ORDER BY b.id DESC LIMIT 1`),
      join: db.prepare('UPDATE builds SET sha = ?, change_id = coalesce(?, change_id) WHERE id = ? AND state = \'queued\''),
      deciding: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.branch = ? AND b.kind = 'branch'
        AND b.state = 'done' AND b.result IN ('passed', 'failed', 'flaky') ORDER BY coalesce(b.change_id, 0) DESC, b.id DESC LIMIT 1`),
      previous: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = @repoId AND b.builder = @builder AND b.branch = @branch
        AND b.kind = 'branch' AND b.purpose = 'normal' AND b.state = 'done' AND b.result IN ('passed', 'failed', 'flaky') AND b.id != @id
        AND (coalesce(b.change_id, 0) < @change OR (coalesce(b.change_id, 0) = @change AND b.id < @id))
        ORDER BY coalesce(b.change_id, 0) DESC, b.id DESC LIMIT 1`),
      setNewFailures: db.prepare('UPDATE builds SET new_failures = ? WHERE id = ?'),
      greenAt: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.repo_id = ? AND b.builder = ? AND b.branch = ? AND b.kind = 'branch'
        AND b.sha = ? AND b.state = 'done' AND b.result IN ('passed', 'flaky') ORDER BY b.id DESC LIMIT 1`),
      // Failed branch builds newer by push order than their builder's newest green one: the builds still red.
      stillRed: db.prepare(`SELECT b.id FROM builds b WHERE b.repo_id = @repoId AND b.branch = @branch AND b.kind = 'branch'
        AND b.state = 'done' AND b.result = 'failed' AND coalesce(b.change_id, 0) >= coalesce((SELECT max(coalesce(g.change_id, 0))
          FROM builds g WHERE g.repo_id = b.repo_id AND g.builder = b.builder AND g.branch = b.branch AND g.kind = 'branch'
          AND g.state = 'done' AND g.result IN ('passed', 'flaky')), -1)
        AND NOT EXISTS (SELECT 1 FROM builds g WHERE g.repo_id = b.repo_id AND g.builder = b.builder AND g.branch = b.branch
          AND g.kind = 'branch' AND g.state = 'done' AND g.result IN ('passed', 'flaky') AND coalesce(g.change_id, 0) = coalesce(b.change_id, 0)
          AND g.id > b.id)
        ORDER BY b.id DESC LIMIT @limit`),
      changeOf: db.prepare('SELECT change_id AS changeId FROM builds WHERE id = ?'),
      adjust: db.prepare(`UPDATE builds SET units_total = units_total + ?, units_done = units_done + ?,
        expected_ms = max(0, expected_ms + ?) WHERE id = ?`),
      blame: db.prepare(`SELECT bc.sha, c.author, c.email, c.subject FROM build_commits bc JOIN builds b ON b.id = bc.build_id
        LEFT JOIN commits c ON c.repo_id = b.repo_id AND c.sha = bc.sha WHERE bc.build_id = ? ORDER BY bc.position`),
      start: db.prepare(`UPDATE builds SET state = 'running', started_at = ? WHERE id = ? AND state = 'queued'`),
      finish: db.prepare(`UPDATE builds SET state = 'done', result = ?, reason = ?, finished_at = ? WHERE id = ? AND state != 'done'`),
      progress: db.prepare('UPDATE builds SET units_total = ?, units_done = ?, expected_ms = ? WHERE id = ?'),
      unfinished: db.prepare(`SELECT ${COLUMNS} ${FROM} WHERE b.state != 'done' ORDER BY b.id`),
      count: db.prepare('SELECT count(*) AS n FROM builds'),
    };
  }

  /** A build row and its blamelist (results/lifecycle.ts `create` is the one way the server makes one, with its units). */
  create(b: NewBuild): number {
    const purpose = b.purpose ?? 'normal';
    const id = Number(this.q.insert.run({ repoId: b.repoId, builder: b.builder, ref: b.ref, branch: b.branch,
      kind: purpose === 'normal' ? b.kind : 'try', purpose, sha: b.sha, baseSha: b.baseSha, changeId: b.changeId,
      pushedAt: b.pushedAt, at: b.at, builderSpec: b.builderSpec ?? null }).lastInsertRowid);
    b.blamelist.forEach((sha, i) => this.q.addCommit.run(id, i, sha));
    return id;
  }
  /** Moves a queued build to a newer head: the new commits go to the front of its blamelist. */
  join(id: number, sha: string, newCommits: readonly string[], changeId: number | null = null): boolean {
    this.cache.forget(id);
    if (this.q.join.run(sha, changeId, id).changes === 0) return false;
    this.q.shiftCommits.run(newCommits.length + 100000, id);
    this.q.shiftCommits.run(-100000, id);
    newCommits.forEach((c, i) => this.q.addCommit.run(id, i, c));
    return true;
  }
  /** Fills in the blamelist of a build created before its commits were read. */
  addBlamelist(id: number, shas: readonly string[]): void {
    shas.forEach((sha, i) => this.q.addCommit.run(id, i, sha));
  }
  /**
   * For a repository whose builders come from a pipeline file: the builders of the branch's newest
   * pushed commit that has builds (`skip`: the builder name of a build that could not run).
   */
  buildersAt(repoId: number, branch: string, skip: string): string[] {
    return (this.q.buildersAt.all({ repoId, branch, skip }) as { builder: string }[]).map((r) => r.builder);
  }
  /** The builder names of a repository's last 500 builds (pushes and rebuilds), sorted. */
  recentBuilders(repoId: number): string[] {
    return (this.q.recentBuilders.all(repoId) as { builder: string }[]).map((r) => r.builder);
  }
  /** A queued build joined by a newer head gets the builder of that head's pipeline file (null: greengate.yml's). */
  setBuilderSpec(id: number, spec: string | null): void { this.cache.forget(id); this.q.setSpec.run(spec, id); }
  /** Why a build could not run (written with its 'exception' result). */
  setError(id: number, error: string): void { this.cache.forget(id); this.q.setError.run(error, id); }
  get(id: number): BuildRow | undefined { return this.cache.get(id, this.read); }
  queuedFor(repoId: number, builder: string, ref: string): BuildRow | undefined {
    return this.q.queuedFor.get(repoId, builder, ref) as BuildRow | undefined;
  }
  latestFor(repoId: number, builder: string, ref: string): BuildRow | undefined {
    return this.q.latestFor.get(repoId, builder, ref) as BuildRow | undefined;
  }
  /** The build of the ref's newest push (push order: a rebuild keeps its original's change, so a rebuild of an old commit is not it). */
  lastPushedFor(repoId: number, builder: string, ref: string): BuildRow | undefined {
    return this.q.lastPushedFor.get(repoId, builder, ref) as BuildRow | undefined;
  }
  latestFinished(repoId: number, builder: string, ref: string): BuildRow | undefined {
    return this.q.latestFinished.get(repoId, builder, ref) as BuildRow | undefined;
  }
  blamelist(id: number): BlameEntry[] { return this.q.blame.all(id) as BlameEntry[]; }
  markStarted(id: number, at: number): boolean {
    if (this.q.start.run(at, id).changes === 0) return false;
    this.cache.patch(id, (b) => { b.state = 'running'; b.startedAt = at; });
    return true;
  }
  finish(id: number, result: BuildResult, reason: string | null, at: number): boolean {
    if (this.q.finish.run(result, reason, at, id).changes === 0) return false;
    this.cache.patch(id, (b) => Object.assign(b, { state: 'done', result, reason, finishedAt: at }));
    return true;
  }
  setProgress(id: number, total: number, done: number, expectedMs: number): void {
    if (this.q.progress.run(total, done, expectedMs, id).changes > 0) {
      this.cache.patch(id, (b) => Object.assign(b, { unitsTotal: total, unitsDone: done, expectedMs }));
    }
  }
  /** Moves a build's counters (current units, of which ended, expected ms of those not ended) by these amounts. */
  adjustProgress(id: number, total: number, done: number, expectedMs: number): void {
    const ms = Math.round(expectedMs);
    if (this.q.adjust.run(total, done, ms, id).changes > 0) {
      this.cache.patch(id, (b) => Object.assign(b, { unitsTotal: b.unitsTotal + total, unitsDone: b.unitsDone + done, expectedMs: Math.max(0, b.expectedMs + ms) }));
    }
  }
  /**
   * The build that decides the tree for one builder on a branch: the newest by push order (the
   * change it builds; a rebuild keeps its original's) among finished builds that passed, failed or
   * were flaky. Exception and cancelled builds say nothing about the code.
   */
  deciding(repoId: number, builder: string, branch: string): BuildRow | undefined {
    return this.q.deciding.get(repoId, builder, branch) as BuildRow | undefined;
  }
  /** The finished build of the same builder and branch just before this one by push order (passed, failed or flaky). */
  previous(b: Pick<BuildRow, 'id' | 'repoId' | 'builder' | 'branch'>): BuildRow | undefined {
    return this.q.previous.get({ id: b.id, repoId: b.repoId, builder: b.builder, branch: b.branch, change: this.changeOf(b.id) ?? 0 }) as BuildRow | undefined;
  }
  setNewFailures(id: number, n: number): void {
    if (this.q.setNewFailures.run(n, id).changes > 0) this.cache.patch(id, (b) => { b.newFailures = n; });
  }
  /** A green build of this commit on the branch (the base a culprit search starts from). */
  greenAt(repoId: number, builder: string, branch: string, sha: string): BuildRow | undefined {
    return this.q.greenAt.get(repoId, builder, branch, sha) as BuildRow | undefined;
  }
  /**
   * The builds of a branch still red: failed, and not older by push order than their builder's
   * newest green build (newest first, at most `limit`). A revert of any of their blamelists passes
   * a closed tree.
   */
  stillRed(repoId: number, branch: string, limit = 50): number[] {
    return (this.q.stillRed.all({ repoId, branch, limit }) as { id: number }[]).map((r) => r.id);
  }
  changeOf(id: number): number | null { return (this.q.changeOf.get(id) as { changeId: number | null } | undefined)?.changeId ?? null; }
  unfinished(): BuildRow[] { return this.q.unfinished.all() as BuildRow[]; }
  count(): number { return (this.q.count.get() as { n: number }).n; }

  /** Newest first, bounded, with cursor paging on id. */
  list(query: BuildQuery): BuildRow[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (query.repoId !== undefined) { where.push('b.repo_id = ?'); args.push(query.repoId); }
    if (query.branch !== undefined) { where.push('b.branch = ?'); args.push(query.branch); }
    if (query.kind === 'bisect') where.push("b.purpose = 'bisect'");
    else if (query.kind !== undefined) { where.push("b.kind = ? AND b.purpose = 'normal'"); args.push(query.kind); }
    if (query.beforeId !== undefined) { where.push('b.id < ?'); args.push(query.beforeId); }
    if (!query.deploySteps) where.push("b.purpose NOT IN ('deploy', 'rollback')");
    const sql = `SELECT ${COLUMNS} ${FROM} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY b.id DESC LIMIT ?`;
    let stmt = this.listCache.get(sql);
    if (!stmt) { stmt = this.db.prepare(sql) as unknown as { all: (...args: unknown[]) => unknown[] }; this.listCache.set(sql, stmt); }
    return stmt.all(...args, query.limit) as BuildRow[];
  }
}
