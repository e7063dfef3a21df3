import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Outbox } from '../../../server/notify/outbox.js';
import { NotifyTriggers } from '../../../server/notify/triggers.js';
import { Tree } from '../../../server/gate/tree.js';
import { Events } from '../../../server/events.js';
import { tempHome } from '../../helpers.js';
import { samplePayload } from '../../notifyFixtures.js';

const log = pino({ level: 'silent' });

describe('the notifications outbox and its triggers (real SQLite)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let config: Readonly<Config>;
  let outbox: Outbox;

  function open(notify: string, repoNotify = ''): void {
    config = parseConfig(`runnerToken: abcdefgh\nnotify:\n${notify}\nrepositories:
  - name: shop
    path: /srv/shop.git
    gate: [main]
    builders: [{ name: unit, run: npm test }]\n${repoNotify}
  - name: other
    path: /srv/other.git
    builders: [{ name: unit, run: npm test }]\n`, { baseDir: home.dir, env: {} });
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync(config.repositories);
    outbox = new Outbox(store, config, log);
  }
  const rows = () => store.notifications.log({ limit: 100 });

  beforeEach(() => { home = tempHome('gg-outbox-'); });
  afterEach(() => { store?.close(); home.cleanup(); });

  it('stores one delivery per channel and recipient: webhooks by their events, configured addresses and the people concerned', () => {
    open(`  webhooks:
    - { url: "https://a.example.com/all" }
    - { url: "https://b.example.com/closed", events: [tree.closed] }
  email: { from: gg@example.com, to: [oncall@example.com], events: [tree.closed], smtp: { host: h, tls: none } }`);
    const id = outbox.enqueue('tree.closed', samplePayload('tree.closed', 'shop/main closed\nmore', { branch: 'main' }),
      { repo: 'shop', emails: ['ada@example.com', 'ADA@example.com', 'not an address', null, 'oncall@example.com'] });
    expect(id).to.be.a('number');
    expect(rows().map((d) => [d.channel, d.target, d.state, d.summary, d.repo, d.branch]).sort()).to.deep.equal([
      ['email', 'ada@example.com', 'pending', 'shop/main closed', 'shop', 'main'],
      ['email', 'oncall@example.com', 'pending', 'shop/main closed', 'shop', 'main'],
      ['webhook', 'https://a.example.com/all', 'pending', 'shop/main closed', 'shop', 'main'],
      ['webhook', 'https://b.example.com/closed', 'pending', 'shop/main closed', 'shop', 'main'],
    ]);
    outbox.enqueue('build.fixed', samplePayload('build.fixed', 'fixed'), { repo: 'shop', emails: ['ada@example.com'] });
    expect(rows().filter((d) => d.kind === 'build.fixed').map((d) => d.target)).to.deep.equal(['https://a.example.com/all']);
  });

  it('leaves out of a notification that goes `with` another the e-mail targets that one has, never a webhook', () => {
    open(`  webhooks: [{ url: "https://a.example.com/all" }]
  email: { from: gg@example.com, to: [oncall@example.com], smtp: { host: h, tls: none } }`);
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'closed'), { repo: 'shop', emails: ['ada@example.com'] }, { key: 'tree:1' });
    outbox.enqueue('build.failed', samplePayload('build.failed', 'failed'), { repo: 'shop', emails: ['ADA@example.com', 'bob@example.com'] },
      { key: 'build:7', with: 'tree:1' });
    expect(rows().filter((d) => d.kind === 'build.failed').map((d) => [d.channel, d.target]).sort()).to.deep.equal([
      ['email', 'bob@example.com'], ['webhook', 'https://a.example.com/all'],
    ]);
  });

  it('stores an event once by its key, nothing when nobody takes it, and nothing when the caller\'s transaction rolls back', () => {
    open(`  webhooks: [{ url: "https://a.example.com/", events: [tree.closed] }]`);
    expect(outbox.enqueue('tree.closed', samplePayload('tree.closed', 'x'), { repo: 'shop' }, { key: 'tree:1' })).to.be.a('number');
    expect(outbox.enqueue('tree.closed', samplePayload('tree.closed', 'x'), { repo: 'shop' }, { key: 'tree:1' })).to.equal(null);
    expect(outbox.enqueue('runner.lost', samplePayload('runner.lost', 'r1 lost'))).to.equal(null);
    expect(() => store.tx(() => { outbox.enqueue('tree.closed', samplePayload('tree.closed', 'y'), { repo: 'shop' }); throw new Error('the event failed'); }))
      .to.throw('the event failed');
    expect(rows()).to.have.length(1);
  });

  it('uses a repository\'s own notify: keys over the defaults', () => {
    open(`  webhooks: [{ url: "https://default.example.com/" }]`, `    notify: { webhooks: [{ url: "https://shop.example.com/" }] }`);
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'a'), { repo: 'shop' });
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'b'), { repo: 'other' });
    outbox.enqueue('runner.lost', samplePayload('runner.lost', 'c'), { repo: null });
    expect(rows().map((d) => [d.summary, d.target]).sort()).to.deep.equal([
      ['a', 'https://shop.example.com/'], ['b', 'https://default.example.com/'], ['c', 'https://default.example.com/']]);
  });

  it('tells a closure and a reopening by hand from the tree\'s own transaction, with who and how long', () => {
    open(`  webhooks: [{ url: "https://a.example.com/" }]`);
    const triggers = new NotifyTriggers({ store, config, outbox, log, baseUrl: () => 'http://ci.test', waitingReason: () => null });
    const tree = new Tree(store, config, new Events(), log, () => 'http://ci.test', (c) => triggers.treeChanged(c));
    tree.set('shop', 'main', 'closed', 'migrating the database', 'sheriff');
    tree.set('shop', 'main', 'maintenance', 'still migrating', 'sheriff'); // not open → not open: no new closure
    tree.set('shop', 'main', 'open', null, 'sheriff');
    const told = rows().reverse();
    expect(told.map((d) => [d.kind, d.summary])).to.deep.equal([
      ['tree.closed', 'shop/main closed by sheriff: migrating the database'],
      ['tree.reopened', told[1].summary],
    ]);
    expect(told[1].summary).to.match(/^shop\/main reopened after \d+ s, by sheriff by hand$/);
  });

  it('tells once per build that its units waited longer than unitWaitSeconds, with why', () => {
    open(`  unitWaitSeconds: 60\n  webhooks: [{ url: "https://a.example.com/" }]`);
    const t0 = Date.now() - 120_000;
    const shop = store.repos.byName('shop')!.id;
    const build = store.builds.create({ repoId: shop, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'a'.repeat(40),
      baseSha: null, changeId: null, pushedAt: t0, at: t0, blamelist: [] });
    for (const seq of [1, 2]) {
      store.units.create({ buildId: build, seq, files: ['t.js'], attempt: 1, retryOf: null, priority: 0, expectedMs: 1, avoidRunnerId: null, lostCount: 0, at: t0 });
    }
    const fresh = store.builds.create({ repoId: shop, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch', sha: 'b'.repeat(40),
      baseSha: null, changeId: null, pushedAt: Date.now(), at: Date.now(), blamelist: [] });
    store.units.create({ buildId: fresh, seq: 1, files: ['t.js'], attempt: 1, retryOf: null, priority: 0, expectedMs: 1, avoidRunnerId: null, lostCount: 0, at: Date.now() });
    const triggers = new NotifyTriggers({ store, config, outbox, log, baseUrl: () => 'http://ci.test', waitingReason: () => 'no connected runner has os=linux' });
    triggers.checkWaiting();
    triggers.checkWaiting();
    const told = rows();
    expect(told).to.have.length(1);
    expect(told[0].kind).to.equal('unit.waiting');
    expect(told[0].summary).to.match(new RegExp(`^shop/main: 2 unit\\(s\\) of unit build ${build} have waited 1[12]\\d s for a runner \\(no connected runner has os=linux\\)$`));
  });
});
