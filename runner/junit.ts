/**
 * JUnit XML reader: turns the report files a builder's test command writes into TestCase
 * records for the `finished` message.
 *
 * Contract:
 * - Input is untrusted and produced by many tools (node --test, mocha-junit-reporter, pytest,
 *   Maven Surefire, jest-junit), so reading is lenient where it is safe to be: characters XML
 *   1.0 forbids are dropped, a bare `&` is read as a literal, suites may nest, test cases may
 *   sit directly under <testsuites>, a missing or bad `time` is 0.
 * - What cannot be trusted is refused: malformed or truncated XML (a test process killed while
 *   writing) is a JUnitError naming the file and the line, never a partial result.
 * - Limits: MAX_JUNIT_BYTES per file (larger files are not read), MAX_TESTS test cases,
 *   MAX_JUNIT_FILES files per pattern; names and messages are cut to the protocol's lengths.
 * - readJUnitFiles never throws for one bad file: it returns that file's problem in `errors`
 *   and keeps the tests of the others. Paths never leave `cwd` (no absolute patterns, no `..`,
 *   symbolic links that resolve outside are refused).
 * - Every test gets its file when it can be known (see attributeFile): the report's own `file`
 *   (on the test case or an enclosing suite), else one of the unit's files named by the test or
 *   its suites (node's crash entry, jest's {filepath} suite names), by a dotted classname
 *   (pytest's tests.test_orders, Surefire's com.example.OrderTest), or the unit's only file.
 * - Per-file wall times (readJUnitFiles's `fileTimes`, junitTimes.ts): a one-file <testsuite>'s
 *   `time` (jest-junit's suite per file: module loading included), after file attribution.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { glob } from 'tinyglobby';
import type { ErrorCode, FileTime, TestCase } from '../server/protocol.js';
import { WallTimes, type SuiteTime } from './junitTimes.js';

export const MAX_JUNIT_BYTES = 16 * 1024 * 1024; // 16 MiB per file
export const MAX_TESTS = 100_000; // test cases per file and per readJUnitFiles call
export const MAX_JUNIT_FILES = 1_000; // files one pattern may match
export const MAX_MESSAGE_CHARS = 64 * 1024; // 64 KiB, TestCaseSchema.message
const MAX_NAME_CHARS = 2000; // TestCaseSchema.name and .classname
const MAX_FILE_CHARS = 4096; // TestCaseSchema.file
const MAX_DURATION_MS = 1e9;
/** node --test writes this classname for every test case; it carries no information. */
const NODE_PLACEHOLDER_CLASSNAME = 'test';

export class JUnitError extends Error {
  readonly code: ErrorCode = 'GG_JUNIT_INVALID';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'JUnitError';
  }
}

type XmlNode = Record<string, unknown>;
type Attrs = Record<string, string>;
interface Scope {
  suites: string[];
  file: string | null;
  /** Indices (into the report's suite list) of the enclosing <testsuite> elements, outermost first. */
  chain: number[];
}


const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '',
  preserveOrder: true, // tests come out in document order
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  // Decodes numeric character references (&#39; &#x27;), which fast-xml-parser 5 leaves as
  // they are otherwise, and the HTML names some reporters use (&nbsp;).
  htmlEntities: true,
});

// Code points XML 1.0 allows: tab, LF, CR, U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const ANSI_ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]/g;
// Colour codes as written: raw, as character references, or as pytest's "#x1B" text.
const WRITTEN_ANSI_ESCAPES = /(?:\u001b|&#x0*1b;|&#0*27;|#x1B)\[[0-9;?]*[A-Za-z]/gi;
const BARE_AMPERSAND = /&(?!(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z_][\w.-]*);)/g;
const CDATA = /(<!\[CDATA\[[\s\S]*?\]\]>)/;

/** A test case, the names of the suites around it (for attributeFile) and their indices (for fileTimes). */
interface FoundTest { test: TestCase; suites: string[]; chain: number[] }
interface Report { tests: FoundTest[]; suites: SuiteTime[] }

/** Test cases of one report, in document order; `file` names the report in errors. Throws JUnitError. */
export function parseJUnit(xml: string, file: string): TestCase[] {
  return parseReport(xml, file).tests.map((found) => found.test);
}

function parseReport(xml: string, file: string): Report {
  const text = repairXml(xml);
  if (text.trim() === '') throw new JUnitError('the file is empty (the test command wrote no report)', file);
  const verdict = XMLValidator.validate(text);
  if (verdict !== true) {
    const where = verdict.err.line ? `line ${verdict.err.line}: ` : '';
    throw new JUnitError(`malformed XML, ${where}${verdict.err.msg}`, file);
  }
  let document: XmlNode[];
  try {
    document = parser.parse(text) as XmlNode[];
  } catch (error) {
    throw new JUnitError(`malformed XML, ${(error as Error).message}`, file);
  }
  const roots = document.filter((node) => tagOf(node) !== null && !tagOf(node)!.startsWith('?'));
  const root = roots.find((node) => tagOf(node) === 'testsuites' || tagOf(node) === 'testsuite');
  if (!root) {
    const found = roots.length ? `<${tagOf(roots[0]!)}>` : 'no element';
    throw new JUnitError(`not a JUnit report: expected a <testsuites> or <testsuite> root, found ${found}`, file);
  }
  const report: Report = { tests: [], suites: [] };
  collectTests([root], { suites: [], file: null, chain: [] }, report, file);
  return report;
}

/**
 * Reads every file matching `pattern` (tinyglobby, relative to cwd, dot directories and
 * node_modules skipped) and parses each. Returns the tests of the good files, one error line per
 * bad file, and every file matched, sorted. A pattern that matches nothing gives no error: the
 * caller decides whether a missing report matters. `unitFiles` are the test files the unit ran
 * (workspace-relative): tests whose report names no file are attributed to one of them.
 */
export async function readJUnitFiles(
  cwd: string,
  pattern: string,
  unitFiles: readonly string[] = [],
): Promise<{ tests: TestCase[]; errors: string[]; files: string[]; fileTimes: FileTime[] }> {
  const tests: TestCase[] = [];
  const errors: string[] = [];
  const walls = new WallTimes();
  const patternProblem = checkPattern(pattern);
  if (patternProblem) return { tests, errors: [patternProblem], files: [], fileTimes: [] };
  let root: string;
  let matched: string[];
  try {
    root = await fs.realpath(cwd);
    matched = await glob(pattern, {
      cwd: root,
      onlyFiles: true,
      dot: false,
      followSymbolicLinks: false,
      ignore: ['**/node_modules/**'],
    });
  } catch (error) {
    return { tests, errors: [`cannot search ${cwd} for "${pattern}": ${(error as Error).message}`], files: [], fileTimes: [] };
  }
  matched.sort();
  if (matched.length > MAX_JUNIT_FILES) {
    errors.push(`junit pattern "${pattern}" matched ${matched.length} files; read the first ${MAX_JUNIT_FILES} (MAX_JUNIT_FILES)`);
  }
  const files = matched.slice(0, MAX_JUNIT_FILES);
  for (const file of files) {
    try {
      const xml = await readCapped(root, file);
      const report = parseReport(xml, file);
      const found = report.tests.map(({ test, suites }) => {
        const known = normalizeTestFile(test.file, cwd, root);
        return { ...test, file: known ?? attributeFile(test, suites, unitFiles, (f) => normalizeTestFile(f, cwd, root)) };
      });
      walls.add(report, found.map((t) => t.file));
      const room = MAX_TESTS - tests.length;
      if (found.length > room) {
        errors.push(`${file}: the reports hold more than ${MAX_TESTS} test cases (MAX_TESTS); kept the first ${MAX_TESTS}`);
      }
      tests.push(...found.slice(0, Math.max(0, room)));
    } catch (error) {
      errors.push(error instanceof JUnitError ? error.message : `${file}: ${(error as Error).message}`);
    }
  }
  return { tests, errors, files, fileTimes: walls.result() };
}

function collectTests(nodes: XmlNode[], scope: Scope, out: Report, reportFile: string): void {
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag === 'testsuites') {
      collectTests(childrenOf(node, tag), scope, out, reportFile);
    } else if (tag === 'testsuite') {
      const attrs = attrsOf(node);
      const name = clean(attrs.name ?? '').trim();
      const id = out.suites.length;
      const ms = readDurationMs(attrs.time);
      out.suites.push({ ms: ms > 0 ? ms : null });
      collectTests(
        childrenOf(node, tag),
        { suites: name ? [...scope.suites, name] : scope.suites, file: nonEmpty(attrs.file) ?? scope.file, chain: [...scope.chain, id] },
        out,
        reportFile,
      );
    } else if (tag === 'testcase') {
      if (out.tests.length >= MAX_TESTS) throw new JUnitError(`more than ${MAX_TESTS} test cases (MAX_TESTS)`, reportFile);
      out.tests.push({ test: readTestCase(node, scope), suites: scope.suites, chain: scope.chain });
    }
  }
}

function readTestCase(node: XmlNode, scope: Scope): TestCase {
  const attrs = attrsOf(node);
  const outcomes = { failure: [] as string[], error: [] as string[], skipped: [] as string[] };
  let status: TestCase['status'] = 'passed';
  for (const child of childrenOf(node, 'testcase')) {
    const tag = tagOf(child);
    if (tag !== 'failure' && tag !== 'error' && tag !== 'skipped') continue;
    outcomes[tag].push(describeOutcome(child, tag));
  }
  if (outcomes.failure.length) status = 'failed';
  else if (outcomes.error.length) status = 'error';
  else if (outcomes.skipped.length) status = 'skipped';
  const parts = status === 'skipped' ? outcomes.skipped : [...outcomes.failure, ...outcomes.error];
  const message = parts.filter((part) => part !== '').join('\n\n');
  const classname = nonEmpty(attrs.classname);
  return {
    name: cut(clean(attrs.name ?? ''), MAX_NAME_CHARS),
    classname: cut(
      classname && classname !== NODE_PLACEHOLDER_CLASSNAME ? clean(classname) : scope.suites.join(' > '),
      MAX_NAME_CHARS,
    ),
    file: cutOrNull(nonEmpty(attrs.file) ?? scope.file, MAX_FILE_CHARS),
    durationMs: readDurationMs(attrs.time),
    status,
    message: message ? cut(message, MAX_MESSAGE_CHARS) : null,
  };
}

/** The message attribute and the body, each once (many reporters repeat one in the other). */
function describeOutcome(node: XmlNode, tag: string): string {
  const attribute = clean(attrsOf(node).message ?? '').trim();
  const body = clean(textOf(childrenOf(node, tag))).trim();
  if (!attribute) return body;
  if (!body || body.includes(attribute)) return body || attribute;
  return `${attribute}\n${body}`;
}

function readDurationMs(time: string | undefined): number {
  if (time === undefined) return 0;
  const text = time.trim();
  // Surefire writes thousands separators in some locales ("1,234.5").
  const seconds = Number(/^\d{1,3}(,\d{3})+(\.\d+)?$/.test(text) ? text.replaceAll(',', '') : text);
  if (!Number.isFinite(seconds) || seconds <= 0) return 0;
  return Math.min(Math.round(seconds * 1000), MAX_DURATION_MS);
}

/** Drops characters XML forbids and reads a bare `&` as a literal (outside CDATA sections). */
function repairXml(xml: string): string {
  const text = xml.replace(/^\uFEFF/, '').replace(WRITTEN_ANSI_ESCAPES, '').replace(INVALID_XML_CHARS, '');
  return text
    .split(CDATA)
    .map((part) => (part.startsWith('<![CDATA[') ? part : part.replace(BARE_AMPERSAND, '&amp;')))
    .join('');
}

/** Character references (`&#x1b;`) can still bring control characters and colour codes in. */
function clean(text: string): string {
  return text.replace(ANSI_ESCAPES, '').replace(INVALID_XML_CHARS, '');
}

function checkPattern(pattern: string): string | null {
  if (pattern.trim() === '') return 'the junit pattern is empty';
  const segments = pattern.split(/[\\/]+/);
  if (path.isAbsolute(pattern) || pattern.startsWith('/') || segments.includes('..')) {
    return `junit pattern "${pattern}" must stay inside the workspace: use a relative path without ".."`;
  }
  return null;
}

async function readCapped(root: string, file: string): Promise<string> {
  const real = await fs.realpath(path.join(root, file));
  const relative = path.relative(root, real);
  if (relative.startsWith('..') || path.isAbsolute(relative)) {
    throw new JUnitError('the report is a link that points outside the workspace; not read', file);
  }
  const handle = await fs.open(real, 'r');
  try {
    const { size } = await handle.stat();
    const limit = describeSize(MAX_JUNIT_BYTES);
    if (size > MAX_JUNIT_BYTES) throw new JUnitError(`${describeSize(size)} is over the ${limit} limit (MAX_JUNIT_BYTES); not read`, file);
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const { bytesRead, buffer } = await handle.read(Buffer.alloc(256 * 1024), 0, 256 * 1024, null);
      if (bytesRead === 0) break;
      chunks.push(buffer.subarray(0, bytesRead));
      length += bytesRead;
      if (length > MAX_JUNIT_BYTES) throw new JUnitError(`grew over the ${limit} limit (MAX_JUNIT_BYTES) while being read`, file);
    }
    return Buffer.concat(chunks, length).toString('utf8');
  } finally {
    await handle.close();
  }
}

const SOURCE_EXTENSION = /\.[A-Za-z0-9]+$/;

/**
 * The unit file a test without a file in its report belongs to, or null when it cannot be told:
 * a unit file named exactly by the test's name, classname or a suite (after making it relative);
 * else the one unit file a dotted classname points at (`a.b.C` or `a.b.C$Inner` → …/a/b/C.ext,
 * trying shorter prefixes for class-based tests such as pytest's `tests.test_x.TestY`); else the
 * unit's only file.
 */
export function attributeFile(
  test: Pick<TestCase, 'name' | 'classname'>,
  suites: readonly string[],
  unitFiles: readonly string[],
  normalize: (file: string) => string | null = (f) => f,
): string | null {
  if (unitFiles.length === 0) return null;
  const known = new Set(unitFiles);
  for (const named of [test.name, test.classname, ...suites]) {
    const text = named.trim();
    if (text === '' || /\s/.test(text)) continue;
    const relative = normalize(text.replace(/^\.\//, ''));
    if (relative !== null && known.has(relative)) return relative;
  }
  const dotted = test.classname.trim().replace(/\$.*$/, '');
  if (/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$/.test(dotted)) {
    const parts = dotted.split('.');
    for (let n = parts.length; n >= 1; n--) {
      const stem = parts.slice(0, n).join('/');
      const matches = unitFiles.filter((f) => {
        const bare = f.replace(SOURCE_EXTENSION, '');
        return bare === stem || bare.endsWith(`/${stem}`);
      });
      if (matches.length === 1) return matches[0]!;
      if (matches.length > 1) break;
    }
  }
  return unitFiles.length === 1 ? unitFiles[0]! : null;
}

/** Report paths become workspace-relative POSIX paths when they point inside the workspace. */
function normalizeTestFile(file: string | null, cwd: string, root: string): string | null {
  if (file === null) return null;
  for (const base of [root, path.resolve(cwd)]) {
    const relative = path.relative(base, path.resolve(base, file));
    if (relative && !relative.startsWith('..') && !path.isAbsolute(relative)) return relative.split(path.sep).join('/');
  }
  return file;
}

function describeSize(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

function tagOf(node: XmlNode): string | null {
  for (const key of Object.keys(node)) if (key !== ':@' && key !== '#text') return key;
  return null;
}

function childrenOf(node: XmlNode, tag: string): XmlNode[] {
  const children = node[tag];
  return Array.isArray(children) ? (children as XmlNode[]) : [];
}

function attrsOf(node: XmlNode): Attrs {
  const attrs = node[':@'];
  return attrs && typeof attrs === 'object' ? (attrs as Attrs) : {};
}

function textOf(nodes: XmlNode[]): string {
  return nodes.map((node) => (typeof node['#text'] === 'string' ? node['#text'] : '')).join('');
}

function nonEmpty(value: string | undefined): string | null {
  return value !== undefined && value.trim() !== '' ? value : null;
}

function cut(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function cutOrNull(text: string | null, max: number): string | null {
  return text === null ? null : cut(clean(text), max);
}
