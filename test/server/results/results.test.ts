import { expect } from 'chai';
import type { Store } from '../../../server/store/index.js';
import { shopStore } from '../memory.js';
import { recordUnitTests } from '../../../server/results/results.js';
import type { FileTime, FinishedMessage, TestCase } from '../../../server/protocol.js';
import { planUnits } from '../../../server/planning/planner.js';
import { overheadFor } from '../../../server/planning/costs.js';

describe('results: a finished unit teaches its builder what a unit costs', () => {
  let store: Store;
  let repoId: number;
  beforeEach(() => { ({ store, repoId } = shopStore()); });
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
  const finished = (unit: number, tests: TestCase[], fileTimes?: FileTime[]): FinishedMessage => ({ type: 'finished', unit, exitCode: 0,
    signal: null, timedOut: false, error: null, chunks: 0, durationMs: 1e9, tests, testsError: null, setupMs: null, cacheHit: null,
    ...(fileTimes ? { fileTimes } : {}) });
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

  it('learns a file\'s duration from its reported wall time, and the per-unit cost as the run less the files\' wall times', () => {
    // jest-junit's shape: each file's suite time (900, 600) includes its module loading; its tests sum to 100 each.
    const first = startUnit(['a.test.js', 'b.test.js'], 10_000);
    recordUnitTests(store, first.build, first.unit, undefined, finished(first.unit.id, [test('a.test.js', 100), test('b.test.js', 100)],
      [{ file: 'a.test.js', ms: 900 }, { file: 'b.test.js', ms: 600 }]), 12_000);
    expect(store.costs.get(repoId, 'unit')).to.deep.equal({ overheadMs: 2000 - 1500, samples: 1 });
    let durations = store.tests.fileDurations(repoId, 'unit');
    expect(durations.get('a.test.js')).to.equal(900);
    expect(durations.get('b.test.js')).to.equal(600);

    // Only one file has a wall time: it is that file's sample, the other keeps its tests' sum, and the
    // per-unit cost is learned from the tests' times as before (2,000 - 300 = 1,700).
    const second = startUnit(['c.test.js', 'd.test.js'], 20_000);
    recordUnitTests(store, second.build, second.unit, undefined, finished(second.unit.id, [test('c.test.js', 100), test('d.test.js', 200)],
      [{ file: 'c.test.js', ms: 700 }, { file: 'elsewhere.test.js', ms: 50 }]), 22_000);
    expect(store.costs.get(repoId, 'unit')!.overheadMs).to.be.closeTo(500 + 0.3 * (1700 - 500), 1e-9);
    durations = store.tests.fileDurations(repoId, 'unit');
    expect(durations.get('c.test.js')).to.equal(700);
    expect(durations.get('d.test.js')).to.equal(200);
    expect(durations.has('elsewhere.test.js')).to.equal(false);
  });

  describe('planning with what it learned: slots with different file counts finish together', () => {
    // A jest-like suite (commander.js in bench:real): every file pays LOAD_MS of module loading besides
    // its tests; each unit pays PROCESS_MS once. 3 heavy files and 107 light ones, so a split balanced
    // on test time alone gives the two units very different file counts.
    const LOAD_MS = 40;
    const PROCESS_MS = 500;
    const testMs = new Map(Array.from({ length: 110 }, (_, i) => [`test/f${String(i).padStart(3, '0')}.test.js`, i < 3 ? 1000 : 10]));
    const costOf = (files: readonly string[]) => PROCESS_MS + files.reduce((sum, f) => sum + LOAD_MS + testMs.get(f)!, 0);

    /** Learns from one unit of every file (with or without the files' wall times), plans 2 slots, runs the plan: the slots' spread. */
    function spreadAfterLearning(withWallTimes: boolean): { spread: number; units: number } {
      const files = [...testMs.keys()];
      const learning = startUnit(files, 10_000);
      const tests = files.map((f) => test(f, testMs.get(f)!));
      const walls = withWallTimes ? files.map((file) => ({ file, ms: LOAD_MS + testMs.get(file)! })) : undefined;
      recordUnitTests(store, learning.build, learning.unit, undefined, finished(learning.unit.id, tests, walls), 10_000 + costOf(files));
      const units = planUnits(store.tests.fileDurations(repoId, 'unit'),
        { targetMs: 60_000, slots: 2, overheadMs: overheadFor(store.costs.get(repoId, 'unit')) });
      const ends = [0, 0];
      for (const u of units) {
        const slot = ends[0]! <= ends[1]! ? 0 : 1;
        ends[slot]! += costOf(u.files);
      }
      return { spread: (Math.max(...ends) - Math.min(...ends)) / Math.max(...ends), units: units.length };
    }

    it('is balanced within 2% when the files\' wall times (module loading included) are learned', () => {
      const { spread, units } = spreadAfterLearning(true);
      expect(store.costs.get(repoId, 'unit')!.overheadMs).to.equal(PROCESS_MS);
      expect(units).to.equal(2); // one unit per slot, as bench:real plans commander.js
      expect(spread).to.be.below(0.02);
    });

    it('is not, from test times alone (the loading goes into the per-unit cost instead)', () => {
      const { spread, units } = spreadAfterLearning(false);
      expect(store.costs.get(repoId, 'unit')!.overheadMs).to.equal(PROCESS_MS + LOAD_MS * 110);
      expect(units).to.equal(2);
      expect(spread).to.be.above(0.3);
    });
  });
});
