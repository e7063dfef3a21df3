import { expect } from 'chai';
import {
  MAX_FACTOR,
  MIN_FACTOR_SAMPLES,
  concurrencyLevel,
  contentionNotice,
  slotAdvice,
  factorAt,
  learnFactor,
  meanConcurrency,
  observeFactor,
  slowdownFor,
  type Contention,
  type LearnedFactor,
} from '../../../server/planning/contention.js';
import { COSTLY_UNIT_SHARE, countUsefulSlots, planUnits, type PlannedUnit } from '../../../server/planning/planner.js';
import { seededRandom } from '../../helpers.js';

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

  describe('slotAdvice (measured wall times, not a rounded ratio)', () => {
    const at = (...levels: [number, number][]): Contention => new Map(levels.map(([k, f]) => [k, learned(f)]));
    it('never advises the serial run when 2 slots were faster, whatever slots ÷ factor rounds to', () => {
      // 2 slots at 1.5×: the work takes 0.75 of its serial time; round(2 / 1.5) = 1 said "about 1 would be as fast"
      expect(slotAdvice(at([2, 1.5]), 2, 2)).to.equal(null);
      expect(slotAdvice(at([2, 1.9]), 2, 2), '2 at 1.9× still beats 1').to.equal(null);
      expect(slotAdvice(at([2, 2]), 2, 1), 'exactly the serial time').to.equal('about 1 would be as fast');
      expect(slotAdvice(at([2, 2.4]), 2, 1)).to.equal('about 1 would be as fast');
    });
    it('names the fewest measured slots whose wall time is no longer, and none it has not measured', () => {
      expect(slotAdvice(at([2, 1.05], [4, 2.2]), 4, 2), '4 at 2.2× (0.55) is slower than 2 at 1.05× (0.525)').to.equal('about 2 would be as fast');
      expect(slotAdvice(at([2, 1.05], [4, 2.05]), 4, 2), '4 at 2.05× (0.5125) beats 2 (0.525)').to.equal(null);
      expect(slotAdvice(at([4, 2.2]), 4, 2), 'nothing measured below 4 but the serial run (1 > 0.55)').to.equal(null);
      expect(slotAdvice(at([3, 1.2], [4, 4]), 4, 2)).to.equal('about 1 would be as fast');
      expect(slotAdvice(new Map([[4, learned(3, MIN_FACTOR_SAMPLES - 1)]]), 4, 2), 'slots itself not measured yet').to.equal(null);
      expect(slotAdvice(new Map([[2, learned(1.01, 1)], [4, learned(2.2)]]), 4, 2), 'a level of one sample is not measured').to.equal(null);
    });
    it('says more slots may help when units wait on timers: 4 slots 4–13 % faster than 2 on 2 CPUs', () => {
      // the timer-bound suite: 2 slots at 1.1× (0.55 of the serial time), 4 slots 4 % and 13 % faster than that
      for (const faster of [1.04, 1.13]) {
        const f4 = (4 / 2) * 1.1 / faster;
        expect(slotAdvice(at([2, 1.1], [4, f4]), 4, 2), `4 slots ${faster}× as fast as 2`).to.equal('more slots may help: its units wait (timers, I/O) while CPUs idle');
      }
      expect(slotAdvice(at([4, 2.1]), 4, 2), 'CPU-bound: 4 units at 2.1× on 2 CPUs').to.equal(null);
      expect(slotAdvice(at([4, 1.2]), 4, null), 'CPUs unknown').to.equal(null);
      expect(slotAdvice(at([2, 1.1]), 2, 2), 'no more units than CPUs: nothing tells waiting from working').to.equal(null);
      expect(slotAdvice(at([2, 1.1], [4, (4 / 2) * 1.1 / 1.01]), 4, 2), '1 % faster is noise').to.equal(null);
    });
  });

  describe('contentionNotice', () => {
    const at = (...levels: [number, number][]): Contention => new Map(levels.map(([k, f]) => [k, learned(f)]));
    it('names a runner whose slots ran markedly slower together, and how many measured slots would be as fast', () => {
      expect(contentionNotice('r1', 4, at([2, 1], [4, 2.1]))).to.equal('r1: 4 slots ran 2.1× slower together than alone — about 2 would be as fast');
      expect(contentionNotice('r1', 4, at([4, 1.9])), 'nothing fewer measured as fast').to.equal('r1: 4 slots ran 1.9× slower together than alone');
      expect(contentionNotice('r1', 2, at([2, 1.5]), 2), 'never the serial run when 2 were faster').to.equal('r1: 2 slots ran 1.5× slower together than alone (2 CPUs)');
    });
    it('names the runner machine\'s CPUs when it said', () => {
      expect(contentionNotice('r1', 4, at([2, 1], [4, 2.1]), 2)).to.equal('r1: 4 slots ran 2.1× slower together than alone (2 CPUs) — about 2 would be as fast');
      expect(contentionNotice('r1', 2, at([2, 2]), 1)).to.equal('r1: 2 slots ran 2.0× slower together than alone (1 CPU) — about 1 would be as fast');
    });
    it('names a runner whose units waited while CPUs idled, even below the notice factor', () => {
      expect(contentionNotice('r1', 4, at([4, 1.2]), 2)).to.equal('r1: 4 slots ran 1.2× slower together than alone (2 CPUs) — more slots may help: its units wait (timers, I/O) while CPUs idle');
    });
    it('says nothing below the notice factor or for one slot', () => {
      expect(contentionNotice('r1', 4, at([4, 1.29]))).to.equal(null);
      expect(contentionNotice('r1', 4, at([4, 1.29]), 4)).to.equal(null);
      expect(contentionNotice('r1', 1, at([2, 3]))).to.equal(null);
    });
  });

  describe('planning with a learned factor (a runner of `slots` slots on `cpus` CPUs)', () => {
    /** 40 files of 50 ms to 3 s, log-uniform. */
    function makeSuite(seed: number): Map<string, number> {
      const random = seededRandom(seed);
      return new Map(Array.from({ length: 40 }, (_, i) => [`test/f${String(i).padStart(2, '0')}.test.js`, Math.round(50 * 60 ** random())]));
    }
    /** What a CPU-bound machine does: m units at once each progress at min(1, cpus / m) of their speed alone. */
    const cpuBound = (cpus: number) => (k: number) => Math.max(1, k / cpus);

    /**
     * The queue on one runner as processor sharing: units in plan order to free slots, every running unit
     * at min(1, cpus / running) of its solo speed. Returns each unit's run time and each used slot's end.
     */
    function runShared(units: PlannedUnit[], solo: Map<string, number>, slots: number, cpus: number, overheadMs: number) {
      const work = units.map((u) => overheadMs + u.files.reduce((sum, f) => sum + solo.get(f)!, 0));
      const running: { unit: number; slot: number; left: number; start: number }[] = [];
      const took = new Array<number>(units.length).fill(0);
      const slotEnds = new Map<number, number>();
      const free = Array.from({ length: slots }, (_, i) => i);
      let next = 0;
      let now = 0;
      for (;;) {
        while (free.length > 0 && next < units.length) running.push({ unit: next++, slot: free.shift()!, left: work[next - 1]!, start: now });
        if (running.length === 0) break;
        const rate = Math.min(1, cpus / running.length);
        const soonest = running.reduce((a, b) => (b.left < a.left ? b : a));
        const dt = soonest.left / rate;
        now += dt;
        for (const r of running) r.left -= dt * rate;
        for (const r of running.filter((x) => x.left <= 1e-9)) {
          running.splice(running.indexOf(r), 1);
          took[r.unit] = now - r.start;
          slotEnds.set(r.slot, now);
          free.push(r.slot);
          free.sort((a, b) => a - b);
        }
      }
      return { took, makespan: now, ends: [...slotEnds.values()] };
    }

    it('counts the useful slots: the fewest with the best effective parallelism', () => {
      expect(countUsefulSlots(4, cpuBound(2))).to.equal(2);
      expect(countUsefulSlots(8, cpuBound(3))).to.equal(3);
      expect(countUsefulSlots(4, () => 1)).to.equal(4);
      expect(countUsefulSlots(4, (k) => (k <= 2 ? 1 : 1.2 * (k / 2)))).to.equal(2);
    });

    it('4 slots on 2 CPUs: fewer units, no slower, the slots end within 5% of each other and as expected', () => {
      const overheadMs = 300;
      for (let seed = 1; seed <= 20; seed += 1) {
        const suite = makeSuite(seed);
        const naive = planUnits(suite, { targetMs: 2000, slots: 4, overheadMs });
        const learned = planUnits(suite, { targetMs: 2000, slots: 4, overheadMs, slowdown: cpuBound(2) });
        expect(learned.length, `seed ${seed}: units`).to.be.below(naive.length);
        const before = runShared(naive, suite, 4, 2, overheadMs);
        const after = runShared(learned, suite, 4, 2, overheadMs);
        expect(after.makespan, `seed ${seed}: makespan`).to.be.at.most(before.makespan);
        expect(Math.min(...after.ends) / Math.max(...after.ends), `seed ${seed}: slot ends ${after.ends}`).to.be.at.least(0.95);
        learned.forEach((u, i) => expect(after.took[i]! / u.expectedMs, `seed ${seed}: unit ${i} took what it was expected to`).to.be.closeTo(1, 0.05));
      }
    });

    it('plans as before when units run as fast together as alone', () => {
      const suite = makeSuite(7);
      const opts = { targetMs: 2000, slots: 4, overheadMs: 300 };
      expect(planUnits(suite, { ...opts, slowdown: cpuBound(4) })).to.deep.equal(planUnits(suite, opts));
      expect(planUnits(suite, { ...opts, slowdown: () => Number.NaN }), 'a broken factor is 1').to.deep.equal(planUnits(suite, opts));
    });

    it('is never slower than one balanced unit per slot, with any learned factor', () => {
      for (const overheadMs of [0, 30, 300, 1000]) {
        for (const [slots, cpus] of [[1, 1], [2, 1], [4, 2], [8, 2], [8, 8], [16, 4]] as const) {
          for (const seed of [1, 2, 3]) {
            const suite = makeSuite(seed);
            // No targetMs cap here (it may ask for more units than pay for themselves, on purpose).
            const units = planUnits(suite, { targetMs: 1e9, slots, overheadMs, slowdown: cpuBound(cpus) });
            const perSlot = planUnits(suite, { targetMs: 1e9, slots, overheadMs: 1e9 }).map((u) => ({ ...u, expectedMs: 0 }));
            expect(perSlot.length).to.equal(Math.min(slots, suite.size));
            const planned = runShared(units, suite, slots, cpus, overheadMs).makespan;
            const oneEach = runShared(perSlot, suite, slots, cpus, overheadMs).makespan;
            // As without contention (costs.test.ts): cheap units may lose up to 10% to rebalancing.
            const costly = overheadMs * slots >= COSTLY_UNIT_SHARE * [...suite.values()].reduce((a, b) => a + b, 0);
            expect(planned, `${overheadMs} ms a unit, ${slots} slots on ${cpus} CPUs, seed ${seed}`).to.be.at.most((costly ? 1.001 : 1.1) * oneEach);
          }
        }
      }
    });
  });
});
