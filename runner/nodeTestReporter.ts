/**
 * greengate's node:test reporter: JUnit XML in which every test case carries its file.
 *
 *   node --test --test-reporter=spec --test-reporter-destination=stdout \
 *     --test-reporter="$GREENGATE_NODE_TEST_REPORTER" --test-reporter-destination=junit.xml "$@"
 *
 * The runner sets GREENGATE_NODE_TEST_REPORTER to this module's compiled path. Node 20's own
 * `junit` reporter writes no file (Node 22 only in late releases), so same-named tests in
 * different files would share one history; this one takes the file from each event.
 *
 * The file that RAN a test, not the one that defines it: node names each test by the file its
 * function is in (`data.file`), so a test defined in a shared helper (test/helper.js) would be
 * attributed to the helper, and two files running the same helper tests would look like one test
 * run twice. `node --test` runs each file in its own process and reports each process's events
 * together, in its sorted file order; a process first enqueues its top-level tests, so a top-level
 * enqueue after a top-level result starts the next file's block. A block is the run file its own
 * tests name; a block whose tests are all defined elsewhere gets the one run file (those named by
 * node's file-level events) left for it between its neighbours in that order (runningFiles). When
 * that cannot be told (a run without `--test`, files whose tests are enqueued late), a test keeps
 * its defining file, as before.
 *
 * Contract: the default export is a node:test reporter (an async generator over the test
 * events, Node 20 and newer). It writes one <testsuites> with flat <testcase> elements:
 * `name`, `classname` (the enclosing describe/test names joined by " > ", as greengate reads
 * Node's nested suites), `file` (the file that ran it, relative to the working directory when inside it), `time` in
 * seconds, and <failure>/<skipped> children. A test with subtests is a group, not a test case,
 * unless it failed by itself (not only because a subtest failed): then it is a failing test case
 * too, so no failure is lost. Files appear in the order their first result came; everything is
 * written when the run ends. It never throws on odd events: missing fields become defaults.
 *
 * A file's wall time: `node --test` runs each file in its own process and ends it with a
 * file-level `test:complete` event (its name is the file) whose duration covers the process's
 * start, module loading and tests. When that event came, the file's test cases are wrapped in a
 * `<testsuite file=… time=…>` with no name (so no test's classname changes), which the runner
 * reads as the file's wall time (runner/junitTimes.ts): what the planner balances slots with.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';

/** Absolute path of the compiled reporter, for GREENGATE_NODE_TEST_REPORTER. */
export const NODE_TEST_REPORTER_PATH = fileURLToPath(import.meta.url);
export const MAX_BODY_CHARS = 64 * 1024; // a failure's body, as greengate stores it

interface TestEvent { type: string; data?: Record<string, unknown> }
/** A test's result as it came: `defined` is the file node names (where its function is), `block` its file process's run of events. */
interface Result { done: Finished; defined: string; block: number }
interface Finished {
  name: string;
  nesting: number;
  status: 'passed' | 'failed' | 'skipped';
  skipType: 'skipped' | 'todo';
  skipMessage: string;
  durationMs: number;
  error: unknown;
  failureType: string;
  children: Finished[];
}

export default async function* nodeTestReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const results: Result[] = [];
  const fileMs = new Map<string, number>();
  let block = 0;
  let afterTopLevelResult = false;
  for await (const event of source) {
    const data = event.data ?? {};
    const file = typeof data.file === 'string' ? data.file : '';
    const fileLevel = file !== '' && data.name === file;
    if (event.type === 'test:complete' && fileLevel) {
      const ms = ((data.details ?? {}) as Record<string, unknown>).duration_ms;
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) fileMs.set(file, ms);
      continue;
    }
    const topLevel = data.nesting === 0 || data.nesting === undefined;
    // A file's process enqueues its top-level tests before it runs them: an enqueue after a result starts the next file's block.
    if (event.type === 'test:enqueue' && topLevel && !fileLevel) {
      if (afterTopLevelResult) block++;
      afterTopLevelResult = false;
    }
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (fileLevel) {
      // A file's own entry (it crashed, or had no tests) comes apart from every block.
      results.push({ done: readFinished(event.type, data), defined: file, block: ++block });
      block++;
      afterTopLevelResult = false;
      continue;
    }
    results.push({ done: readFinished(event.type, data), defined: file, block });
    if (topLevel) afterTopLevelResult = true;
  }
  const byFile = new Map<string, Finished[]>();
  const running = runningFiles(results, [...fileMs.keys()]);
  for (const { done, defined, block: b } of results) {
    const file = running.get(b) ?? defined;
    const siblings = byFile.get(file) ?? [];
    byFile.set(file, siblings);
    // Subtests report before their parent: the trailing deeper results are this one's children.
    let first = siblings.length;
    while (first > 0 && siblings[first - 1]!.nesting > done.nesting) first--;
    done.children = siblings.splice(first);
    siblings.push(done);
  }
  yield '<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n';
  for (const [file, roots] of byFile) {
    const shown = displayFile(file);
    const ms = fileMs.get(file);
    if (ms !== undefined && shown) yield `<testsuite file="${escapeAttr(shown)}" time="${(ms / 1000).toFixed(6)}">\n`;
    for (const root of roots) yield* writeTests(root, [], shown);
    if (ms !== undefined && shown) yield '</testsuite>\n';
  }
  yield '</testsuites>\n';
}

/**
 * The file whose process ran each block of results (see the contract above): a block is the
 * file of the run that its own tests name (exactly one), else — for a block of tests all defined
 * elsewhere, such as a shared helper — the one file left for it between its neighbours in node's
 * sorted file order. A block that cannot be told keeps each test's defining file.
 */
export function runningFiles(results: readonly { defined: string; block: number }[], ran: readonly string[]): Map<number, string> {
  const files = [...new Set(ran)].sort();
  const known = new Set(files);
  const own = new Map<number, Set<string>>();
  for (const { defined, block } of results) {
    const set = own.get(block) ?? new Set<string>();
    own.set(block, set);
    if (known.has(defined)) set.add(defined);
  }
  const blocks = [...own.keys()].sort((a, b) => a - b);
  const pinned = new Map<number, string>();
  for (const b of blocks) if (own.get(b)!.size === 1) pinned.set(b, [...own.get(b)!][0]!);
  const claimed = new Set(pinned.values());
  // Runs of blocks without a file of their own, between pinned neighbours (or the ends).
  for (let i = 0; i < blocks.length;) {
    if (pinned.has(blocks[i]!) || own.get(blocks[i]!)!.size > 1) { i++; continue; }
    let j = i;
    while (j < blocks.length && !pinned.has(blocks[j]!) && own.get(blocks[j]!)!.size === 0) j++;
    const before = i > 0 ? pinned.get(blocks[i - 1]!) ?? null : undefined;
    const after = j < blocks.length ? pinned.get(blocks[j]!) ?? null : undefined;
    const from = before === undefined ? 0 : before === null ? -1 : files.indexOf(before) + 1;
    const to = after === undefined ? files.length : after === null ? -1 : files.indexOf(after);
    const left = from < 0 || to < 0 ? [] : files.slice(from, Math.max(from, to)).filter((f) => !claimed.has(f));
    if (left.length === j - i) left.forEach((f, n) => pinned.set(blocks[i + n]!, f));
    i = Math.max(j, i + 1);
  }
  return pinned;
}

function readFinished(type: string, data: Record<string, unknown>): Finished {
  const details = (data.details ?? {}) as Record<string, unknown>;
  const error = details.error;
  const skip = data.skip;
  const todo = data.todo;
  const skipped = (skip !== undefined && skip !== false) || (todo !== undefined && todo !== false);
  const failed = type === 'test:fail';
  return {
    name: typeof data.name === 'string' ? data.name : '(unnamed test)',
    nesting: typeof data.nesting === 'number' ? data.nesting : 0,
    status: failed ? 'failed' : skipped ? 'skipped' : 'passed',
    skipType: todo !== undefined && todo !== false ? 'todo' : 'skipped',
    skipMessage: typeof skip === 'string' ? skip : typeof todo === 'string' ? todo : '',
    durationMs: typeof details.duration_ms === 'number' ? details.duration_ms : 0,
    error,
    failureType: typeof (error as { failureType?: unknown })?.failureType === 'string'
      ? (error as { failureType: string }).failureType : '',
    children: [],
  };
}

function* writeTests(test: Finished, suites: string[], file: string): Generator<string> {
  if (test.children.length > 0) {
    for (const child of test.children) yield* writeTests(child, [...suites, test.name], file);
    const failedByItself = test.status === 'failed' && test.failureType !== 'subtestsFailed';
    if (!failedByItself) return;
  }
  const attrs = `name="${escapeAttr(test.name)}" classname="${escapeAttr(suites.join(' > '))}"` +
    `${file ? ` file="${escapeAttr(file)}"` : ''} time="${(test.durationMs / 1000).toFixed(6)}"`;
  if (test.status === 'passed') {
    yield `\t<testcase ${attrs}/>\n`;
  } else if (test.status === 'skipped') {
    yield `\t<testcase ${attrs}>\n\t\t<skipped type="${test.skipType}" message="${escapeAttr(test.skipMessage)}"/>\n\t</testcase>\n`;
  } else {
    const { message, body } = describeError(test.error);
    yield `\t<testcase ${attrs}>\n\t\t<failure type="${escapeAttr(test.failureType)}" message="${escapeAttr(message)}">` +
      `${escapeText(body)}</failure>\n\t</testcase>\n`;
  }
}

/** node:test wraps the thrown value as the `cause` of an ERR_TEST_FAILURE; report the thrown value. */
function describeError(error: unknown): { message: string; body: string } {
  const wrapper = error as { cause?: unknown; message?: unknown } | undefined;
  const thrown = wrapper && typeof wrapper === 'object' && 'cause' in wrapper && wrapper.cause !== undefined
    ? wrapper.cause : error;
  const message = thrown instanceof Error || (thrown && typeof thrown === 'object' && 'message' in thrown)
    ? String((thrown as { message: unknown }).message)
    : String(thrown ?? 'failed');
  const body = inspect(thrown, { colors: false, breakLength: Infinity, depth: 4 });
  return { message: message.trim(), body: body.length > MAX_BODY_CHARS ? `${body.slice(0, MAX_BODY_CHARS - 1)}…` : body };
}

function displayFile(file: string): string {
  if (!file) return '';
  const absolute = file.startsWith('file://') ? fileURLToPath(file) : file;
  const relative = path.relative(process.cwd(), absolute);
  const inside = relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
  return (inside ? relative : absolute).split(path.sep).join('/');
}

// Characters XML 1.0 forbids are dropped; the rest is escaped.
const INVALID_XML_CHARS = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const ANSI_ESCAPES = /\u001b\[[0-9;?]*[A-Za-z]/g;

function escapeText(text: string): string {
  return text.replace(ANSI_ESCAPES, '').replace(INVALID_XML_CHARS, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttr(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}
