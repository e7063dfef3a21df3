import { expect } from 'chai';
import { type RunningServer } from '../../../server/main.js';
import { ADMIN_TOKEN, Repo, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';

/** Branch names with "/" (release/1.2) in the land queue's routes: public reads, with the slash written as is or as %2F. */
describe('web/queueApi and web/pagesQueue: branches whose names hold "/"', function () {
  this.timeout(30_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome();
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a\n' }, 'first');
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { adminToken: ADMIN_TOKEN },
      shop: { gate: ['main', 'release/1.2'], land: { 'release/1.2': 'queue' } } }) });
  });
  after(async () => {
    await server?.close();
    home?.cleanup();
  });

  it('answers GET /api/queue/:repo/release/1.2 and …/release%2F1.2 without credentials', async () => {
    for (const path of ['/api/queue/shop/release/1.2', '/api/queue/shop/release%2F1.2']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      expect(await res.json(), path).to.include({ repo: 'shop', branch: 'release/1.2', mode: 'queue' });
    }
  });

  it('still answers 404 GG_QUEUE_NOT_FOUND for a branch without a land queue, slash or not', async () => {
    for (const path of ['/api/queue/shop/release/1.3', '/api/queue/shop/main']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(404);
      expect((await res.json() as { error: { code: string } }).error.code, path).to.equal('GG_QUEUE_NOT_FOUND');
    }
  });

  it('shows the page /queue/:repo/release/1.2 without credentials', async () => {
    for (const path of ['/queue/shop/release/1.2', '/queue/shop/release%2F1.2']) {
      const res = await fetch(server.url + path);
      expect(res.status, path).to.equal(200);
      expect(await res.text(), path).to.contain('release/1.2');
    }
  });
});
