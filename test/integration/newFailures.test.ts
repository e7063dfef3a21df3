import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { Repo, ServerProcess, pollUntil, startRunner, stopChild, tempHome, writeConfig } from '../helpers.js';

/** Only new failures close the tree (results/newFailures.ts, gate/treeRule.ts), through real pushes, runners and JUnit. */
describe('only new failures close the tree (real server, runner, node --test)', function () {
  this.timeout(120_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess;

  const testFile = (name: string, ok: boolean) =>
    `import { test } from 'node:test';\nimport assert from 'node:assert';\ntest('${name}', () => { assert.ok(${ok}, '${name} is broken'); });\n`;

  before(async () => {
    home = tempHome('gg-newfail-');
    repo = new Repo(home.dir);
    const config = writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [{
      name: 'unit', tests: 'test/*.test.js', timeout: 60, junit: 'junit.xml',
      run: 'node --test --test-reporter=junit --test-reporter-destination=junit.xml "$@"',
    }] }]);
    server = await new ServerProcess(config).start();
    runner = startRunner(server.url, 'r1', home.dir, { slots: 2 });
    await pollUntil(async () => (await server.api('/healthz')).runners === 1, 'the runner');
  });
  after(async () => {
    await stopChild(runner);
    await server?.kill();
    home?.cleanup();
  });

  async function push(files: Record<string, string>, message: string, after = 0): Promise<any> {
    repo.commit(files, message);
    expect(repo.push().ok).to.equal(true);
    const b = await pollUntil(async () => (await server.builds('repo=shop')).find((x) => x.id > after), 'the build');
    return server.waitForBuild(b.id, 60_000);
  }
  const tree = () => server.api('/api/tree/shop/main');
  const failing = (b: any) => b.tests.filter((t: any) => t.status === 'failed').map((t: any) => [t.name, t.failingBefore]).sort();

  it('keeps the tree open for tests failing since the first build, closes it for a new failure, reopens when only old ones remain', async () => {
    const first = await push({ 'test/legacy.test.js': testFile('legacy', false), 'test/cart.test.js': testFile('cart', true) }, 'first build: legacy is broken already');
    expect(first.result).to.equal('failed');
    expect(failing(first)).to.deep.equal([['legacy', true]]);
    expect((await tree()).state).to.equal('open');

    const broke = await push({ 'test/cart.test.js': testFile('cart', false) }, 'break the cart', first.id);
    expect(failing(broke)).to.deep.equal([['cart', false], ['legacy', true]]);
    const closed = await tree();
    expect(closed).to.include({ state: 'closed', automatic: true });
    expect(closed.build.id).to.equal(broke.id);

    const fixed = await push({ 'test/cart.test.js': testFile('cart', true) }, `fix the cart\n\nFixes-build: ${broke.id}`, broke.id);
    expect(fixed.result).to.equal('failed'); // legacy still fails: red, but nothing new
    expect(failing(fixed)).to.deep.equal([['legacy', true]]);
    await pollUntil(async () => (await tree()).state === 'open', 'the tree to reopen');
  });
});
