import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { Simulation } from './simulation.js';
import type { BranchGate } from '../../../server/gate/rules.js';
import { changeJson } from '../../../server/web/queueApi.js';
import { git, gitEnv, pollUntil } from '../../helpers.js';

/** Reverts and fixes of the red build jump the land queue (issue 26 item 5), over a real store and git repository. */
describe('queue/jump', function () {
  this.timeout(30_000);
  let sim: Simulation;
  afterEach(async () => { await sim?.close(); });

  it('puts a proven revert and a Fixes-build claim ahead of waiting changes and lands them through the closed tree; a look-alike revert waits its turn', async () => {
    let closed = true;
    let culprit = '';
    const gate = (): BranchGate => ({ gated: true, state: closed ? 'closed' : 'open', reason: 'build #7 failed', message: null, since: null,
      build: { id: 7, url: 'http://ci/builds/7', blamelist: [culprit] } });
    sim = new Simulation({ buildMs: 50, treeOpen: () => !closed, gate });
    // The culprit lands directly on main and turns the tree red.
    git(sim.work, 'checkout', '--quiet', '-B', 'main', sim.base);
    execFileSync('sh', ['-c', 'printf "bug\\n" > bug.txt'], { cwd: sim.work });
    git(sim.work, 'add', '-A');
    git(sim.work, 'commit', '--quiet', '-m', 'bug');
    culprit = git(sim.work, 'rev-parse', 'HEAD');
    execFileSync('git', ['push', '--quiet', 'origin', 'HEAD:refs/heads/main'], { cwd: sim.work, env: gitEnv(), stdio: 'ignore' });
    sim.base = culprit;

    const waiting1 = await sim.push({ 'a.txt': 'a\n' }, 'a');
    const waiting2 = await sim.push({ 'b.txt': 'b\n' }, 'b');
    await pollUntil(() => sim.store.landQueue.active('shop', 'main').every((c) => c.state === 'testing') ? true : null, 'both waiting changes built');
    const lookAlike = await sim.push({ 'bug.txt': 'no bug\n' }, `Revert "bug"\n\nThis reverts commit ${culprit}.`);
    git(sim.work, 'checkout', '--quiet', '-B', 'change', culprit);
    git(sim.work, 'revert', '--no-edit', culprit);
    const revertSha = git(sim.work, 'rev-parse', 'HEAD');
    execFileSync('git', ['push', '--quiet', 'origin', 'HEAD:refs/heads/pushed-revert'], { cwd: sim.work, env: gitEnv(), stdio: 'ignore' });
    const revert = (await sim.queueCommit(revertSha)).id;
    const fix = await sim.push({ 'fix.txt': 'fixed\n' }, 'guard the bug\n\nFixes-build: 7');

    const order = sim.store.landQueue.active('shop', 'main');
    expect(order.map((c) => c.id), 'revert and fix first, in the order queued; the look-alike last').to.deep.equal([revert, fix, waiting1, waiting2, lookAlike]);
    const byId = new Map(order.map((c) => [c.id, c]));
    expect(byId.get(revert)).to.include({ jump: 'revert', jumpBuild: 7 });
    expect(byId.get(revert)!.jumpReason).to.equal('reverts blamelist commits of build #7');
    expect(byId.get(fix)).to.include({ jump: 'fix', jumpBuild: 7 });
    expect(byId.get(fix)!.jumpReason).to.equal("Fixes-build: 7 (the pusher's claim, not checked by greengate)");
    expect(byId.get(lookAlike)!.jump, 'a message saying "This reverts commit" proves nothing').to.equal(null);
    expect(changeJson(byId.get(fix)!, 2, 'http://ci').jump).to.deep.equal({ kind: 'fix', reason: byId.get(fix)!.jumpReason, build: 7, claim: true });
    expect(changeJson(byId.get(revert)!, 1, 'http://ci').jump!.claim).to.equal(false);
    expect(changeJson(byId.get(waiting1)!, 3, 'http://ci').jump).to.equal(null);

    // Still closed: the revert and the fix are tested, then land; the others keep waiting.
    await pollUntil(() => sim.store.landQueue.byId(fix)!.state === 'landed' ? true : null, 'the fix to land through the closed tree', 10_000);
    expect(sim.store.landQueue.byId(revert)!.state).to.equal('landed');
    expect(git(sim.bare, 'ls-tree', '--name-only', sim.head()).split('\n')).to.include('fix.txt').and.not.include('bug.txt');
    expect([waiting1, waiting2, lookAlike].map((id) => sim.store.landQueue.byId(id)!.state)).to.not.include('landed');
    expect(sim.landings.map((l) => l.new)).to.deep.equal([revert, fix].map((id) => sim.store.landQueue.byId(id)!.landedSha));
    closed = false;
    await sim.settle(10_000);
    expect([waiting1, waiting2].map((id) => sim.store.landQueue.byId(id)!.state)).to.deep.equal(['landed', 'landed']);
  });

  it('does not jump while the tree is open, nor with a Fixes-build naming another build', async () => {
    let closed = false;
    sim = new Simulation({ buildMs: 50, treeOpen: () => !closed,
      gate: () => ({ gated: true, state: closed ? 'closed' : 'open', reason: null, message: null, since: null, build: { id: 7, url: 'u', blamelist: [] } }) });
    const open = await sim.push({ 'x.txt': 'x\n' }, 'x\n\nFixes-build: 7');
    expect(sim.store.landQueue.byId(open)!.jump).to.equal(null);
    await sim.settle(10_000);
    closed = true;
    const other = await sim.push({ 'y.txt': 'y\n' }, 'y\n\nFixes-build: 8');
    expect(sim.store.landQueue.byId(other)!.jump).to.equal(null);
    closed = false;
    await sim.settle(10_000);
  });
});
