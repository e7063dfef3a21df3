import { expect } from 'chai';
import { land } from '../../../server/queue/landing.js';
import { Simulation } from './simulation.js';
import { git } from '../../helpers.js';

describe('queue/landing (compare-and-swap update-ref)', function () {
  this.timeout(20_000);
  let sim: Simulation;
  afterEach(async () => { await sim?.close(); });

  it('lands on exactly the head it was told, and refuses (moved) when the branch moved meanwhile, landing nothing', async () => {
    sim = new Simulation({ buildMs: 60_000 }); // candidates never finish by themselves here
    const id = await sim.push({ 'a.txt': 'a\n' }, 'a');
    await sim.queue.kick('shop', 'main');
    const c = sim.store.landQueue.byId(id)!;
    expect(c.state).to.equal('testing');
    const other = sim.commit({ 'd.txt': 'd\n' }, 'direct');
    git(sim.bare, 'update-ref', 'refs/heads/main', other, sim.base); // someone pushed meanwhile
    const pushes: unknown[] = [];
    const deps = { store: sim.store, now: Date.now, recordPush: async (...a: unknown[]) => { pushes.push(a); } };
    expect(await land(deps, sim.bare, c, sim.base)).to.equal('moved');
    expect(sim.head()).to.equal(other);
    expect(sim.store.landQueue.byId(id)!.state).to.equal('testing');
    expect(pushes).to.deep.equal([]);
    expect(await land(deps, sim.bare, c, other), 'a candidate not made on that head is refused too (never a rewind)').to.equal('moved');
    expect(sim.head()).to.equal(other);
    expect(await land(deps, sim.bare, { ...c, candidateBase: other, candidateSha: c.candidateSha }, sim.base), 'a stale head').to.equal('moved');
  });
});
