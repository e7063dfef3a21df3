import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkNotice, readRefs } from '../../../server/changes/verify.js';
import { GgError } from '../../../server/errors.js';
import { Repo, git, tempHome } from '../../helpers.js';

describe('change notices checked against git (changes/verify)', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let first = '';
  let second = '';
  const ZERO = '0'.repeat(40);

  before(() => {
    home = tempHome();
    repo = new Repo(home.dir);
    first = repo.commit({ 'a.txt': 'a' }, 'first');
    second = repo.commit({ 'a.txt': 'b' }, 'second');
    expect(repo.push().ok).to.equal(true);
    expect(repo.push(`${first}:refs/heads/main/old`).ok).to.equal(false); // git refuses a ref under a ref: main stays a leaf
    expect(repo.push(`${first}:refs/heads/mainline`).ok).to.equal(true);
  });
  after(() => home.cleanup());

  it('reads exact refs only: a prefix or a name with glob characters finds nothing else', async () => {
    const refs = await readRefs(repo.bare, ['refs/heads/main', 'refs/heads/main*', 'refs/heads', 'refs/heads/nope']);
    expect([...refs]).to.deep.equal([['refs/heads/main', second]]);
  });

  it('reads packed refs, a loose ref over its stale packed line, and never a path outside refs/', async () => {
    git(repo.bare, 'pack-refs', '--all');
    expect(existsSync(join(repo.bare, 'refs', 'heads', 'main'))).to.equal(false);
    expect([...await readRefs(repo.bare, ['refs/heads/main', 'refs/heads/mainline'])]).to.deep.equal([['refs/heads/main', second], ['refs/heads/mainline', first]]);
    git(repo.bare, 'update-ref', 'refs/heads/mainline', second); // loose now, the packed line is stale
    expect((await readRefs(repo.bare, ['refs/heads/mainline'])).get('refs/heads/mainline')).to.equal(second);
    git(repo.bare, 'update-ref', 'refs/heads/mainline', first);
    writeFileSync(join(repo.bare, 'evil'), `${second}\n`);
    expect([...await readRefs(repo.bare, ['refs/heads/../../evil', 'refs/../evil'])]).to.deep.equal([]);
    git(repo.bare, 'symbolic-ref', 'refs/heads/alias', 'refs/heads/main');
    expect((await readRefs(repo.bare, ['refs/heads/alias'])).get('refs/heads/alias'), 'a symbolic ref: git resolves it').to.equal(second);
    git(repo.bare, 'symbolic-ref', '--delete', 'refs/heads/alias');
  });

  it('takes in an update git agrees with and drops one that claims another commit', async () => {
    const r = await checkNotice(repo.bare, [
      { old: first, new: second, ref: 'refs/heads/main' },
      { old: second, new: first, ref: 'refs/heads/main' },
      { old: ZERO, new: first, ref: 'refs/heads/mainline' },
    ]);
    expect(r.agreed.map((u) => [u.ref, u.new])).to.deep.equal([['refs/heads/main', second], ['refs/heads/mainline', first]]);
    expect(r.dropped).to.deep.equal([{ ref: 'refs/heads/main', claimed: first, git: second }]);
  });

  it('drops a claimed new ref git does not have, and a deletion of a ref git still has', async () => {
    const r = await checkNotice(repo.bare, [
      { old: ZERO, new: second, ref: 'refs/heads/invented' },
      { old: second, new: ZERO, ref: 'refs/heads/main' },
    ]);
    expect(r.agreed).to.deep.equal([]);
    expect(r.dropped).to.deep.equal([
      { ref: 'refs/heads/invented', claimed: second, git: null },
      { ref: 'refs/heads/main', claimed: ZERO, git: second },
    ]);
    git(repo.bare, 'update-ref', '-d', 'refs/heads/mainline');
    const deleted = await checkNotice(repo.bare, [{ old: first, new: ZERO, ref: 'refs/heads/mainline' }]);
    expect(deleted.agreed).to.have.length(1);
  });

  it('refuses malformed updates before reading git, naming what is wrong', async () => {
    const err = await checkNotice(repo.bare, [{ old: 'xyz', new: second, ref: 'refs/heads/main' }]).catch((e) => e);
    expect(err).to.be.instanceOf(GgError);
    expect(err.code).to.equal('GG_BAD_SHA');
    const ref = await checkNotice(repo.bare, [{ old: first, new: second, ref: '--upload-pack=evil' }]).catch((e) => e);
    expect(ref.code).to.equal('GG_BAD_REF');
    expect(ref.message).to.match(/not a full ref name/);
  });
});
