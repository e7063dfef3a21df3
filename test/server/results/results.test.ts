import { expect } from 'chai';
import { openStore, type Store } from '../../../server/store/index.js';
import { recordUnitTests } from '../../../server/results/results.js';
import type { FinishedMessage, TestCase } from '../../../server/protocol.js';

describe('results: a finished unit teaches its builder what a unit costs', () => {
  let store: Store;
  let repoId: number;
  beforeEach(() => {
    store = openStore(':memory:');
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/git/shop.git' }]).get('shop')!.id;
  });
  afterEach(() => store.close());

  /** A build with one unit of `files`, started at `startedAt`. */
  function startUnit(files: string[], startedAt: number) {
    const buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
      sha: 'a'.repeat(40), baseSha: null, changeId: null, pushedAt: startedAt, at: startedAt, blamelist: [] });
    const unitId = store.units.create({ buildId, seq: 1, files, attempt: 1, retryOf: null, priority: 0, expectedMs: 0,
      avoidRunnerId: null, lostCount: 0, at: startedAt });
    store.units.markStarted(unitId, startedAt);
    return { build: store.builds.get(buildId)!, unit: store.units.get(unitId)! };
  }
  const finished = (unit: number, tests: TestCase[]): FinishedMessage => ({ type: 'finished', unit, exitCode: 0, signal: null,
    timedOut: false, error: null, chunks: 0, durationMs: 1e9, tests, testsError: null, setupMs: null, cacheHit: null });
  const test = (file: string | null, durationMs: number): TestCase => ({ name: `t ${file}`, classname: '', file, durationMs, status: 'passed', message: null });

  it('learns the run time less the test time, and shares only the rest among files without JUnit files', () => {
    const first = startUnit(['a.test.js', 'b.test.js'], 10_000);
    recordUnitTests(store, first.build, first.unit, undefined, finished(first.unit.id, [test('a.test.js', 100), test('b.test.js', 100)]), 11_000);
    expect(store.costs.get(repoId, 'unit')).to.deep.equal({ overheadMs: 800, samples: 1 });
    expect(store.tests.fileDurations(repoId, 'unit').get('a.test.js')).to.equal(100);

    // No files in the report: the 1,400 ms run less the 800 ms learned overhead is shared by the two files.
    const second = startUnit(['c.test.js', 'd.test.js'], 20_000);
    recordUnitTests(store, second.build, second.unit, undefined, finished(second.unit.id, [test(null, 300), test(null, 300)]), 21_400);
    const cost = store.costs.get(repoId, 'unit')!;
    expect(cost.samples).to.equal(2);
    expect(cost.overheadMs).to.be.closeTo(800 + 0.3 * (800 - 800), 1e-9);
    const durations = store.tests.fileDurations(repoId, 'unit');
    expect(durations.get('c.test.js')).to.be.closeTo(300, 1e-9);
    expect(durations.get('d.test.js')).to.be.closeTo(300, 1e-9);
  });
});
