import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { Simulation } from './simulation.js';
import { git, pollUntil } from '../../helpers.js';

/** The land queue's refs in the bare repository (queue/refs.ts): kept while a change is in the queue, deleted once it left. */
describe('queue/refs', function () {
  this.timeout(30_000);
  let sim: Simulation;
  afterEach(async () => { await sim?.close(); });
  const queueRefs = () => git(sim.bare, 'for-each-ref', '--format=%(refname)', 'refs/try/queue', 'refs/greengate/queue').split('\n').filter(Boolean);
  const states = () => new Map(sim.store.landQueue.recent('shop', 'main').map((c) => [c.id, c]));

  it('keeps a queued change\'s hidden ref and its candidate\'s ref while it is tested, and deletes both once it landed', async () => {
    let open = false;
    sim = new Simulation({ buildMs: 30, treeOpen: () => open });
    const id = await sim.push({ 'a.txt': 'a\n' }, 'a');
    await pollUntil(() => sim.builds.length === 1 ? true : null, 'its candidate build');
    const c = states().get(id)!;
    expect(queueRefs()).to.have.members([`refs/greengate/queue/${id}`, c.candidateRef!]);
    open = true;
    await sim.queue.kick('shop', 'main');
    await sim.settle(10_000);
    expect(states().get(id)!.state).to.equal('landed');
    await pollUntil(() => queueRefs().length === 0 ? true : null, 'the queue refs to be deleted', 5_000);
    expect(queueRefs()).to.deep.equal([]);
    expect(git(sim.bare, 'rev-parse', 'refs/heads/main'), 'the landed commit stays on the branch').to.equal(states().get(id)!.landedSha);
  });

  it('deletes the refs of changes that were ejected, conflicted or removed, and of a candidate superseded by a new attempt', async () => {
    let open = false;
    sim = new Simulation({ buildMs: 100, treeOpen: () => open });
    const good = await sim.push({ 'a.txt': 'a\n' }, 'a');
    const removed = await sim.push({ 'b.txt': 'b\n' }, 'b');
    const bad = await sim.push({ 'broken-c': 'x\n' }, 'c');
    const clash = await sim.push({ 'a.txt': 'other\n' }, 'd');
    await pollUntil(() => states().get(bad)!.state === 'testing' ? true : null, 'three candidates');
    const firstAttempt = states().get(good)!.candidateRef!;
    // A direct push moves the head: every candidate is made again, on a new ref.
    git(sim.work, 'checkout', '--quiet', '-B', 'direct', sim.base);
    execFileSync('sh', ['-c', 'echo d > direct.txt && git add direct.txt && git commit --quiet -m direct && git push --quiet origin HEAD:refs/heads/main'], { cwd: sim.work });
    await pollUntil(() => states().get(good)!.candidateRef !== firstAttempt ? true : null, 'a new attempt of the first change');
    expect(sim.queue.remove('shop', removed, 'ada')).to.equal(true);
    await pollUntil(() => !queueRefs().includes(firstAttempt) ? true : null, 'the superseded attempt\'s ref to be deleted', 5_000);
    open = true;
    await sim.queue.kick('shop', 'main');
    await sim.settle(10_000);
    const s = states();
    expect([good, removed, bad, clash].map((id) => s.get(id)!.state)).to.deep.equal(['landed', 'removed', 'ejected', 'conflict']);
    await pollUntil(() => queueRefs().length === 0 ? true : null, 'the queue refs to be deleted', 5_000);
    expect(queueRefs()).to.deep.equal([]);
  });

  it('deletes, at its first pass, the refs an earlier server left for changes no longer in the queue (and nothing else)', async () => {
    sim = new Simulation({ buildMs: 30 });
    const repoId = sim.store.repos.byName('shop')!.id;
    const add = () => sim.store.landQueue.add({ repoId, branch: 'main', commitSha: sim.base, baseSha: sim.base, pusher: 'ada', at: Date.now(), jump: null });
    const landed = add();
    sim.store.landQueue.land(landed, sim.base, Date.now());
    const ejected = add();
    sim.store.landQueue.end(ejected, 'ejected', 'red', Date.now());
    for (const ref of [`refs/greengate/queue/${landed}`, `refs/try/queue/${landed}-a1`, `refs/greengate/queue/${ejected}`, `refs/try/queue/${ejected}-b2`,
      'refs/greengate/queue/999999', 'refs/try/queue/999999-x']) git(sim.bare, 'update-ref', ref, sim.base);
    await sim.queue.kick('shop', 'main');
    expect(queueRefs(), 'refs of changes this database does not know are left alone').to.have.members(['refs/greengate/queue/999999', 'refs/try/queue/999999-x']);
  });
});
