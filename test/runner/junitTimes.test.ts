import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readJUnitFiles } from '../../runner/junit.js';
import { FileTimeSchema } from '../../server/protocol.js';

// Compiled to dist/test/runner/; the fixtures stay in the source tree.
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/junit');

describe('junitTimes: per-file wall times (readJUnitFiles fileTimes)', () => {
  let home: string;

  beforeEach(() => {
    home = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-junit-times-'));
  });

  afterEach(() => {
    fs.rmSync(home, { recursive: true, force: true });
  });

  async function timesOf(xml: string, unitFiles: string[], name = 'junit.xml'): Promise<Record<string, number>> {
    fs.writeFileSync(path.join(home, name), xml);
    const result = await readJUnitFiles(home, '*.xml', unitFiles);
    expect(result.errors).to.deep.equal([]);
    for (const time of result.fileTimes) expect(FileTimeSchema.parse(time)).to.deep.equal(time);
    return Object.fromEntries(result.fileTimes.map((t) => [t.file, t.ms]));
  }

  const unit = ['src/a.test.js', 'src/b.test.js', 'src/c.test.js'];

  it('jest-junit: one suite per file gives the file its suite time, module loading included, not its tests\' sum', async () => {
    // The shape jest-junit writes: suite time = the file's wall time (perfStats end - start); its tests sum to less.
    const xml = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="4" failures="0" errors="0" time="1.6">
<testsuite name="a" errors="0" failures="0" skipped="0" timestamp="2025-01-01T10:00:00" time="0.9" tests="2">
  <testcase classname="a one" name="a one" time="0.01" file="src/a.test.js"></testcase>
  <testcase classname="a two" name="a two" time="0.02" file="src/a.test.js"></testcase>
</testsuite>
<testsuite name="b" errors="0" failures="0" skipped="0" timestamp="2025-01-01T10:00:01" time="0.35" tests="1">
  <testcase classname="b one" name="b one" time="0.005" file="src/b.test.js"></testcase>
</testsuite>
<testsuite name="src/c.test.js" errors="0" failures="0" skipped="0" timestamp="2025-01-01T10:00:01" time="0.041" tests="1">
  <testcase classname="c one" name="c one" time="0.001"></testcase>
</testsuite>
</testsuites>`;
    // c has no file attribute: its suite name ({filepath}) attributes it, and its suite counts too.
    expect(await timesOf(xml, unit)).to.deep.equal({ 'src/a.test.js': 900, 'src/b.test.js': 350, 'src/c.test.js': 41 });
    expect(await timesOf(fs.readFileSync(path.join(FIXTURES, 'jest-junit.xml'), 'utf8'), ['src/math.test.ts', 'src/x.test.ts']))
      .to.deep.equal({ 'src/math.test.ts': 1200 });
  });

  it('counts only the outermost one-file suite (nested suites are inside its time), and adds up a file\'s sibling suites', async () => {
    const xml = `<testsuites>
<testsuite name="outer" time="1.0" file="src/a.test.js">
  <testcase name="x" time="0.1"/>
  <testsuite name="inner" time="0.6"><testcase name="y" time="0.5"/></testsuite>
</testsuite>
<testsuite name="first" time="0.25" file="src/b.test.js"><testcase name="p" time="0.1"/></testsuite>
<testsuite name="second" time="0.5" file="src/b.test.js"><testcase name="q" time="0.2"/></testsuite>
</testsuites>`;
    expect(await timesOf(xml, unit)).to.deep.equal({ 'src/a.test.js': 1000, 'src/b.test.js': 750 });
  });

  it('leaves out a suite that mixes files, but counts the one-file suites inside it', async () => {
    const mixed = `<testsuites><testsuite name="pytest" time="3.0">
<testcase name="t1" time="0.1" file="src/a.test.js"/><testcase name="t2" time="0.2" file="src/b.test.js"/>
</testsuite></testsuites>`;
    expect(await timesOf(mixed, unit)).to.deep.equal({});
    const nested = `<testsuites><testsuite name="all" time="3.0">
<testsuite name="A" time="0.7" file="src/a.test.js"><testcase name="t1" time="0.1"/></testsuite>
<testsuite name="B" time="0.4" file="src/b.test.js"><testcase name="t2" time="0.2"/></testsuite>
</testsuite></testsuites>`;
    expect(await timesOf(nested, unit)).to.deep.equal({ 'src/a.test.js': 700, 'src/b.test.js': 400 });
  });

  it('gives no time to a file with a test outside every timed one-file suite, or whose tests have no file', async () => {
    // Node 22's reporter: a top-level test sits outside any suite, so the describe's time is not the file's.
    const node22 = fs.readFileSync(path.join(FIXTURES, 'node22-test.xml'), 'utf8').replaceAll('/work/ws/', `${home}/`);
    expect(await timesOf(node22, ['test/a.test.mjs', 'test/b.test.mjs'])).to.deep.equal({});
    // greengate's own node:test reporter writes flat test cases: no suites, no times.
    expect(await timesOf(fs.readFileSync(path.join(FIXTURES, 'node-test-greengate.xml'), 'utf8'), ['test/a.test.mjs', 'test/b.test.mjs']))
      .to.deep.equal({});
    // jest-junit without addFileAttribute in a two-file unit: the tests' file is unknown.
    expect(await timesOf(fs.readFileSync(path.join(FIXTURES, 'jest-junit-nofile.xml'), 'utf8'), ['src/math.test.ts', 'src/x.test.ts']))
      .to.deep.equal({});
    // A suite without a time, or with 0 ("not measured"), does not count.
    const untimed = `<testsuites><testsuite name="a" file="src/a.test.js"><testcase name="t" time="0.1"/></testsuite>
<testsuite name="b" time="0.000" file="src/b.test.js"><testcase name="u" time="0.1"/></testsuite>
<testsuite name="c" time="soon" file="src/c.test.js"><testcase name="v" time="0.1"/></testsuite></testsuites>`;
    expect(await timesOf(untimed, unit)).to.deep.equal({});
  });

  it('over several reports: adds a file\'s suites, and gives no time when one report has its test outside a suite', async () => {
    fs.writeFileSync(path.join(home, 'one.xml'), '<testsuites><testsuite name="a" time="0.2" file="src/a.test.js"><testcase name="t"/></testsuite>' +
      '<testsuite name="b" time="0.3" file="src/b.test.js"><testcase name="u"/></testsuite></testsuites>');
    expect(await timesOf('<testsuites><testsuite name="a2" time="0.1" file="src/a.test.js"><testcase name="w"/></testsuite>' +
      '<testcase name="loose" file="src/b.test.js"/></testsuites>', unit, 'two.xml')).to.deep.equal({ 'src/a.test.js': 300 });
  });
});
