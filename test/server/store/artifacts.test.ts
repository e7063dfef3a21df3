import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { artifactsForUnit, stepOfUnit } from '../../../server/artifacts/handoff.js';
import { tempHome } from '../../helpers.js';

describe('store/artifacts and artifacts/handoff (real SQLite file)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let build: number;
  let units: number[];
  beforeEach(() => {
    home = tempHome();
    store = openStore(join(home.dir, 'greengate.db'));
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    const sha = 'a'.repeat(40);
    build = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha, baseSha: null,
      changeId: null, pushedAt: 1, at: 1, blamelist: [sha] });
    units = [0, 1].map((seq) => store.units.create({ buildId: build, seq, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
      avoidRunnerId: null, lostCount: 0, at: 1 }));
  });
  afterEach(() => { store.close(); home.cleanup(); });

  const put = (unit: number, step: string, path: string, size: number, sha256: string) =>
    store.artifacts.put({ buildId: build, unitId: unit, step, path, size, sha256, createdAt: 5 });

  it('keeps one row per unit and path (a resent upload replaces it), sums a build\'s bytes and says which blobs are named', () => {
    put(units[0], 'build', 'dist/app.js', 10, '1'.repeat(64));
    const again = put(units[0], 'build', 'dist/app.js', 12, '2'.repeat(64));
    put(units[1], 'build', 'dist/other.js', 5, '2'.repeat(64));
    expect(store.artifacts.byBuild(build).map((a) => [a.path, a.size])).to.deep.equal([['dist/app.js', 12], ['dist/other.js', 5]]);
    expect(store.artifacts.get(again.id)).to.include({ sha256: '2'.repeat(64), step: 'build' });
    expect(store.artifacts.buildBytes(build)).to.equal(17);
    expect(store.artifacts.buildBytes(build, { unitId: units[0], path: 'dist/app.js' })).to.equal(5);
    expect(store.artifacts.referenced('2'.repeat(64))).to.equal(true);
    expect(store.artifacts.referenced('1'.repeat(64))).to.equal(false);
  });

  it('hands a unit the artifacts of the steps it needs only, one per path, as assign refs', () => {
    put(units[0], 'build', 'dist/app.js', 10, '1'.repeat(64));
    put(units[1], 'build', 'dist/app.js', 11, '3'.repeat(64)); // a later unit of the same path wins
    put(units[1], 'lint', 'report.txt', 3, '4'.repeat(64));
    const refs = artifactsForUnit(store, build, ['build']);
    expect(refs).to.have.length(1);
    expect(refs[0]).to.include({ path: 'dist/app.js', size: 11, sha256: '3'.repeat(64) });
    expect(refs[0].url).to.match(/^\/api\/artifacts\/\d+\/download$/);
    expect(artifactsForUnit(store, build, ['build', 'lint']).map((r) => r.path)).to.deep.equal(['dist/app.js', 'report.txt']);
    expect(artifactsForUnit(store, build, [])).to.deep.equal([]);
    expect(stepOfUnit({ step: null }, store.builds.get(build)!)).to.equal('unit'); // without steps: the builder
    expect(stepOfUnit({ step: 'test (NODE=20)' }, store.builds.get(build)!)).to.equal('test (NODE=20)');
  });

  it('goes with its build', () => {
    put(units[0], 'build', 'dist/app.js', 10, '1'.repeat(64));
    store.db.prepare('DELETE FROM units WHERE build_id = ?').run(build);
    store.db.prepare('DELETE FROM builds WHERE id = ?').run(build);
    expect(store.artifacts.referenced('1'.repeat(64))).to.equal(false);
  });
});
