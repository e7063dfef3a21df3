import { expect } from 'chai';
import { Repo, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';
import { postForm } from '../../ui/fixtures.js';
import { formParams } from '../../../server/web/pagesManual.js';
import type { RunningServer } from '../../../server/main.js';

describe('web/pagesManual: the "build now" and "re-run failed" forms (real server)', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome('gg-pages-manual-');
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { adminToken: 'pages-manual-admin-token-0123' } }) });
  });
  after(async () => { await server?.close(); home?.cleanup(); });

  it('reads the params field as NAME=VALUE pairs separated by spaces', () => {
    expect(formParams('A=1  B=two\nC=')).to.deep.equal({ A: '1', B: 'two', C: '' });
    expect(formParams(undefined)).to.deep.equal({});
    expect(() => formParams('A=1 oops')).to.throw('is not NAME=VALUE');
  });

  it('refuses both forms without an admin session (403), creating nothing; the admin bearer token is not a session', async () => {
    const before = server.store.builds.count();
    expect((await postForm(server.url, '/build-now', { repo: 'shop', branch: 'main' })).status).to.equal(403);
    expect((await postForm(server.url, '/build-now', { repo: 'shop', branch: 'main', _csrf: 'forged' })).status).to.equal(403);
    expect((await postForm(server.url, '/builds/1/rerun-failed', {})).status).to.equal(403);
    const bearer = await fetch(`${server.url}/build-now`, { method: 'POST', redirect: 'manual', body: new URLSearchParams({ repo: 'shop' }),
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer pages-manual-admin-token-0123' } });
    expect(bearer.status).to.equal(403);
    expect(server.store.builds.count()).to.equal(before);
  });
});
