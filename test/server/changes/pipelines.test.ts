import { expect } from 'chai';
import { parseConfig } from '../../../server/config/config.js';
import { Pipelines } from '../../../server/changes/pipelines.js';
import { GgError } from '../../../server/errors.js';
import { Repo, tempHome } from '../../helpers.js';

describe('changes/pipelines', () => {
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  const configOf = (bare: string) => parseConfig(`runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: ${bare}\n    pipeline: ci/pipe.yml\n`,
    { baseDir: '/' }).repositories[0];
  beforeEach(() => { home = tempHome('gg-pipelines-'); repo = new Repo(home.dir); });
  afterEach(() => home.cleanup());

  it('reads the builders of the file at each commit', async () => {
    const first = repo.commit({ 'ci/pipe.yml': 'builders:\n  - { name: unit, run: echo one }\n' }, 'one');
    const second = repo.commit({ 'ci/pipe.yml': 'builders:\n  - { name: unit, run: echo two }\n  - { name: lint, run: "true" }\n' }, 'two');
    repo.push();
    const pipelines = new Pipelines();
    const cfg = configOf(repo.bare);
    expect((await pipelines.buildersAt(cfg, first)).map((b) => b.run)).to.deep.equal(['echo one']);
    expect((await pipelines.buildersAt(cfg, second)).map((b) => b.name)).to.deep.equal(['unit', 'lint']);
    expect(await pipelines.problemAt(cfg, second)).to.equal(null);
  });

  it('an invalid file: GG_PIPELINE_INVALID naming the file, line and column', async () => {
    const sha = repo.commit({ 'ci/pipe.yml': 'builders:\n  - name: unit\n    rnu: npm test\n' }, 'bad');
    repo.push();
    const err = await new Pipelines().buildersAt(configOf(repo.bare), sha).then(() => null, (e) => e);
    expect(err).to.be.instanceOf(GgError);
    expect(err.code).to.equal('GG_PIPELINE_INVALID');
    expect(err.message).to.match(/^ci\/pipe\.yml:3:5: builders\[0\]\.rnu: unknown key "rnu" — did you mean "run"\?/m);
  });

  it('a commit without the file: says so, with the fix', async () => {
    const sha = repo.commit({ 'README': 'x\n' }, 'no pipeline');
    repo.push();
    const problem = await new Pipelines().problemAt(configOf(repo.bare), sha);
    expect(problem).to.equal(`pipeline: ci/pipe.yml is not in commit ${sha.slice(0, 7)} — add it, or remove \`pipeline:\` from this repository in greengate.yml`);
  });

  it('a repository without pipeline: keeps the builders of greengate.yml', async () => {
    const cfg = parseConfig(`runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: ${repo.bare}\n    builders: [{ name: unit, run: "true" }]\n`,
      { baseDir: '/' }).repositories[0];
    expect(await new Pipelines().buildersAt(cfg, 'not even a sha')).to.equal(cfg.builders);
  });
});
