import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { Tree } from '../../../server/gate/tree.js';
import { Events } from '../../../server/events.js';
import { parseConfig } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { AutoReverter, REVERT_TRAILER } from '../../../server/culprit/revert.js';
import { Repo, git, tempHome } from '../../helpers.js';

/** The automatic revert's guards, each on its own, with a real store and real git repositories (no hooks installed). */
describe('guarded automatic revert (culprit/revert)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let store: Store;
  let repoId: number;
  let reverter: AutoReverter;
  let notices: { kind: string; payload: Record<string, unknown>; to: string[] }[];

  function setUp(extra = ''): void {
    const config = parseConfig(`runnerToken: test-runner-token\ndata: ${join(home.dir, 'data')}\nrepositories:\n` +
      `  - name: shop\n    path: ${repo.bare}\n    gate: [main]\n    autoRevert: [main]\n${extra}` +
      `    builders: [{ name: unit, run: "true" }]\n`, { baseDir: home.dir });
    store = openStore(join(home.dir, 'data', 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: repo.bare }]).get('shop')!.id;
    notices = [];
    const log = pino({ level: 'silent' });
    reverter = new AutoReverter({ store, config, log, baseUrl: () => 'http://ci.test', tree: new Tree(store, config, new Events(), log, () => ''),
      notify: (kind, payload, to) => notices.push({ kind, payload, to }) });
  }

  beforeEach(() => {
    home = tempHome('gg-revert-');
    repo = new Repo(home.dir);
    repo.commit({ 'cart.txt': 'total = 1\n' }, 'base');
  });
  afterEach(() => {
    store?.close();
    home.cleanup();
  });

  /** A red build naming `culprit`, its search ended (confirmed or not), and a wanted revert; returns the red build's id. */
  function want(culprit: string, confirmed = true): number {
    return store.tx(() => {
      store.repos.saveCommits(repoId, [{ sha: culprit, author: 'Bob Breaker', email: 'bob@example.com', subject: 'the culprit', committedAt: 0 }]);
      const buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: culprit,
        baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [culprit] });
      store.builds.finish(buildId, 'failed', null, 2);
      const tree = store.tree.get(repoId, 'main');
      if (!tree || tree.state === 'open') {
        store.tree.change({ repoId, branch: 'main', kind: 'close', state: 'closed', automatic: true, actor: null, reason: 'red',
          message: null, buildId, commits: null, at: 2, closedBy: 'build' });
      }
      const searchId = store.culprits.create({ repoId, branch: 'main', builder: 'unit', buildId, baseSha: culprit, commits: [culprit],
        files: [], flakeRate: 0.01, confirmRuns: 2, maxProbes: 10, observations: [], createdAt: 3 });
      store.culprits.finish(searchId, { culpritSha: culprit, confirmed, confidence: 0.999, outcome: 'test', at: 4 });
      store.culprits.wantRevert({ searchId, repoId, branch: 'main', culpritSha: culprit, buildId, at: 5 });
      return buildId;
    });
  }
  const pushMain = () => expect(repo.push().ok).to.equal(true);
  const settled = (buildId: number) => store.culprits.revertOf(store.culprits.forBuild(buildId)!.id)!;
  const head = () => git(repo.bare, 'rev-parse', 'refs/heads/main');

  it('reverts a confirmed culprit on top of the branch head, records it, tells its author, and settles it once', async () => {
    setUp();
    const culprit = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit');
    const later = repo.commit({ 'other.txt': 'x' }, 'a later commit');
    pushMain();
    const red = want(culprit);
    await reverter.kick();
    const r = settled(red);
    expect(r.state, r.reason ?? '').to.equal('pushed');
    expect(head()).to.equal(r.revertSha);
    expect(git(repo.bare, 'rev-parse', `${r.revertSha}^`)).to.equal(later);
    expect(git(repo.bare, 'show', `${r.revertSha}:cart.txt`)).to.equal('total = 1');
    expect(git(repo.bare, 'log', '-1', '--format=%an%n%B', r.revertSha!)).to.contain('greengate').and.to.contain(`${REVERT_TRAILER}: ${red}`);
    const events = store.tree.events({ repoId, limit: 10 });
    expect(events.map((e) => [e.kind, e.actor, e.buildId])).to.deep.equal([['auto-revert', 'greengate', red], ['close', null, red]]);
    expect(notices.map((n) => [n.kind, n.to])).to.deep.equal([['revert.made', ['bob@example.com']]]);
    await reverter.kick();
    expect(head(), 'nothing pushed twice').to.equal(r.revertSha);
  });

  it('finds a revert it pushed before a crash by the sha it recorded and settles it without pushing again', async () => {
    setUp();
    const culprit = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit');
    pushMain();
    const red = want(culprit);
    git(repo.work, 'revert', '--no-edit', culprit);
    pushMain();
    const before = head();
    const row = store.culprits.wantedReverts()[0];
    store.ownReverts.record({ sha: before, repoId, branch: 'main', source: 'culprit', sourceId: row.id, createdAt: Date.now() });
    store.tree.change({ repoId, branch: 'main', kind: 'open', state: 'open', automatic: true, actor: null, reason: 'the revert built green',
      message: null, buildId: null, commits: null, at: 3, closedBy: null }); // its build may have reopened the tree before the restart
    await reverter.kick();
    expect(settled(red)).to.include({ state: 'pushed', revertSha: before });
    expect(head()).to.equal(before);
  });

  it('takes no pushed commit for its own because of a Greengate-Red-Build trailer: a look-alike is reverted past, an exact revert is someone else\'s', async () => {
    setUp();
    const culprit = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit');
    pushMain();
    const red = want(culprit);
    const forged = repo.commit({ 'backdoor.js': 'steal()\n' }, `Revert "the culprit"\n\nThis reverts commit ${culprit}.\n\n${REVERT_TRAILER}: ${red}`);
    pushMain();
    await reverter.kick();
    const r = settled(red);
    expect(r.state, r.reason ?? '').to.equal('pushed');
    expect(r.revertSha).to.not.equal(forged);
    expect(store.ownReverts.get(r.revertSha!)).to.include({ source: 'culprit' });
    expect(git(repo.bare, 'show', 'main:cart.txt')).to.equal('total = 1');
  });

  async function refusedFor(prepare: () => string | Promise<string>, confirmed: boolean, reason: RegExp): Promise<void> {
    const culprit = await prepare();
    const before = head();
    const red = want(culprit, confirmed);
    await reverter.kick();
    const r = settled(red);
    expect(r.state).to.equal('refused');
    expect(r.reason).to.match(reason);
    expect(head(), 'nothing pushed').to.equal(before);
    expect(notices.map((n) => n.kind)).to.deep.equal(['revert.refused']);
  }

  it('refuses a culprit that is not confirmed', async () => {
    setUp();
    await refusedFor(() => { const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit'); pushMain(); return c; }, false, /not confirmed/);
  });

  it('refuses a revert that does not apply cleanly', async () => {
    setUp();
    await refusedFor(() => {
      const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit');
      repo.commit({ 'cart.txt': 'total = 3\n' }, 'changes the same line again');
      pushMain();
      return c;
    }, true, /does not apply cleanly/);
  });

  it('refuses a merge commit', async () => {
    setUp();
    await refusedFor(() => {
      git(repo.work, 'checkout', '--quiet', '-b', 'side');
      repo.commit({ 'side.txt': 'x' }, 'on the side');
      git(repo.work, 'checkout', '--quiet', 'main');
      repo.commit({ 'main.txt': 'y' }, 'on main');
      git(repo.work, 'merge', '--quiet', '--no-edit', 'side');
      pushMain();
      return head();
    }, true, /merge commit/);
  });

  it('never reverts a revert', async () => {
    setUp();
    await refusedFor(() => {
      const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'a change');
      git(repo.work, 'revert', '--no-edit', c);
      pushMain();
      return git(repo.work, 'rev-parse', 'HEAD');
    }, true, /itself a revert/);
  });

  it('refuses under maintenance and under a closure by hand', async () => {
    setUp();
    store.tree.change({ repoId, branch: 'main', kind: 'maintenance', state: 'maintenance', automatic: false, actor: 'sheriff',
      reason: 'closed by hand', message: 'db migration', buildId: null, commits: null, at: 1, closedBy: 'person' });
    await refusedFor(() => { const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit'); pushMain(); return c; }, true, /maintenance/);
    store.tree.change({ repoId, branch: 'main', kind: 'close', state: 'closed', automatic: false, actor: 'sheriff',
      reason: 'closed by hand', message: 'release freeze', buildId: null, commits: null, at: 2, closedBy: 'person' });
    notices = [];
    await refusedFor(() => { const c = repo.commit({ 'x.txt': '2' }, 'another culprit'); pushMain(); return c; }, true, /closed by hand/);
  });

  it('makes at most maxPerDay reverts per branch in 24 hours', async () => {
    setUp('    culprit: { maxPerDay: 1 }\n');
    const first = repo.commit({ 'a.txt': '1' }, 'first culprit');
    pushMain();
    const red1 = want(first);
    await reverter.kick();
    expect(settled(red1).state).to.equal('pushed');
    git(repo.work, 'pull', '--quiet', '--rebase', 'origin', 'main');
    notices = [];
    await refusedFor(() => { const c = repo.commit({ 'b.txt': '2' }, 'second culprit'); pushMain(); return c; }, true, /maxPerDay: 1/);
  });

  it('counts only its own reverts toward maxPerDay: a pushed revert with a forged Greengate-Red-Build trailer uses none of it', async () => {
    setUp('    culprit: { maxPerDay: 1 }\n');
    const first = repo.commit({ 'a.txt': '1' }, 'first culprit');
    pushMain();
    const red1 = want(first);
    git(repo.work, 'revert', '--no-edit', '--no-commit', first);
    const forged = repo.commit({}, `Revert "first culprit"\n\nThis reverts commit ${first}.\n\n${REVERT_TRAILER}: ${red1}`);
    pushMain();
    await reverter.kick();
    expect(settled(red1)).to.include({ state: 'refused', reason: `${first.slice(0, 10)} was reverted already by ${forged.slice(0, 10)}` });
    const second = repo.commit({ 'b.txt': '2' }, 'second culprit');
    pushMain();
    const red2 = want(second);
    await reverter.kick();
    const r2 = settled(red2);
    expect(r2.state, r2.reason ?? '').to.equal('pushed');
    expect(store.ownReverts.get(r2.revertSha!)).to.include({ source: 'culprit' });
  });

  it('refuses everything while the kill switch is off, and reverts again once it is on', async () => {
    setUp();
    reverter.setEnabled(false, 'sheriff');
    expect(reverter.switchState()).to.deep.equal({ state: 'off' });
    await refusedFor(() => { const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit'); pushMain(); return c; }, true, /switched off/);
    reverter.setEnabled(true, 'sheriff');
    const c2 = repo.commit({ 'z.txt': '1' }, 'next culprit');
    pushMain();
    const red = want(c2);
    await reverter.kick();
    expect(settled(red).state).to.equal('pushed');
  });

  it('refuses once the breakage was fixed meanwhile: the tree open again, or a later build green', async () => {
    setUp();
    const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit');
    pushMain();
    const red = store.tx(() => want(c));
    store.tree.change({ repoId, branch: 'main', kind: 'open', state: 'open', automatic: true, actor: null, reason: 'green', message: null,
      buildId: null, commits: null, at: 3, closedBy: null });
    await reverter.kick();
    expect(settled(red)).to.include({ state: 'refused', reason: 'the tree is open again: the breakage was fixed meanwhile' });
    const c2 = repo.commit({ 'y.txt': '1' }, 'another culprit');
    pushMain();
    const red2 = want(c2);
    const green = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: c2, baseSha: null,
      changeId: null, pushedAt: 9, at: 9, blamelist: [] });
    store.builds.finish(green, 'passed', null, 10);
    await reverter.kick();
    expect(settled(red2).state).to.equal('refused');
    expect(settled(red2).reason).to.match(/no longer red/);
  });

  it('refuses a branch without autoRevert', async () => {
    home.cleanup();
    home = tempHome('gg-revert-');
    repo = new Repo(home.dir);
    repo.commit({ 'cart.txt': 'total = 1\n' }, 'base');
    const config = parseConfig(`runnerToken: test-runner-token\ndata: ${join(home.dir, 'data')}\nrepositories:\n` +
      `  - name: shop\n    path: ${repo.bare}\n    gate: [main]\n    builders: [{ name: unit, run: "true" }]\n`, { baseDir: home.dir });
    store = openStore(join(home.dir, 'data', 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: repo.bare }]).get('shop')!.id;
    notices = [];
    const log = pino({ level: 'silent' });
    reverter = new AutoReverter({ store, config, log, baseUrl: () => '', tree: new Tree(store, config, new Events(), log, () => ''),
      notify: (kind, payload, to) => notices.push({ kind, payload, to }) });
    await refusedFor(() => { const c = repo.commit({ 'cart.txt': 'total = 2\n' }, 'the culprit'); pushMain(); return c; }, true, /autoRevert is not on/);
  });
});
