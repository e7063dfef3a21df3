import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../../server/config/config.js';
import { Retention } from '../../server/retention.js';
import { openStore, type Store } from '../../server/store/index.js';
import { PRUNE_BATCH } from '../../server/store/retention.js';
import { tempHome } from '../helpers.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { Blobs } from '../../server/artifacts/blobs.js';

const DAY = 24 * 60 * 60 * 1000;
const NOW = 100 * DAY;
const silent = pino({ level: 'silent' });

/** Retention on a real SQLite file: which builds and logs go, and which the tree keeps. */
describe('retention (real SQLite store)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  let sha = 0;

  beforeEach(() => {
    home = tempHome();
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => { store.close(); home.cleanup(); });

  /** A finished build with one unit (and a retry of it), log chunks and a test result. */
  function build(o: { builder?: string; ref?: string; result?: 'passed' | 'failed' | 'flaky' | 'exception' | 'cancelled' | null; day: number }): number {
    const ref = o.ref ?? 'refs/heads/main';
    const kind = ref.startsWith('refs/try/') ? 'try' : 'branch';
    const commit = String(++sha).padStart(40, '0');
    const at = o.day * DAY;
    const changeId = store.repos.recordChange({ repoId, ref, branch: ref.split('/').slice(2).join('/'), kind, oldSha: null, newSha: commit,
      source: 'api', pusher: null, at });
    const id = store.builds.create({ repoId, builder: o.builder ?? 'unit', ref, branch: ref.split('/').slice(2).join('/'), kind, sha: commit,
      baseSha: null, changeId, pushedAt: at, at, blamelist: [commit] });
    const unit = store.units.create({ buildId: id, seq: 0, files: ['a.test.js'], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
      avoidRunnerId: null, lostCount: 0, at });
    const retry = store.units.create({ buildId: id, seq: 1, files: ['a.test.js'], attempt: 2, retryOf: unit, priority: 0, expectedMs: 0,
      avoidRunnerId: null, lostCount: 0, at });
    for (const u of [unit, retry]) {
      for (let seq = 0; seq < 3; seq++) store.logs.append({ unitId: u, seq, offset: seq * 4, stream: 'out', data: 'log\n', at });
    }
    store.db.prepare(`INSERT INTO test_results (build_id, unit_id, repo_id, builder, name, duration_ms, status, at)
      VALUES (?, ?, ?, ?, 'adds', 1, 'passed', ?)`).run(id, unit, repoId, o.builder ?? 'unit', at);
    if (o.result !== null) store.builds.finish(id, o.result ?? 'passed', null, at + 1000);
    return id;
  }
  const exists = (id: number) => store.builds.get(id) !== undefined;
  const chunksOf = (id: number) => (store.db.prepare(`SELECT count(*) AS n FROM log_chunks c JOIN units u ON u.id = c.unit_id
    WHERE u.build_id = ?`).get(id) as { n: number }).n;
  const retention = (logsDays: number | undefined, buildsDays: number | undefined) =>
    new Retention(store, { retention: { logsDays, buildsDays } } as unknown as Config, silent, () => NOW);

  it('deletes old builds with their units, logs and tests, but never those the tree depends on', () => {
    const old = build({ day: 1 });
    const closer = build({ day: 2, result: 'failed' });
    store.tree.change({ repoId, branch: 'main', kind: 'close', state: 'closed', automatic: true, actor: null, reason: 'red',
      message: null, buildId: closer, commits: null, at: 2 * DAY, closedBy: 'build' });
    const deciding = build({ day: 3 });
    const newerException = build({ day: 4, result: 'exception' }); // newest of its ref: kept for the next blamelist
    const oldTry = build({ day: 1, ref: 'refs/try/idea' });
    const newestTry = build({ day: 2, ref: 'refs/try/idea' });
    const running = build({ day: 1, builder: 'lint', result: null });
    const recent = build({ day: 99, ref: 'refs/heads/dev' });

    const report = retention(undefined, 30).runNow();
    expect(report.builds).to.equal(2);
    expect([old, oldTry].map(exists)).to.deep.equal([false, false]);
    expect([closer, deciding, newerException, newestTry, running, recent].map(exists)).to.deep.equal([true, true, true, true, true, true]);
    expect(store.builds.deciding(repoId, 'unit', 'main')!.id).to.equal(deciding);
    for (const table of ['units', 'test_results', 'build_commits']) {
      const n = (store.db.prepare(`SELECT count(*) AS n FROM ${table} WHERE build_id IN (?, ?)`).get(old, oldTry) as { n: number }).n;
      expect(n, table).to.equal(0);
    }
    expect((store.db.prepare('SELECT count(*) AS n FROM log_chunks c LEFT JOIN units u ON u.id = c.unit_id WHERE u.id IS NULL')
      .get() as { n: number }).n).to.equal(0);
    expect(retention(undefined, 30).runNow().builds, 'a second pass finds nothing more').to.equal(0);
  });

  it('keeps the deciding build of a branch even when it is old and newer builds exist', () => {
    const deciding = build({ day: 1, result: 'failed' });
    const cancelled = build({ day: 2, result: 'cancelled' }); // newest of the ref, says nothing about the code
    retention(undefined, 30).runNow();
    expect(exists(deciding)).to.equal(true);
    expect(exists(cancelled)).to.equal(true);
  });

  it('deletes the logs of builds finished before logsDays, keeping the builds, in batches', () => {
    const old = build({ day: 50 });
    const recent = build({ day: 95 });
    const many = Array.from({ length: Math.ceil(PRUNE_BATCH / 2) + 3 }, () => build({ day: 60 })); // more units than one batch
    const report = retention(10, undefined).runNow();
    expect(report.logChunks).to.equal(6 * (many.length + 1));
    expect(chunksOf(old)).to.equal(0);
    expect(many.every((id) => chunksOf(id) === 0 && exists(id))).to.equal(true);
    expect(chunksOf(recent)).to.equal(6);
    expect(exists(old)).to.equal(true);
  });

  it('does nothing without a retention setting', () => {
    const old = build({ day: 1 });
    build({ day: 2 });
    expect(retention(undefined, undefined).runNow()).to.deep.equal({ logChunks: 0, builds: 0, artifacts: 0 });
    expect(exists(old)).to.equal(true);
    expect(chunksOf(old)).to.equal(6);
  });
});

describe('retention of artifacts (real SQLite store and blob folder)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;

  beforeEach(() => { home = tempHome(); store = openStore(join(home.dir, 'greengate.db')); });
  afterEach(() => { store.close(); home.cleanup(); });

  /** A finished build whose one unit uploaded `files` (path → content) into the blob folder. */
  async function buildWith(day: number, files: Record<string, string>): Promise<number> {
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    const commit = String(day).padStart(40, '0');
    const id = store.builds.create({ repoId, builder: 'unit', ref: `refs/try/t${day}`, branch: `t${day}`, kind: 'try', sha: commit,
      baseSha: null, changeId: null, pushedAt: day * DAY, at: day * DAY, blamelist: [commit] });
    const unit = store.units.create({ buildId: id, seq: 0, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
      avoidRunnerId: null, lostCount: 0, at: day * DAY });
    const blobs = new Blobs(join(home.dir, 'data'));
    for (const [path, content] of Object.entries(files)) {
      const b = await blobs.write(Readable.from([Buffer.from(content)]));
      store.artifacts.put({ buildId: id, unitId: unit, step: 'unit', path, size: b.size, sha256: b.sha256, createdAt: day * DAY });
    }
    store.builds.finish(id, 'passed', null, day * DAY + 1000);
    return id;
  }
  const blobExists = (content: string) => existsSync(new Blobs(join(home.dir, 'data')).pathOf(createHash('sha256').update(content).digest('hex')));

  it('removes artifacts with their build\'s logs, and the files no artifact names any more (a file another build shares stays)', async () => {
    const old = await buildWith(1, { 'dist/old.js': 'only the old build\n', 'dist/shared.js': 'both builds\n' });
    const recent = await buildWith(99, { 'dist/shared.js': 'both builds\n' });
    const retention = new Retention(store, { data: join(home.dir, 'data'), retention: { logsDays: 30 } } as unknown as Config, silent, () => NOW, 0);
    const report = retention.runNow();
    expect(report.artifacts).to.equal(2);
    expect(await retention.sweeping).to.equal(1);
    expect(store.artifacts.byBuild(old)).to.deep.equal([]);
    expect(store.artifacts.byBuild(recent).map((a) => a.path)).to.deep.equal(['dist/shared.js']);
    expect(blobExists('only the old build\n')).to.equal(false);
    expect(blobExists('both builds\n')).to.equal(true);
    expect(store.builds.get(old)).to.not.equal(undefined); // logsDays keeps the build itself
  });

  it('keeps a file too young to be swept (an upload whose row is not committed yet)', async () => {
    await buildWith(1, { 'dist/old.js': 'old\n' });
    const retention = new Retention(store, { data: join(home.dir, 'data'), retention: { logsDays: 30 } } as unknown as Config, silent, () => NOW);
    expect(retention.runNow().artifacts).to.equal(1);
    expect(await retention.sweeping).to.equal(0);
    expect(blobExists('old\n')).to.equal(true);
  });
});
