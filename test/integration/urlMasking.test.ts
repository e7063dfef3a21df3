import { expect } from 'chai';
import { ADMIN_TOKEN, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../helpers.js';
import { NOTIFY_ENV, Receiver } from '../notifyFixtures.js';

/**
 * A webhook URL with credentials in it (user:password, a token in the query) never shows in full
 * in the server's log (captured from the real process), nor in the notifications API or /tree.
 */
describe('webhook URLs with credentials (real server, real receiver)', function () {
  this.timeout(60_000);
  const PASSWORD = 'hunter2-webhook-password';
  const TOKEN = 'qs-token-0123456789';
  let home: ReturnType<typeof tempHome>;
  let receiver: Receiver;
  let server: ServerProcess;

  before(async () => {
    home = tempHome('gg-urlmask-');
    const repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    const url = new URL(receiver.url);
    url.username = 'ci';
    url.password = PASSWORD;
    url.search = `?token=${TOKEN}`;
    server = new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }],
      { notify: { webhooks: [{ url: url.toString(), secret: { env: 'GG_TEST_WEBHOOK_SECRET' }, events: ['tree.closed'] }] } }));
    server.env = { ...NOTIFY_ENV, GREENGATE_LOG_LEVEL: 'debug' };
    await server.start();
  });
  after(async () => {
    await server?.kill();
    await receiver?.close();
    home?.cleanup();
  });

  it('delivers with the credentials as Basic auth and never logs or shows them', async () => {
    const closed = await fetch(`${server.url}/api/tree/shop/main`, { method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'sheriff: looking into it' }) });
    expect(closed.status).to.equal(200);
    const deliveries = async () => (await (await fetch(`${server.url}/api/notifications`)).json()).deliveries as any[];
    // Delivered, or at least tried (the unfixed server cannot send to such a URL and logs why).
    await pollUntil(async () => (await deliveries()).some((d) => d.attempts > 0 || d.state === 'sent'), 'a delivery attempt', 20_000, 100);
    const api = JSON.stringify(await deliveries()); // no credentials needed to read it
    const tree = await (await fetch(`${server.url}/tree`)).text();
    for (const text of [server.output, api, tree]) {
      expect(text).to.not.contain(PASSWORD);
      expect(text).to.not.contain(TOKEN);
    }
    const sent = await pollUntil(() => receiver.accepted('tree.closed')[0], 'the closure to reach the receiver', 10_000);
    expect(sent.authorization).to.equal(`Basic ${Buffer.from(`ci:${PASSWORD}`).toString('base64')}`);
    expect(server.output).to.match(/notification delivered/); // the log was captured at debug level
  });
});
