import { expect } from 'chai';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfig, type Config } from '../../../server/config/config.js';
import { openStore, type Store } from '../../../server/store/index.js';
import { Outbox } from '../../../server/notify/outbox.js';
import { backoffMs, NotificationSender } from '../../../server/notify/sender.js';
import { postWebhook, signBody } from '../../../server/notify/webhook.js';
import { pollUntil, tempHome } from '../../helpers.js';
import { MailServer, Receiver, samplePayload, SMTP_PASSWORD, SMTP_USER, WEBHOOK_SECRET } from '../../notifyFixtures.js';

const log = pino({ level: 'silent' });

describe('the notification sender (real HTTP receiver, real SMTP server, real SQLite)', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let store: Store;
  let receiver: Receiver;
  let mail: MailServer;
  const senders: NotificationSender[] = [];

  function configWith(webhook: boolean, email: boolean): Readonly<Config> {
    const notify = {
      webhooks: webhook ? [{ url: receiver.url, secret: { value: WEBHOOK_SECRET } }] : [],
      ...(email ? { email: { from: 'gg@example.com', to: ['oncall@example.com'],
        smtp: { host: '127.0.0.1', port: mail.port, tls: 'none', user: { value: SMTP_USER }, password: { value: SMTP_PASSWORD } } } } : {}),
    };
    return parseConfig(JSON.stringify({ runnerToken: 'abcdefgh', notify,
      repositories: [{ name: 'shop', path: '/srv/shop.git', builders: [{ name: 'unit', run: 'npm test' }] }] }), { baseDir: home.dir, env: {} });
  }
  /** An outbox whose enqueues wake its sender after the commit, as server/pipeline.ts connects them. */
  function connected(cfg: ConstructorParameters<typeof Outbox>[1], logger = log): { outbox: Outbox; sender: NotificationSender } {
    let s: NotificationSender | null = null;
    const outbox = new Outbox(store, cfg, logger, () => s?.wake());
    s = new NotificationSender(store, outbox, logger);
    senders.push(s);
    return { outbox, sender: s };
  }
  const rows = () => store.notifications.log({ limit: 100 });

  beforeEach(async () => {
    home = tempHome('gg-sender-');
    store = openStore(join(home.dir, 'gg.db'));
    store.repos.sync([{ name: 'shop', path: '/srv/shop.git' }]);
    receiver = await new Receiver().start();
    mail = await new MailServer().start();
  });
  afterEach(async () => {
    await Promise.all(senders.splice(0).map((s) => s.stop()));
    store.close();
    await receiver.close();
    await mail.close();
    home.cleanup();
  });

  it('posts a signed JSON body with a Slack-compatible text, the event and a delivery key; mails over SMTP with credentials', async () => {
    const { outbox, sender } = connected(configWith(true, true));
    sender.start();
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'shop/main closed: unit build 7 failed\nhttp://ci/builds/7', { branch: 'main', build: { id: 7 } }),
      { repo: 'shop', emails: ['ada@example.com'] });
    const got = await pollUntil(() => receiver.accepted()[0], 'the webhook');
    expect(got.signatureOk).to.equal(true);
    expect(got.event).to.equal('tree.closed');
    expect(got.body).to.deep.include({ text: 'shop/main closed: unit build 7 failed\nhttp://ci/builds/7', event: 'tree.closed',
      repo: 'shop', branch: 'main', build: { id: 7 }, delivery: got.delivery });
    await pollUntil(() => mail.mails.length === 2, 'two mails');
    const m = mail.to('ada@example.com')[0];
    expect(m.subject).to.equal('[greengate] shop/main closed: unit build 7 failed');
    expect(m.raw).to.match(/Message-ID: <[0-9a-f-]{36}@greengate>/i);
    expect(m.delivery).to.match(/^[0-9a-f-]{36}$/);
    await pollUntil(() => rows().every((d) => d.state === 'sent' && d.attempts === 1), 'all marked sent');
  });

  it('mails a configured ops@localhost-style address end to end (config, outbox, real SMTP server); a malformed person\'s address is refused and logged, never dropped silently', async () => {
    const logged: Record<string, unknown>[] = [];
    const capture = pino({ level: 'info' }, { write: (line: string) => { logged.push(JSON.parse(line) as Record<string, unknown>); } });
    const config = parseConfig(JSON.stringify({ runnerToken: 'abcdefgh',
      notify: { email: { from: 'greengate@localhost', to: ['ops@localhost'],
        smtp: { host: '127.0.0.1', port: mail.port, tls: 'none', user: { value: SMTP_USER }, password: { value: SMTP_PASSWORD } } } },
      repositories: [{ name: 'shop', path: '/srv/shop.git', builders: [{ name: 'unit', run: 'npm test' }] }] }), { baseDir: home.dir, env: {} });
    const { outbox, sender } = connected(config, capture);
    sender.start();
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'shop/main closed'), { repo: 'shop', emails: ['root@', 'ada@example.com'] });
    await pollUntil(() => mail.mails.length === 2, 'the mails to ops@localhost and ada@example.com');
    expect(mail.to('ops@localhost')).to.have.length(1);
    expect(mail.to('ops@localhost')[0].from).to.equal('greengate@localhost');
    expect(rows().map((d) => d.target).sort()).to.deep.equal(['ada@example.com', 'ops@localhost']);
    const refused = logged.filter((l) => l.msg === 'a recipient was not notified');
    expect(refused.map((l) => [l.channel, l.target, l.reason])).to.deep.equal([['email', 'r…@', 'not an e-mail address: it has no @ with something before and after it']]);
    await pollUntil(() => rows().every((d) => d.state === 'sent'), 'both marked sent');
  });

  it('escapes the webhook text as Slack asks, so pushed words cannot ping a channel; the mail keeps them as written', async () => {
    const { outbox, sender } = connected(configWith(true, true));
    sender.start();
    outbox.enqueue('build.failed', samplePayload('build.failed', 'blamelist: abc <!channel> & <http://evil|click>'), { repo: 'shop' });
    const got = await pollUntil(() => receiver.accepted()[0], 'the webhook');
    expect(got.body.text).to.equal('blamelist: abc &lt;!channel&gt; &amp; &lt;http://evil|click&gt;');
    const m = await pollUntil(() => mail.mails[0], 'the mail');
    expect(m.raw).to.contain('blamelist: abc <!channel> & <http://evil|click>');
  });

  it('retries with exponential backoff, with the same delivery key, and marks it sent once delivered', async () => {
    receiver.failNext = 2;
    const { outbox, sender } = connected(configWith(true, false));
    sender.start();
    outbox.enqueue('build.failed', samplePayload('build.failed', 'red'), { repo: 'shop' });
    await pollUntil(() => receiver.accepted().length, 'the third attempt', 15_000);
    const [a, b, c] = receiver.requests;
    expect(receiver.requests.map((r) => r.status)).to.deep.equal([500, 500, 200]);
    expect(new Set([a.delivery, b.delivery, c.delivery]).size).to.equal(1);
    expect(b.at - a.at).to.be.at.least(backoffMs(1) * 0.9 - 50);
    expect(c.at - b.at).to.be.at.least(backoffMs(2) * 0.9 - 50);
    await pollUntil(() => rows()[0].state === 'sent', 'marked sent');
    expect(rows()[0]).to.include({ attempts: 3, lastError: null });
    expect(store.notifications.due(Date.now() + 3_600_000, 10)).to.deep.equal([]); // nothing left to send, ever
  });

  it('sends what an earlier process left pending (same key), and never again what it marked sent', async () => {
    const { outbox, sender } = connected(configWith(true, false));
    outbox.enqueue('tree.closed', samplePayload('tree.closed', 'left pending by a crash'), { repo: 'shop' }); // no sender running: stays pending
    const key = store.notifications.due(Date.now(), 10)[0].deliveryKey;
    sender.start();
    await pollUntil(() => rows()[0].state === 'sent', 'delivered after the "restart"');
    expect(receiver.accepted().map((r) => r.delivery)).to.deep.equal([key]);
    await senders[0].stop();
    expect(store.notifications.due(Date.now(), 10)).to.deep.equal([]);
  });

  it('gives up at once on a delivery whose webhook was removed from the configuration, saying why', async () => {
    new Outbox(store, configWith(true, false), log).enqueue('tree.closed', samplePayload('tree.closed', 'x'), { repo: 'shop' });
    connected(configWith(false, false)).sender.start();
    await pollUntil(() => rows()[0].state === 'failed', 'given up');
    expect(rows()[0].lastError).to.equal('this webhook is no longer in the notify: settings');
    expect(receiver.requests).to.have.length(0);
  });

  it('backs off 1, 2, 4 … s up to 10 min; a failed POST names neither the URL nor the secret', async () => {
    expect([1, 2, 3, 4, 30].map((n) => backoffMs(n))).to.deep.equal([1000, 2000, 4000, 8000, 600_000]);
    expect(signBody('k', '{}')).to.match(/^sha256=[0-9a-f]{64}$/);
    receiver.down = true;
    const err = await postWebhook({ url: receiver.url, secret: WEBHOOK_SECRET, kind: 'tree.closed', deliveryKey: 'k1', body: { text: 'x' } })
      .then(() => null, (e: Error) => e);
    expect(err?.message).to.equal('the receiver answered HTTP 503');
    await receiver.close();
    const gone = await postWebhook({ url: receiver.url, secret: null, kind: 'tree.closed', deliveryKey: 'k2', body: { text: 'x' } })
      .then(() => null, (e: Error) => e);
    expect(gone?.message).to.match(/^could not connect \(ECONNREFUSED\)$/);
    receiver = await new Receiver().start(); // afterEach closes it
  });
});
