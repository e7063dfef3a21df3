/** Culprit searches, their bisect builds (probes), automatic reverts and the admin switches. */
import type { DB } from './db.js';
import type { Observation } from '../culprit/search.js';

export interface SearchRow {
  id: number; repoId: number; repo: string; branch: string; builder: string; buildId: number; baseSha: string;
  commits: string[]; files: string[]; flakeRate: number; confirmRuns: number; maxProbes: number; observations: Observation[];
  probes: number; state: 'searching' | 'done'; culpritSha: string | null; confirmed: boolean; confidence: number | null;
  outcome: string | null; createdAt: number; finishedAt: number | null;
}
export type NewSearch = Pick<SearchRow, 'repoId' | 'branch' | 'builder' | 'buildId' | 'baseSha' | 'commits' | 'files' | 'flakeRate'
  | 'confirmRuns' | 'maxProbes' | 'observations' | 'createdAt'>;
export interface ProbeRow { buildId: number; searchId: number; position: number; result: string | null }
export interface RevertRow {
  id: number; searchId: number; repoId: number; repo: string; branch: string; culpritSha: string; buildId: number;
  state: 'wanted' | 'pushed' | 'refused'; revertSha: string | null; reason: string | null; createdAt: number; settledAt: number | null;
}

const SEARCH_COLUMNS = `s.id, s.repo_id AS repoId, r.name AS repo, s.branch, s.builder, s.build_id AS buildId, s.base_sha AS baseSha,
  s.commits, s.files, s.flake_rate AS flakeRate, s.confirm_runs AS confirmRuns, s.max_probes AS maxProbes, s.observations,
  s.probes, s.state, s.culprit_sha AS culpritSha, s.confirmed, s.confidence, s.outcome, s.created_at AS createdAt,
  s.finished_at AS finishedAt`;
const REVERT_COLUMNS = `a.id, a.search_id AS searchId, a.repo_id AS repoId, r.name AS repo, a.branch, a.culprit_sha AS culpritSha,
  a.build_id AS buildId, a.state, a.revert_sha AS revertSha, a.reason, a.created_at AS createdAt, a.settled_at AS settledAt`;

type RawSearch = Omit<SearchRow, 'commits' | 'files' | 'observations' | 'confirmed'> & { commits: string; files: string; observations: string; confirmed: number };
function toSearch(raw: RawSearch | undefined): SearchRow | undefined {
  if (!raw) return undefined;
  return { ...raw, commits: JSON.parse(raw.commits), files: JSON.parse(raw.files), observations: JSON.parse(raw.observations), confirmed: raw.confirmed === 1 };
}

export class CulpritStore {
  private readonly q;
  constructor(db: DB) {
    this.q = {
      insert: db.prepare(`INSERT INTO culprit_searches (repo_id, branch, builder, build_id, base_sha, commits, files, flake_rate,
        confirm_runs, max_probes, observations, state, created_at) VALUES (@repoId, @branch, @builder, @buildId, @baseSha, @commits,
        @files, @flakeRate, @confirmRuns, @maxProbes, @observations, 'searching', @createdAt)`),
      get: db.prepare(`SELECT ${SEARCH_COLUMNS} FROM culprit_searches s JOIN repositories r ON r.id = s.repo_id WHERE s.id = ?`),
      forBuild: db.prepare(`SELECT ${SEARCH_COLUMNS} FROM culprit_searches s JOIN repositories r ON r.id = s.repo_id WHERE s.build_id = ?`),
      observe: db.prepare('UPDATE culprit_searches SET observations = ?, probes = ? WHERE id = ? AND state = \'searching\''),
      finish: db.prepare(`UPDATE culprit_searches SET state = 'done', culprit_sha = ?, confirmed = ?, confidence = ?, outcome = ?,
        finished_at = ? WHERE id = ? AND state = 'searching'`),
      suspect: db.prepare('UPDATE culprit_searches SET culprit_sha = ? WHERE id = ? AND state = \'searching\''),
      addProbe: db.prepare('INSERT INTO culprit_probes (build_id, search_id, position) VALUES (?, ?, ?)'),
      probe: db.prepare('SELECT build_id AS buildId, search_id AS searchId, position, result FROM culprit_probes WHERE build_id = ?'),
      probes: db.prepare('SELECT build_id AS buildId, search_id AS searchId, position, result FROM culprit_probes WHERE search_id = ? ORDER BY build_id'),
      probeResult: db.prepare('UPDATE culprit_probes SET result = ? WHERE build_id = ? AND result IS NULL'),
      flakeHistory: db.prepare(`SELECT count(*) AS runs, coalesce(sum(status = 'flaky'), 0) AS flaky FROM (SELECT status FROM test_results
        WHERE repo_id = ? AND builder = ? AND coalesce(file, '') IN (SELECT value FROM json_each(?)) ORDER BY id DESC LIMIT ?)`),
      wantRevert: db.prepare(`INSERT INTO auto_reverts (search_id, repo_id, branch, culprit_sha, build_id, state, reason, created_at)
        VALUES (?, ?, ?, ?, ?, 'wanted', NULL, ?) ON CONFLICT (search_id) DO NOTHING`),
      settleRevert: db.prepare(`UPDATE auto_reverts SET state = ?, revert_sha = ?, reason = ?, settled_at = ? WHERE id = ? AND state = 'wanted'`),
      revert: db.prepare(`SELECT ${REVERT_COLUMNS} FROM auto_reverts a JOIN repositories r ON r.id = a.repo_id WHERE a.id = ?`),
      revertOf: db.prepare(`SELECT ${REVERT_COLUMNS} FROM auto_reverts a JOIN repositories r ON r.id = a.repo_id WHERE a.search_id = ?`),
      wanted: db.prepare(`SELECT ${REVERT_COLUMNS} FROM auto_reverts a JOIN repositories r ON r.id = a.repo_id WHERE a.state = 'wanted' ORDER BY a.id`),
      pushedSince: db.prepare(`SELECT count(*) AS n FROM auto_reverts WHERE repo_id = ? AND branch = ? AND state = 'pushed' AND settled_at >= ?`),
      getSwitch: db.prepare('SELECT value FROM admin_switches WHERE key = ?'),
      setSwitch: db.prepare(`INSERT INTO admin_switches (key, value, actor, at) VALUES (?, ?, ?, ?)
        ON CONFLICT (key) DO UPDATE SET value = excluded.value, actor = excluded.actor, at = excluded.at`),
    };
  }

  create(s: NewSearch): number {
    return Number(this.q.insert.run({ ...s, commits: JSON.stringify(s.commits), files: JSON.stringify(s.files),
      observations: JSON.stringify(s.observations) }).lastInsertRowid);
  }
  get(id: number): SearchRow | undefined { return toSearch(this.q.get.get(id) as RawSearch | undefined); }
  /** The search started for a red build, if any. */
  forBuild(buildId: number): SearchRow | undefined { return toSearch(this.q.forBuild.get(buildId) as RawSearch | undefined); }
  saveObservations(id: number, observations: readonly Observation[], probes: number): void {
    this.q.observe.run(JSON.stringify(observations), probes, id);
  }
  finish(id: number, o: { culpritSha: string | null; confirmed: boolean; confidence: number | null; outcome: string; at: number }): boolean {
    return this.q.finish.run(o.culpritSha, o.confirmed ? 1 : 0, o.confidence, o.outcome, o.at, id).changes > 0;
  }
  /** Names a search's suspected culprit while it still runs (a one-commit breakage being confirmed). */
  suspect(id: number, sha: string): void { this.q.suspect.run(sha, id); }
  addProbe(buildId: number, searchId: number, position: number): void { this.q.addProbe.run(buildId, searchId, position); }
  probe(buildId: number): ProbeRow | undefined { return this.q.probe.get(buildId) as ProbeRow | undefined; }
  probes(searchId: number): ProbeRow[] { return this.q.probes.all(searchId) as ProbeRow[]; }
  /** Records a probe build's result once; false when it was recorded already. */
  recordProbe(buildId: number, result: string): boolean { return this.q.probeResult.run(result, buildId).changes > 0; }
  /** The recent runs of these test files on a builder, and how many of them were flaky (failed, then passed on retry). */
  flakeHistory(repoId: number, builder: string, files: readonly string[], limit = 2000): { runs: number; flaky: number } {
    return this.q.flakeHistory.get(repoId, builder, JSON.stringify(files), limit) as { runs: number; flaky: number };
  }

  wantRevert(r: { searchId: number; repoId: number; branch: string; culpritSha: string; buildId: number; at: number }): void {
    this.q.wantRevert.run(r.searchId, r.repoId, r.branch, r.culpritSha, r.buildId, r.at);
  }
  settleRevert(id: number, state: 'pushed' | 'refused', revertSha: string | null, reason: string, at: number): boolean {
    return this.q.settleRevert.run(state, revertSha, reason, at, id).changes > 0;
  }
  revert(id: number): RevertRow | undefined { return this.q.revert.get(id) as RevertRow | undefined; }
  revertOf(searchId: number): RevertRow | undefined { return this.q.revertOf.get(searchId) as RevertRow | undefined; }
  wantedReverts(): RevertRow[] { return this.q.wanted.all() as RevertRow[]; }
  revertsPushedSince(repoId: number, branch: string, since: number): number {
    return (this.q.pushedSince.get(repoId, branch, since) as { n: number }).n;
  }

  switchValue(key: string): string | null { return (this.q.getSwitch.get(key) as { value: string } | undefined)?.value ?? null; }
  setSwitch(key: string, value: string, actor: string | null, at: number): void { this.q.setSwitch.run(key, value, actor, at); }
}
