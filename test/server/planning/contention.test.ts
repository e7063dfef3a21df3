import { expect } from 'chai';
import {
  MAX_FACTOR,
  MIN_FACTOR_SAMPLES,
  concurrencyLevel,
  contentionNotice,
  factorAt,
  learnFactor,
  meanConcurrency,
  observeFactor,
  slowdownFor,
  type Contention,
  type LearnedFactor,
} from '../../../server/planning/contention.js';

const learned = (factor: number, samples = MIN_FACTOR_SAMPLES): LearnedFactor => ({ factor, samples });

describe('contention: how much slower units run together', () => {
  describe('meanConcurrency', () => {
    it('counts the unit itself and weighs each neighbour by the share of the run it overlapped', () => {
      expect(meanConcurrency({ start: 0, end: 100 }, [])).to.equal(1);
      expect(meanConcurrency({ start: 0, end: 100 }, [{ start: -50, end: 200 }, { start: 0, end: 100 }, { start: 0, end: null }])).to.equal(4);
      expect(meanConcurrency({ start: 0, end: 100 }, [{ start: 50, end: 150 }, { start: -10, end: 25 }])).to.equal(1.75);
      expect(meanConcurrency({ start: 0, end: 100 }, [{ start: 100, end: 200 }, { start: -100, end: 0 }]), 'touching only').to.equal(1);
    });
    it('counts the units running at its start when it took no time', () => {
      expect(meanConcurrency({ start: 10, end: 10 }, [{ start: 0, end: null }, { start: 0, end: 5 }])).to.equal(2);
    });
    it('rounds to a level of at least 1', () => {
      expect(concurrencyLevel(3.4)).to.equal(3);
      expect(concurrencyLevel(3.5)).to.equal(4);
      expect(concurrencyLevel(0.2)).to.equal(1);
      expect(concurrencyLevel(null)).to.equal(1);
      expect(concurrencyLevel(Number.NaN)).to.equal(1);
    });
  });

  describe('observeFactor and learnFactor', () => {
    it('is the run time over the solo time, clamped to 1…MAX_FACTOR', () => {
      expect(observeFactor({ runMs: 1900, soloMs: 1000 })).to.equal(1.9);
      expect(observeFactor({ runMs: 800, soloMs: 1000 }), 'faster than alone is noise').to.equal(1);
      expect(observeFactor({ runMs: 1e9, soloMs: 1 })).to.equal(MAX_FACTOR);
    });
    it('learns nothing without a solo time, from broken times, or at k = 1', () => {
      expect(observeFactor({ runMs: 1000, soloMs: null })).to.equal(null);
      expect(observeFactor({ runMs: 1000, soloMs: 0 })).to.equal(null);
      expect(observeFactor({ runMs: Number.NaN, soloMs: 10 })).to.equal(null);
      expect(learnFactor(null, 1, { runMs: 2000, soloMs: 1000 })).to.equal(null);
      const before = learned(1.5);
      expect(learnFactor(before, 4, { runMs: 2000, soloMs: null })).to.equal(before);
    });
    it('takes the first sample as it is, then moves 30% toward each new one', () => {
      const first = learnFactor(null, 4, { runMs: 2000, soloMs: 1000 });
      expect(first).to.deep.equal({ factor: 2, samples: 1 });
      const second = learnFactor(first, 4, { runMs: 1000, soloMs: 1000 });
      expect(second!.factor).to.be.closeTo(2 + 0.3 * (1 - 2), 1e-9);
      expect(second!.samples).to.equal(2);
    });
  });

  describe('factorAt', () => {
    it('is 1 at k = 1, with nothing learned, and for a factor with too few samples', () => {
      expect(factorAt(new Map(), 4)).to.equal(1);
      expect(factorAt(new Map([[4, learned(2)]]), 1)).to.equal(1);
      expect(factorAt(new Map([[4, learned(2, MIN_FACTOR_SAMPLES - 1)]]), 4)).to.equal(1);
    });
    it('interpolates from (1, 1), keeps the last learned factor above it, and never decreases with k', () => {
      const c: Contention = new Map([[4, learned(2)], [3, learned(1.5)], [6, learned(1.2)]]);
      expect(factorAt(c, 2)).to.be.closeTo(1.25, 1e-9);
      expect(factorAt(c, 3)).to.equal(1.5);
      expect(factorAt(c, 3.5)).to.be.closeTo(1.75, 1e-9);
      expect(factorAt(c, 4)).to.equal(2);
      expect(factorAt(c, 6), 'a lower factor at a higher k reads as the one before').to.equal(2);
      expect(factorAt(c, 64)).to.equal(2);
    });
  });

  describe('slowdownFor', () => {
    const c: Contention = new Map([[2, learned(1)], [4, learned(2)]]);
    it('spreads n units over the runners in proportion to their slots', () => {
      const two = slowdownFor(c, [4, 4]);
      expect(two(8)).to.equal(2);
      expect(two(4), 'two units on each runner').to.equal(1);
      expect(two(1)).to.equal(1);
      expect(two(6), 'three on each').to.be.closeTo(1.5, 1e-9);
      const mixed = slowdownFor(c, [4, 2]);
      expect(mixed(6), 'four on one (2×), two on the other (1×), weighed by slots').to.be.closeTo((4 * 2 + 2 * 1) / 6, 1e-9);
    });
    it('is 1 when nothing is learned or there are no runners', () => {
      expect(slowdownFor(new Map(), [4])(4)).to.equal(1);
      expect(slowdownFor(c, [])(4)).to.equal(1);
    });
  });

  describe('contentionNotice', () => {
    it('names a runner whose slots ran markedly slower together, and how many would be as fast', () => {
      expect(contentionNotice('r1', 4, 1.9)).to.equal('r1: 4 slots ran 1.9× slower together than alone — about 2 would be as fast');
      expect(contentionNotice('r1', 4, 1.3)).to.equal('r1: 4 slots ran 1.3× slower together than alone — about 3 would be as fast');
    });
    it('says nothing below the notice factor or for one slot', () => {
      expect(contentionNotice('r1', 4, 1.29)).to.equal(null);
      expect(contentionNotice('r1', 1, 3)).to.equal(null);
    });
  });
});
