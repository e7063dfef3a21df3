import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { batchSize, breakRate, isBuilt, MAX_BATCH, MIN_SAMPLES } from '../../../server/queue/batch.js';
import { enqueue } from '../../../server/queue/entry.js';
import { Simulation } from './simulation.js';

/** Batches with bisection (issue 26 item 3): sizing from the break rate, then over a real store and git repository. */
describe('queue/batch', function () {
  this.timeout(60_000);

  it('sizes a batch so it passes at least half the time, from the measured break rate, and not before MIN_SAMPLES', () => {
    const finished = (landed: number, ejected: number) => [...Array(landed).fill({ state: 'landed' }), ...Array(ejected).fill({ state: 'ejected' }), { state: 'conflict' }];
    expect(breakRate(finished(MIN_SAMPLES - 1, 0)), 'too few judged').to.equal(null);
    expect(breakRate(finished(9, 1))).to.equal(0.1);
    expect(batchSize(null)).to.equal(1);
    expect(batchSize(0)).to.equal(MAX_BATCH);
    expect(batchSize(0.1), '0.9^6 = 0.53, 0.9^7 = 0.48').to.equal(6);
    expect(batchSize(0.3)).to.equal(1);
    expect(batchSize(0.6)).to.equal(1);
    expect([0, 1, 2, 3, 4, 5, 6].filter((i) => isBuilt(i, 3, 7)), 'each batch\'s last and the plan\'s last').to.deep.equal([2, 5, 6]);
  });

  it('tests waiting changes in batches, lands a passing batch at once and splits a failing one to find the culprit', async () => {
    let saturated = false;
    const sim = new Simulation({ buildMs: 40, saturated: () => saturated });
    try {
      for (let n = 0; n < MIN_SAMPLES; n++) await sim.push({ [`warm${n}.txt`]: `${n}\n` }, `warm ${n}`);
      await sim.settle(20_000);
      const warmBuilds = sim.builds.length;
      const warmLandings = sim.landings.length;
      // More changes than the window (3 + 1 per landing = 13) queued in one push (the first pass sees them all), the fifth breaking a test.
      expect(sim.queue.window('shop', 'main')).to.equal(13);
      saturated = true; // the runners are the limit from now on
      const shas = Array.from({ length: 16 }, (_, n) => sim.commit(n === 4 ? { 'broken-e': 'x\n' } : { [`g${n}.txt`]: `${n}\n` }, `change ${n}`));
      const answers = await enqueue({ store: sim.store, baseUrl: () => 'http://ci', now: Date.now, queued: (r, b) => void sim.queue.kick(r, b) },
        sim.repo, shas.map((sha) => ({ old: '0'.repeat(40), new: sha, ref: 'refs/for/main' })), 'ada');
      await sim.settle(30_000);
      const rows = answers.map((a) => sim.store.landQueue.byId(a.id)!);
      expect(rows.map((r) => r.state)).to.deep.equal(rows.map((_r, n) => (n === 4 ? 'ejected' : 'landed')));
      expect(rows[4].reason).to.match(/^its candidate [0-9a-f]{10} failed/);
      const files = (sha: string) => execFileSync('git', ['--git-dir', sim.bare, 'ls-tree', '--name-only', sha], { encoding: 'utf8' }).split('\n');
      for (const l of sim.landings) expect(files(l.new).some((f) => f.startsWith('broken-')), 'a landed commit is never broken').to.equal(false);
      expect(files(sim.head())).to.include.members(shas.map((_s, n) => (n === 4 ? 'g0.txt' : `g${n}.txt`)));
      const builds = sim.builds.length - warmBuilds;
      const landings = sim.landings.length - warmLandings;
      expect(landings, 'batches land several changes at once (15 landed)').to.be.below(12);
      expect(builds, 'fewer builds than changes (one each without batches, plus rebuilds)').to.be.below(16);
      // The split: each candidate of the failed batch was built, the culprit's alone.
      const builtRefs = new Set(sim.builds.slice(warmBuilds).map((b) => Number(/queue\/(\d+)-/.exec(b.ref)![1])));
      expect(builtRefs.has(answers[4].id), 'the culprit was built alone').to.equal(true);
      console.log(`      (16 changes, 1 breaking: ${builds} candidate builds, ${landings} landings)`);
    } finally {
      await sim.close();
    }
  });
});
