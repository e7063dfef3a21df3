import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';
import { toBuilderSpec } from '../../../server/dispatch/builderSpec.js';

const config = (builder: string, stage = '') => `runnerToken: abcdefgh
repositories:
  - name: shop
    path: /srv/git/shop.git
    gate: [main]
    builders:
      - name: unit
        run: "true"
${builder}${stage ? `    deploy:
      main:
        stages:
          - name: canary
            run: ./deploy.sh
            rollback: ./rollback.sh
${stage}` : ''}`;

function problems(text: string): string {
  try {
    parseConfig(text, { baseDir: '/tmp' });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('config: sandbox: of builders and deploy stages', () => {
  it('leaves it out when absent (the runner\'s defaults: network on, nothing else) and fills in what is left out', () => {
    const plain = parseConfig(config(''), { baseDir: '/tmp' }).repositories[0].builders[0];
    expect(plain.sandbox).to.equal(undefined);
    expect(toBuilderSpec(plain)).not.to.have.key('sandbox');
    const b = parseConfig(config('        sandbox: { network: false, writable: [/srv/out] }\n'), { baseDir: '/tmp' }).repositories[0].builders[0];
    expect(b.sandbox).to.deep.equal({ network: false, readOnly: [], writable: ['/srv/out'] });
    expect(toBuilderSpec(b).sandbox).to.deep.equal({ network: false, readOnly: [], writable: ['/srv/out'], keepProcesses: false });
  });

  it('lets a deploy stage keep its processes, and only a stage', () => {
    const c = parseConfig(config('', '            sandbox: { keepProcesses: true, writable: [/srv/app] }\n'), { baseDir: '/tmp' });
    expect(c.repositories[0].deploy!.main.stages[0].sandbox).to.deep.equal({ network: true, readOnly: [], writable: ['/srv/app'], keepProcesses: true });
    expect(problems(config('        sandbox: { keepProcesses: true }\n'))).to.contain('repositories[0].builders[0].sandbox.keepProcesses');
  });

  it('names a bad path, a bad network value and a misspelt key with the fix', () => {
    expect(problems(config('        sandbox: { writable: [out] }\n'))).to.contain('sandbox.writable[0]').and.contain('absolute path');
    expect(problems(config('        sandbox: { readOnly: [/srv/../etc] }\n'))).to.contain('sandbox.readOnly[0]');
    expect(problems(config('        sandbox: { writable: [/] }\n'))).to.contain('other than "/"');
    expect(problems(config('        sandbox: { network: maybe }\n'))).to.contain('sandbox.network').and.contain('expected boolean');
    expect(problems(config('        sandbox: { writeable: [/srv] }\n'))).to.contain('did you mean "writable"?');
  });
});
