import { expect } from 'chai';
import { COLD_UNITS_PER_SLOT, estimateCold, planCold } from '../../../server/planning/coldPlan.js';
import { estimateDurations, planUnits } from '../../../server/planning/planner.js';

/** 190 test files of different sizes, as a node:test suite of that many files might have. */
function suite(n = 190): { files: string[]; sizes: Map<string, number> } {
  const files = Array.from({ length: n }, (_, i) => `test/f${String(i).padStart(3, '0')}.test.js`);
  const sizes = new Map(files.map((f, i) => [f, 500 + ((i * 7919) % 97) * 120]));
  sizes.set('test/f150.test.js', 60_000); // one big file, late in name order
  return { files, sizes };
}

describe('planning/coldPlan: the first plan of a builder', () => {
  it('plans 190 files on 2 slots as a handful of units per slot, the largest file in the first unit', () => {
    const { files, sizes } = suite();
    const plan = planCold(estimateCold(files, { sizes }), 2, 30);
    expect(plan.length).to.be.within(2 * 2, COLD_UNITS_PER_SLOT * 2);
    expect(plan[0]!.files[0]).to.equal('test/f150.test.js');
    expect(plan.flatMap((u) => u.files).sort()).to.deep.equal(files);
    for (let i = 1; i < plan.length; i++) expect(plan[i]!.expectedMs, 'handed out longest first').to.be.at.most(plan[i - 1]!.expectedMs);
    // What the planner made of the same files before (every file 1 s, unitTargetSeconds 2 s): dozens.
    const before = planUnits(estimateDurations(files, new Map()), { targetMs: 2000, slots: 2, overheadMs: 30 });
    expect(before.length).to.be.above(20);
  });

  it('estimates a bigger file as longer, sharing the suite\'s last whole time among the files', () => {
    const est = estimateCold(['a.js', 'b.js'], { sizes: new Map([['a.js', 1000], ['b.js', 3000]]), suiteTotalMs: 8000 });
    expect(est.get('b.js')).to.be.above(est.get('a.js')!);
    expect(est.get('a.js')! + est.get('b.js')!).to.be.closeTo(8000, 1e-6);
    // Without sizes every file gets the mean; without anything known, 1 s.
    expect(estimateCold(['a.js', 'b.js'], {}).get('a.js')).to.equal(1000);
  });

  it('takes a file\'s learned time from another builder of the repository as is', () => {
    const { files, sizes } = suite(40);
    const otherBuilders = new Map([['test/f007.test.js', 30_000], ...files.slice(10, 40).map((f): [string, number] => [f, 300]), ['test/f008.test.js', 200]]);
    const est = estimateCold(files, { sizes, otherBuilders });
    expect(est.get('test/f007.test.js')).to.equal(30_000);
    expect(est.get('test/f008.test.js')).to.equal(200);
    expect(est.get('test/f000.test.js'), 'the others: about the known files\' median').to.be.below(1000);
    const plan = planCold(est, 2, 30);
    expect(plan[0]!.files, 'the file known to be long runs alone, first').to.deep.equal(['test/f007.test.js']);
  });

  it('never makes more units than files, and checks its slots', () => {
    expect(planCold(new Map([['a.js', 10], ['b.js', 20]]), 4, 0)).to.have.length(2);
    expect(planCold(new Map(), 2, 0)).to.deep.equal([]);
    expect(() => planCold(new Map([['a.js', 1]]), 0, 0)).to.throw(RangeError, 'slots must be 1 or more');
  });

  it('plans 20,000 files on 4,000 slots in well under the push → first assign budget (not files × units)', () => {
    const durations = new Map(Array.from({ length: 20_000 }, (_, i) => [`test/f${i}.test.js`, 200 + ((i * 7919) % 997)] as [string, number]));
    const t0 = performance.now();
    const units = planCold(durations, 4_000, 0);
    const ms = performance.now() - t0;
    expect(units).to.have.length(COLD_UNITS_PER_SLOT * 4_000);
    expect(units.reduce((n, u) => n + u.files.length, 0)).to.equal(20_000);
    expect(ms, `${ms.toFixed(0)} ms`).to.be.below(250);
  });

  it('gives each file to the unit with the most room left, the first of equals (as a left-to-right scan would)', () => {
    const durations = new Map(Array.from({ length: 300 }, (_, i) => [`f${i}`, i % 7 === 0 ? 0 : 50 + ((i * 31) % 13) * 10] as [string, number]));
    for (const slots of [1, 2, 3, 8, 50, 200]) {
      const total = [...durations.values()].reduce((a, b) => a + b, 0);
      const files = [...durations].map(([file, ms]) => ({ file, ms })).sort((a, b) => b.ms - a.ms || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
      const perSlot = total / slots;
      const targets = [1 / 2, 1 / 3, 1 / 6].flatMap((share) => Array.from({ length: slots }, () => share * perSlot)).slice(0, Math.min(files.length, 3 * slots));
      const bins = targets.map((t, i) => ({ target: i === 0 ? t * 1.05 : t, load: 0, files: [] as { file: string; ms: number }[] }));
      for (const f of files) {
        let best = bins[0]!;
        for (const b of bins) if (b.target - b.load > best.target - best.load) best = b;
        best.files.push(f);
        best.load += f.ms;
      }
      const scanned = bins.filter((b) => b.files.length).sort((a, b) => b.load - a.load || b.files[0]!.ms - a.files[0]!.ms)
        .map((b) => ({ files: b.files.map((f) => f.file), expectedMs: b.load + 7 }));
      expect(planCold(durations, slots, 7), `${slots} slots`).to.deep.equal(scanned);
    }
  });
});
