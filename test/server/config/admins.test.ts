import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../server/config/config.js';
import { adminsOf } from '../../../server/config/admins.js';
import { tempHome } from '../../helpers.js';

describe('admins: in greengate.yml (named admins)', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome(); });
  afterEach(() => home.cleanup());
  const parse = (admins: string, top = '') => parseConfig(`runnerToken: runner-token-1234\n${top}admins:\n${admins}`,
    { baseDir: home.dir, env: { ADA_TOKEN: 'ada-admin-token-0000001' } });

  it('reads tokens from ${VAR} and from tokenFile (relative to the config), adminToken last as the unnamed "admin"', () => {
    writeFileSync(join(home.dir, 'bob.token'), 'bob-admin-token-0000002\n');
    const cfg = parse('  - { name: ada, token: "${ADA_TOKEN}" }\n  - { name: bob, tokenFile: bob.token }\n', 'adminToken: shared-admin-token\n');
    expect(adminsOf(cfg)).to.deep.equal([
      { name: 'ada', token: 'ada-admin-token-0000001', named: true },
      { name: 'bob', token: 'bob-admin-token-0000002', named: true },
      { name: 'admin', token: 'shared-admin-token', named: false }]);
  });

  it('refuses duplicate names, short tokens and shared tokens, naming the key path', () => {
    expect(() => parse('  - { name: ada, token: "${ADA_TOKEN}" }\n  - { name: ada, token: other-admin-token-000 }\n'))
      .to.throw(/admins\[1\]\.name: duplicate admin name "ada"/);
    expect(() => parse('  - { name: ada, token: short }\n')).to.throw(/admins\[0\]\.token: must be at least 16 characters/);
    expect(() => parse('  - { name: ada, token: "${ADA_TOKEN}" }\n  - { name: bob, token: "${ADA_TOKEN}" }\n'))
      .to.throw(/admins\[1\]: has the same token as admins\[0\]/);
    expect(() => parse('  - { name: admin, token: "${ADA_TOKEN}" }\n', 'adminToken: shared-admin-token\n'))
      .to.throw(/admins\[0\]\.name: "admin" is the name of adminToken's unnamed admin/);
  });

  it('refuses an unreadable tokenFile, both or neither of token/tokenFile, and a short token in a file', () => {
    expect(() => parse('  - { name: ada, token: "${ADA_TOKEN}" }\n  - { name: bob, tokenFile: missing.token }\n'))
      .to.throw(/admins\[1\]\.tokenFile: cannot read .*missing\.token \(ENOENT\)/);
    expect(() => parse('  - { name: ada }\n')).to.throw(/admins\[0\]: needs exactly one of token/);
    writeFileSync(join(home.dir, 'short.token'), 'abc\n');
    expect(() => parse('  - { name: ada, tokenFile: short.token }\n')).to.throw(/admins\[0\]\.tokenFile: .*shorter than 16 characters/);
  });
});
