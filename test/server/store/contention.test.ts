import { expect } from 'chai';
import { pipeline, finished, type Pipeline, type FakeLink } from '../memory.js';
import { MIN_FACTOR_SAMPLES, factorAt } from '../../../server/planning/contention.js';

describe('store: contention factors learned from finished units', () => {
  let p: Pipeline;
  beforeEach(() => { p = pipeline(); });
  afterEach(() => p.close());

  /** Known solo durations (1 s a file) and no per-unit overhead, so a unit's solo time is its files'. */
  function knowSolo(files: string[]): void {
    for (const f of files) p.store.tests.saveFileDuration(p.repoId, 'unit', f, 1000, 1);
    p.store.costs.save(p.repoId, 'unit', { overheadMs: 0, samples: 5 }, 1);
  }

  /** Runs the build's units on `link`: assigned and started at `start`, each finishing `tookMs[i]` later, in that order. */
  function run(link: FakeLink, buildId: number, start: number, tookMs: number[]): number[] {
    const units = p.store.units.byBuild(buildId).map((u) => u.id);
    for (const id of units) {
      expect(p.lifecycle.assign(id, link.runnerId, start)).to.equal(true);
      expect(p.lifecycle.unitStarted(link.runnerId, id, start)).to.equal(true);
    }
    units.forEach((id, i) => {
      expect(p.lifecycle.unitFinished(link.runnerId, link.name, finished(id, { durationMs: tookMs[i]! }), start + tookMs[i]!)).to.equal(true);
    });
    return units;
  }

  it('learns the factor at 4 units at once on one runner and learns the files as if they had run alone', () => {
    const files = ['a.js', 'b.js', 'c.js', 'd.js'];
    knowSolo(files);
    const r1 = p.runner('r1', 4);
    const start = Date.now() - 60_000;
    const units = run(r1, p.build(files.map((f) => [f])), start, [2000, 2000, 2000, 2000]);

    for (const id of units) expect(p.store.units.get(id)!.concurrency, `unit ${id}`).to.equal(4);
    const learned = p.store.contention.get(p.repoId, 'unit');
    expect([...learned.keys()]).to.deep.equal([4]);
    expect(learned.get(4)).to.deep.equal({ factor: 2, samples: 4 });
    expect(factorAt(learned, 4)).to.equal(2);
    expect(learned.get(4)!.samples).to.be.at.least(MIN_FACTOR_SAMPLES);
    // 2 s at 4 units at once is 1 s alone: the files' durations stay what they take alone, and the
    // slowdown is not learned as per-unit overhead either.
    const durations = p.store.tests.fileDurations(p.repoId, 'unit');
    for (const f of files) expect(durations.get(f), f).to.be.closeTo(1000, 1e-9);
    expect(p.store.costs.get(p.repoId, 'unit')!.overheadMs, 'contention is not learned as overhead').to.be.closeTo(0, 1e-9);
  });

  it('weighs the time units overlapped, counts units of other builds, and learns nothing at 1', () => {
    knowSolo(['a.js', 'b.js', 'c.js']);
    const r1 = p.runner('r1', 2);
    const start = Date.now() - 60_000;
    // Alone: concurrency 1, no factor sample.
    const [alone] = run(r1, p.build([['a.js']]), start, [1000]);
    expect(p.store.units.get(alone!)!.concurrency).to.equal(1);
    expect(p.store.contention.get(p.repoId, 'unit').size).to.equal(0);
    // Two builds' units on the same runner: b.js ran 2 s from t, c.js 1 s from t, so b.js shared half its run.
    const t = start + 10_000;
    const [b] = p.store.units.byBuild(p.build([['b.js']], { sha: 'b'.repeat(40) })).map((u) => u.id);
    const [c] = p.store.units.byBuild(p.build([['c.js']], { sha: 'c'.repeat(40) })).map((u) => u.id);
    for (const id of [b!, c!]) {
      p.lifecycle.assign(id, r1.runnerId, t);
      p.lifecycle.unitStarted(r1.runnerId, id, t);
    }
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(c!, { durationMs: 1000 }), t + 1000);
    p.lifecycle.unitFinished(r1.runnerId, 'r1', finished(b!, { durationMs: 2000 }), t + 2000);
    expect(p.store.units.get(c!)!.concurrency, 'b.js ran all along').to.equal(2);
    expect(p.store.units.get(b!)!.concurrency, 'c.js ran for half of it').to.equal(1.5);
    // Both teach k = 2: c.js as fast as alone (1), b.js twice as slow (2).
    expect(p.store.contention.get(p.repoId, 'unit').get(2)).to.deep.equal({ factor: 1 + 0.3 * (2 - 1), samples: 2 });
  });
});
