import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Events } from '../../../server/events.js';
import { Tree } from '../../../server/gate/tree.js';
import { decideGate as decideByProof, revertTargets, type BranchGate } from '../../../server/gate/rules.js';
import { namedIn } from '../../../server/exactRevert.js';
import type { GateRequest } from '../../../server/gate/request.js';

/** The rule with each commit's message taken at its word, standing in for git's proof (exactRevert.ts): these tests are about lookup. */
function decideGate(req: GateRequest, lookup: (branch: string) => BranchGate) {
  const proven = new Map(req.updates.flatMap((u) => u.commits.map((c) => [c.sha, namedIn(c.message, revertTargets(u, lookup))] as const)).filter(([, n]) => n.length > 0));
  return decideByProof(req, lookup, proven);
}
import { tempHome } from '../../helpers.js';

/** Tree.lookup with a real store: what the gate may let through a closed tree. */
describe('the closed tree lets through a revert of any still-red build (gate/tree lookup)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let tree: Tree;
  let repoId: number;
  const CULPRIT = 'c'.repeat(40);
  const FIX = 'f'.repeat(40);
  const GREEN = 'a'.repeat(40);

  beforeEach(() => {
    home = tempHome('gg-tree-');
    const config = parseConfig(`runnerToken: test-runner-token\nrepositories:\n  - name: shop\n    path: /srv/shop.git\n    gate: [main]\n` +
      `    builders: [{ name: unit, run: "true" }]\n`, { baseDir: home.dir });
    store = openStore(join(home.dir, 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]).get('shop')!.id;
    tree = new Tree(store, config, new Events(), pino({ level: 'silent' }), () => 'http://ci.test');
  });
  afterEach(() => {
    store.close();
    home.cleanup();
  });

  /** A finished build of `sha` on main, pushed as its own change. */
  function built(sha: string, result: 'passed' | 'failed', blamelist: string[]): number {
    return store.tx(() => {
      const changeId = store.repos.recordChange({ repoId, ref: 'refs/heads/main', branch: 'main', kind: 'branch', oldSha: null, newSha: sha,
        source: 'hook', pusher: 'ada', at: 1 });
      const id = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha, baseSha: null,
        changeId, pushedAt: 1, at: 1, blamelist });
      store.builds.finish(id, result, null, 2);
      tree.applyRule('shop', 'main');
      return id;
    });
  }
  const revertOf = (sha: string) => ({ pusher: 'ada', options: [], updates: [{ old: '1'.repeat(40), new: '2'.repeat(40), ref: 'refs/heads/main',
    commits: [{ sha: '2'.repeat(40), message: `Revert "x"\n\nThis reverts commit ${sha}.\n` }], truncated: false }] });

  it('after a fix attempt went red, a revert of the original culprit still passes', () => {
    built(GREEN, 'passed', [GREEN]);
    const first = built(CULPRIT, 'failed', [CULPRIT]);
    const attempt = built(FIX, 'failed', [FIX]);
    const gate = tree.lookup('shop')('main');
    expect(gate.state).to.equal('closed');
    expect(gate.build!.id).to.equal(attempt);
    expect(gate.build!.blamelist).to.deep.equal([FIX, CULPRIT]);
    const verdict = decideGate(revertOf(CULPRIT), tree.lookup('shop'));
    expect(verdict.accept, verdict.lines.join('\n')).to.equal(true);
    expect(verdict.passes.map((p) => p.kind)).to.deep.equal(['revert']);
    expect(first).to.be.below(attempt);
  });

  it('forgets the blamelists of red builds once a later build of the builder went green', () => {
    built(CULPRIT, 'failed', [CULPRIT]);
    built(GREEN, 'passed', [GREEN]);
    const red = built(FIX, 'failed', [FIX]);
    const gate = tree.lookup('shop')('main');
    expect(gate.build!.id).to.equal(red);
    expect(gate.build!.blamelist).to.deep.equal([FIX]);
    expect(decideGate(revertOf(CULPRIT), tree.lookup('shop')).accept).to.equal(false);
  });

  it('a closure for a rolled-back deploy passes reverts of its commits until a person closes, opens or a red build takes over', () => {
    const DEPLOYED = 'd'.repeat(40);
    tree.closeForRollback('shop', 'main', 'deploy 3 rolled back: errors 0.5% → 5%', 'deploy 3 regressed at stage canary', [DEPLOYED]);
    expect(tree.status('shop', 'main')).to.include({ closedBy: 'immune', actor: 'greengate-immune' });
    expect(tree.lookup('shop')('main').revertable).to.deep.equal([DEPLOYED]);
    const passed = decideGate(revertOf(DEPLOYED), tree.lookup('shop'));
    expect(passed.accept, passed.lines.join('\n')).to.equal(true);
    expect(passed.passes.map((p) => p.kind)).to.deep.equal(['revert']);
    expect(decideGate(revertOf(CULPRIT), tree.lookup('shop')).accept).to.equal(false);
    expect(store.tree.events({ repoId, limit: 1 })[0]).to.include({ kind: 'close', commits: JSON.stringify([DEPLOYED]) });

    tree.set('shop', 'main', 'closed', 'release freeze', 'bob'); // a person's closure names nothing
    expect(tree.status('shop', 'main').closedBy).to.equal('person');
    expect(tree.lookup('shop')('main').revertable).to.deep.equal([]);
    expect(decideGate(revertOf(DEPLOYED), tree.lookup('shop')).accept).to.equal(false);
    tree.set('shop', 'main', 'open', null, 'bob');
    expect(tree.lookup('shop')('main').revertable).to.deep.equal([]);
    expect(tree.status('shop', 'main').closedBy, 'open: nobody closed it').to.equal(null);
    built(CULPRIT, 'failed', [CULPRIT]); // an automatic closure by a red build: its blamelist, not the deploy
    expect(tree.lookup('shop')('main')).to.include({ state: 'closed' }).and.to.deep.include({ revertable: [] });
    expect(tree.status('shop', 'main').closedBy).to.equal('build');
    expect(decideGate(revertOf(DEPLOYED), tree.lookup('shop')).accept).to.equal(false);
  });

  it('a person who names themselves greengate-immune closes as a person: no deploy commits become revertable', () => {
    tree.closeForRollback('shop', 'main', 'deploy 3 rolled back', 'deploy 3 regressed at stage canary', ['d'.repeat(40)]);
    tree.set('shop', 'main', 'closed', 'looks like the immune system', 'greengate-immune');
    expect(tree.status('shop', 'main')).to.include({ closedBy: 'person', actor: 'greengate-immune' });
    expect(tree.lookup('shop')('main').revertable).to.deep.equal([]);
    expect(store.tree.events({ repoId, limit: 2 }).map((e) => e.closedBy)).to.deep.equal(['person', 'immune']);
  });
});
