import { expect } from 'chai';
import { type RunningServer } from '../../../server/main.js';
import { ADMIN_TOKEN, Repo, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';

/** A deployed branch whose name holds "/" (release/1.2): its pause routes, written with the slash as is or as %2F. */
describe('web/deploysApi: branches whose names hold "/"', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };

  before(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a\n' }, 'first');
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { adminToken: ADMIN_TOKEN },
      shop: { gate: ['main', 'release/1.2'], deploy: { 'release/1.2': { stages: [{ name: 'production', run: 'true', rollback: 'true' }] } } } }) });
  });
  after(async () => {
    await server?.close();
    home?.cleanup();
  });

  it('answers GET /api/deploys/:repo/release/1.2/pause without credentials', async () => {
    for (const path of ['/api/deploys/shop/release/1.2/pause', '/api/deploys/shop/release%2F1.2/pause']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      expect(await res.json(), path).to.deep.equal({ repo: 'shop', branch: 'release/1.2', paused: null });
    }
  });

  it('refuses POST …/release/1.2/pause and …/resume without the admin token (401), and pauses and resumes with it', async () => {
    for (const action of ['pause', 'resume']) {
      const res = await fetch(`${server.url}/api/deploys/shop/release/1.2/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(res.status, action).to.equal(401);
    }
    const paused = await fetch(`${server.url}/api/deploys/shop/release/1.2/pause`, { method: 'POST', headers: admin, body: JSON.stringify({ reason: 'freeze' }) });
    expect(paused.status).to.equal(200);
    expect(await paused.json()).to.include({ repo: 'shop', branch: 'release/1.2' }).and.have.property('paused').that.matches(/^paused.*: freeze$/);
    const resumed = await fetch(`${server.url}/api/deploys/shop/release%2F1.2/resume`, { method: 'POST', headers: admin });
    expect(resumed.status).to.equal(200);
    expect(await resumed.json()).to.deep.equal({ repo: 'shop', branch: 'release/1.2', paused: null });
  });
});
