import { expect } from 'chai';
import {
  estimateDurations,
  planUnits,
  shareDuration,
  updateEwma,
  type PlannedUnit,
} from '../../../server/planning/planner.js';
import { seededRandom } from '../../helpers.js';

/** 40 files from 50 ms to 3 s, log-uniform raised to `skew` (1: log-uniform; 2: more short files). */
function makeSuite(seed: number, skew: number, count = 40): Map<string, number> {
  const random = seededRandom(seed);
  const suite = new Map<string, number>();
  for (let i = 0; i < count; i += 1) {
    suite.set(`test/f${String(i).padStart(3, '0')}.test.js`, Math.round(50 * 60 ** (random() ** skew)));
  }
  return suite;
}

/** actual = expected × (1 ± 30%), uniformly. */
function addNoise(suite: Map<string, number>, seed: number): Map<string, number> {
  const random = seededRandom(seed);
  return new Map([...suite].map(([file, ms]) => [file, ms * (1 + 0.3 * (2 * random() - 1))]));
}

/** The queue: units in the planned order, each to the slot that frees up first, plus overhead. */
function simulateQueue(units: PlannedUnit[], actual: Map<string, number>, slots: number, overheadMs: number): number {
  const ends = new Array<number>(slots).fill(0);
  for (const unit of units) {
    const slot = ends.indexOf(Math.min(...ends));
    ends[slot] = ends[slot]! + overheadMs + unit.files.reduce((sum, file) => sum + actual.get(file)!, 0);
  }
  return Math.max(...ends);
}

function lowerBound(actual: Map<string, number>, slots: number): number {
  const values = [...actual.values()];
  return Math.max(Math.max(...values), values.reduce((a, b) => a + b, 0) / slots);
}

interface Ratios {
  exactWorst: number;
  exactMean: number;
  noisyWorst: number;
  noisyMean: number;
}

function measure(skew: number, seeds: number, targetMs: number): Ratios {
  const slots = 4; // 2 runners × 2 slots
  const overheadMs = 30;
  const exact: number[] = [];
  const noisy: number[] = [];
  for (let seed = 1; seed <= seeds; seed += 1) {
    const suite = makeSuite(seed, skew);
    const units = planUnits(suite, { targetMs, slots, overheadMs });
    exact.push(simulateQueue(units, suite, slots, overheadMs) / lowerBound(suite, slots));
    const actual = addNoise(suite, seed * 7919);
    noisy.push(simulateQueue(units, actual, slots, overheadMs) / lowerBound(actual, slots));
  }
  const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
  return { exactWorst: Math.max(...exact), exactMean: mean(exact), noisyWorst: Math.max(...noisy), noisyMean: mean(noisy) };
}

function filesOf(units: PlannedUnit[]): string[] {
  return units.flatMap((unit) => unit.files).sort();
}

describe('planner', () => {
  describe('estimateDurations', () => {
    it('keeps known durations and gives unknown files the median of the known ones', () => {
      const known = new Map([
        ['a', 100],
        ['b', 300],
        ['c', 200],
        ['gone', 9000],
      ]);
      const durations = estimateDurations(['a', 'b', 'c', 'new'], known);
      expect([...durations]).to.deep.equal([
        ['a', 100],
        ['b', 300],
        ['c', 200],
        ['new', 200],
      ]);
    });

    it('takes the median of an even count as the mean of the middle two', () => {
      const durations = estimateDurations(['a', 'b', 'new'], new Map([['a', 100], ['b', 400]]));
      expect(durations.get('new')).to.equal(250);
    });

    it('falls back to all of history when none of the listed files is known, then to defaultMs', () => {
      expect(estimateDurations(['new'], new Map([['old', 700]])).get('new')).to.equal(700);
      expect(estimateDurations(['new'], new Map()).get('new')).to.equal(1000);
      expect(estimateDurations(['new'], new Map(), 250).get('new')).to.equal(250);
    });

    it('treats a broken history value as unknown', () => {
      const durations = estimateDurations(['a', 'b'], new Map([['a', Number.NaN], ['b', 40]]));
      expect(durations.get('a')).to.equal(40);
    });
  });

  describe('planUnits', () => {
    it('gives [] for no files', () => {
      expect(planUnits(new Map(), { targetMs: 1000, slots: 4 })).to.deep.equal([]);
    });

    it('returns every file exactly once, longest unit first, expectedMs = files + overhead', () => {
      const suite = makeSuite(3, 1);
      const units = planUnits(suite, { targetMs: 2000, slots: 4, overheadMs: 30 });
      expect(filesOf(units)).to.deep.equal([...suite.keys()].sort());
      for (const unit of units) {
        expect(unit.expectedMs).to.be.closeTo(30 + unit.files.reduce((sum, f) => sum + suite.get(f)!, 0), 1e-9);
      }
      for (let i = 1; i < units.length; i += 1) expect(units[i - 1]!.expectedMs).to.be.at.least(units[i]!.expectedMs);
    });

    it('puts a file of targetMs or more in a unit of its own and keeps batches within targetMs', () => {
      const suite = makeSuite(5, 1);
      const targetMs = 800;
      const units = planUnits(suite, { targetMs, slots: 4, overheadMs: 30 });
      for (const unit of units) {
        const long = unit.files.filter((f) => suite.get(f)! >= targetMs);
        if (long.length) expect(unit.files).to.have.length(1);
        else expect(unit.expectedMs - 30).to.be.at.most(targetMs);
      }
    });

    it('batches short files when the per-unit overhead makes it worth it', () => {
      const suite = new Map(Array.from({ length: 200 }, (_, i) => [`t${i}.js`, 20] as const));
      const units = planUnits(suite, { targetMs: 2000, slots: 4, overheadMs: 30 });
      expect(units.length).to.be.within(4, 40);
      expect(units.some((unit) => unit.files.length > 1)).to.equal(true);
      expect(filesOf(units)).to.have.length(200);
    });

    it('never makes fewer units than min(files, slots)', () => {
      const tiny = new Map([
        ['a', 10],
        ['b', 10],
        ['c', 10],
      ]);
      expect(planUnits(tiny, { targetMs: 10_000, slots: 8, overheadMs: 30 })).to.have.length(3);
      const many = new Map(Array.from({ length: 50 }, (_, i) => [`t${i}`, 5] as const));
      expect(planUnits(many, { targetMs: 10_000, slots: 6, overheadMs: 30 }).length).to.be.at.least(6);
      const zero = new Map(Array.from({ length: 9 }, (_, i) => [`z${i}`, 0] as const));
      const units = planUnits(zero, { targetMs: 1000, slots: 4, overheadMs: 0 });
      expect(units.length).to.be.at.least(4);
      expect(units.every((unit) => unit.files.length > 0)).to.equal(true);
    });

    it('ends the queue with small units, so the slots finish together', () => {
      const suite = makeSuite(11, 1);
      const units = planUnits(suite, { targetMs: 5000, slots: 4, overheadMs: 30 });
      const share = [...suite.values()].reduce((a, b) => a + b, 0) / 4;
      for (const unit of units.slice(-4)) expect(unit.expectedMs).to.be.below(share / 2);
    });

    it('is deterministic', () => {
      const suite = makeSuite(8, 2);
      const options = { targetMs: 2000, slots: 4, overheadMs: 30 };
      expect(planUnits(suite, options)).to.deep.equal(planUnits(new Map([...suite].reverse()), options));
    });

    it('refuses options that make no sense', () => {
      expect(() => planUnits(new Map([['a', 1]]), { targetMs: 0, slots: 4 })).to.throw(RangeError, /targetMs/);
      expect(() => planUnits(new Map([['a', 1]]), { targetMs: 10, slots: 0 })).to.throw(RangeError, /slots/);
    });
  });

  describe('simulated makespan, 2 runners × 2 slots, 30 ms per unit, 40 files of 0.05–3 s', () => {
    // Ratio = makespan / max(longest file, total / slots), both on the actual durations.
    it('log-uniform suites: ≤ 1.05 with known durations and ≤ 1.15 with ±30% noise, 50 seeds', () => {
      for (const targetMs of [2000, 5000]) {
        const ratios = measure(1, 50, targetMs);
        expect(ratios.exactWorst, `targetMs ${targetMs}`).to.be.at.most(1.05);
        expect(ratios.noisyWorst, `targetMs ${targetMs}`).to.be.at.most(1.15);
      }
    });

    it('heavily skewed suites (mostly short files): mean ≤ 1.05, worst ≤ 1.10 known, ≤ 1.15 noisy, 50 seeds', () => {
      const ratios = measure(2, 50, 2000);
      expect(ratios.exactMean).to.be.at.most(1.05);
      expect(ratios.exactWorst).to.be.at.most(1.1);
      expect(ratios.noisyWorst).to.be.at.most(1.15);
    });

    it('beats one unit per file and one batch per slot under noise', () => {
      const slots = 4;
      let planned = 0;
      let singles = 0;
      let bins = 0;
      for (let seed = 1; seed <= 20; seed += 1) {
        const suite = makeSuite(seed, 1);
        const actual = addNoise(suite, seed * 7919);
        const longestFirst = [...suite].sort((a, b) => b[1] - a[1]);
        planned += simulateQueue(planUnits(suite, { targetMs: 2000, slots, overheadMs: 30 }), actual, slots, 30);
        const one = longestFirst.map(([file, ms]) => ({ files: [file], expectedMs: ms + 30 }));
        singles += simulateQueue(one, actual, slots, 30);
        const perSlot = Array.from({ length: slots }, () => ({ files: [] as string[], expectedMs: 30 }));
        for (const [file, ms] of longestFirst) {
          const bin = perSlot.reduce((a, b) => (b.expectedMs < a.expectedMs ? b : a));
          bin.files.push(file);
          bin.expectedMs += ms;
        }
        bins += simulateQueue(perSlot, actual, slots, 30);
      }
      expect(planned).to.be.below(singles);
      expect(planned).to.be.below(bins);
    });
  });

  describe('updateEwma', () => {
    it('takes the first sample as it is, then moves 30% of the way to each new sample', () => {
      expect(updateEwma(null, 500)).to.equal(500);
      expect(updateEwma(1000, 2000)).to.equal(1300);
      expect(updateEwma(1000, 0, 0.5)).to.equal(500);
    });

    it('refuses an alpha outside (0, 1] and a sample that is not a number', () => {
      expect(() => updateEwma(1, 2, 0)).to.throw(RangeError);
      expect(() => updateEwma(1, 2, 1.5)).to.throw(RangeError);
      expect(() => updateEwma(1, Number.NaN)).to.throw(RangeError);
    });
  });

  describe('shareDuration', () => {
    it('splits in proportion to the expected durations', () => {
      const shares = shareDuration(1000, ['a', 'b'], new Map([['a', 300], ['b', 100]]));
      expect([...shares]).to.deep.equal([
        ['a', 750],
        ['b', 250],
      ]);
    });

    it('gives a file without an expectation the mean weight, and equal shares when nothing is known', () => {
      const shares = shareDuration(900, ['a', 'b', 'c'], new Map([['a', 100], ['b', 200]]));
      expect(shares.get('c')).to.be.closeTo(300, 1e-9);
      expect([...shareDuration(90, ['x', 'y', 'z'], new Map()).values()]).to.deep.equal([30, 30, 30]);
    });

    it('sums to the measured time and handles an empty unit', () => {
      const shares = shareDuration(1234, ['a', 'b', 'c'], new Map([['a', 1], ['b', 7], ['c', 13]]));
      expect([...shares.values()].reduce((x, y) => x + y, 0)).to.be.closeTo(1234, 1e-9);
      expect(shareDuration(100, [], new Map()).size).to.equal(0);
    });
  });
});
