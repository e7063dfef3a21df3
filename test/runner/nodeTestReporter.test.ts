import { expect } from 'chai';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_TEST_REPORTER_PATH, runningFiles } from '../../runner/nodeTestReporter.js';
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

  it('gives a test defined in a shared helper the file that ran it, and as many test cases as node\'s own JUnit', async () => {
    // test/helper.js defines tests (a genuine duplicate title among them) that four files run; it runs none itself.
    fs.writeFileSync(path.join(home, 'test', 'helper.js'), [
      "const { test } = require('node:test');",
      'exports.shared = (label) => {',
      "  test('shared ok', () => {});",
      "  test('shared ok', () => {});",
      "  test(`shared fails in ${label}`, () => { if (label === 'b') throw new Error('boom in b'); });",
      '};',
    ].join('\n'));
    const cjs = (body: string) => `const { test, describe } = require('node:test');\nconst { shared } = require('./helper');\n${body}\n`;
    fs.writeFileSync(path.join(home, 'test', 'a.test.js'), cjs("shared('a');\ntest('own a', () => {});"));
    fs.writeFileSync(path.join(home, 'test', 'b.test.js'), cjs("describe('inside b', () => { shared('b'); });\ntest('own b', () => {});"));
    fs.writeFileSync(path.join(home, 'test', 'c.test.js'), cjs("shared('c');"));
    fs.writeFileSync(path.join(home, 'test', 'd.test.js'), cjs("shared('d');"));
    const files = ['test/d.test.js', 'test/a.test.js', 'test/c.test.js', 'test/b.test.js'];

    expect(await runNodeTest(home, files)).to.equal(1);
    const { tests, errors, fileTimes } = await readJUnitFiles(home, 'junit.xml');
    expect(errors).to.deep.equal([]);
    // node's own junit reporter (no file on its test cases) counts the same test cases
    const own = await new Promise<string>((resolve) => execFile(process.execPath,
      ['--test', '--test-reporter=junit', ...files], { cwd: home, timeout: 60_000 }, (_error, stdout) => resolve(stdout)));
    expect(tests).to.have.length((own.match(/<testcase /g) ?? []).length).and.to.have.length(14);
    expect(tests.filter((t) => t.file === 'test/helper.js'), 'no test is the helper\'s').to.deep.equal([]);
    const perFile = (file: string) => tests.filter((t) => t.file === file).map((t) => `${t.classname ? `${t.classname} > ` : ''}${t.name}: ${t.status}`);
    expect(perFile('test/a.test.js')).to.deep.equal(['shared ok: passed', 'shared ok: passed', 'shared fails in a: passed', 'own a: passed']);
    expect(perFile('test/b.test.js')).to.deep.equal(['inside b > shared ok: passed', 'inside b > shared ok: passed',
      'inside b > shared fails in b: failed', 'own b: passed']);
    expect(perFile('test/c.test.js')).to.deep.equal(['shared ok: passed', 'shared ok: passed', 'shared fails in c: passed']);
    expect(perFile('test/d.test.js')).to.deep.equal(['shared ok: passed', 'shared ok: passed', 'shared fails in d: passed']);
    expect(fileTimes.map((f) => f.file).sort()).to.deep.equal(['test/a.test.js', 'test/b.test.js', 'test/c.test.js', 'test/d.test.js']);
  });

  it('runningFiles: a block is the run file its own tests name, else the one left for it in sorted order, else none', () => {
    const r = (block: number, defined: string) => ({ block, defined });
    const ran = ['/w/test/d.js', '/w/test/a.js', '/w/test/c.js', '/w/test/b.js'];
    // blocks 0 (a's own test), 1 (helper only), 2 (helper only), 3 (d's own test): b and c are left for 1 and 2
    expect([...runningFiles([r(0, '/w/h.js'), r(0, '/w/test/a.js'), r(1, '/w/h.js'), r(2, '/w/h.js'), r(3, '/w/test/d.js')], ran)])
      .to.deep.equal([[0, '/w/test/a.js'], [3, '/w/test/d.js'], [1, '/w/test/b.js'], [2, '/w/test/c.js']]);
    // one helper-only block where two files are left: it cannot be told, so it keeps its defining file
    expect([...runningFiles([r(0, '/w/test/a.js'), r(1, '/w/h.js'), r(2, '/w/test/d.js')], ran)])
      .to.deep.equal([[0, '/w/test/a.js'], [2, '/w/test/d.js']]);
    // a block naming two run files is not guessed, nor are its helper-only neighbours
    expect([...runningFiles([r(0, '/w/test/a.js'), r(0, '/w/test/b.js'), r(1, '/w/h.js')], ran)]).to.deep.equal([]);
    expect([...runningFiles([r(0, '/w/h.js')], [])], 'a run without --test: nothing is known').to.deep.equal([]);
  });
});
