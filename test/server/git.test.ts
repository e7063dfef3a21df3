import { expect } from 'chai';
import { listFiles } from '../../server/git.js';
import { GgError } from '../../server/errors.js';
import { Repo, tempHome } from '../helpers.js';

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
