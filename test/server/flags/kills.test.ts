import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Outbox } from '../../../server/notify/outbox.js';
import { FlagKills } from '../../../server/flags/kills.js';
import { tempHome } from '../../helpers.js';

const log = pino({ level: 'silent' });

describe('flags/kills: the kill switch (real SQLite)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let config: Readonly<Config>;
  const defines = (_repo: string, key: string) => key === 'new-cart' || key === 'banner';
  const open = () => {
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync(config.repositories);
    return new FlagKills({ store, outbox: new Outbox(store, config, log), log, baseUrl: () => 'http://ci.test', defines });
  };

  beforeEach(() => {
    home = tempHome('gg-kills-');
    config = parseConfig(`runnerToken: abcdefgh\nnotify:\n  webhooks: [{ url: "https://hooks.example.com/ci", events: [flag.killed, flag.restored] }]
repositories:
  - { name: shop, path: /srv/shop.git, gate: [main], builders: [{ name: unit, run: "true" }], flags: { file: flags.json, token: shop-flags-token-0001 } }\n`,
    { baseDir: home.dir, env: {} });
  });
  afterEach(() => { store?.close(); home.cleanup(); });

  it('kills at once for the next evaluation, records who and why, and notifies flag.killed then flag.restored', () => {
    const kills = open();
    const lookup = kills.lookup('shop');
    expect(lookup('new-cart')).to.equal(null);
    kills.kill('shop', 'new-cart', 'ada', 'errors up');
    expect(lookup('new-cart')).to.include({ actor: 'ada', message: 'errors up' });
    expect(lookup('banner')).to.equal(null);
    kills.restore('shop', 'new-cart', 'bob');
    expect(lookup('new-cart')).to.equal(null);
    expect(kills.history('shop', 'new-cart').map((e) => [e.action, e.actor, e.message])).to.deep.equal([['restore', 'bob', null], ['kill', 'ada', 'errors up']]);
    const sent = store.notifications.log({ limit: 10 }).map((d) => [d.kind, d.summary, d.target]).reverse();
    expect(sent).to.deep.equal([
      ['flag.killed', 'shop: feature flag new-cart killed by ada: errors up', 'https://hooks.example.com/ci'],
      ['flag.restored', 'shop: feature flag new-cart restored by bob', 'https://hooks.example.com/ci'],
    ]);
  });

  it('keeps a kill across a restart (read back from SQLite)', () => {
    open().kill('shop', 'banner', 'ada', null);
    store.close();
    const again = open();
    expect(again.lookup('shop')('banner')).to.include({ actor: 'ada' });
    expect(again.killedIn('shop').map((k) => k.key)).to.deep.equal(['banner']);
  });

  it('refuses to kill a flag the repository does not serve, and an unknown repository, storing nothing', () => {
    const kills = open();
    expect(() => kills.kill('shop', 'nope', 'ada', null)).to.throw(/serves no flag "nope"/).with.property('code', 'GG_FLAG_NOT_FOUND');
    expect(() => kills.kill('other', 'new-cart', 'ada', null)).to.throw().with.property('code', 'GG_UNKNOWN_REPO');
    expect(kills.history('shop', 'nope')).to.deep.equal([]);
    expect(store.notifications.log({ limit: 10 })).to.deep.equal([]);
  });
});
