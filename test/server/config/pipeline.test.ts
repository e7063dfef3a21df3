import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { parsePipeline } from '../../../server/config/pipeline.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers.js';

const ENV = { NPM_TOKEN: 'npm-token-value-1234', OTHER_SECRET: 'other-secret-value-1234' };
const GREENGATE = `runnerToken: abcdefgh
repositories:
  - name: shop
    path: /srv/git/shop.git
    pipeline: .greengate.yml
    pipelineGrants:
      test:
        secrets: { NPM_TOKEN: { env: NPM_TOKEN } }
        env: [NPM_CONFIG_CACHE]
        sandbox: { readOnly: [/opt/sdk], writable: [/srv/out] }
      offline:
        sandbox: { network: false }
`;
const grants = () => parseConfig(GREENGATE, { env: ENV, baseDir: '/' }).repositories[0].pipelineGrants ?? {};

function problem(text: string): string {
  try {
    parsePipeline(text, '.greengate.yml', grants());
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new ConfigError([{ keyPath: '', message: 'expected the pipeline to be refused', line: null, column: null }], null);
}

describe('config/pipeline', () => {
  it('greengate.yml: a repository with pipeline: may omit builders:, and its grants are read', () => {
    const repo = parseConfig(GREENGATE, { env: ENV, baseDir: '/' }).repositories[0];
    expect(repo.pipeline).to.equal('.greengate.yml');
    expect(repo.builders).to.deep.equal([]);
    expect(repo.pipelineGrants?.test.secrets).to.deep.equal({ NPM_TOKEN: { env: 'NPM_TOKEN' } });
  });

  it('greengate.yml: neither builders: nor pipeline:, both, or a bad pipeline path are refused', () => {
    const base = 'runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n';
    expect(() => parseConfig(base, { baseDir: '/' })).to.throw(/builders.*pipeline: \.greengate\.yml/);
    expect(() => parseConfig(`${base}    pipeline: x.yml\n    builders: [{ name: a, run: "true" }]\n`, { baseDir: '/' })).to.throw(/remove builders:/);
    expect(() => parseConfig(`${base}    pipeline: ../etc/passwd\n`, { baseDir: '/' })).to.throw(/pipeline: must be a file path inside the repository/);
    expect(() => parseConfig(`${base}    builders: [{ name: a, run: "true" }]\n    pipelineGrants: { a: { env: [X] } }\n`, { baseDir: '/' }))
      .to.throw(/no pipeline:/);
  });

  it('reads builders in the grammar of greengate.yml', () => {
    const builders = parsePipeline('builders:\n  - name: unit\n    setup: npm ci\n    tests: "test/**/*.test.js"\n    run: npm test\n', '.greengate.yml');
    expect(builders).to.have.length(1);
    expect(builders[0]).to.include({ name: 'unit', setup: 'npm ci', run: 'npm test', timeout: 600 });
  });

  it('names the file, line and column of a problem, with "did you mean"', () => {
    const msg = problem('# ci\nbuilders:\n  - name: unit\n    rnu: npm test\n');
    expect(msg).to.match(/^\.greengate\.yml:4:5: builders\[0\]\.rnu: unknown key "rnu" — did you mean "run"\?/m);
    expect(problem('builders:\n  - name: unit\n    run: [\n')).to.match(/^\.greengate\.yml:\d+:\d+: YAML syntax error/);
    expect(problem('builders:\n  - { name: a, run: x }\n  - { name: a, run: y }\n')).to.match(/\.greengate\.yml:3:\d+: .*duplicate builder name "a"/);
  });

  it('does not expand ${VAR} from the server environment (the file is pushed code)', () => {
    process.env.GG_PIPELINE_TEST_SECRET = 'server-only-value-123';
    try {
      const [b] = parsePipeline('builders:\n  - name: a\n    run: echo ${GG_PIPELINE_TEST_SECRET}\n', '.greengate.yml');
      expect(b.run).to.equal('echo ${GG_PIPELINE_TEST_SECRET}');
    } finally {
      delete process.env.GG_PIPELINE_TEST_SECRET;
    }
  });

  it('a secret not granted to that builder name is refused, naming the line', () => {
    expect(problem('builders:\n  - name: unit\n    run: x\n    secrets: { NPM_TOKEN: { env: NPM_TOKEN } }\n'))
      .to.match(/^\.greengate\.yml:4:\d+: builders\[0\]\.secrets\.NPM_TOKEN: secret NPM_TOKEN is not granted: greengate\.yml grants builder "unit" nothing/m);
    expect(problem('builders:\n  - name: test\n    run: x\n    secrets: { OTHER: { env: OTHER_SECRET } }\n')).to.match(/secret OTHER is not granted.*only NPM_TOKEN/);
  });

  it('a granted secret name cannot be pointed at another server variable or file', () => {
    expect(problem('builders:\n  - name: test\n    run: x\n    secrets: { NPM_TOKEN: { env: OTHER_SECRET } }\n'))
      .to.match(/NPM_TOKEN is granted from \{ env: NPM_TOKEN \} in greengate\.yml, not from \{ env: OTHER_SECRET \}/);
    expect(problem('builders:\n  - name: test\n    run: x\n    secrets: { NPM_TOKEN: { file: /etc/shadow } }\n')).to.match(/not from \{ file: \/etc\/shadow \}/);
  });

  it('a granted secret is used with the source greengate.yml gives', () => {
    const [b] = parsePipeline('builders:\n  - name: test\n    run: x\n    secrets: { NPM_TOKEN: { env: NPM_TOKEN } }\n    env: [NPM_CONFIG_CACHE]\n', '.greengate.yml', grants());
    expect(b.secrets).to.deep.equal({ NPM_TOKEN: { env: 'NPM_TOKEN' } });
    expect(b.env).to.deep.equal(['NPM_CONFIG_CACHE']);
  });

  it('env: cannot pull a runner variable greengate.yml did not grant', () => {
    expect(problem('builders:\n  - name: test\n    run: x\n    env: [AWS_SECRET_ACCESS_KEY]\n'))
      .to.match(/builders\[0\]\.env: runner variable AWS_SECRET_ACCESS_KEY is not granted: greengate\.yml grants builder "test" env only NPM_CONFIG_CACHE/);
  });

  it('sandbox: cannot open paths greengate.yml did not grant; a grant of network: false wins', () => {
    expect(problem('builders:\n  - name: unit\n    run: x\n    sandbox: { writable: [/home] }\n'))
      .to.match(/builders\[0\]\.sandbox\.writable: \/home is not granted/);
    expect(problem('builders:\n  - name: test\n    run: x\n    sandbox: { readOnly: [/root] }\n')).to.match(/\/root is not granted.*only \/opt\/sdk/);
    const [ok] = parsePipeline('builders:\n  - name: test\n    run: x\n    sandbox: { writable: [/srv/out] }\n', '.greengate.yml', grants());
    expect(ok.sandbox?.writable).to.deep.equal(['/srv/out']);
    const [off] = parsePipeline('builders:\n  - name: offline\n    run: x\n    sandbox: { network: true }\n', '.greengate.yml', grants());
    expect(off.sandbox?.network).to.equal(false);
    const [plain] = parsePipeline('builders:\n  - name: offline\n    run: x\n', '.greengate.yml', grants());
    expect(plain.sandbox?.network).to.equal(false);
  });

  it("a step's own env: and sandbox: are held to its builder's grant, and steps are checked as in greengate.yml", () => {
    expect(problem('builders:\n  - name: test\n    steps:\n      - { name: a, run: x, env: [AWS_SECRET_ACCESS_KEY] }\n'))
      .to.match(/builders\[0\]\.steps\[0\]\.env: runner variable AWS_SECRET_ACCESS_KEY is not granted: greengate\.yml grants builder "test"/);
    expect(problem('builders:\n  - name: unit\n    steps:\n      - { name: a, run: x, sandbox: { writable: [/home] } }\n'))
      .to.match(/builders\[0\]\.steps\[0\]\.sandbox\.writable: \/home is not granted/);
    const [off] = parsePipeline('builders:\n  - name: offline\n    steps:\n      - { name: a, run: x, sandbox: { network: true } }\n', '.greengate.yml', grants());
    expect((off.steps![0].sandbox as { network: boolean }).network).to.equal(false);
    expect(problem('builders:\n  - name: test\n    steps:\n      - { name: a, run: x, needs: [nope] }\n')).to.match(/\.greengate\.yml:4:.*nope/);
  });

  it('refuses schedule: in a pipeline file, naming the line and what to do instead', () => {
    expect(problem('builders:\n  - name: test\n    run: x\n    schedule: "0 3 * * *"\n')).to.match(/\.greengate\.yml:4:\d+: builders\[0\]\.schedule: is not read from a pipeline file/);
  });

  it("README's Pipeline file example: greengate.yml's grants and the repository's file both validate", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Pipeline file\n'), readme.indexOf('\n## How a push flows\n'));
    const [server, file] = [...section.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]);
    const repo = parseConfig(`runnerToken: abcdefgh\n${server}`, { env: ENV, baseDir: '/' }).repositories[0];
    const builders = parsePipeline(file, '.greengate.yml', repo.pipelineGrants);
    expect(builders.map((b) => b.name)).to.deep.equal(['unit', 'lint']);
    expect(builders[0].secrets).to.deep.equal({ NPM_TOKEN: { env: 'NPM_TOKEN' } });
  });
});
