import { expect } from 'chai';
import { join } from 'node:path';
import { openStore, type Store } from '../../../server/store/index.js';
import { markNewFailures } from '../../../server/results/newFailures.js';
import type { TestStatus } from '../../../server/store/tests.js';
import { tempHome } from '../../helpers.js';

// A real SQLite file; builds, units and test results written through the store as the lifecycle writes them.

describe('results/newFailures: only new failures close the tree', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let repoId: number;
  let pushes = 0;
  beforeEach(() => {
    home = tempHome('gg-newfail-');
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
    pushes = 0;
  });
  afterEach(() => { store.close(); home.cleanup(); });

  /** A finished failed build; each unit: its test results, or a unit result with no tests. */
  function build(units: { tests?: [string, TestStatus][]; result?: 'failed' | 'passed'; retryOf?: number }[], kind: 'branch' | 'try' = 'branch') {
    const at = ++pushes;
    const ref = kind === 'try' ? 'refs/try/1' : 'refs/heads/main';
    const changeId = store.repos.recordChange({ repoId, ref, branch: kind === 'try' ? '1' : 'main', kind, oldSha: null, newSha: 'a'.repeat(40),
      source: 'api', pusher: null, at });
    const id = store.builds.create({ repoId, builder: 'unit', ref, branch: kind === 'try' ? '1' : 'main', kind, sha: 'a'.repeat(40), baseSha: null,
      changeId, pushedAt: at, at, blamelist: [] });
    const unitIds: number[] = [];
    units.forEach((u, i) => {
      const unit = store.units.create({ buildId: id, seq: i + 1, files: [], attempt: u.retryOf ? 2 : 1, retryOf: u.retryOf !== undefined ? unitIds[u.retryOf] : null,
        priority: 0, expectedMs: 1, avoidRunnerId: null, lostCount: 0, at });
      unitIds.push(unit);
      const tests = u.tests ?? [];
      store.tests.insert({ id, repoId, builder: 'unit' }, unit, u.retryOf !== undefined ? 2 : 1,
        tests.map(([name, status]) => ({ name, classname: 'cart', file: 'test/cart.test.js', durationMs: 1, status, message: null })), at);
      const failed = u.result ?? (tests.some(([, s]) => s === 'failed' || s === 'error') ? 'failed' : 'passed');
      store.units.finish(unit, { result: failed, exitCode: failed === 'failed' ? 1 : 0, signal: null, error: null, at });
    });
    store.builds.finish(id, 'failed', null, at);
    return store.builds.get(id)!;
  }
  const before = (id: number) => store.tests.finalByBuild(id).filter((t) => t.failingBefore).map((t) => t.name).sort();

  it('counts every failure of the branch\'s first build as failing before (greengate did not see it break)', () => {
    const first = build([{ tests: [['adds', 'failed'], ['totals', 'error'], ['ok', 'passed']] }]);
    expect(markNewFailures(store, first)).to.equal(0);
    expect(before(first.id)).to.deep.equal(['adds', 'totals']);
    expect(store.builds.get(first.id)!.newFailures).to.equal(0);
  });

  it('counts a test that failed before as old, one that passed before as new, through a chain of builds', () => {
    const first = build([{ tests: [['adds', 'failed'], ['totals', 'passed']] }]);
    markNewFailures(store, first);
    const second = build([{ tests: [['adds', 'failed'], ['totals', 'failed']] }]);
    expect(markNewFailures(store, second)).to.equal(1);
    expect(before(second.id)).to.deep.equal(['adds']);
    // totals was new in the second build, so it is not "failing before" in the third: still new there.
    const third = build([{ tests: [['adds', 'failed'], ['totals', 'failed']] }]);
    expect(markNewFailures(store, third)).to.equal(1);
    expect(store.builds.get(third.id)!.newFailures).to.equal(1);
  });

  it('counts a failed unit that reported no failing test as new (cause unknown), but not one a retry replaced', () => {
    const first = build([{ tests: [['ok', 'passed']] }]);
    markNewFailures(store, first);
    const second = build([{ result: 'failed' }, { tests: [['ok', 'passed']] }]);
    expect(markNewFailures(store, second)).to.equal(1);
    const third = build([{ result: 'failed' }, { tests: [['ok', 'passed']], retryOf: 0 }]);
    expect(markNewFailures(store, third)).to.equal(0);
  });

  it('treats every failure of a try build as new (no previous build of a branch)', () => {
    const tryBuild = build([{ tests: [['adds', 'failed']] }], 'try');
    expect(markNewFailures(store, tryBuild)).to.equal(1);
    expect(before(tryBuild.id)).to.deep.equal([]);
  });
});
