import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../../server/store/index.js';
import { ADMIN_TOKEN, CLI, Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';

const ADA = 'ada-admin-token-0000001';
const BOB = 'bob-admin-token-0000002';

/** The real `greengate tree …` command; resolves to its exit status and stderr. */
function treeCli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'tree', ...args], {
      env: { ...process.env, GREENGATE_ADMIN_TOKEN: '', GREENGATE_SERVER: '', ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => resolve({ status, stderr }));
  });
}

describe('named admins (admins: in greengate.yml): every admin action records its admin\'s name', function () {
  this.timeout(60_000);
  const home = tempHome('gg-admins-');
  let server: ServerProcess;

  before(async () => {
    const repo = new Repo(home.dir);
    writeFileSync(join(home.dir, 'bob.token'), `${BOB}\n`, { mode: 0o600 });
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }],
      { admins: [{ name: 'ada', token: ADA }, { name: 'bob', tokenFile: 'bob.token' }] });
    server = await new ServerProcess(file).start();
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  const setTree = (token: string | null, body: Record<string, unknown>) => fetch(`${server.url}/api/tree/shop/main`, {
    method: 'POST', body: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const history = async () => (await server.api('/api/tree-history/shop?branch=main')).events as { kind: string; actor: string | null }[];

  it('records each admin\'s name for tree close and open over the API, whatever actor the body claims', async () => {
    expect((await setTree(ADA, { state: 'closed', message: 'red build', actor: 'mallory' })).status).to.equal(200);
    expect((await server.api('/api/tree/shop/main')).actor).to.equal('ada');
    expect((await setTree(BOB, { state: 'open' })).status).to.equal(200);
    const [opened, closed] = await history();
    expect([closed.kind, closed.actor, opened.kind, opened.actor]).to.deep.equal(['close', 'ada', 'open', 'bob']);
  });

  it('records each admin\'s name for tree close and open through the CLI (token file and environment)', async () => {
    const closed = await treeCli(['close', '--server', server.url, '--message', 'bob closes', '--admin-token-file', join(home.dir, 'bob.token')], {});
    expect(closed.status, closed.stderr).to.equal(0);
    const opened = await treeCli(['open', '--server', server.url], { GREENGATE_ADMIN_TOKEN: ADA });
    expect(opened.status, opened.stderr).to.equal(0);
    const [o, c] = await history();
    expect([c.kind, c.actor, o.kind, o.actor]).to.deep.equal(['close', 'bob', 'open', 'ada']);
  });

  it('keeps adminToken as the unnamed admin, recorded as "admin"', async () => {
    expect((await setTree(ADMIN_TOKEN, { state: 'closed', message: 'by the shared token' })).status).to.equal(200);
    expect((await setTree(ADMIN_TOKEN, { state: 'open' })).status).to.equal(200);
    expect((await history()).slice(0, 2).map((e) => e.actor)).to.deep.equal(['admin', 'admin']);
  });

  it('records the admin\'s name when a test is quarantined over the API, whatever actor the body claims', async () => {
    const res = await fetch(`${server.url}/api/quarantine/shop/unit`, { method: 'POST', body: JSON.stringify({ test: 'flaky one', actor: 'mallory' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${BOB}` } });
    expect(res.status).to.equal(201);
    expect((await res.json()).addedBy).to.equal('bob');
  });

  it('records the admin\'s name when automatic reverts are switched off', async () => {
    const res = await fetch(`${server.url}/api/autorevert`, { method: 'POST', body: JSON.stringify({ state: 'off', actor: 'mallory' }),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADA}` } });
    expect(res.status).to.equal(200);
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    try {
      expect(store.db.prepare('SELECT value, actor FROM admin_switches').all()).to.deep.equal([{ value: 'off', actor: 'ada' }]);
    } finally {
      store.close();
    }
  });

  it('answers 401 without credentials or with a wrong token, and records nothing', async () => {
    const before = (await history()).length;
    for (const token of [null, 'not-an-admin-token-000']) {
      const res = await setTree(token, { state: 'closed', message: 'nobody', actor: 'ada' });
      expect(res.status).to.equal(401);
      expect((await res.json()).error.code).to.equal('GG_ADMIN_TOKEN');
    }
    const cli = await treeCli(['close', '--server', server.url, '--message', 'no token'], {});
    expect(cli.status).to.equal(1);
    expect(cli.stderr).to.contain('GG_ADMIN_TOKEN');
    expect((await history()).length).to.equal(before);
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
  });
});
