import { expect } from 'chai';
import { parseConfig } from '../../../server/config/config.js';
import { LiveConfig } from '../../../server/config/live.js';

const yaml = (extra = '', gate = '[main]', path = '/srv/git/shop.git') => `runnerToken: abcdefghij
adminToken: first-admin
${extra}
repositories:
  - name: shop
    path: ${path}
    gate: ${gate}
    builders:
      - name: unit
        run: npm test
`;
const load = (text: string) => parseConfig(text, { baseDir: '/srv' });

describe('LiveConfig (the running configuration a SIGHUP swaps)', () => {
  it('lets modules that hold the view see the new gate list, builders and admin token', () => {
    const live = new LiveConfig(load(yaml()));
    const held = live.view; // what main.ts hands to the modules at construction
    const outcome = live.swap(load(yaml('retention: { logsDays: 7 }', '[main, release]').replace('adminToken: first-admin', 'adminToken: second-admin')));
    expect(held.repositories[0].gate).to.deep.equal(['main', 'release']);
    expect(held.adminToken).to.equal('second-admin');
    expect(held.retention).to.deep.equal({ logsDays: 7 });
    expect(outcome.applied).to.have.members(['adminToken', 'retention', 'repositories[shop].gate']);
    expect(outcome.needRestart).to.deep.equal([]);
    expect({ ...held }.adminToken).to.equal('second-admin');
    expect(() => { (held as { adminToken: string }).adminToken = 'x'; }).to.throw(TypeError);
  });

  it('keeps the running port, runner token, repository set and paths, and names them as needing a restart', () => {
    const live = new LiveConfig(load(yaml()));
    const next = load(yaml('port: 9999', '[main]', '/srv/git/elsewhere.git').replace('runnerToken: abcdefghij', 'runnerToken: zyxwvutsrq') +
      '  - name: other\n    path: /srv/git/other.git\n    builders: [{ name: unit, run: "true" }]\n');
    const outcome = live.swap(next);
    expect(outcome.needRestart).to.have.members(['port', 'runnerToken', 'repositories[shop].path', 'repositories[other] (added)']);
    expect(live.view.port).to.equal(8010);
    expect(live.view.runnerToken).to.equal('abcdefghij');
    expect(live.view.repositories.map((r) => [r.name, r.path])).to.deep.equal([['shop', '/srv/git/shop.git']]);
  });

  it('validates retention days', () => {
    expect(() => load(yaml('retention: { logsDays: 0 }'))).to.throw(/retention\.logsDays: must be a whole number of days from 1 to 36500/);
    expect(() => load(yaml('retention: { logDays: 3 }'))).to.throw(/retention\.logDays: unknown key "logDays" — did you mean "logsDays"\?/);
    expect(load(yaml()).retention).to.equal(undefined);
    expect(load(yaml('retention: { buildsDays: "90" }')).retention).to.deep.equal({ buildsDays: 90 });
  });
});
