import { expect } from 'chai';
import { GIT_TIME_LIMITS, fileSizes, git, listFiles, listFilesWithSizes, listRefs } from '../../server/git.js';
import { GgError } from '../../server/errors.js';
import { Repo, hangingGit, tempHome } from '../helpers.js';

describe('git', () => {
  describe('listFiles (a real bare repository, no checkout)', () => {
    let home: ReturnType<typeof tempHome>;
    let repo: Repo;
    let sha: string;

    before(() => {
      home = tempHome('gg-git-');
      repo = new Repo(home.dir);
      sha = repo.commit({
        'test/a.test.js': '', 'test/b.test.js': '', 'test/deep/c.test.js': '', 'test/helpers.js': '',
        'test/fixtures/d.test.js': '', 'test/.hidden/e.test.js': '', 'src/x.spec.ts': '', 'src/y.ts': '', 'README.md': '',
      }, 'files');
      repo.push();
    });

    after(() => home.cleanup());

    it('matches one glob, skipping dot folders, sorted', async () => {
      expect(await listFiles(repo.bare, sha, 'test/**/*.test.js')).to.deep.equal(
        ['test/a.test.js', 'test/b.test.js', 'test/deep/c.test.js', 'test/fixtures/d.test.js']);
    });

    it('matches any glob of a list, each file once', async () => {
      expect(await listFiles(repo.bare, sha, ['src/**/*.spec.ts', 'test/*.test.js', 'test/a.*'])).to.deep.equal(
        ['src/x.spec.ts', 'test/a.test.js', 'test/b.test.js']);
    });

    it('leaves out what exclude matches, dot folders included', async () => {
      expect(await listFiles(repo.bare, sha, ['test/**/*.js'], ['test/fixtures/**', 'test/helpers.js', '**/b.test.js'])).to.deep.equal(
        ['test/a.test.js', 'test/deep/c.test.js']);
      expect(await listFiles(repo.bare, sha, ['test/.hidden/*.js'], ['test/.hidden/**'])).to.deep.equal([]);
      expect(await listFiles(repo.bare, sha, ['test/.hidden/*.js'])).to.deep.equal(['test/.hidden/e.test.js']);
    });

    it('reads the bytes of the files asked for at the commit (fileSizes), leaving out files not there', async () => {
      const sized = repo.commit({ 'test/big.test.js': 'x'.repeat(5000), 'test/small.test.js': 'y' }, 'sizes');
      repo.push();
      const sizes = await fileSizes(repo.bare, sized, ['test/big.test.js', 'test/small.test.js', 'test/gone.test.js']);
      expect([...sizes]).to.deep.equal([['test/big.test.js', 5000], ['test/small.test.js', 1]]);
      const refused = await fileSizes(repo.bare, '--output=/tmp/x', []).then(() => null, (e: Error) => e);
      expect(refused).to.be.instanceOf(GgError);
    });

    it('lists the same files as listFiles with the bytes of each from one ls-tree (listFilesWithSizes), and refuses a commit that looks like an option', async () => {
      const sized = repo.commit({ 'test/big.test.js': 'x'.repeat(5000), 'test/small.test.js': 'y' }, 'sizes too');
      repo.push();
      for (const [globs, exclude] of [['test/**/*.test.js', []], [['test/**/*.js'], ['test/fixtures/**', '**/b.test.js']], [[], []]] as const) {
        const listed = await listFilesWithSizes(repo.bare, sized, globs, exclude);
        expect(listed.files).to.deep.equal(await listFiles(repo.bare, sized, globs, exclude));
        expect([...listed.sizes.keys()]).to.deep.equal(listed.files);
      }
      const { sizes } = await listFilesWithSizes(repo.bare, sized, 'test/*.test.js');
      expect([sizes.get('test/big.test.js'), sizes.get('test/small.test.js'), sizes.get('test/a.test.js')]).to.deep.equal([5000, 1, 0]);
      const refused = await listFilesWithSizes(repo.bare, '--output=/tmp/x', 'test/*.js').then(() => null, (e: Error) => e);
      expect(refused).to.be.instanceOf(GgError);
    });

    it('returns nothing for an empty list, and refuses a commit that looks like an option', async () => {
      expect(await listFiles(repo.bare, sha, [])).to.deep.equal([]);
      let error: unknown = null;
      try {
        await listFiles(repo.bare, '--output=/tmp/x', 'test/*.js');
      } catch (err) {
        error = err;
      }
      expect(error).to.be.instanceOf(GgError);
      expect((error as Error).message).to.equal('not a commit: --output=/tmp/x');
    });
  });
});

describe('git: every call has a time limit', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let hung: ReturnType<typeof hangingGit>;
  const limit = GIT_TIME_LIMITS.queryMs;
  beforeEach(() => {
    home = tempHome('gg-git-hang-');
    repo = new Repo(home.dir);
    repo.commit({ 'test/a.test.js': '' }, 'first');
    repo.push();
    hung = hangingGit(home.dir);
    GIT_TIME_LIMITS.queryMs = 400;
  });
  afterEach(() => {
    GIT_TIME_LIMITS.queryMs = limit;
    hung.restore();
    home.cleanup();
  });

  it('kills a git that hangs once it is over the limit, and says which repository and command', async () => {
    hung.hang(true);
    const started = Date.now();
    const err = await listRefs(repo.bare).then(() => null, (e: unknown) => e);
    const took = Date.now() - started;
    expect(err).to.be.instanceOf(GgError);
    expect((err as GgError).code).to.equal('GG_GIT_TIMEOUT');
    expect((err as GgError).message).to.contain(`git for-each-ref --format=%(objectname) %(refname) in ${repo.bare}`)
      .and.contain('ran over its time limit of 0.4 s and was killed');
    expect(took, 'killed at the limit, not when the sleep ends').to.be.within(350, 5_000);
    expect(limit, 'the limit in production').to.equal(60_000);
    hung.hang(false);
    expect((await listRefs(repo.bare)).get('refs/heads/main'), 'the next call works').to.match(/^[0-9a-f]{40}$/);
  });

  it('reports a git that fails with the repository and command', async () => {
    const err = await git(repo.bare, ['cat-file', '-t', 'f'.repeat(40)]).then(() => null, (e: unknown) => e);
    expect((err as GgError).code).to.equal('GG_GIT_FAILED');
    expect((err as GgError).message).to.contain(`git cat-file -t in ${repo.bare} failed:`);
  });
});
