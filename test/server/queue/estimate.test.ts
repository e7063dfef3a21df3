import { expect } from 'chai';
import { expectedLandingAt, expectedLandings, firstRoundEnd, medianMs } from '../../../server/queue/estimate.js';
import { queueRows } from '../../../server/web/queueApi.js';
import { Simulation } from './simulation.js';
import { pollUntil } from '../../helpers.js';

/** The expected landing time of queued changes (issue 26 item 6): the arithmetic, then over a real store with measured candidates. */
describe('queue/estimate', function () {
  this.timeout(30_000);

  it('takes the median of the measured candidate durations, none without a sample', () => {
    expect(medianMs([])).to.equal(null);
    expect(medianMs([300, 100, 200])).to.equal(200);
    expect(medianMs([100, 400, 200, 300])).to.equal(250);
    expect(medianMs([NaN, -5, 100])).to.equal(100);
  });

  it('lands position p with round ceil(p / window): the first round when the front candidate has had T, each later one T more', () => {
    const now = 1_000_000;
    const T = 60_000;
    expect(firstRoundEnd(now, T, null), 'no candidate yet: from now').to.equal(now + T);
    expect(firstRoundEnd(now, T, now - 20_000), 'the front candidate started 20 s ago').to.equal(now + 40_000);
    expect(firstRoundEnd(now, T, now - 90_000), 'overdue: never before now').to.equal(now);
    const end = now + T;
    expect([1, 2, 3, 4, 6, 7].map((p) => expectedLandingAt(p, 3, T, end))).to.deep.equal([end, end, end, end + T, end + T, end + 2 * T]);
    expect(expectedLandingAt(5, 5, T, end)).to.equal(end);
    expect(expectedLandingAt(1, 3, null, end), 'no measured T: no estimate').to.equal(null);
    const active = [{ state: 'testing', updatedAt: now - 10_000 }, { state: 'testing', updatedAt: now }, { state: 'queued', updatedAt: now }, { state: 'queued', updatedAt: now }];
    expect(expectedLandings(active, 3, T, now)).to.deep.equal([now + 50_000, now + 50_000, now + 50_000, now + 110_000]);
    expect(expectedLandings(active, 3, null, now)).to.deep.equal([null, null, null, null]);
  });

  it('counts window × batch changes per round while batches run', () => {
    const now = 5_000_000;
    const row = (id: number, state: string) => ({ id, repo: 'shop', branch: 'main', commitSha: 'a'.repeat(40), baseSha: 'b'.repeat(40), pusher: null, state,
      reason: null, jump: null, jumpReason: null, jumpBuild: null, candidateSha: null, candidateRef: null, candidateBase: null, candidateBuildId: null,
      landedSha: null, queuedAt: now, updatedAt: now }) as Parameters<typeof queueRows>[0]['changes'][number];
    const changes = [1, 2, 3, 4, 5, 6, 7].map((id) => row(id, 'queued')).concat([row(8, 'landed')]);
    const rows = queueRows({ window: 3, batch: 2, changes, buildMs: 1000 }, '', now);
    expect(rows.map((r) => r.expectedLandingAt)).to.deep.equal([...Array(6).fill(now + 1000), now + 2000, null]);
    expect(queueRows({ window: 3, changes, buildMs: 1000 }, '', now).map((r) => r.expectedLandingAt)).to.deep.equal([now + 1000, now + 1000, now + 1000, now + 2000, now + 2000, now + 2000, now + 3000, null]);
  });

  it('estimates from the durations of the candidates built before, in the rows the API and the page show', async () => {
    let open = true;
    const sim = new Simulation({ buildMs: 120, treeOpen: () => open });
    try {
      expect(sim.queue.status('shop', 'main').buildMs, 'nothing measured yet').to.equal(null);
      for (const n of [1, 2]) await sim.push({ [`f${n}.txt`]: `${n}\n` }, `change ${n}`);
      await sim.settle(10_000);
      const T = sim.queue.status('shop', 'main').buildMs!;
      expect(T).to.be.at.least(120).and.below(5_000);
      open = false;
      for (const n of [3, 4, 5, 6, 7, 8]) await sim.push({ [`f${n}.txt`]: `${n}\n` }, `change ${n}`);
      await pollUntil(() => sim.store.landQueue.active('shop', 'main')[0].state === 'testing' ? true : null, 'the front candidate');
      const status = sim.queue.status('shop', 'main');
      const now = Date.now();
      const rows = queueRows(status, 'http://ci', now);
      const active = rows.filter((r) => r.position !== null);
      expect(active).to.have.length(6);
      expect(status.window).to.equal(5); // 3, +1 per landing
      const first = active[0].expectedLandingAt!;
      expect(first).to.be.at.least(now).and.at.most(now + status.buildMs!);
      expect(active.map((r) => r.expectedLandingAt)).to.deep.equal([first, first, first, first, first, first + status.buildMs!]);
      expect(rows.filter((r) => r.position === null).every((r) => r.expectedLandingAt === null), 'landed ones have none').to.equal(true);
      open = true;
      await sim.settle(10_000);
    } finally {
      await sim.close();
    }
  });
});
