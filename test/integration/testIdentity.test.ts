import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, Repo, ServerProcess, connectRunner, pollUntil, stopChild, tempHome, writeConfig, type BuilderSpec } from '../helpers.js';

/**
 * Tests defined in a shared helper keep the file that ran them (issue 24 item 3): one unit runs
 * several files that all use test/helper.js; the build shows as many tests as the runner's own
 * JUnit, none attributed to the helper, and a failure's retry runs only the file that ran it.
 */
const MOCHA = join(ROOT, 'node_modules', '.bin', 'mocha');

/** test/helper.js: two tests of one title and one that fails the first time it runs in b (the marker lives outside every workspace). */
function helper(kind: 'node' | 'mocha'): string {
  const head = kind === 'node' ? "const { test: it } = require('node:test');\n" : '';
  return `${head}const fs = require('node:fs');
exports.shared = (label) => {
  it('shared ok', () => {});
  it('shared ok', () => {});
  it('shared flaky in ' + label, () => {
    if (label === 'b' && process.env.FLAKY_MARKER && !fs.existsSync(process.env.FLAKY_MARKER)) {
      fs.writeFileSync(process.env.FLAKY_MARKER, 'failed once');
      throw new Error('first run fails on purpose');
    }
  });
};
`;
}

function files(kind: 'node' | 'mocha'): Record<string, string> {
  const head = kind === 'node' ? "const { test: it, describe } = require('node:test');\n" : '';
  return {
    'test/helper.js': helper(kind),
    'test/a.test.js': `${head}require('./helper').shared('a');\nit('own a', () => {});\n`,
    'test/b.test.js': `${head}describe('inside b', () => { require('./helper').shared('b'); });\nit('own b', () => {});\n`,
    'test/c.test.js': `${head}require('./helper').shared('c');\n`,
  };
}

const RUN: Record<'node' | 'mocha', string> = {
  node: 'node --test --test-reporter=spec --test-reporter-destination=stdout ' +
    '--test-reporter="$GREENGATE_NODE_TEST_REPORTER" --test-reporter-destination=junit.xml "$@"',
  mocha: `${MOCHA} --reporter xunit --reporter-option output=junit.xml "$@"`,
};

describe('test identity (real server, runner, git): tests defined in a shared helper', function () {
  this.timeout(90_000);
  let home: ReturnType<typeof tempHome>;
  let repo: Repo;
  let server: ServerProcess;
  let runner: ChildProcess | undefined;

  async function build(kind: 'node' | 'mocha'): Promise<any> {
    home = tempHome('gg-identity-');
    repo = new Repo(home.dir);
    const marker = join(home.dir, 'flaky-marker');
    // static split, one slot: a single unit runs all three test files in one process
    const spec = { name: 'unit', tests: 'test/*.test.js', run: `FLAKY_MARKER='${marker}' ${RUN[kind]}`, junit: 'junit.xml', timeout: 60,
      split: 'static', sandbox: { writable: [home.dir], readOnly: [ROOT] } } as BuilderSpec; // ROOT: mocha, also when this checkout is under /tmp (private in the sandbox)
    server = await new ServerProcess(writeConfig(home.dir, [{ name: 'shop', path: repo.bare, builders: [spec] }])).start();
    runner = await connectRunner(server, 'r1', home.dir, { slots: 1 });
    repo.commit(files(kind), 'three test files sharing one helper');
    expect(repo.push().ok).to.equal(true);
    const created = await pollUntil(async () => (await server.builds('repo=shop'))[0], 'the build to be created');
    const done = await server.waitForBuild(created.id, 60_000);
    expect(existsSync(marker), 'the flaky test failed once').to.equal(true);
    return done;
  }

  /** The runner's own JUnit of the same files (the marker there: nothing fails), as test cases. */
  function ownJUnitCount(kind: 'node' | 'mocha'): number {
    const names = ['test/a.test.js', 'test/b.test.js', 'test/c.test.js'];
    const out = kind === 'node'
      ? execFileSync(process.execPath, ['--test', '--test-reporter=junit', ...names], { cwd: repo.work, encoding: 'utf8' })
      : (execFileSync(MOCHA, ['--reporter', 'xunit', ...names], { cwd: repo.work, encoding: 'utf8' }));
    return (out.match(/<testcase /g) ?? []).length;
  }

  afterEach(async () => {
    await stopChild(runner);
    await server?.kill();
    rmSync(home.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  });

  for (const kind of ['node', 'mocha'] as const) {
    it(`${kind === 'node' ? 'node:test' : 'mocha'}: counts equal the runner's own JUnit, the failure is the running file's, its retry runs only that file`, async () => {
      const b = await build(kind);
      expect(b.result).to.equal('flaky');
      const failed = b.units.find((u: any) => u.result === 'failed');
      expect(failed.files).to.deep.equal(['test/a.test.js', 'test/b.test.js', 'test/c.test.js']);
      const retry = b.units.find((u: any) => u.retryOf === failed.id);
      expect(retry, 'a retry').to.not.equal(undefined);
      expect(retry.files, 'the retry runs only the file that ran the failure').to.deep.equal(['test/b.test.js']);

      expect(b.tests).to.have.length(ownJUnitCount(kind)).and.to.have.length(11);
      expect(b.tests.filter((t: any) => t.file !== null && !/^test\/[abc]\.test\.js$/.test(t.file)), 'every test is a run file\'s').to.deep.equal([]);
      const flaky = b.tests.filter((t: any) => t.status === 'flaky');
      expect(flaky.map((t: any) => [t.file, t.name, t.attempt, t.attempts])).to.deep.equal([['test/b.test.js', 'shared flaky in b', 2, 2]]);
      const perFile = (file: string) => b.tests.filter((t: any) => t.file === file && t.name === 'shared ok').map((t: any) => t.attempts);
      expect(perFile('test/a.test.js'), 'both same-named tests of a, once each').to.deep.equal([1, 1]);
      expect(perFile('test/b.test.js'), 'both same-named tests of b, each run twice').to.deep.equal([2, 2]);
      expect(perFile('test/c.test.js')).to.deep.equal([1, 1]);
    });
  }
});
