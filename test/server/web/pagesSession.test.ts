import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { ADMIN_TOKEN, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../../helpers.js';
import { openStore } from '../../../server/store/index.js';
import { join } from 'node:path';

/** Admin page sessions are stored server-side: logging out or a new admin token ends every copy of the cookie. */
describe('admin sessions (a real server)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-sessions-');
  let server: ServerProcess;
  let configFile: string;

  before(async () => {
    const repo = new Repo(home.dir);
    configFile = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }]);
    server = await new ServerProcess(configFile).start();
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  const post = (path: string, form: Record<string, string>, cookie = '') => fetch(server.url + path, {
    method: 'POST', redirect: 'manual', body: new URLSearchParams(form),
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
  });
  /** Logs in; the cookie and the CSRF token its pages carry. */
  async function logIn(token = ADMIN_TOKEN): Promise<{ cookie: string; csrf: string }> {
    const res = await post('/login', { token, next: '/tree' });
    expect(res.status).to.equal(303);
    const cookie = /^(gg_admin=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1];
    const page = await (await fetch(`${server.url}/tree`, { headers: { cookie } })).text();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page)![1];
    return { cookie, csrf };
  }
  const closeTree = (s: { cookie: string; csrf: string }, message: string) =>
    post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message, _csrf: s.csrf }, s.cookie);
  const openTree = (s: { cookie: string; csrf: string }) =>
    post('/tree/state', { repo: 'shop', branch: 'main', state: 'open', message: '', _csrf: s.csrf }, s.cookie);

  it('refuses a copied cookie after its session logged out', async () => {
    const session = await logIn();
    const stolen = { ...session }; // what an attacker copied from the browser
    expect((await closeTree(stolen, 'works while logged in')).status).to.equal(303);
    expect((await openTree(session)).status).to.equal(303);
    expect((await post('/logout', { _csrf: session.csrf }, session.cookie)).status).to.equal(303);
    const refused = await closeTree(stolen, 'after logout');
    expect(refused.status).to.equal(403);
    expect(await refused.text()).to.contain('log in as admin first');
    expect((await server.api('/api/tree/shop/main')).state).to.equal('open');
  });

  it('refuses logout and admin forms without a session (no credentials)', async () => {
    expect((await post('/logout', {})).status).to.equal(403);
    expect((await post('/tree/state', { repo: 'shop', branch: 'main', state: 'closed', message: 'x' })).status).to.equal(403);
  });

  it('stores only hashes of session ids', async () => {
    const { cookie } = await logIn();
    const id = cookie.split('=')[1];
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    try {
      const dump = JSON.stringify(store.db.prepare('SELECT * FROM admin_sessions').all());
      expect(dump).to.not.contain(id);
      expect(store.sessions.count()).to.be.at.least(1);
    } finally {
      store.close();
    }
  });

  it('ends every session when a SIGHUP reload changes the admin token', async () => {
    const session = await logIn();
    writeFileSync(configFile, readFileSync(configFile, 'utf8').replace(ADMIN_TOKEN, 'a-new-admin-token-789'));
    server.child.kill('SIGHUP');
    await pollUntil(() => /SIGHUP: reloaded .*adminToken/.test(server.output), 'the reload');
    expect((await closeTree(session, 'after rotation')).status).to.equal(403);
    const fresh = await logIn('a-new-admin-token-789');
    expect((await closeTree(fresh, 'with the new token')).status).to.equal(303);
  });
});
