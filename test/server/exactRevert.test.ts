import { expect } from 'chai';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { checkedQuarantine, findExactRevert, namedIn, proveReverts } from '../../server/exactRevert.js';
import { Repo, git, tempHome } from '../helpers.js';

/** Exact reverts proven with git on real repositories: trees, never messages. */
describe('exact reverts (exactRevert)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let base = '';
  let culprit = '';
  let later = '';

  beforeEach(() => {
    home = tempHome('gg-exact-');
    repo = new Repo(home.dir);
    base = repo.commit({ 'cart.txt': 'a\nb\nc\nd\ne\nf\ng\n', 'other.txt': 'x\n' }, 'base');
    culprit = repo.commit({ 'cart.txt': 'a\nB\nc\nd\ne\nf\ng\n' }, 'break the cart');
    later = repo.commit({ 'cart.txt': 'a\nB\nc\nd\ne\nf\nG\n' }, 'a later change to the same file');
  });
  afterEach(() => home.cleanup());

  const pushed = () => expect(repo.push().ok).to.equal(true);
  const message = (sha: string) => git(repo.work, 'log', '-1', '--format=%B', sha);
  function revertOf(...shas: string[]): string {
    git(repo.work, 'revert', '--no-edit', '--no-commit', ...shas);
    git(repo.work, 'commit', '--quiet', '-m', `Revert\n\n${shas.map((s) => `This reverts commit ${s}.`).join('\n')}\n`);
    return git(repo.work, 'rev-parse', 'HEAD');
  }

  it('proves a git revert (over a later change to the same file), even when its message names nothing', async () => {
    const exact = revertOf(culprit);
    git(repo.work, 'commit', '--quiet', '--amend', '-m', 'tidy up');
    const silent = git(repo.work, 'rev-parse', 'HEAD');
    pushed();
    const proven = await proveReverts({ bare: repo.bare }, [{ sha: silent, message: 'tidy up' }], [later, culprit]);
    expect([...proven]).to.deep.equal([[silent, [culprit]]]);
    expect(exact).to.not.equal(silent);
  });

  it('refuses a look-alike: the message names the culprit, the tree adds a file or changes something else', async () => {
    revertOf(culprit);
    const backdoor = repo.commit({ 'backdoor.js': 'steal()\n' }, `Revert\n\nThis reverts commit ${culprit}.\n`);
    git(repo.work, 'reset', '--quiet', '--soft', 'HEAD~2');
    git(repo.work, 'commit', '--quiet', '-m', `Revert\n\nThis reverts commit ${culprit}.\n`);
    const lookAlike = git(repo.work, 'rev-parse', 'HEAD');
    const other = repo.commit({ 'other.txt': 'y\n' }, `Revert\n\nThis reverts commit ${culprit}.\n`);
    pushed();
    const unknown = backdoor; // reset away: never pushed, so not in the repository
    const proven = await proveReverts({ bare: repo.bare }, [unknown, lookAlike, other].map((sha) => ({ sha, message: message(sha) })), [culprit]);
    expect(proven.size).to.equal(0);
    git(repo.work, 'reset', '--quiet', '--hard', later);
    const exact = revertOf(culprit);
    expect(repo.push('+HEAD:refs/heads/main').ok).to.equal(true);
    expect([...await proveReverts({ bare: repo.bare }, [unknown, exact].map((sha) => ({ sha, message: message(sha) })), [culprit]).then((m) => m.keys())],
      'an unknown commit does not stop the others being checked').to.deep.equal([exact]);
  });

  it('proves one commit reverting several, in the order its message names them, and not a revert of a commit outside the list', async () => {
    const both = revertOf(later, culprit);
    pushed();
    expect([...await proveReverts({ bare: repo.bare }, [{ sha: both, message: message(both) }], [culprit, later])]).to.deep.equal([[both, [later, culprit]]]);
    expect((await proveReverts({ bare: repo.bare }, [{ sha: both, message: message(both) }], [culprit])).size).to.equal(0);
  });

  it('never takes a merge commit for a revert', async () => {
    git(repo.work, 'checkout', '--quiet', '-b', 'side', base);
    repo.commit({ 'side.txt': 's\n' }, 'side');
    git(repo.work, 'checkout', '--quiet', 'main');
    git(repo.work, 'merge', '--quiet', '--no-edit', 'side');
    const merge = git(repo.work, 'rev-parse', 'HEAD');
    pushed();
    expect((await proveReverts({ bare: repo.bare }, [{ sha: merge, message: `This reverts commit ${culprit}.` }], [culprit])).size).to.equal(0);
  });

  it('finds an exact revert on the branch since a commit, and none when only a look-alike is there', async () => {
    repo.commit({ 'backdoor.js': 'x\n' }, `Revert\n\nThis reverts commit ${culprit}.\n`);
    pushed();
    expect(await findExactRevert(repo.bare, 'refs/heads/main', culprit, [[culprit]])).to.equal(null);
    const exact = revertOf(culprit);
    repo.commit({ 'z.txt': 'z\n' }, 'after');
    pushed();
    expect(await findExactRevert(repo.bare, 'refs/heads/main', culprit, [[culprit]])).to.deep.equal({ sha: exact, reverted: [culprit] });
  });

  it('runs out of time rather than waiting: an exhausted budget proves nothing', async () => {
    const exact = revertOf(culprit);
    pushed();
    expect((await proveReverts({ bare: repo.bare }, [{ sha: exact, message: message(exact) }], [culprit], 0)).size).to.equal(0);
  });

  it('writes nothing to the repository', async () => {
    const exact = revertOf(culprit);
    pushed();
    const objects = () => git(repo.bare, 'count-objects', '-v');
    const before = objects();
    expect((await proveReverts({ bare: repo.bare }, [{ sha: exact, message: message(exact) }], [culprit])).size).to.equal(1);
    expect(objects()).to.equal(before);
  });

  it('takes a quarantine only right inside the repository\'s objects/, named as git names it', () => {
    const good = join(repo.bare, 'objects', 'tmp_objdir-incoming-Ab12cd');
    mkdirSync(good);
    expect(checkedQuarantine(repo.bare, good)).to.match(/tmp_objdir-incoming-Ab12cd$/);
    const elsewhere = join(home.dir, 'tmp_objdir-incoming-Ab12cd');
    mkdirSync(elsewhere);
    expect(checkedQuarantine(repo.bare, elsewhere)).to.equal(null);
    expect(checkedQuarantine(repo.bare, join(repo.bare, 'objects', 'info'))).to.equal(null);
    expect(checkedQuarantine(repo.bare, join(repo.bare, 'objects', 'tmp_objdir-incoming-Ab12cd', '..', '..'))).to.equal(null);
    expect(checkedQuarantine(repo.bare, null)).to.equal(null);
  });

  it('reads the commits a message names among the allowed ones, by unique prefix of 7 or more, in order, once each', () => {
    const allowed = [culprit, later];
    expect(namedIn(`This reverts commit ${later.slice(0, 7)}.\nThis reverts commit ${culprit}.\nThis reverts commit ${later}.`, allowed)).to.deep.equal([later, culprit]);
    expect(namedIn(`This reverts commit ${culprit.slice(0, 6)}.`, allowed)).to.deep.equal([]);
    expect(namedIn(`This reverts commit ${base}.`, allowed)).to.deep.equal([]);
  });
});
