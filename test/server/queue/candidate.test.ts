import { expect } from 'chai';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { candidateRef, makeCandidate } from '../../../server/queue/candidate.js';
import { git, tempHome } from '../../helpers.js';

describe('queue/candidate (git merge-tree, commit-tree in a bare repository)', () => {
  let home: ReturnType<typeof tempHome>;
  let bare = '';
  let work = '';
  let base = '';
  let n = 0;
  const commit = (from: string, file: string, text: string) => {
    const name = `b${++n}`;
    git(work, 'checkout', '--quiet', '-B', name, from);
    writeFileSync(join(work, file), text);
    git(work, 'add', file);
    git(work, 'commit', '--quiet', '-m', `${file} ${text.trim()}`);
    git(work, 'push', '--quiet', 'origin', `HEAD:refs/heads/${name}`);
    return git(work, 'rev-parse', 'HEAD');
  };
  before(() => {
    home = tempHome('gg-cand-');
    bare = join(home.dir, 'shop.git');
    work = join(home.dir, 'work');
    git(home.dir, 'init', '--quiet', '--bare', '--initial-branch=main', bare);
    git(home.dir, 'clone', '--quiet', bare, work);
    git(work, 'commit', '--quiet', '--allow-empty', '-m', 'start');
    base = git(work, 'rev-parse', 'HEAD');
  });
  after(() => home.cleanup());

  it('is the change itself when it already sits on the base', async () => {
    const a = commit(base, 'a.txt', 'a\n');
    expect(await makeCandidate(bare, base, { id: 1, commitSha: a, branch: 'main' })).to.deep.equal({ sha: a });
  });

  it('is a new merge commit (base, change) holding both when the change sits elsewhere; nothing is checked out', async () => {
    const a = commit(base, 'a.txt', 'a\n');
    const b = commit(base, 'b.txt', 'b\n');
    const made = await makeCandidate(bare, a, { id: 2, commitSha: b, branch: 'main' }) as { sha: string };
    expect(git(bare, 'rev-list', '--parents', '-n', '1', made.sha).split(' ').slice(1)).to.deep.equal([a, b]);
    expect(git(bare, 'ls-tree', '--name-only', made.sha).split('\n')).to.deep.equal(['a.txt', 'b.txt']);
    expect(git(bare, 'log', '-1', '--format=%s%n%an', made.sha)).to.equal(`Land queued change 2 (${b.slice(0, 10)}) into main\ngreengate land queue`);
  });

  it('names the conflicting files when the change does not apply', async () => {
    const one = commit(base, 'cart.txt', 'total = 1\n');
    const two = commit(base, 'cart.txt', 'total = 2\n');
    expect(await makeCandidate(bare, one, { id: 3, commitSha: two, branch: 'main' })).to.deep.equal({ conflict: ['cart.txt'] });
  });

  it('puts each attempt on its own try ref', () => {
    expect(candidateRef(7, 'k2')).to.equal('refs/try/queue/7-k2');
  });
});
