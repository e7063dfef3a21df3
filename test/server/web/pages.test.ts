import { expect } from 'chai';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { Repo, ServerProcess, tempHome, writeConfig } from '../../helpers.js';
import { openStore } from '../../../server/store/index.js';
import type { TestStatus } from '../../../server/store/tests.js';

/** /tests judges a test by its newest runs, not by its newest run alone (rows written through the store, a real server). */
describe('pages: /tests shows flaky and failing tests by their newest 12 runs (a real server and SQLite file)', function () {
  this.timeout(30_000);
  const home = tempHome('gg-pages-tests-');
  let server: ServerProcess;
  let html = '';

  before(async () => {
    const repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{ name: 'unit', run: 'true' }] }]);
    mkdirSync(join(home.dir, 'data'), { recursive: true });
    const store = openStore(join(home.dir, 'data', 'greengate.db'));
    const repoId = store.repos.sync([{ name: 'shop', path: repo.bare }]).get('shop')!.id;
    // 14 builds, oldest first: per test, its status in each build.
    const runs: Record<string, TestStatus[]> = {
      'cart total rounds': ['failed', 'failed', ...Array<TestStatus>(6).fill('failed').flatMap((f) => [f, 'passed' as TestStatus])], // newest: passed, 6 of its last 12 failed
      'cart empty basket': Array<TestStatus>(14).fill('failed'),
      'cart old failure': ['failed', 'failed', ...Array<TestStatus>(12).fill('passed')], // failed only before its newest 12 runs
      'cart always green': Array<TestStatus>(14).fill('passed'),
    };
    for (let i = 0; i < 14; i++) {
      const buildId = store.builds.create({ repoId, builder: 'unit', ref: 'refs/heads/main', branch: 'main', kind: 'branch',
        sha: i.toString(16).padStart(40, '0'), baseSha: null, changeId: null, pushedAt: i + 1, at: i + 1, blamelist: [] });
      const unit = store.units.create({ buildId, seq: 1, files: [], attempt: 1, retryOf: null, priority: 0, expectedMs: 0, avoidRunnerId: null, lostCount: 0, at: i + 1 });
      store.tests.insert({ id: buildId, repoId, builder: 'unit' }, unit, 1, Object.entries(runs).map(([key, statuses]) => ({
        classname: 'cart', name: key.slice(5), file: 'test/cart.test.js', durationMs: 5, status: statuses[i], message: null })), i + 1);
    }
    store.close();
    server = await new ServerProcess(config).start();
    html = await server.api<string>('/tests');
  });

  after(async () => {
    await server?.kill();
    home.cleanup();
  });

  const row = (name: string) => /<tbody>[\s\S]*<\/tbody>/.exec(html.slice(html.indexOf('flaky-tests')))![0]
    .split('<tr').find((r) => r.includes(`</span> ${name}</a>`)) ?? null;
  const text = (r: string | null) => r?.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim() ?? null;

  it('shows a test that failed 6 of its last 12 runs as flaky ("failed 6 of 12"), though its newest run passed', () => {
    expect(text(row('total rounds'))).to.match(/flaky failed 6 of 12 passed$/);
    expect(row('total rounds')).to.contain('class="pill verdict flaky"');
  });

  it('shows a test that failed every one of its last 12 runs as failing', () => {
    expect(text(row('empty basket'))).to.match(/failing failed 12 of 12 failed$/);
  });

  it('leaves out tests whose newest 12 runs all passed, and states the rule on the page', () => {
    expect(row('old failure')).to.equal(null);
    expect(row('always green')).to.equal(null);
    expect(text(/<p class="muted" id="flaky-rule">[\s\S]*?<\/p>/.exec(html)![0])).to.contain("each test's newest 12 runs");
  });
});
