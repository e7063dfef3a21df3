import { expect } from 'chai';
import { readFileSync, writeFileSync } from 'node:fs';
import { ADMIN_TOKEN, Repo, ServerProcess, pollUntil, tempHome, writeConfig } from '../../helpers.js';
import { openStore } from '../../../server/store/index.js';
import { join } from 'node:path';
import { postForm } from '../../ui/fixtures.js';

interface Session { cookie: string; csrf: string }
/** Logs in at `base`; the cookie and the CSRF token its pages carry. */
async function logInAt(base: string, token: string): Promise<Session> {
  const res = await postForm(base, '/login', { token, next: '/tree' });
  expect(res.status).to.equal(303);
  const cookie = /^(gg_admin=[^;]+)/.exec(res.headers.get('set-cookie') ?? '')![1];
  const page = await (await fetch(`${base}/tree`, { headers: { cookie } })).text();
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page)![1] };
}

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

  const post = (path: string, form: Record<string, string>, cookie = '') => postForm(server.url, path, form, cookie);
  const logIn = (token = ADMIN_TOKEN) => logInAt(server.url, token);
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

describe('admin sessions of named admins (admins: in greengate.yml)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-named-sessions-');
  const ADA = 'ada-admin-token-0000001';
  let server: ServerProcess;

  before(async () => {
    const repo = new Repo(home.dir);
    writeFileSync(join(home.dir, 'bob.token'), 'bob-admin-token-0000002\n');
    const file = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }],
      { admins: [{ name: 'ada', token: ADA }, { name: 'bob', tokenFile: 'bob.token' }] });
    server = await new ServerProcess(file).start();
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  const post = (path: string, form: Record<string, string>, cookie = '') => postForm(server.url, path, form, cookie);
  const logIn = (token: string) => logInAt(server.url, token);
  const setTree = (s: { cookie: string; csrf: string }, state: string) =>
    post('/tree/state', { repo: 'shop', branch: 'main', state, message: state === 'closed' ? 'red' : '', actor: 'mallory', _csrf: s.csrf }, s.cookie);
  const lastActor = async () => (await server.api('/api/tree-history/shop?branch=main')).events[0].actor;

  it('records the session\'s admin name for the forms it sends, whatever actor the form claims', async () => {
    const ada = await logIn(ADA);
    const bob = await logIn('bob-admin-token-0000002');
    expect((await setTree(ada, 'closed')).status).to.equal(303);
    expect(await lastActor()).to.equal('ada');
    expect((await setTree(bob, 'open')).status).to.equal(303);
    expect(await lastActor()).to.equal('bob');
  });

  it('ends only the sessions of an admin whose token changed (SIGHUP reload of their tokenFile)', async () => {
    const ada = await logIn(ADA);
    const bob = await logIn('bob-admin-token-0000002');
    writeFileSync(join(home.dir, 'bob.token'), 'bob-rotated-token-000003\n');
    server.child.kill('SIGHUP');
    await pollUntil(() => /SIGHUP: reloaded .*admins/.test(server.output), 'the reload');
    expect((await setTree(bob, 'closed')).status).to.equal(403);
    expect((await setTree(ada, 'closed')).status).to.equal(303);
    expect(await lastActor()).to.equal('ada');
    expect((await setTree(await logIn('bob-rotated-token-000003'), 'open')).status).to.equal(303);
    expect(await lastActor()).to.equal('bob');
  });

  it('refuses a login with no token or a wrong one (403) and sets no cookie', async () => {
    for (const token of ['', 'not-an-admin-token-000']) {
      const res = await post('/login', { token, next: '/tree' });
      expect(res.status).to.equal(403);
      expect(res.headers.get('set-cookie') ?? '').not.to.contain('gg_admin=');
    }
  });
});
