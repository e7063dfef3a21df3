import { expect } from 'chai';
import { GIT_FETCH_TIMEOUT_MS, GIT_LOCAL_TIMEOUT_MS, gitEnv, runGit } from '../../runner/git.js';
import { Repo, hangingGit, tempHome } from '../helpers.js';

describe('runner/git: git with a time limit, failures in the caller\'s words', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let fake: ReturnType<typeof hangingGit>;
  beforeEach(() => {
    home = tempHome('gg-runner-git-');
    repo = new Repo(home.dir);
    fake = hangingGit(home.dir, ' rev-parse ');
  });
  afterEach(() => {
    fake.restore();
    home.cleanup();
  });

  it('has limits in minutes, a fetch\'s longer than a local command\'s', () => {
    expect(GIT_LOCAL_TIMEOUT_MS).to.equal(300_000);
    expect(GIT_FETCH_TIMEOUT_MS).to.equal(900_000);
  });

  it('kills a git that hangs past the limit and says so through the caller\'s error', async () => {
    fake.hang(true);
    const started = Date.now();
    const err = await runGit(repo.bare, ['rev-parse', 'HEAD'], gitEnv(), (why) => new Error(`git rev-parse in ${repo.bare} failed: ${why}`), 300)
      .then(() => null, (e: Error) => e);
    expect(err?.message).to.equal(`git rev-parse in ${repo.bare} failed: killed after its time limit of 0.3 s`);
    expect(Date.now() - started, 'killed at the limit').to.be.within(250, 5_000);
    fake.hang(false);
    expect(await runGit(repo.bare, ['rev-parse', '--is-bare-repository'], gitEnv(), (why) => new Error(why), 5_000)).to.equal('true\n');
  });

  it('masks a URL\'s credentials in git\'s complaint', async () => {
    // git echoes this path verbatim in its complaint ("unable to read config file '…'").
    const err = await runGit(repo.bare, ['config', '--file', '/nonexistent/https://ada:s3cret-pass@git.example.com/x', '--list'], gitEnv(),
      (why) => new Error(why), 10_000).then(() => null, (e: Error) => e);
    expect(err?.message).to.contain('unable to read config file').and.contain('git.example.com').and.not.contain('s3cret-pass');
  });
});
