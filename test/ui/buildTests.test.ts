import { expect } from 'chai';
import { join } from 'node:path';
import { openStore } from '../../server/store/index.js';
import { MAX_TEST_ROWS } from '../../server/web/pagesBuild.js';
import { Repo, ServerProcess, tempHome, writeConfig } from '../helpers.js';

describe('build page with more test results than it lists (real server)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-ui-tests-');
  let server: ServerProcess;
  let buildId: number;
  const total = MAX_TEST_ROWS + 1;

  before(async () => {
    const repo = new Repo(home.dir);
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }])).start();
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    try {
      const repoId = store.repos.byName('shop')!.id;
      store.tx(() => {
        buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
          sha: 'c'.repeat(40), baseSha: null, changeId: null, pushedAt: 1, at: 1, blamelist: [] });
        const unit = store.units.create({ buildId, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: 1 });
        store.tests.insert({ id: buildId, repoId, builder: 'unit' }, unit, 1, Array.from({ length: total }, (_, i) => ({
          name: `case ${i + 1}`, classname: 'suite', file: 'a.test.js', durationMs: 1,
          status: i === total - 1 ? 'failed' as const : 'passed' as const, message: i === total - 1 ? 'the last one broke' : null,
        })), 2);
        store.units.finish(unit, { result: 'failed', exitCode: 1, signal: null, error: null, at: 3 });
        store.builds.finish(buildId, 'failed', '1 of 1 units failed', 3);
      });
    } finally {
      store.close();
    }
  });
  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  it('says how many there are, lists the first ones, still shows the failure and points to the full list', async () => {
    const res = await fetch(`${server.url}/builds/${buildId}`);
    expect(res.status).to.equal(200);
    const html = await res.text();
    expect(html).to.include(`All ${total} test results (the first ${MAX_TEST_ROWS} shown here; every one is in <a href="/api/builds/${buildId}">`);
    expect(html, 'failures are listed first, whatever the cap').to.include('the last one broke');
    const json = await server.build(buildId);
    expect(json.tests).to.have.length(total);
  });
});
