import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { checkRequestedParams } from '../../../server/config/params.js';

function withBuilder(lines: string, repo = '    gate: [main]\n'): string {
  return `runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n${repo}    builders:\n` +
    `      - name: unit\n        run: "true"\n${lines}`;
}
function problems(text: string): string {
  try {
    parseConfig(text, { baseDir: '/tmp', env: {} });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  return expect.fail('expected a ConfigError');
}

describe('server/config: builder params and schedule', () => {
  it('reads params (defaults as text) and a schedule as a pattern or { cron, branch }', () => {
    const cfg = parseConfig(withBuilder('        schedule: "0 3 * * *"\n        params:\n          - { name: TARGET, default: staging, choices: [staging, production] }\n          - { name: RETRIES, default: 3 }\n'),
      { baseDir: '/tmp', env: {} });
    const b = cfg.repositories[0].builders[0];
    expect(b.schedule).to.deep.equal({ cron: '0 3 * * *', branch: null });
    expect(b.params).to.deep.equal([{ name: 'TARGET', default: 'staging', choices: ['staging', 'production'] }, { name: 'RETRIES', default: '3' }]);
    const other = parseConfig(withBuilder('        schedule: { cron: "*/5 * * * * *", branch: release }\n'), { baseDir: '/tmp', env: {} });
    expect(other.repositories[0].builders[0].schedule).to.deep.equal({ cron: '*/5 * * * * *', branch: 'release' });
  });

  it('refuses a bad cron pattern, a bad branch, and a schedule without a branch in a repository with no gate, naming the key and the fix', () => {
    expect(problems(withBuilder('        schedule: "0 25 * * *"\n'))).to.contain('repositories[0].builders[0].schedule.cron: is not a cron pattern').and.contain('e.g. "0 3 * * *"');
    expect(problems(withBuilder('        schedule: { cron: "0 3 * * *", branch: "a..b" }\n'))).to.contain('schedule.branch');
    expect(problems(withBuilder('        schedule: { cron: "0 3 * * *", when: daily }\n'))).to.contain('when');
    expect(problems(withBuilder('        schedule: "0 3 * * *"\n', ''))).to.contain('builders[0].schedule: builds the first gate: branch, but this repository has no gate:');
  });

  it('refuses param names that would override greengate\'s, the runner\'s, env: or secrets: variables, and defaults outside choices', () => {
    expect(problems(withBuilder('        params: [{ name: GREENGATE_BUILD, default: x }]\n'))).to.contain('params[0].name: GREENGATE_* variables are set by greengate');
    expect(problems(withBuilder('        params: [{ name: PATH, default: x }]\n'))).to.contain('params[0].name: must not be one of PATH');
    expect(problems(withBuilder('        params: [{ name: 1BAD, default: x }]\n'))).to.contain('must be an environment variable name');
    expect(problems(withBuilder('        env: [NODE_ENV]\n        params: [{ name: NODE_ENV, default: x }]\n'))).to.contain('"NODE_ENV" is also in env:');
    expect(problems(withBuilder('        secrets: { NPM_TOKEN: { env: NPM } }\n        params: [{ name: NPM_TOKEN, default: x }]\n'))).to.contain('"NPM_TOKEN" is also in secrets:');
    expect(problems(withBuilder('        params: [{ name: T, default: qa, choices: [staging] }]\n'))).to.contain('params[0].default: "qa" is not one of its choices');
    expect(problems(withBuilder('        params: [{ name: T, default: "a b" }]\n'))).to.contain('params[0].default: must be at most 256 letters');
    expect(problems(withBuilder('        params: [{ name: T, default: a }, { name: T, default: b }]\n'))).to.contain('is declared twice');
    expect(problems(withBuilder('        params: [{ name: T, defualt: a }]\n'))).to.contain('defualt');
  });

  it('checks requested params: declared by a started builder, allowed characters and length, within choices', () => {
    const builders = [{ name: 'unit', params: [{ name: 'T', default: 'a', choices: ['a', 'b'] }] }, { name: 'lint' }];
    expect(checkRequestedParams(builders, { T: 'b' })).to.deep.equal(new Map([['unit', { T: 'b' }], ['lint', {}]]));
    const refused = (given: Record<string, string>) => { try { checkRequestedParams(builders, given); } catch (e) { return (e as { code: string; message: string }); } return expect.fail('expected GG_BAD_PARAM'); };
    expect(refused({ X: 'a' }).message).to.contain('unknown param "X": declared params are T');
    expect(refused({ T: 'c' }).message).to.contain('must be one of a, b');
    expect(refused({ T: 'x'.repeat(300) }).code).to.equal('GG_BAD_PARAM');
    expect(refused({ T: '$(id)' }).code).to.equal('GG_BAD_PARAM');
  });
});
