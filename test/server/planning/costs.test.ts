import { expect } from 'chai';
import { MAX_OVERHEAD_MS, learnUnitCost, observeOverhead, overheadFor } from '../../../server/planning/costs.js';
import { COSTLY_UNIT_SHARE, DEFAULT_OVERHEAD_MS, planUnits } from '../../../server/planning/planner.js';

describe('costs: what one more unit costs', () => {
  describe('observeOverhead', () => {
    it('is the run time less the JUnit test time, else less the learned file durations', () => {
      expect(observeOverhead({ runMs: 1500, testMs: 400, knownMs: 900 })).to.equal(1100);
      expect(observeOverhead({ runMs: 1500, testMs: null, knownMs: 900 })).to.equal(600);
      expect(observeOverhead({ runMs: 1500, testMs: 0, knownMs: 1000 })).to.equal(500);
    });
    it('is the run time less the files\' reported wall times when every file has one (then the test time does not count)', () => {
      expect(observeOverhead({ runMs: 1500, testMs: 400, knownMs: 900, wallMs: 1200 })).to.equal(300);
      expect(observeOverhead({ runMs: 1500, testMs: 400, knownMs: 900, wallMs: null })).to.equal(1100);
      expect(observeOverhead({ runMs: 1500, testMs: 400, knownMs: 900, wallMs: 1600 })).to.equal(null); // more than the run: teaches nothing
    });
    it('learns nothing when nothing is known, when tests ran in parallel, or from a broken time', () => {
      expect(observeOverhead({ runMs: 1500, testMs: null, knownMs: null })).to.equal(null);
      expect(observeOverhead({ runMs: 1500, testMs: 4000, knownMs: 100 })).to.equal(null);
      expect(observeOverhead({ runMs: Number.NaN, testMs: 10, knownMs: null })).to.equal(null);
      expect(observeOverhead({ runMs: -5, testMs: 10, knownMs: null })).to.equal(null);
    });
    it('caps a sample at MAX_OVERHEAD_MS', () => {
      expect(observeOverhead({ runMs: 10 * MAX_OVERHEAD_MS, testMs: 1, knownMs: null })).to.equal(MAX_OVERHEAD_MS);
    });
  });

  describe('learnUnitCost and overheadFor', () => {
    it('starts from the prior, takes the first sample as it is, then moves 30% toward each new one', () => {
      expect(overheadFor(null)).to.equal(DEFAULT_OVERHEAD_MS);
      const first = learnUnitCost(null, { runMs: 900, testMs: 100, knownMs: null });
      expect(first).to.deep.equal({ overheadMs: 800, samples: 1 });
      const second = learnUnitCost(first, { runMs: 500, testMs: 100, knownMs: null });
      expect(second!.overheadMs).to.be.closeTo(800 + 0.3 * (400 - 800), 1e-9);
      expect(second!.samples).to.equal(2);
      expect(overheadFor(second)).to.equal(second!.overheadMs);
    });
    it('keeps the cost as it was when a unit teaches nothing', () => {
      const cost = { overheadMs: 250, samples: 3 };
      expect(learnUnitCost(cost, { runMs: 100, testMs: null, knownMs: null })).to.equal(cost);
      expect(learnUnitCost(null, { runMs: 100, testMs: null, knownMs: null })).to.equal(null);
    });
  });

  describe('planning with a learned cost', () => {
    const suite = new Map(Array.from({ length: 40 }, (_, i) => [`test/f${String(i).padStart(2, '0')}.test.js`, 50 + ((i * 37) % 100)]));
    const total = [...suite.values()].reduce((a, b) => a + b, 0);

    it('makes no more units than slots when a unit costs far more than the whole suite per slot', () => {
      const units = planUnits(suite, { targetMs: 2000, slots: 4, overheadMs: 800 });
      expect(units.length).to.equal(4);
      expect(units.flatMap((u) => u.files).sort()).to.deep.equal([...suite.keys()].sort());
    });

    it('is never slower than one balanced unit per slot once units are costly (and within 10% when they are cheap)', () => {
      // Also with a learned contention factor (contention.ts): n units at once on `slots / 2` CPUs run max(1, 2n / slots)× slower.
      for (const contended of [false, true]) {
        for (const overheadMs of [0, 30, 300, 1000, 5000]) {
          for (const slots of [1, 2, 4, 16]) {
            const slowdown = contended ? (n: number) => Math.max(1, (2 * n) / slots) : undefined;
            const units = planUnits(suite, { targetMs: 500, slots, overheadMs, slowdown });
            const ends = new Array<number>(slots).fill(0);
            for (const u of units) {
              const slot = ends.indexOf(Math.min(...ends));
              ends[slot]! += u.expectedMs; // expectedMs: under the contention of the plan's units
            }
            // One balanced batch per slot, 150 ms of file granularity, each slowed down as all slots run at once.
            const perSlot = (overheadMs + Math.ceil(total / slots) + 150) * (slowdown?.(slots) ?? 1);
            const costly = overheadMs * slots >= COSTLY_UNIT_SHARE * total;
            expect(Math.max(...ends), `${overheadMs} ms per unit, ${slots} slots, contended ${contended}`).to.be.at.most(costly ? perSlot : 1.1 * perSlot);
          }
        }
      }
    });

    it('still makes many small units when a unit costs little', () => {
      expect(planUnits(suite, { targetMs: 2000, slots: 4, overheadMs: 0 }).length).to.be.greaterThan(4);
    });
  });
});
