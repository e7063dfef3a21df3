import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
import { parseConfig } from '../../../../server/config/config.js';
import { NOTIFY_KEYS, notifyShapeOf } from '../../../../server/config/notify.js';
import { openStore, type Store } from '../../../../server/store/index.js';
import { Outbox } from '../../../../server/notify/outbox.js';
import { NotificationSender } from '../../../../server/notify/sender.js';
import { CHANNELS, channelNamed, notifyFor, settingsOf, type Channel } from '../../../../server/notify/channels/index.js';
import { maskTarget } from '../../../../server/web/notificationsApi.js';
import { pollUntil, tempHome } from '../../../helpers.js';
import { samplePayload } from '../../../notifyFixtures.js';

const log = pino({ level: 'silent' });

/** A channel of the test's own — a pager — to show that adding a channel is one module: nothing else changes. */
interface PagerConfig { numbers: string[] }
const paged: { to: string; kind: string; text: string }[] = [];
const pager: Channel<PagerConfig> = {
  name: 'pager',
  key: 'pager',
  schema: z.strictObject({ numbers: z.array(z.string().regex(/^\+\d{6,15}$/, 'must be a phone number, e.g. +4930123456')) }),
  keys: { '': ['numbers'] },
  maxInFlight: 1,
  targets: (s, kind) => ({ targets: kind === 'tree.closed' ? s.numbers : [], refused: [] }),
  connect: () => ({ send: async (d) => { paged.push({ to: d.target, kind: d.kind, text: d.payload.text }); }, close: () => undefined }),
  mask: (target) => `${target.slice(0, 3)}…`,
  credentials: () => [],
  secrets: () => [],
};

describe('the channel registry (notify/channels/index.ts)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store | undefined;
  beforeEach(() => { home = tempHome('gg-channels-'); paged.length = 0; });
  afterEach(() => { store?.close(); store = undefined; home.cleanup(); });

  it('lists webhook and e-mail under their notify: keys, each name and key once, and finds a channel by name', () => {
    expect(CHANNELS.map((c) => [c.name, c.key])).to.deep.equal([['webhook', 'webhooks'], ['email', 'email']]);
    expect(channelNamed('email')?.key).to.equal('email');
    expect(channelNamed('pager')).to.equal(undefined);
    expect(NOTIFY_KEYS.notify).to.deep.equal(['unitWaitSeconds', 'webhooks', 'email']);
    expect(NOTIFY_KEYS['repositories.notify.email.smtp']).to.include('password');
    expect(settingsOf(CHANNELS[1], { email: { to: [] } })).to.deep.equal({ to: [] });
    expect(notifyFor({ unitWaitSeconds: 60, webhooks: [] }, { webhooks: [{ url: 'https://b.example.com/' }] }))
      .to.deep.equal({ unitWaitSeconds: 60, webhooks: [{ url: 'https://b.example.com/' }] });
  });

  it('takes a new channel as one module: its config part validated with the key path, its targets stored, sent by its sender, masked on the API', async () => {
    const schema = z.strictObject(notifyShapeOf([...CHANNELS, pager]));
    const bad = schema.safeParse({ pager: { numbers: ['555'] } });
    expect(bad.success).to.equal(false);
    expect(bad.error!.issues.map((i) => [i.path.join('.'), i.message])).to.deep.equal([['pager.numbers.0', 'must be a phone number, e.g. +4930123456']]);
    const base = parseConfig(JSON.stringify({ runnerToken: 'abcdefgh',
      repositories: [{ name: 'shop', path: '/srv/shop.git', builders: [{ name: 'unit', run: 'npm test' }] }] }), { baseDir: home.dir, env: {} });
    const config = { ...base, notify: { pager: { numbers: ['+4930123456'] } } };
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync(config.repositories);
    let sender: NotificationSender | null = null;
    const outbox = new Outbox(store, config, log, () => sender?.wake(), [...CHANNELS, pager]);
    sender = new NotificationSender(store, outbox, log);
    sender.start();
    try {
      expect(outbox.enqueue('build.fixed', samplePayload('build.fixed', 'fixed'), { repo: 'shop' })).to.equal(null); // the pager takes tree.closed only
      outbox.enqueue('tree.closed', samplePayload('tree.closed', 'shop/main closed'), { repo: 'shop' });
      await pollUntil(() => paged.length === 1, 'the page');
      expect(paged).to.deep.equal([{ to: '+4930123456', kind: 'tree.closed', text: 'shop/main closed' }]);
      await pollUntil(() => store!.notifications.log({ limit: 10 })[0]?.state === 'sent', 'marked sent');
      const row = store.notifications.log({ limit: 10 })[0];
      expect([row.channel, row.target]).to.deep.equal(['pager', '+4930123456']); // migration 021: no CHECK on the channel's name
      expect(maskTarget('pager', row.target)).to.equal('…'); // a channel the server does not list shows nothing of its target
      expect(pager.mask(row.target)).to.equal('+49…');
    } finally {
      await sender.stop();
    }
  });

  it('fails a delivery of a channel that left the registry at once, saying so', async () => {
    const base = parseConfig(JSON.stringify({ runnerToken: 'abcdefgh',
      repositories: [{ name: 'shop', path: '/srv/shop.git', builders: [{ name: 'unit', run: 'npm test' }] }] }), { baseDir: home.dir, env: {} });
    const config = { ...base, notify: { pager: { numbers: ['+4930123456'] } } };
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync(config.repositories);
    new Outbox(store, config, log, undefined, [...CHANNELS, pager]).enqueue('tree.closed', samplePayload('tree.closed', 'x'), { repo: 'shop' });
    const sender = new NotificationSender(store, new Outbox(store, config, log), log);
    sender.start();
    try {
      await pollUntil(() => store!.notifications.log({ limit: 10 })[0].state === 'failed', 'given up');
      expect(store.notifications.log({ limit: 10 })[0].lastError).to.equal('greengate has no pager channel any more');
      expect(paged).to.deep.equal([]);
    } finally {
      await sender.stop();
    }
  });
});
