import { expect } from 'chai';
import { ADMIN_TOKEN, Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';
import { ADMIN_GUESSES } from '../../../server/web/guesses.js';

describe('guessing the admin token (a real server)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-guesses-');
  let server: ServerProcess;

  before(async () => {
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, gate: ['main'], builders: [{ name: 'unit', run: 'true' }] }])).start();
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  const closeTree = (token: string) => fetch(`${server.url}/api/tree/shop/main`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ state: 'closed', message: 'guess' }),
  });

  it('counts only wrong tokens, then refuses every admin call from that address with 429 and when to retry', async () => {
    const right = await closeTree(ADMIN_TOKEN);
    expect(right.status, await right.text()).to.equal(200);
    for (let i = 0; i < ADMIN_GUESSES; i++) expect((await closeTree(`wrong-${i}`)).status).to.equal(401);
    const refused = await closeTree('wrong-again');
    expect(refused.status).to.equal(429);
    const body = await refused.json() as { error: { code: string; message: string } };
    expect(body.error.code).to.equal('GG_TOO_MANY_GUESSES');
    expect(body.error.message).to.match(/too many wrong admin tokens from .*: try again in 15 minute\(s\)/);
    expect((await closeTree(ADMIN_TOKEN)).status, 'the right token too, until the window ends').to.equal(429);
    const tree = await server.api('/api/tree/shop/main');
    expect(tree.state, 'reading is not limited').to.equal('closed');
  });

  it('limits the login form on its own count, with a page that says when to try again', async () => {
    const login = (token: string) => fetch(`${server.url}/login`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token, next: '/tree' }).toString(),
    });
    for (let i = 0; i < ADMIN_GUESSES; i++) expect((await login(`wrong-${i}`)).status).to.equal(403);
    const refused = await login(ADMIN_TOKEN);
    expect(refused.status).to.equal(429);
    expect(await refused.text()).to.include('Too many wrong tokens from this address: try again in 15 minute(s).');
  });
});
