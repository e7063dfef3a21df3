import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_TEST_REPORTER_PATH } from '../../runner/nodeTestReporter.js';
import { readJUnitFiles } from '../../runner/junit.js';

/** Runs the real `node --test` on the files with greengate's reporter; resolves with its exit code. */
function runNodeTest(cwd: string, files: string[]): Promise<number> {
  const args = ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout',
    `--test-reporter=${NODE_TEST_REPORTER_PATH}`, '--test-reporter-destination=junit.xml', ...files];
  return new Promise((resolve) => {
    const child = execFile(process.execPath, args, { cwd, timeout: 60_000 }, () => resolve(child.exitCode ?? -1));
  });
}

describe('nodeTestReporter (a real node --test run)', () => {
  let home: string;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-reporter-'));
    fs.mkdirSync(path.join(home, 'test'));
  });

  afterEach(() => {
    fs.rmSync(home, { recursive: true, force: true });
  });

  function write(relative: string, text: string): void {
    fs.writeFileSync(path.join(home, relative), `import { test, describe, it } from 'node:test';\nimport assert from 'node:assert';\n${text}`);
  }

  it('gives every test case its file, names it by its suites, and keeps every failure', async () => {
    write('test/a.test.mjs', [
      "test('same name', () => {});",
      "describe('outer \"quoted\" <suite>', () => { describe('inner', () => { it('throws & fails', () => { throw new TypeError('boom <1> & \"2\"'); }); it('later', { skip: true }, () => {}); }); });",
      "test('parent', async (t) => { await t.test('child', () => {}); assert.fail('the parent fails by itself'); });",
      "test.todo('not yet');",
    ].join('\n'));
    write('test/b.test.mjs', "test('same name', () => {});");
    fs.writeFileSync(path.join(home, 'test', 'crash.test.mjs'), 'throw new Error("crash while loading");\n');

    expect(await runNodeTest(home, ['test/a.test.mjs', 'test/b.test.mjs', 'test/crash.test.mjs'])).to.equal(1);
    const { tests, errors } = await readJUnitFiles(home, 'junit.xml');
    expect(errors).to.deep.equal([]);
    expect(tests.map((t) => [t.file, t.classname, t.name, t.status])).to.deep.equal([
      ['test/a.test.mjs', '', 'same name', 'passed'],
      ['test/a.test.mjs', 'outer "quoted" <suite> > inner', 'throws & fails', 'failed'],
      ['test/a.test.mjs', 'outer "quoted" <suite> > inner', 'later', 'skipped'],
      ['test/a.test.mjs', 'parent', 'child', 'passed'],
      ['test/a.test.mjs', '', 'parent', 'failed'],
      ['test/a.test.mjs', '', 'not yet', 'skipped'],
      ['test/b.test.mjs', '', 'same name', 'passed'],
      ['test/crash.test.mjs', '', path.join(home, 'test', 'crash.test.mjs'), 'failed'],
    ]);
    expect(tests[1]!.message).to.match(/^TypeError( \[Error\])?: boom <1> & "2"\n {4}at /);
    expect(tests[4]!.message).to.contain('the parent fails by itself');
    expect(tests[0]!.durationMs).to.be.within(0, 5000);
  });

  it('gives each file its wall time (process start, loading and tests), and no test a new classname', async () => {
    write('test/slow.test.mjs', "await new Promise((r) => setTimeout(r, 400));\ntest('quick', () => {});\ndescribe('d', () => { it('also quick', () => {}); });");
    write('test/fast.test.mjs', "test('quick', () => {});");
    expect(await runNodeTest(home, ['test/slow.test.mjs', 'test/fast.test.mjs'])).to.equal(0);
    const { tests, fileTimes } = await readJUnitFiles(home, 'junit.xml');
    expect(tests.map((t) => [t.file, t.classname, t.name])).to.have.deep.members([ // the files run at once: either may end first
      ['test/slow.test.mjs', '', 'quick'], ['test/slow.test.mjs', 'd', 'also quick'], ['test/fast.test.mjs', '', 'quick'],
    ]);
    const times = new Map(fileTimes.map((f) => [f.file, f.ms]));
    expect(times.get('test/slow.test.mjs')).to.be.within(400, 30_000); // the top-level wait counts: the tests' own times do not have it
    expect(tests.filter((t) => t.file === 'test/slow.test.mjs').reduce((sum, t) => sum + t.durationMs, 0)).to.be.below(400);
    expect(times.get('test/fast.test.mjs')).to.be.above(0).and.below(times.get('test/slow.test.mjs')!);
  });

  it('reports a file without tests as node does: one passing entry named by its path, with its file', async () => {
    write('test/empty.test.mjs', '');
    expect(await runNodeTest(home, ['test/empty.test.mjs'])).to.equal(0);
    const { tests } = await readJUnitFiles(home, 'junit.xml');
    expect(tests.map((t) => [t.file, t.name, t.status])).to.deep.equal([
      ['test/empty.test.mjs', path.join(home, 'test', 'empty.test.mjs'), 'passed'],
    ]);
  });
});
