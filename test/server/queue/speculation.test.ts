import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { Simulation } from './simulation.js';
import { nextWindow, WINDOW_START } from '../../../server/queue/speculation.js';
import { git, pollUntil } from '../../helpers.js';

/** The land queue's speculation over a real store and git repository, builds faked (simulation.ts). */
describe('queue/speculation', function () {
  this.timeout(30_000);
  let sim: Simulation;
  afterEach(async () => { await sim?.close(); });
  const files = (sha: string) => git(sim.bare, 'ls-tree', '--name-only', sha).split('\n').filter(Boolean);
  const states = () => new Map(sim.store.landQueue.recent('shop', 'main').map((c) => [c.id, c]));

  it('grows the window by one per landing and halves it after a failure, never below 3', () => {
    expect(WINDOW_START).to.equal(3);
    expect(nextWindow(3, 'landed')).to.equal(4);
    expect(nextWindow(9, 'failed')).to.equal(4);
    expect(nextWindow(5, 'failed')).to.equal(3);
  });

  it('tests the first three at once, each on the ones ahead, and lands them in order on the tested commits', async () => {
    let open = false; // nothing lands until the candidates are looked at, however slow the machine
    sim = new Simulation({ buildMs: 100, treeOpen: () => open });
    const ids = [];
    for (const n of [1, 2, 3, 4]) ids.push(await sim.push({ [`f${n}.txt`]: `${n}\n` }, `change ${n}`));
    await pollUntil(() => sim.store.landQueue.active('shop', 'main').filter((c) => c.state === 'testing').length === 3 ? true : null, 'three candidates');
    const [c1, c2, c3, c4] = sim.store.landQueue.active('shop', 'main');
    expect(c4.state, 'outside the window of 3').to.equal('queued');
    expect(c1.candidateBase).to.equal(sim.base);
    expect(c2.candidateBase).to.equal(c1.candidateSha);
    expect(c3.candidateBase).to.equal(c2.candidateSha);
    expect(files(c3.candidateSha!)).to.have.members(['f1.txt', 'f2.txt', 'f3.txt']);
    open = true;
    await sim.settle(10_000);
    const s = states();
    expect(ids.map((id) => s.get(id)!.state)).to.deep.equal(['landed', 'landed', 'landed', 'landed']);
    expect(sim.head()).to.equal(s.get(ids[3])!.landedSha);
    expect(sim.landings.map((l) => l.new), 'each landing is exactly a tested candidate').to.deep.equal(ids.map((id) => s.get(id)!.candidateSha));
    expect(sim.landings.every((l, i) => i === 0 || l.old === sim.landings[i - 1].new)).to.equal(true);
    expect(sim.queue.window('shop', 'main')).to.equal(7);
  });

  it('ejects a breaking change naming its failed candidate, rebuilds the ones behind without it and never lands a red commit', async () => {
    sim = new Simulation({ buildMs: 100 });
    const good1 = await sim.push({ 'a.txt': 'a\n' }, 'a');
    const bad = await sim.push({ 'broken-b': 'x\n' }, 'b');
    const good2 = await sim.push({ 'c.txt': 'c\n' }, 'c');
    await sim.settle(10_000);
    const s = states();
    expect([good1, bad, good2].map((id) => s.get(id)!.state)).to.deep.equal(['landed', 'ejected', 'landed']);
    expect(s.get(bad)!.reason).to.match(/^its candidate [0-9a-f]{10} failed \(builds \d+\): build \d+ failed$/);
    expect(sim.ended).to.deep.equal([{ id: bad, state: 'ejected', reason: s.get(bad)!.reason }]);
    expect(files(sim.head())).to.include.members(['a.txt', 'c.txt']).and.not.include('broken-b');
    for (const l of sim.landings) expect(files(l.new).some((f) => f.startsWith('broken-')), 'a landed commit is never broken').to.equal(false);
    const failedOnes = sim.builds.filter((b) => b.result === 'failed');
    expect(failedOnes.every((b) => files(b.sha).includes('broken-b'))).to.equal(true);
  });

  it('ejects a change that no longer applies as conflict, naming the file', async () => {
    sim = new Simulation({ buildMs: 50 });
    const first = await sim.push({ 'cart.txt': 'total = 1\n' }, 'one');
    const second = await sim.push({ 'cart.txt': 'total = 2\n' }, 'two');
    await sim.settle(10_000);
    const s = states();
    expect(s.get(first)!.state).to.equal('landed');
    expect(s.get(second)!.state).to.equal('conflict');
    expect(s.get(second)!.reason).to.match(/conflicts in cart\.txt; rebase it and push it again$/);
    expect(sim.ended.map((e) => e.state)).to.deep.equal(['conflict']);
  });

  it('ejects a change whose candidate the gate would refuse for its flags file, before building it', async () => {
    sim = new Simulation({ buildMs: 50, flagsFile: 'flags.json' });
    const good = await sim.push({ 'flags.json': '{"flags":{"new-cart":{"state":"ENABLED","variants":{"on":true,"off":false},"defaultVariant":"off"}}}' }, 'flags');
    await sim.settle(10_000);
    git(sim.work, 'fetch', '--quiet', 'origin');
    sim.base = sim.head();
    const bad = await sim.push({ 'flags.json': '{"flags":{"new-cart":{"state":"SOMETIMES"}}}' }, 'broken flags');
    await sim.settle(10_000);
    const s = states();
    expect(s.get(good)!.state).to.equal('landed');
    expect(s.get(bad)!.state).to.equal('ejected');
    expect(s.get(bad)!.reason).to.match(/would be refused by the gate: REFUSED main: flags\.json at [0-9a-f]{12} is not a valid flags file/);
    expect(sim.builds.filter((b) => b.sha === s.get(bad)!.candidateSha), 'never built').to.deep.equal([]);
  });

  it('waits while the tree is closed (no landing), and lands once it is open again', async () => {
    let open = false;
    sim = new Simulation({ buildMs: 30, treeOpen: () => open });
    const id = await sim.push({ 'a.txt': 'a\n' }, 'a');
    await pollUntil(() => sim.builds.length === 1 ? true : null, 'its candidate build');
    await sim.queue.kick('shop', 'main');
    expect(sim.head()).to.equal(sim.base);
    expect(states().get(id)!.state).to.equal('testing');
    open = true;
    await sim.queue.kick('shop', 'main');
    expect(states().get(id)!.state).to.equal('landed');
  });

  it('builds again on the new head after a direct push to the branch, and lands on top of it', async () => {
    let open = false; // the candidate cannot land before the direct push
    sim = new Simulation({ buildMs: 50, treeOpen: () => open });
    const id = await sim.push({ 'a.txt': 'a\n' }, 'a');
    await pollUntil(() => states().get(id)!.state === 'testing' ? true : null, 'its candidate');
    const first = states().get(id)!.candidateSha;
    git(sim.work, 'checkout', '--quiet', '-B', 'direct', sim.base);
    execFileSync('sh', ['-c', 'echo d > d.txt && git add d.txt && git commit --quiet -m direct && git push --quiet origin HEAD:refs/heads/main'], { cwd: sim.work });
    const direct = sim.head();
    open = true;
    await sim.settle(10_000);
    expect(states().get(id)!.state).to.equal('landed');
    expect(states().get(id)!.candidateSha, 'built again on the new head').not.to.equal(first);
    expect(git(sim.bare, 'merge-base', '--is-ancestor', direct, sim.head())).to.equal('');
    expect(files(sim.head())).to.include.members(['a.txt', 'd.txt']);
  });

  it('after an admin removes a change, the ones behind it are built again without it', async () => {
    let open = false; // nothing lands before the removal
    sim = new Simulation({ buildMs: 100, treeOpen: () => open });
    await sim.push({ 'a.txt': 'a\n' }, 'a');
    const removed = await sim.push({ 'b.txt': 'b\n' }, 'b');
    const behind = await sim.push({ 'c.txt': 'c\n' }, 'c');
    await pollUntil(() => states().get(behind)!.state === 'testing' ? true : null, 'three candidates');
    expect(files(states().get(behind)!.candidateSha!)).to.include('b.txt');
    expect(sim.queue.remove('shop', removed, 'ada')).to.equal(true);
    open = true;
    expect(sim.queue.remove('shop', removed, 'ada'), 'not twice').to.equal(false);
    await sim.settle(10_000);
    const s = states();
    expect(s.get(removed)).to.include({ state: 'removed', reason: 'removed by ada' });
    expect(files(sim.head())).to.include.members(['a.txt', 'c.txt']).and.not.include('b.txt');
    expect(files(s.get(behind)!.candidateSha!)).not.to.include('b.txt');
  });
});
