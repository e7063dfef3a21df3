import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { autoRevertsOn, culpritSettings } from '../../../server/config/culprit.js';

const repo = (extra: string) => `runnerToken: abcdefgh\nrepositories:\n  - name: shop\n    path: /srv/git/shop.git\n    gate: [main, release]\n` +
  `${extra}    builders: [{ name: unit, run: "true" }]\n`;

function problems(text: string): string[] {
  try {
    parseConfig(text, { baseDir: '/tmp' });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.keyPath}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('culprit and autoRevert keys (config/culprit)', () => {
  it('defaults: culprits are searched, nothing is reverted, 2 confirming runs, 3 reverts a day', () => {
    const r = parseConfig(repo(''), { baseDir: '/tmp' }).repositories[0];
    expect(autoRevertsOn(r, 'main')).to.equal(false);
    expect(culpritSettings(r)).to.deep.equal({ confirmRuns: 2, maxPerDay: 3 });
  });

  it('takes autoRevert: true for every gated branch, or a list of them', () => {
    const all = parseConfig(repo('    autoRevert: true\n    culprit: { confirmRuns: 3, maxPerDay: 1 }\n'), { baseDir: '/tmp' }).repositories[0];
    expect(['main', 'release', 'dev'].map((b) => autoRevertsOn(all, b))).to.deep.equal([true, true, false]);
    expect(culpritSettings(all)).to.deep.equal({ confirmRuns: 3, maxPerDay: 1 });
    const one = parseConfig(repo('    autoRevert: [release]\n'), { baseDir: '/tmp' }).repositories[0];
    expect(['main', 'release'].map((b) => autoRevertsOn(one, b))).to.deep.equal([false, true]);
  });

  it('refuses an ungated branch, a bad value and an unknown culprit key, naming the fix', () => {
    expect(problems(repo('    autoRevert: [dev]\n'))).to.deep.equal(['repositories[0].autoRevert[0]: "dev" is not gated — add it to gate: first, or remove it here']);
    expect(problems(repo('    autoRevert: yes please\n'))[0]).to.match(/autoRevert: must be true, false, or a list of gated branches/);
    expect(problems(repo('    culprit: { confirmRuns: 0 }\n'))[0]).to.match(/culprit.confirmRuns: must be a whole number from 1 to 10/);
    expect(problems(repo('    culprit: { maxPerDays: 2 }\n'))[0]).to.match(/did you mean "maxPerDay"/);
  });
});
