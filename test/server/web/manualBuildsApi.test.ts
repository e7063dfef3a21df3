import { expect } from 'chai';
import { Repo, RUNNER_TOKEN, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';
import type { RunningServer } from '../../../server/main.js';

const ADMIN = 'manual-api-admin-token-0123456789';

describe('web/manualBuildsApi: POST /api/repos/:repo/builds and /api/builds/:id/rerun-failed (real server)', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome('gg-manual-api-');
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { adminToken: ADMIN }, shop: { gate: ['main'],
      builders: [{ name: 'unit', run: 'true', params: [{ name: 'TARGET', default: 'staging', choices: ['staging', 'production'] }] }] } }) });
  });
  after(async () => { await server?.close(); home?.cleanup(); });

  const post = (path: string, body: unknown, token?: string) => fetch(`${server.url}${path}`, { method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  const error = async (res: Response) => ({ status: res.status, ...((await res.json()) as { error: { code: string; message: string } }).error });

  it('refuses both routes without credentials and with a non-admin token (401), creating nothing', async () => {
    const before = server.store.builds.count();
    for (const token of [undefined, RUNNER_TOKEN, 'wrong-admin-token-0123456789']) {
      expect(await error(await post('/api/repos/shop/builds', { branch: 'main' }, token))).to.include({ status: 401, code: 'GG_ADMIN_TOKEN' });
      expect(await error(await post('/api/builds/1/rerun-failed', {}, token))).to.include({ status: 401, code: 'GG_ADMIN_TOKEN' });
    }
    expect(server.store.builds.count()).to.equal(before);
  });

  it('validates the request: body keys, repository, builder, params', async () => {
    expect(await error(await post('/api/repos/shop/builds', { brnach: 'main' }, ADMIN))).to.include({ status: 400, code: 'GG_BAD_REQUEST' });
    expect(await error(await post('/api/repos/shop/builds', { params: { TARGET: 7 } }, ADMIN))).to.include({ status: 400, code: 'GG_BAD_REQUEST' });
    expect(await error(await post('/api/repos/nope/builds', {}, ADMIN))).to.include({ status: 404, code: 'GG_UNKNOWN_REPO' });
    expect(await error(await post('/api/repos/shop/builds', { builder: 'nope' }, ADMIN))).to.include({ status: 404, code: 'GG_NO_BUILDER' });
    const bad = await error(await post('/api/repos/shop/builds', { params: { TARGET: 'qa' } }, ADMIN));
    expect(bad).to.include({ status: 400, code: 'GG_BAD_PARAM' });
    expect(bad.message).to.contain('must be one of staging, production');
  });

  it('starts the head of the first gated branch for the admin; re-running an unfinished build is GG_NOTHING_FAILED', async () => {
    const res = await post('/api/repos/shop/builds', { params: { TARGET: 'production' } }, ADMIN);
    expect(res.status).to.equal(202);
    const { builds } = await res.json() as { builds: number[] };
    expect(builds).to.have.length(1);
    const b = await (await fetch(`${server.url}/api/builds/${builds[0]}`)).json();
    expect(b).to.deep.include({ branch: 'main', cause: { kind: 'manual', startedBy: 'admin', rebuildOf: null }, params: { TARGET: 'production' } });
    expect(await error(await post(`/api/builds/${builds[0]}/rerun-failed`, {}, ADMIN))).to.include({ status: 409, code: 'GG_NOTHING_FAILED' });
  });
});
