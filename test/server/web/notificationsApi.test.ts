import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ADMIN_TOKEN, RUNNER_TOKEN, Repo, ServerProcess, pollUntil, tempHome } from '../../helpers.js';
import { NOTIFY_ENV, Receiver } from '../../notifyFixtures.js';

describe('GET /api/notifications and the delivery log on /tree (real server process)', function () {
  this.timeout(60_000);
  let home: ReturnType<typeof tempHome>;
  let server: ServerProcess;
  let receiver: Receiver;

  before(async () => {
    home = tempHome('gg-notifyapi-');
    const repo = new Repo(home.dir);
    receiver = await new Receiver().start();
    const file = join(home.dir, 'greengate.yml');
    writeFileSync(file, stringify({
      port: 0, data: join(home.dir, 'data'), runnerToken: RUNNER_TOKEN, adminToken: ADMIN_TOKEN,
      notify: { webhooks: [{ url: `${receiver.url}/T0000/B0000/xoxb-secret-path`, secret: { env: 'GG_TEST_WEBHOOK_SECRET' } }],
        email: { from: 'gg@example.com', to: ['oncall@example.com'], smtp: { host: '127.0.0.1', port: 9, tls: 'none' } } },
      repositories: [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }],
    }));
    server = new ServerProcess(file);
    server.env = NOTIFY_ENV;
    await server.start();
    await server.api('/api/tree/shop/main', { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'closed', message: 'deploy freeze' }) });
    await pollUntil(() => receiver.accepted('tree.closed').length, 'the closure webhook');
  });
  after(async () => {
    await server?.kill();
    await receiver?.close();
    home?.cleanup();
  });

  it('answers anyone without credentials, with masked targets and no bodies', async () => {
    const res = await fetch(`${server.url}/api/notifications?repo=shop`);
    expect(res.status).to.equal(200);
    const { deliveries, next } = await res.json() as { deliveries: any[]; next: number | null };
    expect(next).to.equal(null);
    const byChannel = Object.fromEntries(deliveries.map((d) => [d.channel, d]));
    expect(byChannel.webhook).to.include({ kind: 'tree.closed', repo: 'shop', branch: 'main', target: `${new URL(receiver.url).origin}/…` });
    expect(byChannel.webhook.summary).to.equal('shop/main closed by admin: deploy freeze');
    expect(byChannel.email).to.include({ target: 'o…@example.com' });
    const text = JSON.stringify(deliveries);
    expect(text).to.not.contain('xoxb').and.not.contain('oncall').and.not.contain('payload');
  });

  it('refuses a bad query and an unknown repository with catalogued errors; writes are no route', async () => {
    const bad = await fetch(`${server.url}/api/notifications?limit=100000`);
    expect(bad.status).to.equal(400);
    expect((await bad.json() as any).error.code).to.equal('GG_BAD_REQUEST');
    const unknown = await fetch(`${server.url}/api/notifications?repo=nope`);
    expect(unknown.status).to.equal(404);
    expect((await unknown.json() as any).error.code).to.equal('GG_UNKNOWN_REPO');
    const post = await fetch(`${server.url}/api/notifications`, { method: 'POST' });
    expect(post.status).to.equal(404);
  });

  it('shows the newest deliveries on /tree, masked', async () => {
    const page = await server.api<string>('/tree');
    expect(page).to.contain('<h2>Notifications</h2>').and.contain('shop/main closed by admin: deploy freeze');
    expect(page).to.not.contain('xoxb').and.not.contain('oncall@');
  });
});
