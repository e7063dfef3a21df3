import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { stepsOf } from '../../../server/config/steps.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers.js';

const config = (builder: string) => `runnerToken: abcdefgh
repositories:
  - name: shop
    path: /srv/git/shop.git
    gate: [main]
    builders:
${builder}`;

function problems(text: string): string {
  try {
    parseConfig(text, { file: '/etc/gg/greengate.yml', baseDir: '/tmp' });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}
const builderOf = (text: string) => parseConfig(config(text), { baseDir: '/tmp' }).repositories[0].builders[0];

describe('config/steps: a builder\'s steps', () => {
  it('makes a builder without steps one step named after it, with everything it had', () => {
    const b = builderOf('      - name: unit\n        run: npm test\n        tests: "test/**"\n');
    const [only, ...rest] = stepsOf(b);
    expect(rest).to.deep.equal([]);
    expect(only).to.include({ name: 'unit', step: 'unit', stepName: 'unit', run: 'npm test', tests: 'test/**', matrix: null });
    expect(only.needs).to.deep.equal([]);
  });

  it('inherits the builder\'s keys, defaults needs to the step before, keeps needs: [] and artifacts', () => {
    const b = builderOf(`      - name: ci
        setup: npm ci
        timeout: 30
        env: [HOME2]
        steps:
          - { name: build, run: make, artifacts: ["dist/**"] }
          - { name: test, run: npm test, tests: "test/**", timeout: 99 }
          - { name: lint, run: npm run lint, needs: [] }
          - { name: package, run: npm pack, needs: [test, lint], setup: "echo own" }
`);
    const steps = stepsOf(b);
    expect(steps.map((s) => [s.step, s.needs, s.timeout, s.setup])).to.deep.equal([
      ['build', [], 30, 'npm ci'], ['test', ['build'], 99, 'npm ci'], ['lint', [], 30, 'npm ci'], ['package', ['test', 'lint'], 30, 'echo own']]);
    expect(steps[0].artifacts).to.deep.equal(['dist/**']);
    expect(steps[1].tests).to.equal('test/**');
    expect(steps[0].tests).to.equal(null);
    expect(steps.every((s) => s.name === 'ci' && s.env?.[0] === 'HOME2')).to.equal(true);
    expect(b.run).to.equal('');
  });

  it('expands a matrix into one step per combination, with its variables and their values in runsOn', () => {
    const b = builderOf(`      - name: ci
        steps:
          - name: test
            run: node -v
            runsOn: { node: "v$\${NODE}", os: linux }
            matrix: { NODE: ["20", "22"], OS: [linux] }
`);
    const steps = stepsOf(b);
    expect(steps.map((s) => s.step)).to.deep.equal(['test (NODE=20, OS=linux)', 'test (NODE=22, OS=linux)']);
    expect(steps[1].matrix).to.deep.equal({ NODE: '22', OS: 'linux' });
    expect(steps.every((s) => s.stepName === 'test')).to.equal(true);
    expect(steps.map((s) => s.runsOn)).to.deep.equal([{ node: 'v20', os: 'linux' }, { node: 'v22', os: 'linux' }]);
  });

  it('names a duplicate step with FILE:LINE:COL', () => {
    const msg = problems(config(`      - name: ci
        steps:
          - name: build
            run: make
          - name: build
            run: make again
`));
    expect(msg).to.match(/greengate\.yml:11:\d+: repositories\[0\]\.builders\[0\]\.steps\[1\]\.name: duplicate step name "build"/);
  });

  it('names an unknown need with FILE:LINE:COL and the steps there are', () => {
    const msg = problems(config(`      - name: ci
        steps:
          - name: build
            run: make
          - name: test
            run: make test
            needs: [biuld]
`));
    expect(msg).to.match(/greengate\.yml:13:\d+: repositories\[0\]\.builders\[0\]\.steps\[1\]\.needs\[0\]: names no step "biuld" of this builder — use one of: build, test/);
  });

  it('names a cycle with the steps in it', () => {
    const msg = problems(config(`      - name: ci
        steps:
          - { name: a, run: "true", needs: [c] }
          - { name: b, run: "true" }
          - { name: c, run: "true" }
`));
    expect(msg).to.match(/greengate\.yml:9:\d+: repositories\[0\]\.builders\[0\]\.steps\[0\]\.needs: makes a cycle \(a → c → b → a\)/);
  });

  it('refuses run or tests beside steps, and a builder with neither run nor steps', () => {
    const msg = problems(config(`      - name: ci
        run: make
        tests: "test/**"
        steps:
          - { name: a, run: "true" }
      - name: bare
        setup: npm ci
`));
    expect(msg).to.match(/greengate\.yml:8:\d+: repositories\[0\]\.builders\[0\]\.run: is not allowed beside steps:/);
    expect(msg).to.match(/greengate\.yml:9:\d+: repositories\[0\]\.builders\[0\]\.tests: is not allowed beside steps:/);
    expect(msg).to.match(/repositories\[0\]\.builders\[1\]\.run: missing required key "run" — add it/);
  });

  it('refuses an unknown step key with a suggestion, and a bad artifact glob', () => {
    const msg = problems(config(`      - name: ci
        steps:
          - { name: a, run: "true", need: [], artifacts: ["../x"] }
`));
    expect(msg).to.match(/steps\[0\]\.need.*needs/);
    expect(msg).to.match(/steps\[0\]\.artifacts\[0\]: "..\/x" leaves the workspace with ".."/);
  });

  it('accepts the README\'s Steps example as written', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n### Steps\n'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1];
    const steps = stepsOf(parseConfig(`runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n${yaml}`,
      { baseDir: '/tmp' }).repositories[0].builders[0]);
    expect(steps.map((s) => `${s.step} <- ${s.needs.join(',')}`)).to.deep.equal(['build <- ', 'lint <- ',
      'test (NODE_VERSION=20) <- build', 'test (NODE_VERSION=22) <- build', 'package <- test,lint']);
  });

  it('names a runsOn that uses a variable its step\'s matrix does not have', () => {
    const msg = problems(config(`      - name: ci
        steps:
          - { name: a, run: "true", runsOn: { node: "$\${NODE}" }, matrix: { NOD: ["20"] } }
`));
    expect(msg).to.match(/steps\[0\]\.runsOn\.node: uses \$\{NODE\}, which is not a variable of this step's matrix/);
  });
});
