import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { Tree } from '../../../server/gate/tree.js';
import { Events } from '../../../server/events.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { DEPLOY_TRAILER, DeployReverter } from '../../../server/deploy/revert.js';
import { IMMUNE_ACTOR } from '../../../server/deploy/orchestrator.js';
import { KILL_SWITCH } from '../../../server/culprit/revert.js';
import { GgError } from '../../../server/errors.js';
import { Repo, git, tempHome } from '../../helpers.js';

/** The deploy's automatic revert and each of its guards, with a real store and real git repositories (no hooks: the gate is tested apart). */
describe('the deploy\'s automatic revert (deploy/revert)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let store: Store;
  let repoId: number;
  let reverter: DeployReverter;
  let config: Config;

  beforeEach(() => {
    home = tempHome('gg-deploy-revert-');
    repo = new Repo(home.dir);
    repo.commit({ 'app.txt': 'errors = 0.5%\n', 'other.txt': 'a\n' }, 'base');
    config = parseConfig(`runnerToken: test-runner-token\ndata: ${join(home.dir, 'data')}\nrepositories:\n` +
      `  - name: shop\n    path: ${repo.bare}\n    gate: [main]\n    builders: [{ name: unit, run: "true" }]\n`, { baseDir: home.dir });
    store = openStore(join(home.dir, 'data', 'greengate.db'));
    repoId = store.repos.sync([{ name: 'shop', path: repo.bare }]).get('shop')!.id;
    reverter = new DeployReverter({ store, config, log: pino({ level: 'silent' }), baseUrl: () => 'http://ci.test' });
    closeTree(IMMUNE_ACTOR);
  });
  afterEach(() => {
    store?.close();
    home.cleanup();
  });

  /** The immune system's closure (IMMUNE_ACTOR), else a person's, written as gate/tree.ts writes them. */
  function closeTree(actor: string, state: 'closed' | 'maintenance' | 'open' = 'closed'): void {
    store.tree.change({ repoId, branch: 'main', kind: state === 'closed' ? 'close' : state, state, automatic: false, actor,
      reason: 'deploy 5 regressed at stage canary', message: 'errors 0.5% → 5%', buildId: null, commits: null, at: Date.now(),
      closedBy: state === 'open' ? null : actor === IMMUNE_ACTOR ? 'immune' : 'person' });
  }
  const pushMain = () => expect(repo.push().ok).to.equal(true);
  const head = () => git(repo.bare, 'rev-parse', 'refs/heads/main');
  const revert = (shas: string[], id = 5) => reverter.revert('shop', 'main', shas, `deploy ${id} rolled back: stage canary: regression`, id);
  async function refused(shas: string[], reason: RegExp): Promise<void> {
    const before = head();
    const err = await revert(shas).then(() => null, (e: unknown) => e);
    expect(err, 'refused').to.be.instanceOf(GgError);
    expect((err as GgError).code).to.equal('GG_REVERT_REFUSED');
    expect((err as GgError).message).to.match(reason);
    expect(head(), 'nothing pushed').to.equal(before);
  }

  it('reverts the deployed commits, newest first, in one commit by greengate with the trailer; a second call pushes nothing', async () => {
    const first = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    const second = repo.commit({ 'other.txt': 'b\n' }, 'another deployed change');
    pushMain();
    await revert([second, first]);
    const sha = head();
    expect(git(repo.bare, 'rev-parse', `${sha}^`)).to.equal(second);
    expect(git(repo.bare, 'show', `${sha}:app.txt`)).to.equal('errors = 0.5%');
    expect(git(repo.bare, 'show', `${sha}:other.txt`)).to.equal('a');
    const message = git(repo.bare, 'log', '-1', '--format=%an <%ae>|%cn|%B', sha);
    expect(message).to.match(/^greengate <greengate@localhost>\|greengate\|Revert deploy 5: 2 commit\(s\) up to /);
    expect(message).to.contain('http://ci.test/deploys/5').and.contain('stage canary: regression')
      .and.contain(`This reverts commit ${second}. another deployed change\nThis reverts commit ${first}. raise the error rate`)
      .and.contain(`\n${DEPLOY_TRAILER}: 5`);
    await revert([second, first]);
    expect(head(), 'idempotent: nothing pushed twice').to.equal(sha);
  });

  it('finds its revert pushed before a crash by the sha it recorded, even once the guards would refuse, and pushes nothing', async () => {
    const bad = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    pushMain();
    git(repo.work, 'revert', '--no-edit', bad);
    const ours = git(repo.work, 'rev-parse', 'HEAD');
    store.ownReverts.record({ sha: ours, repoId, branch: 'main', source: 'deploy', sourceId: 5, createdAt: Date.now() });
    repo.commit({ 'later.txt': 'x' }, 'a later commit');
    pushMain();
    const before = head();
    store.culprits.setSwitch(KILL_SWITCH, 'off', 'sheriff', Date.now());
    await revert([bad]);
    expect(head()).to.equal(before);
    const other = await reverter.revert('shop', 'main', [bad], 'x', 6).then(() => null, (e: unknown) => e as Error);
    expect(other?.message, 'another deploy\'s record does not count').to.match(/switched off/);
  });

  it('is not made a no-op by a pushed commit with a forged Greengate-Deploy trailer that is not the revert', async () => {
    const bad = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    const forged = repo.commit({ 'backdoor.js': 'steal()\n' }, `Revert deploy 5\n\nThis reverts commit ${bad}.\n\n${DEPLOY_TRAILER}: 5`);
    pushMain();
    await revert([bad]);
    expect(head()).to.not.equal(forged);
    expect(git(repo.bare, 'show', 'main:app.txt')).to.equal('errors = 0.5%');
    expect(store.ownReverts.get(head())).to.include({ source: 'deploy', sourceId: 5 });
  });

  it('refuses a merge commit', async () => {
    git(repo.work, 'checkout', '--quiet', '-b', 'side');
    repo.commit({ 'side.txt': 'x' }, 'on the side');
    git(repo.work, 'checkout', '--quiet', 'main');
    const onMain = repo.commit({ 'main.txt': 'y' }, 'on main');
    git(repo.work, 'merge', '--quiet', '--no-edit', 'side');
    pushMain();
    await refused([head(), onMain], /is a merge commit: revert it by hand/);
  });

  it('refuses a revert that does not apply cleanly: a later commit changed the same lines', async () => {
    const bad = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    pushMain();
    repo.commit({ 'app.txt': 'errors = 6%\n' }, 'a later change to the same line');
    pushMain();
    await refused([bad], /does not apply cleanly/);
  });

  it('refuses commits no longer on the branch, and commits reverted already', async () => {
    const bad = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    pushMain();
    git(repo.work, 'reset', '--quiet', '--hard', 'HEAD^');
    repo.commit({ 'x.txt': '1' }, 'rewritten history');
    expect(repo.push('HEAD:refs/heads/main', '--force').ok).to.equal(true);
    await refused([bad], /is no longer on main/);
    const bad2 = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise it again');
    git(repo.work, 'revert', '--no-edit', bad2);
    pushMain();
    await refused([bad2], /was reverted already by/);
  });

  it('refuses while the kill switch is off, under maintenance, and once a person closed or opened the tree', async () => {
    const bad = repo.commit({ 'app.txt': 'errors = 5%\n' }, 'raise the error rate');
    pushMain();
    store.culprits.setSwitch(KILL_SWITCH, 'off', 'sheriff', Date.now());
    await refused([bad], /automatic reverts are switched off \(greengate autorevert on\)/);
    store.culprits.setSwitch(KILL_SWITCH, 'on', 'sheriff', Date.now());
    closeTree('sheriff', 'maintenance');
    await refused([bad], /under maintenance/);
    closeTree('bob');
    await refused([bad], /closed by bob since: a person has taken over/);
    closeTree('bob', 'open');
    await refused([bad], /opened again by bob/);
    // A person who names themselves as the immune system is still a person (closed_by, not the actor string).
    const tree = new Tree(store, config, new Events(), pino({ level: 'silent' }), () => '');
    tree.set('shop', 'main', 'closed', 'I am the immune system', IMMUNE_ACTOR);
    await refused([bad], /closed by greengate-immune since: a person has taken over/);
    await refused([], /recorded no commits/);
  });
});
