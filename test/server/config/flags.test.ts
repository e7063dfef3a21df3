import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../server/config/config.js';
import { tempHome } from '../../helpers.js';

describe('flags: in greengate.yml (a repository\'s feature flags)', () => {
  let home: ReturnType<typeof tempHome>;
  beforeEach(() => { home = tempHome(); });
  afterEach(() => home.cleanup());
  const repo = (name: string, flags: string, gate = '[main]') =>
    `  - { name: ${name}, path: /srv/${name}.git, gate: ${gate}, builders: [{ name: unit, run: "true" }], flags: ${flags} }\n`;
  const parse = (repos: string, top = '') => parseConfig(`runnerToken: runner-token-1234\n${top}repositories:\n${repos}`,
    { baseDir: home.dir, env: { SHOP_FLAGS: 'shop-flags-token-00001' } });

  it('reads the token from ${VAR} or from tokenFile (relative to the config)', () => {
    writeFileSync(join(home.dir, 'cart.token'), 'cart-flags-token-00002\n');
    const cfg = parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}" }') + repo('cart', '{ file: config/flags.json, tokenFile: cart.token }'));
    expect(cfg.repositories[0].flags).to.deep.equal({ file: 'flags.json', token: 'shop-flags-token-00001' });
    expect(cfg.repositories[1].flags).to.include({ file: 'config/flags.json', token: 'cart-flags-token-00002' });
  });

  it('takes eventRetentionDays (whole days, 1 to 36500; absent: the default), naming the key path when it is wrong', () => {
    expect(parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", eventRetentionDays: 30 }')).repositories[0].flags?.eventRetentionDays).to.equal(30);
    expect(parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}" }')).repositories[0].flags?.eventRetentionDays).to.equal(undefined);
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", eventRetentionDays: 0 }'))).to.throw(/flags\.eventRetentionDays: must be at least 1 day/);
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", eventRetentionDays: 1.5 }'))).to.throw(/flags\.eventRetentionDays: expected int, found the number 1.5/);
  });

  it('refuses a short token, both or neither of token/tokenFile, an unreadable tokenFile, naming the key path', () => {
    expect(() => parse(repo('shop', '{ file: flags.json, token: short }'))).to.throw(/repositories\[0\]\.flags\.token: must be at least 16 characters/);
    expect(() => parse(repo('shop', '{ file: flags.json }'))).to.throw(/repositories\[0\]\.flags: needs exactly one of token/);
    expect(() => parse(repo('shop', '{ file: flags.json, tokenFile: missing.token }'))).to.throw(/repositories\[0\]\.flags\.tokenFile: cannot read .*missing\.token \(ENOENT\)/);
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", colour: red }'))).to.throw(/colour/);
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", ratePerSecond: 0 }'))).to.throw(/flags\.ratePerSecond: must be at least 1 evaluation per second/);
    expect(parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}", ratePerSecond: 50 }')).repositories[0].flags?.ratePerSecond).to.equal(50);
  });

  it('refuses a token shared with another repository or with runnerToken or an admin, a path outside the repository, and no gated branch', () => {
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}" }') + repo('cart', '{ file: flags.json, token: "${SHOP_FLAGS}" }')))
      .to.throw(/repositories\[1\]\.flags: has the same token as repositories\[0\]\.flags/);
    expect(() => parse(repo('shop', '{ file: flags.json, token: runner-token-1234-long }'), 'adminToken: runner-token-1234-long\n'))
      .to.throw(/repositories\[0\]\.flags: has the same token as runnerToken, adminToken or an admin/);
    expect(() => parse(repo('shop', '{ file: ../etc/passwd, token: "${SHOP_FLAGS}" }'))).to.throw(/repositories\[0\]\.flags\.file: must be a plain path inside the repository/);
    expect(() => parse(repo('shop', '{ file: /flags.json, token: "${SHOP_FLAGS}" }'))).to.throw(/flags\.file: must be a plain path/);
    expect(() => parse(repo('shop', '{ file: flags.json, token: "${SHOP_FLAGS}" }', '[]'))).to.throw(/repositories\[0\]\.flags: are read at the head of the repository's first gated branch, but it has none/);
  });
});
