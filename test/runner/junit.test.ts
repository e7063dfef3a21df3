import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { attributeFile, JUnitError, MAX_JUNIT_BYTES, MAX_TESTS, parseJUnit, readJUnitFiles } from '../../runner/junit.js';
import { TestCaseSchema, type TestCase } from '../../server/protocol.js';

// Compiled to dist/test/runner/; the fixtures stay in the source tree.
const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/junit');

function readFixture(name: string): TestCase[] {
  return parseJUnit(fs.readFileSync(path.join(FIXTURES, name), 'utf8'), name);
}

function catchJUnitError(xml: string, file = 'report.xml'): JUnitError {
  try {
    parseJUnit(xml, file);
  } catch (error) {
    expect(error).to.be.instanceOf(JUnitError);
    return error as JUnitError;
  }
  throw new Error('expected a JUnitError');
}

function summarize(tests: TestCase[]): string[] {
  return tests.map((t) => `${t.status} ${t.classname ? `${t.classname} :: ` : ''}${t.name}`);
}

describe('junit', () => {
  describe('parseJUnit on real node --test output (Node 20)', () => {
    it('reads every test case with its status, in document order', () => {
      const tests = readFixture('node-test.xml');
      expect(summarize(tests)).to.deep.equal([
        'passed adds numbers',
        'failed fails on purpose',
        'skipped skipped one',
        'skipped todo one',
        'passed outer suite :: inner passes',
        'passed outer suite > inner suite :: deep passes',
        'failed outer suite > inner suite :: deep throws',
      ]);
      for (const test of tests) expect(TestCaseSchema.parse(test)).to.deep.equal(test);
    });

    it('turns seconds into whole milliseconds and has no file (node does not write one)', () => {
      const tests = readFixture('node-test.xml');
      expect(tests[0]).to.include({ durationMs: 1, file: null }); // time="0.001273"
      expect(tests.find((t) => t.name === 'deep throws')!.durationMs).to.equal(0); // 0.000158
    });

    it('keeps the failure message and the stack, with entities decoded', () => {
      const failed = readFixture('node-test.xml').find((t) => t.name === 'fails on purpose')!;
      expect(failed.message).to.include('one plus one is "two" & <not> three');
      expect(failed.message).to.include('2 !== 3');
      expect(failed.message).to.include('math.test.mjs:4:41');
      expect(readFixture('node-test.xml').find((t) => t.name === 'skipped one')!.message).to.equal('not today');
    });

    it('reports a test file that crashed before running as a failed test named after the file', () => {
      const tests = readFixture('node-test-crash.xml');
      expect(summarize(tests)).to.deep.equal(['failed /tmp/ggjunit.rwV9/crash/broken.test.mjs', 'passed other file passes']);
      expect(tests[0]!.durationMs).to.equal(91);
    });
  });

  describe('parseJUnit on other reporters', () => {
    it('mocha-junit-reporter: CDATA bodies, the suite file, empty suites', () => {
      const tests = readFixture('mocha-junit-reporter.xml');
      expect(summarize(tests)).to.deep.equal([
        'passed adds an item :: cart adds an item',
        'failed applies a discount :: cart applies a discount',
        'skipped is pending :: cart is pending',
      ]);
      expect(tests[1]!.file).to.equal('/work/ws/test/cart.test.js');
      // The body repeats the message attribute: it is kept once.
      expect(tests[1]!.message).to.match(/^AssertionError: expected 90 to equal 80\n {4}at Context/);
    });

    it('pytest: error, skipped with a reason, file from the test case', () => {
      const tests = readFixture('pytest.xml');
      expect(summarize(tests)).to.deep.equal([
        'passed tests.test_orders :: test_total',
        'error tests.test_orders :: test_db',
        'skipped tests.test_orders :: test_windows_only',
      ]);
      expect(tests.map((t) => t.file)).to.deep.equal(Array(3).fill('tests/test_orders.py'));
      expect(tests[1]!.message).to.match(/^failed on setup with "ConnectionRefusedError: \[Errno 111\]"\n@pytest.fixture/);
      expect(tests[0]!.durationMs).to.equal(250);
    });

    it('Surefire: a <testsuite> root, thousands separators in time, flaky reruns still pass', () => {
      const tests = readFixture('surefire.xml');
      expect(summarize(tests)).to.deep.equal([
        'passed com.example.OrderTest :: totalsAnOrder',
        'failed com.example.OrderTest :: rejectsNegativeQuantity',
        'passed com.example.OrderTest :: flakyButPassed',
      ]);
      expect(tests[0]!.durationMs).to.equal(1_234_500);
      expect(tests[1]!.message).to.equal(
        'org.opentest4j.AssertionFailedError: expected: <true> but was: <false>\n\tat com.example.OrderTest.rejectsNegativeQuantity(OrderTest.java:31)',
      );
    });

    it('jest-junit: a failure with a body and no message attribute', () => {
      const tests = readFixture('jest-junit.xml');
      expect(summarize(tests)).to.deep.equal(['passed math adds :: math adds', 'failed math divides :: math divides']);
      expect(tests[1]!.message).to.match(/^Error: expect\(received\)\.toBe\(expected\)[\s\S]*Received: Infinity/);
      expect(tests[1]).to.include({ durationMs: 1100, file: 'src/math.test.ts' });
    });
  });

  describe('parseJUnit rules', () => {
    it('names a test by its enclosing suites when it has no classname, and inherits the suite file', () => {
      const tests = parseJUnit(
        `<testsuites name="all">
          <testsuite name="api" file="test/api.test.js">
            <testsuite name="GET /builds">
              <testcase name="lists builds"/>
              <testcase name="own file" file="test/other.test.js" classname="Explicit"/>
            </testsuite>
          </testsuite>
          <testcase name="loose"/>
        </testsuites>`,
        'r.xml',
      );
      expect(tests).to.deep.equal([
        { name: 'lists builds', classname: 'api > GET /builds', file: 'test/api.test.js', durationMs: 0, status: 'passed', message: null },
        { name: 'own file', classname: 'Explicit', file: 'test/other.test.js', durationMs: 0, status: 'passed', message: null },
        { name: 'loose', classname: '', file: null, durationMs: 0, status: 'passed', message: null },
      ]);
    });

    it('joins the message attribute and the trimmed body, or uses whichever is there', () => {
      const tests = parseJUnit(
        `<testsuite>
          <testcase name="both"><failure message="expected 1">  at line 3  </failure></testcase>
          <testcase name="attr"><failure message="only the attribute"/></testcase>
          <testcase name="body"><failure>only the body</failure></testcase>
          <testcase name="bare"><failure/></testcase>
        </testsuite>`,
        'r.xml',
      );
      expect(tests.map((t) => [t.status, t.message])).to.deep.equal([
        ['failed', 'expected 1\nat line 3'],
        ['failed', 'only the attribute'],
        ['failed', 'only the body'],
        ['failed', null],
      ]);
    });

    it('ranks failure over error over skipped, and keeps every failing message', () => {
      const tests = parseJUnit(
        `<testsuite>
          <testcase name="error"><error message="TypeError: x is undefined" type="TypeError"/></testcase>
          <testcase name="both"><failure message="assertion"/><error message="and a crash"/></testcase>
          <testcase name="skip"><skipped message="later"/></testcase>
        </testsuite>`,
        'r.xml',
      );
      expect(tests.map((t) => [t.name, t.status, t.message])).to.deep.equal([
        ['error', 'error', 'TypeError: x is undefined'],
        ['both', 'failed', 'assertion\n\nand a crash'],
        ['skip', 'skipped', 'later'],
      ]);
    });

    it('reads missing, empty, negative and garbled times as 0 and rounds the rest', () => {
      const tests = parseJUnit(
        `<testsuite>
          <testcase name="missing"/><testcase name="empty" time=""/><testcase name="negative" time="-1"/>
          <testcase name="garbled" time="1.2s"/><testcase name="half" time="0.0005"/><testcase name="big" time="12.3456"/>
        </testsuite>`,
        'r.xml',
      );
      expect(tests.map((t) => t.durationMs)).to.deep.equal([0, 0, 0, 0, 1, 12_346]);
    });

    it('drops characters XML forbids, colour codes, and reads a bare & as a literal', () => {
      const xml =
        '<testsuite name="s\u0007uite"><testcase name="a\u0001b\u000bc & d" time="0.002">' +
        '<failure message="\u001b[31mred\u001b[0m">body\u0000 &#x1b;[32mgreen&#27;[0m \ud800lone &#1;#x1B[1m</failure>' +
        '</testcase><![CDATA[ & stays ]]></testsuite>';
      const [test] = parseJUnit(xml, 'r.xml');
      expect(test).to.deep.equal({
        name: 'abc & d',
        classname: 'suite',
        file: null,
        durationMs: 2,
        status: 'failed',
        message: 'red\nbody green lone',
      });
    });

    it('decodes character references and the HTML entity names some reporters write', () => {
      const [test] = parseJUnit(
        `<testsuite><testcase name="it&#39;s &#x201C;quoted&#x201D;&nbsp;&amp;lt;"><skipped message="&#65;&#x1F600;"/></testcase></testsuite>`,
        'r.xml',
      );
      expect(test).to.include({ name: "it's \u201Cquoted\u201D\u00A0&lt;", message: 'A\u{1F600}' });
    });

    it('cuts a message at 64 KiB', () => {
      const body = 'x'.repeat(100_000);
      const [test] = parseJUnit(`<testsuite><testcase name="long"><failure>${body}</failure></testcase></testsuite>`, 'r.xml');
      expect(test!.message).to.have.length(65_536);
      expect(test!.message!.endsWith('…')).to.equal(true);
      expect(TestCaseSchema.safeParse(test).success).to.equal(true);
    });

    it('returns no tests for an empty suite', () => {
      expect(parseJUnit('<?xml version="1.0"?><testsuites/>', 'r.xml')).to.deep.equal([]);
    });
  });

  describe('parseJUnit errors', () => {
    it('names the file, the problem and the line for malformed XML', () => {
      const error = catchJUnitError('<testsuites>\n  <testsuite name="a">\n    <testcase name="t">\n  </testsuite>\n</testsuites>', 'out/junit.xml');
      expect(error.code).to.equal('GG_JUNIT_INVALID');
      expect(error.file).to.equal('out/junit.xml');
      expect(error.message).to.match(/^out\/junit\.xml: malformed XML, line 4: .*testcase/);
    });

    it('refuses a truncated report (a test process killed while writing) instead of reading half', () => {
      const full = fs.readFileSync(path.join(FIXTURES, 'node-test.xml'), 'utf8');
      const error = catchJUnitError(full.slice(0, Math.floor(full.length / 2)));
      expect(error.message).to.match(/^report\.xml: malformed XML/);
    });

    it('refuses an empty file, text, and XML that is not a JUnit report', () => {
      expect(catchJUnitError('').message).to.equal('report.xml: the file is empty (the test command wrote no report)');
      expect(catchJUnitError('  \n').message).to.include('empty');
      expect(catchJUnitError('all tests passed').message).to.match(/malformed XML/);
      expect(catchJUnitError('<html><body/></html>').message).to.equal(
        'report.xml: not a JUnit report: expected a <testsuites> or <testsuite> root, found <html>',
      );
    });

    it(`refuses more than MAX_TESTS (${MAX_TESTS}) test cases`, () => {
      const xml = `<testsuites>${'<testcase name="t"/>'.repeat(MAX_TESTS + 1)}</testsuites>`;
      expect(catchJUnitError(xml).message).to.include(`more than ${MAX_TESTS} test cases`);
    });
  });

  describe('every test knows its file', () => {
    let home: string;

    beforeEach(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-junit-file-'));
    });

    afterEach(() => {
      fs.rmSync(home, { recursive: true, force: true });
    });

    /** Copies a fixture into the workspace as junit.xml, its /work/ws paths pointing into the workspace. */
    async function readAs(fixture: string, unitFiles: string[]): Promise<TestCase[]> {
      const xml = fs.readFileSync(path.join(FIXTURES, fixture), 'utf8').replaceAll('/work/ws/', `${home}/`);
      fs.writeFileSync(path.join(home, 'junit.xml'), xml);
      const result = await readJUnitFiles(home, 'junit.xml', unitFiles);
      expect(result.errors).to.deep.equal([]);
      for (const test of result.tests) expect(TestCaseSchema.parse(test)).to.deep.equal(test);
      return result.tests;
    }

    function files(tests: TestCase[]): string[] {
      return tests.map((t) => `${t.name} @ ${t.file}`);
    }

    it("node:test on Node 20 through greengate's reporter: each test case has its file", async () => {
      const tests = await readAs('node-test-greengate.xml', ['test/a.test.mjs', 'test/b.test.mjs']);
      expect(files(tests)).to.deep.equal([
        'same name @ test/a.test.mjs', 'fails @ test/a.test.mjs', 'inner @ test/a.test.mjs', 'x @ test/a.test.mjs',
        'sk @ test/a.test.mjs', 'child1 @ test/a.test.mjs', 'child2 @ test/a.test.mjs', 'todo one @ test/a.test.mjs',
        'same name @ test/b.test.mjs',
      ]);
      expect(summarize(tests).slice(2, 7)).to.deep.equal([
        'passed outer :: inner', 'failed outer > deep :: x', 'skipped outer > deep :: sk', 'passed parent :: child1', 'passed parent :: child2',
      ]);
      expect(tests[1]!.message).to.match(/^AssertionError \[ERR_ASSERTION\]: Expected values to be strictly equal:\n\n1 !== 2\n/);
    });

    it("node:test on Node 20 with node's own reporter: a one-file unit's tests get that file", async () => {
      const tests = await readAs('node-test.xml', ['test/math.test.mjs']);
      expect(new Set(tests.map((t) => t.file))).to.deep.equal(new Set(['test/math.test.mjs']));
      expect(tests).to.have.length(7);
    });

    it("node:test on Node 20 with node's own reporter: in a many-file unit only a crashed file's entry is known", async () => {
      const xml = fs.readFileSync(path.join(FIXTURES, 'node-test-crash.xml'), 'utf8').replaceAll('/tmp/ggjunit.rwV9/crash/', `${home}/test/`);
      fs.writeFileSync(path.join(home, 'junit.xml'), xml);
      const { tests } = await readJUnitFiles(home, 'junit.xml', ['test/broken.test.mjs', 'test/other.test.mjs']);
      expect(files(tests)).to.deep.equal([`${home}/test/broken.test.mjs @ test/broken.test.mjs`, 'other file passes @ null']);
    });

    it('node:test on Node 22: the file attribute of each test case, made relative', async () => {
      const tests = await readAs('node22-test.xml', ['test/a.test.mjs', 'test/b.test.mjs']);
      expect(files(tests)).to.deep.equal(['same name @ test/a.test.mjs', 'deep throws @ test/a.test.mjs', 'same name @ test/b.test.mjs']);
      expect(summarize(tests)).to.deep.equal(['passed same name', 'failed outer :: deep throws', 'passed same name']);
    });

    it('mocha-junit-reporter: the file of the enclosing suite', async () => {
      const tests = await readAs('mocha-junit-reporter.xml', ['test/cart.test.js', 'test/other.test.js']);
      expect(new Set(tests.map((t) => t.file))).to.deep.equal(new Set(['test/cart.test.js']));
    });

    it('jest-junit: the file attribute, or the one file of the unit without it', async () => {
      expect((await readAs('jest-junit.xml', ['src/math.test.ts', 'src/other.test.ts'])).map((t) => t.file))
        .to.deep.equal(['src/math.test.ts', 'src/math.test.ts']);
      expect((await readAs('jest-junit-nofile.xml', ['src/math.test.ts'])).map((t) => t.file))
        .to.deep.equal(['src/math.test.ts', 'src/math.test.ts']);
      expect((await readAs('jest-junit-nofile.xml', ['src/math.test.ts', 'src/other.test.ts'])).map((t) => t.file))
        .to.deep.equal([null, null]);
    });

    it('pytest: the file attribute (xunit1), or the module the dotted classname names (xunit2)', async () => {
      expect((await readAs('pytest.xml', [])).map((t) => t.file)).to.deep.equal(Array(3).fill('tests/test_orders.py'));
      const tests = await readAs('pytest-xunit2.xml', ['tests/test_orders.py', 'tests/api/test_orders.py', 'tests/test_users.py']);
      expect(files(tests)).to.deep.equal([
        'test_total @ tests/test_orders.py', 'test_refund @ tests/test_orders.py', 'test_total @ tests/api/test_orders.py',
      ]);
    });

    it('Maven Surefire: the class file the classname names', async () => {
      const tests = await readAs('surefire.xml', [
        'src/test/java/com/example/OrderTest.java', 'src/test/java/com/example/UserTest.java', 'src/test/java/com/other/OrderTest.java',
      ]);
      expect(new Set(tests.map((t) => t.file))).to.deep.equal(new Set(['src/test/java/com/example/OrderTest.java']));
    });

    it('attributeFile: nested classes, suites named by a file, and no guess when two files fit', () => {
      const java = ['src/test/java/com/example/OrderTest.java', 'src/test/kotlin/com/example/UserTest.kt'];
      expect(attributeFile({ name: 'x', classname: 'com.example.OrderTest$Nested' }, [], java)).to.equal(java[0]);
      expect(attributeFile({ name: 'x', classname: 'com.example.UserTest' }, [], java)).to.equal(java[1]);
      expect(attributeFile({ name: 'x', classname: 'math adds' }, ['src/b.test.ts'], ['src/a.test.ts', 'src/b.test.ts'])).to.equal('src/b.test.ts');
      expect(attributeFile({ name: 'x', classname: 'OrderTest' }, [], ['a/OrderTest.java', 'b/OrderTest.java'])).to.equal(null);
      expect(attributeFile({ name: 'x', classname: 'com.example.OrderTest' }, [], ['a/com/example/OrderTest.java', 'b/com/example/OrderTest.java']))
        .to.equal(null);
      expect(attributeFile({ name: 'x', classname: '' }, [], [])).to.equal(null);
      expect(attributeFile({ name: 'x', classname: '' }, [], ['only.test.js'])).to.equal('only.test.js');
    });
  });

  describe('readJUnitFiles', () => {
    let home: string;

    beforeEach(() => {
      home = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-junit-'));
    });

    afterEach(() => {
      fs.rmSync(home, { recursive: true, force: true });
    });

    function write(relative: string, text: string): void {
      fs.mkdirSync(path.dirname(path.join(home, relative)), { recursive: true });
      fs.writeFileSync(path.join(home, relative), text);
    }

    it('reads every matching file, keeps the good ones and reports the bad one', async () => {
      fs.copyFileSync(path.join(FIXTURES, 'node-test.xml'), path.join(home, 'node.xml'));
      write('reports/pytest.xml', fs.readFileSync(path.join(FIXTURES, 'pytest.xml'), 'utf8'));
      write('reports/deep/bad.xml', '<testsuites><testcase name="x"></testsuites>');
      write('reports/notes.txt', 'not a report');
      write('.cache/old.xml', '<testsuites><testcase name="hidden"/></testsuites>');
      write('node_modules/dep/junit.xml', '<testsuites><testcase name="dependency"/></testsuites>');

      const result = await readJUnitFiles(home, '**/*.xml');
      expect(result.files).to.deep.equal(['node.xml', 'reports/deep/bad.xml', 'reports/pytest.xml']);
      expect(result.tests).to.have.length(7 + 3);
      expect(result.errors).to.have.length(1);
      expect(result.errors[0]).to.match(/^reports\/deep\/bad\.xml: malformed XML, line 1: /);
    });

    it('reports a file over MAX_JUNIT_BYTES without reading it', async () => {
      write('small.xml', '<testsuite><testcase name="ok"/></testsuite>');
      const big = path.join(home, 'big.xml');
      fs.writeFileSync(big, '<testsuites>');
      fs.truncateSync(big, MAX_JUNIT_BYTES + 1); // sparse: nothing is written
      const result = await readJUnitFiles(home, '*.xml');
      expect(result.files).to.deep.equal(['big.xml', 'small.xml']);
      expect(result.tests.map((t) => t.name)).to.deep.equal(['ok']);
      expect(result.errors).to.deep.equal(['big.xml: 16.0 MiB is over the 16.0 MiB limit (MAX_JUNIT_BYTES); not read']);
    });

    it('makes report paths inside the workspace relative to it', async () => {
      write(
        'junit.xml',
        `<testsuites><testsuite name="s" file="${path.join(home, 'test', 'a.test.js')}"><testcase name="t"/></testsuite>` +
          '<testcase name="u" file="./test/b.test.js"/><testcase name="v" file="/elsewhere/c.js"/></testsuites>',
      );
      const result = await readJUnitFiles(home, 'junit.xml');
      expect(result.tests.map((t) => t.file)).to.deep.equal(['test/a.test.js', 'test/b.test.js', '/elsewhere/c.js']);
    });

    it('returns nothing and no error when the pattern matches no file', async () => {
      expect(await readJUnitFiles(home, 'junit.xml')).to.deep.equal({ tests: [], errors: [], files: [], fileTimes: [] });
    });

    it('reports a workspace that does not exist instead of throwing', async () => {
      const result = await readJUnitFiles(path.join(home, 'missing'), '*.xml');
      expect(result.errors).to.have.length(1);
      expect(result.errors[0]).to.match(/^cannot search .*missing for "\*\.xml": ENOENT/);
    });

    it('refuses patterns and links that leave the workspace', async () => {
      const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'gg-junit-outside-'));
      try {
        fs.writeFileSync(path.join(outside, 'secret.xml'), '<testsuites><testcase name="secret"/></testsuites>');
        for (const pattern of ['../*.xml', `${outside}/*.xml`, 'a/../../*.xml', '']) {
          const result = await readJUnitFiles(home, pattern);
          expect(result.tests, pattern).to.deep.equal([]);
          expect(result.errors, pattern).to.have.length(1);
        }
        // A linked file is not listed; a path through a linked directory is listed but not read.
        fs.symlinkSync(path.join(outside, 'secret.xml'), path.join(home, 'link.xml'));
        expect(await readJUnitFiles(home, '*.xml')).to.deep.equal({ tests: [], errors: [], files: [], fileTimes: [] });
        fs.symlinkSync(outside, path.join(home, 'out'));
        expect(await readJUnitFiles(home, 'out/secret.xml')).to.deep.equal({
          tests: [],
          errors: ['out/secret.xml: the report is a link that points outside the workspace; not read'],
          files: ['out/secret.xml'],
          fileTimes: [],
        });
      } finally {
        fs.rmSync(outside, { recursive: true, force: true });
      }
    });
  });
});
