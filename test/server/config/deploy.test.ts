import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../server/config/config.js';

const base = (deploy: string, gate = '[main]') => `runnerToken: abcdefgh
repositories:
  - name: shop
    path: /srv/git/shop.git
    gate: ${gate}
    builders: [{ name: unit, run: "true" }]
    deploy:
${deploy}`;

function problems(text: string): string {
  try {
    parseConfig(text, { baseDir: '/tmp' });
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('config: deploy:', () => {
  it('reads stages in order with their commands, labels, timeout and watch (the watch spec passed through)', () => {
    const c = parseConfig(base(`      main:
        stages:
          - name: canary
            run: ./deploy.sh canary
            rollback: ./deploy.sh rollback canary
            runsOn: { role: deploy }
            watch:
              seconds: "60"
              alpha: 0.01
              source: { scrape: "http://app:8080/metrics" }
              metrics: [{ name: errors, kind: ratio, errors: 'http_requests_total{status="500"}', total: http_requests_total }]
          - { name: production, run: ./deploy.sh all, rollback: ./deploy.sh rollback all }
`), { baseDir: '/tmp' });
    const stages = c.repositories[0].deploy!.main.stages;
    expect(stages.map((s) => s.name)).to.deep.equal(['canary', 'production']);
    expect(stages[0].runsOn).to.deep.equal({ role: 'deploy' });
    expect(stages[0].watch).to.deep.include({ seconds: 60, alpha: 0.01 });
    expect(stages[0].watch!.metrics).to.deep.equal([{ name: 'errors', kind: 'ratio', errors: 'http_requests_total{status="500"}', total: 'http_requests_total' }]);
    expect(stages[1].timeout).to.equal(600);
    expect(stages[1].watch).to.equal(undefined);
  });

  it('refuses a branch that is not gated, naming it and the fix', () => {
    const msg = problems(base('      release:\n        stages: [{ name: prod, run: a, rollback: b }]\n'));
    expect(msg).to.contain('repositories[0].deploy.release').and.contain('not gated — add it to gate:');
  });

  it('refuses a stage without rollback, an unknown key, a duplicate name and a watch without seconds', () => {
    expect(problems(base('      main:\n        stages: [{ name: prod, run: a }]\n'))).to.contain('deploy.main.stages[0].rollback');
    expect(problems(base('      main:\n        stages: [{ name: prod, run: a, rollback: b, rollbak: c }]\n'))).to.contain('rollbak');
    expect(problems(base('      main:\n        stages: [{ name: a, run: a, rollback: b }, { name: a, run: a, rollback: b }]\n')))
      .to.contain('"a" is used twice');
    expect(problems(base('      main:\n        stages: [{ name: a, run: a, rollback: b, watch: { source: { scrape: "http://app:8080/metrics" }, metrics: [] } }]\n')))
      .to.contain('deploy.main.stages[0].watch.seconds');
    expect(problems(base('      main:\n        stages: []\n'))).to.contain('at least one stage');
    expect(problems(base('      main:\n        stages: [{ name: a, run: a, rollback: b, runsOn: { "bad key": x } }]\n'))).to.contain('label key');
  });
});
