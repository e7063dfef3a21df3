import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { artifactLimitsOf, DEFAULT_MAX_BUILD_BYTES, DEFAULT_MAX_FILE_BYTES } from '../../../server/config/artifacts.js';
import { toBuilderSpec } from '../../../server/dispatch/builderSpec.js';

const config = (builder: string, top = '') => `runnerToken: abcdefgh
${top}repositories:
  - name: shop
    path: /srv/git/shop.git
    builders:
      - name: unit
        run: "true"
${builder}`;

function problems(text: string): string {
  try {
    parseConfig(text, { baseDir: '/tmp' });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  return 'accepted';
}

describe('config/artifacts: a builder\'s artifacts globs and artifactLimits', () => {
  it('takes artifacts globs and sends them with each unit; absent sends none', () => {
    const c = parseConfig(config('        artifacts: ["dist/**", "*.tgz"]\n'), { baseDir: '/tmp' });
    const b = c.repositories[0].builders[0];
    expect(b.artifacts).to.deep.equal(['dist/**', '*.tgz']);
    expect(toBuilderSpec(b).artifacts).to.deep.equal(['dist/**', '*.tgz']);
    const none = parseConfig(config(''), { baseDir: '/tmp' }).repositories[0].builders[0];
    expect(toBuilderSpec(none)).not.to.have.property('artifacts');
  });

  it('refuses absolute globs, "..", .git and negations, naming the line and the fix', () => {
    expect(problems(config('        artifacts: ["/etc/passwd"]\n'))).to.match(/line 8:\d+: repositories\[0\]\.builders\[0\]\.artifacts\[0\]: "\/etc\/passwd" is absolute/)
      .and.to.contain('write it relative, e.g. "etc/passwd"');
    expect(problems(config('        artifacts: ["dist/../../secrets"]\n'))).to.contain('leaves the workspace with ".."');
    expect(problems(config('        artifacts: [".git/config"]\n'))).to.contain('reaches into .git');
    expect(problems(config('        artifacts: ["!dist/x"]\n'))).to.contain('is a negation');
    expect(problems(config('        artifacts: "dist/**"\n'))).to.contain('expected a list').and.contain('write a list');
  });

  it('reads artifactLimits, defaulting to 1 GiB per file and 5 GiB per build, and refuses a bad size', () => {
    expect(artifactLimitsOf(parseConfig(config(''), { baseDir: '/tmp' })))
      .to.deep.equal({ maxFileBytes: DEFAULT_MAX_FILE_BYTES, maxBuildBytes: DEFAULT_MAX_BUILD_BYTES });
    expect(DEFAULT_MAX_FILE_BYTES).to.equal(1073741824);
    expect(DEFAULT_MAX_BUILD_BYTES).to.equal(5368709120);
    const set = parseConfig(config('', 'artifactLimits: { maxFileBytes: 1000 }\n'), { baseDir: '/tmp' });
    expect(artifactLimitsOf(set)).to.deep.equal({ maxFileBytes: 1000, maxBuildBytes: DEFAULT_MAX_BUILD_BYTES });
    expect(problems(config('', 'artifactLimits: { maxFileBytes: -1 }\n'))).to.contain('artifactLimits.maxFileBytes: must be a whole number of bytes');
    expect(problems(config('', 'artifactLimits: { maxFileByte: 10 }\n'))).to.contain('maxFileBytes');
  });
});
