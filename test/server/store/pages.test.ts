import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { PageStore } from '../../../server/store/pages.js';
import { tempHome } from '../../helpers.js';

describe('store/pages: test history keyed by file (a real SQLite file)', () => {
  const home = tempHome('gg-store-pages-');
  let store: Store;
  let pages: PageStore;

  before(() => {
    store = openStore(join(home.dir, 'greengate.db'));
    pages = new PageStore(store.db);
    const repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    const buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
      sha: 'a'.repeat(40), baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
    const unit = store.units.create({ buildId, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: 1 });
    const test = (file: string | null, durationMs: number) =>
      ({ name: 'same name', classname: '', file, durationMs, status: 'passed' as const, message: null });
    store.tests.insert({ id: buildId, repoId, builder: 'unit' }, unit, 1, [test('test/a.test.js', 10), test('test/b.test.js', 30), test(null, 50)], 2);
  });

  after(() => {
    store.close();
    home.cleanup();
  });

  it('ranks same-named tests of different files apart', () => {
    const { slowest } = pages.testRankings(10);
    expect(slowest.map((t) => [t.file, t.runs, t.avgMs])).to.deep.equal([['', 1, 50], ['test/b.test.js', 1, 30], ['test/a.test.js', 1, 10]]);
  });

  it("gives one file's runs, the runs without a file for '', and every file's without one", () => {
    const runs = (file: string | null) => pages.testRuns(store.repos.byName('shop')!.id, 'unit', '', 'same name', 10, file).map((r) => r.durationMs);
    expect(runs('test/a.test.js')).to.deep.equal([10]);
    expect(runs('test/b.test.js')).to.deep.equal([30]);
    expect(runs('')).to.deep.equal([50]);
    expect(runs(null)).to.deep.equal([50, 30, 10]);
  });

  it('narrows the API history (store.tests.history) to one file the same way', () => {
    const history = (file: string | null) => store.tests.history({ repoId: store.repos.byName('shop')!.id, builder: 'unit',
      name: 'same name', classname: null, limit: 10, file }).map((r) => r.durationMs);
    expect(history('test/b.test.js')).to.deep.equal([30]);
    expect(history(null)).to.deep.equal([50, 30, 10]);
  });
});
