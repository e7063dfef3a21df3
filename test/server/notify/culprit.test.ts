import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Outbox } from '../../../server/notify/outbox.js';
import { culpritNotifier } from '../../../server/notify/culprit.js';
import { culpritNotice } from '../../../server/culprit/notices.js';
import { tempHome } from '../../helpers.js';

describe('culprit notifications into the outbox (notify/culprit.ts, real SQLite)', () => {
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  beforeEach(() => { home = tempHome('gg-culpritnotify-'); });
  afterEach(() => { store.close(); home.cleanup(); });

  it('enqueues the kind culprit finding names, unchanged, under the repository\'s settings, mailing the author when blamelist is on', () => {
    const config = parseConfig(JSON.stringify({ runnerToken: 'abcdefgh',
      repositories: [{ name: 'shop', path: '/srv/shop.git', builders: [{ name: 'unit', run: 'npm test' }],
        notify: { webhooks: [{ url: 'https://shop.example.com/', events: ['culprit.found'] }],
          email: { from: 'gg@example.com', events: ['culprit.found'], smtp: { host: 'h', tls: 'none' } } } }] }), { baseDir: home.dir, env: {} });
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync(config.repositories);
    const notify = culpritNotifier(new Outbox(store, config, pino({ level: 'silent' })));
    const facts = { repo: 'shop', branch: 'main', builder: 'unit', build: 7, sha: 'a'.repeat(40), confirmed: true, confidence: 0.99,
      outcome: 'confirmed', author: 'Ada', subject: 'x', builds: [] };
    store.tx(() => notify('culprit.found', culpritNotice(facts), ['ada@example.com']));
    store.tx(() => notify('culprit.notFound', culpritNotice({ ...facts, sha: null }), [])); // nobody takes it here
    expect(store.notifications.log({ limit: 10 }).map((d) => [d.kind, d.repo, d.channel, d.target]).sort()).to.deep.equal([
      ['culprit.found', 'shop', 'email', 'ada@example.com'], ['culprit.found', 'shop', 'webhook', 'https://shop.example.com/']]);
  });
});
