import { expect } from 'chai';
import { Repo, tempHome } from '../../helpers.js';
import { shopConfig, startShopServer } from '../shopServer.js';
import { parseParams, runBuildCommand } from '../../../server/cli/build.js';
import type { RunningServer } from '../../../server/main.js';

const ADMIN = 'cli-build-admin-token-0123456789';

describe('cli/build: greengate build (real server)', function () {
  this.timeout(20_000);
  let home: ReturnType<typeof tempHome>;
  let server: RunningServer;

  before(async () => {
    home = tempHome('gg-cli-build-');
    const repo = new Repo(home.dir);
    repo.commit({ 'a.txt': 'a' }, 'first');
    repo.push();
    server = await startShopServer(home.dir, repo, { config: shopConfig(home.dir, repo, { top: { adminToken: ADMIN }, shop: { gate: ['main'],
      builders: [{ name: 'unit', run: 'true', params: [{ name: 'TARGET', default: 'staging' }] }] } }) });
  });
  after(async () => { await server?.close(); home?.cleanup(); });

  async function run(opts: Parameters<typeof runBuildCommand>[0]) {
    const out: string[] = [];
    const err: string[] = [];
    const status = await runBuildCommand({ ...opts, out: (l) => out.push(l), err: (l) => err.push(l) });
    return { status, out: out.join('\n'), err: err.join('\n') };
  }

  it('reads --param NAME=VALUE pairs and refuses others as usage errors', () => {
    expect(parseParams(['A=1', 'B=x=y', 'C='])).to.deep.equal({ A: '1', B: 'x=y', C: '' });
    expect(() => parseParams(['=1'])).to.throw('is not NAME=VALUE');
    expect(() => parseParams(['A=1', 'A=2'])).to.throw('given twice');
  });

  it('queues the head of the only repository\'s first gated branch with the params, and says where', async () => {
    const r = await run({ server: server.url, adminToken: ADMIN, params: ['TARGET=prod'] });
    expect(r.status, r.err).to.equal(0);
    const id = Number(/^shop\/main: queued build (\d+) \(http:\S+\/builds\/\d+\)$/.exec(r.out)![1]);
    expect(server.store.buildCauses.of(id)).to.deep.include({ cause: 'manual', params: { TARGET: 'prod' } });
  });

  it('exits 2 on a usage error and 1 when refused (no token) or the server cannot be reached', async () => {
    expect((await run({ adminToken: ADMIN })).status).to.equal(2);
    expect((await run({ server: server.url, adminToken: ADMIN, params: ['nope'] })).status).to.equal(2);
    const refused = await run({ server: server.url });
    expect(refused.status).to.equal(1);
    expect(refused.err).to.contain('HTTP 401 GG_ADMIN_TOKEN').and.to.contain('--admin-token-file');
    const unreachable = await run({ server: 'http://127.0.0.1:9', adminToken: ADMIN, repo: 'shop', branch: 'main', timeoutMs: 2000 });
    expect(unreachable.status).to.equal(1);
    expect(unreachable.err).to.contain('cannot reach');
  });
});
